"""Config validation: every mistake is named with what is valid."""

import pytest

from seqattn.config import ConfigError, freeze, load_file
from conftest import CONFIGS


def _dates(**overrides):
  config = load_file(CONFIGS / "dates.py")
  for path, value in overrides.items():
    group, key = path.split("__")
    config[group][key] = value
  return config


def test_shipped_configs_freeze():
  for path in sorted(CONFIGS.glob("*.py")):
    assert freeze(load_file(path)).seed == 0, path


@pytest.mark.parametrize("overrides, message", [
    (dict(model__attention="dott"), "use one of none, additive, .*, local_p"),
    (dict(model__encoder_cell="lstn"), "one of 'lstm', 'gru', 'simple'"),
    (dict(train__batch_size=0), "train.batch_size=0 is not valid; use a number > 0"),
    (dict(train__b2=1.5), "a number in \\[0, 1\\)"),
    (dict(data__year_pattern="iso"), "'calendar', 'week_based'"),
    (dict(data__date_start="2050-01-01"), "date_start must be before"),
    (dict(data__date_start="1950-13-01"), "data.date_start='1950-13-01' is not a date; use YYYY-MM-DD"),
    (dict(data__min_len=9, data__max_len=3), "must not exceed"),
    (dict(decode__method="beam", decode__n_best=5), "n_best must be <= decode.beam_size"),
    (dict(train__scheduled_sampling="linear"), "needs model.feed_previous_token"),
])
def test_invalid_values_name_the_valid_ones(overrides, message):
  with pytest.raises(ConfigError, match=message):
    freeze(_dates(**overrides))


def test_unknown_key_names_the_valid_keys():
  config = _dates().to_dict()
  config["model"]["decoder_unit"] = 128
  with pytest.raises(ConfigError, match="unknown config key decoder_unit in model; valid keys: "
                                        "attention, attention_units"):
    freeze(config)


def test_wrong_type_and_missing_key():
  config = _dates().to_dict()
  config["train"]["num_epochs"] = "ten"
  with pytest.raises(ConfigError, match="train.num_epochs='ten' has type str; expected int"):
    freeze(config)
  del config["train"]["num_epochs"]
  with pytest.raises(ConfigError, match="lacks num_epochs"):
    freeze(config)


def test_missing_config_file():
  with pytest.raises(ConfigError, match="no config file at nowhere.py"):
    load_file("nowhere.py")

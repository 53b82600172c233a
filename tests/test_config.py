"""Config validation: every mistake is named with what is valid."""

import pytest

from seqattn.config import ConfigError, freeze, load_file, override
from conftest import CONFIGS


def _dates(**overrides):
  return override(load_file(CONFIGS / "dates.py"),
                  {path.replace("__", "."): value for path, value in overrides.items()})


def test_shipped_configs_freeze_and_round_trip():
  for path in sorted(CONFIGS.glob("*.py")):
    frozen = freeze(load_file(path))
    assert freeze(frozen.to_dict()) == frozen, path  # what config.json holds reads back


@pytest.mark.parametrize("overrides, message", [
    (dict(model__attention="dott"), "use one of 'none', 'additive', .*, 'local_p'"),
    (dict(model__bridge="tanh"), "use one of 'zeros', 'copy', 'linear', 'bahdanau'"),
    (dict(data__task="dats"), "data.task='dats' is not valid; use one of 'dates', 'copy'"),
    (dict(model__encoder_cell="lstn"), "one of 'lstm', 'gru', 'simple'"),
    (dict(train__batch_size=0), "train.batch_size=0 is not valid; use a number > 0"),
    (dict(train__b2=1.5), "a number in \\[0, 1\\)"),
    (dict(data__year_pattern="iso"), "'calendar', 'week_based'"),
    (dict(data__date_start="2050-01-01"), "date_start must be before"),
    (dict(data__date_start="1950-13-01"), "data.date_start='1950-13-01' is not a date; use YYYY-MM-DD"),
    (dict(decode__method="beam", decode__n_best=5), "n_best must be <= decode.beam_size"),
    (dict(train__scheduled_sampling="linear"), "needs model.feed_previous_token"),
    # k^step with the default k = 500 keeps the gold token with probability 0, -499, ...
    (dict(train__scheduled_sampling="exponential", model__feed_previous_token=True),
     "sampling_k=500.0 is not valid with train.scheduled_sampling='exponential'.*0 < k < 1"),
    (dict(train__scheduled_sampling="inverse_sigmoid", train__sampling_k=0.5,
          model__feed_previous_token=True), "use k >= 1"),
    (dict(train__sampling_floor=1.0), "train.sampling_floor=1.0 is not valid"),
    (dict(model__tied_embeddings=True), "tied_embeddings .* set model.feed_previous_token=True"),
    (dict(decode__max_len_a=-1.0), "decode.max_len_a=-1.0 is not valid; use a number >= 0"),
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


def test_each_task_has_its_own_data_keys():
  config = _dates().to_dict()
  config["data"]["min_len"] = 3  # a key of the generated tasks, not of dates
  with pytest.raises(ConfigError, match="unknown config key min_len in data; valid keys: "
                                        "date_end, date_start"):
    freeze(config)
  reverse = load_file(CONFIGS / "ablation_reverse.py")
  with pytest.raises(ConfigError, match="must not exceed"):
    freeze(override(reverse, {"data.min_len": 9, "data.max_len": 3}))


def test_override_parses_command_line_strings_and_names_valid_keys():
  config = override(load_file(CONFIGS / "dates.py"),
                    {"model.decoder_units": "128", "model.coverage": "true",
                     "train.learning_rate": "0.5", "model.attention": "dot"})
  assert (config.model.decoder_units, config.model.coverage) == (128, True)
  assert (config.train.learning_rate, config.model.attention) == (0.5, "dot")
  with pytest.raises(ConfigError, match="unknown config key config.model.decoder_unit .*valid "
                                        "keys under config.model: attention, attention_units"):
    override(config, {"model.decoder_unit": 3})
  with pytest.raises(ConfigError, match="model.decoder_units='many' is not valid"):
    override(config, {"model.decoder_units": "many"})
  with pytest.raises(ConfigError, match="model.coverage='maybe' is not valid"):
    override(config, {"model.coverage": "maybe"})

"""Bad input of every kind gets a clear error, and no file of the workdir is changed by it.

Each test starts from a copy of one finished tiny run, hashes every file of it (after any
damage the test itself does), feeds one bad input and checks the message and the hashes.
"""

import hashlib
import pathlib
import shutil

import pytest

from conftest import CONFIGS
from seqattn.files import checkpoint, logs, workdirs
from seqattn.inference import predict
from seqattn.training import progress, run
from seqattn.config import ConfigError, freeze, load_file

# When it cannot read a damaged checkpoint, orbax leaves a callback on its closed event loop,
# which Python reports (as "unraisable") whenever it is collected.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def snapshot(root: pathlib.Path) -> dict[str, str]:
  """sha256 of every file under `root`, by relative path (but the lock, which says which run
  last owned the workdir)."""
  return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(root.rglob("*")) if p.is_file() and p.name != workdirs.LOCK_FILE}


def config_dict(**overrides) -> dict:
  """configs/test.py as a plain dict with `group__key=value` overrides (None deletes the key)."""
  config = load_file(CONFIGS / "test.py").to_dict()
  for path, value in overrides.items():
    *groups, key = path.split("__")
    node = config
    for group in groups:
      node = node.setdefault(group, {})
    if value is None:
      del node[key]
    else:
      node[key] = value
  return config


def train_with(workdir: pathlib.Path, force: bool = False, **overrides):
  return run.train_and_evaluate(freeze(config_dict(**overrides)), workdir, progress=False,
                                  force=force)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> pathlib.Path:
  workdir = tmp_path_factory.mktemp("finished")
  train_with(workdir)
  return workdir


@pytest.fixture
def workdir(finished_run, tmp_path) -> pathlib.Path:
  copy = tmp_path / "run"
  shutil.copytree(finished_run, copy)
  return copy


def assert_refused(workdir: pathlib.Path, error: type[Exception], match: str, action) -> None:
  """`action()` raises `error` matching `match`, and every file of `workdir` stays as it was."""
  before = snapshot(workdir)
  with pytest.raises(error, match=match):
    action()
  assert snapshot(workdir) == before


def latest_checkpoint(workdir: pathlib.Path) -> pathlib.Path:
  return checkpoint.directory(workdir) / str(checkpoint.latest_step(workdir))


@pytest.mark.parametrize("overrides, match", [
    (dict(train__learning_rat=0.1),
     "unknown config key learning_rat in train; valid keys: b1, b2, batch_size"),
    (dict(trian__learning_rate=0.1), "unknown config key trian; valid keys: data, decode, mesh, model, seed"),
    (dict(train__optimizer="adamm"), "train.optimizer='adamm' is not valid; use one of 'adam', "
                                     "'adamw', 'sgd'"),
    (dict(train__schedule="cosine_decay"), "use one of 'constant', 'cosine', 'rsqrt'"),
    (dict(train__batch_size="50"), "train.batch_size='50' has type str; expected int"),
    (dict(train__num_epochs=True), "train.num_epochs=True has type bool; expected int"),
    (dict(train__batch_size=50.5), "train.batch_size=50.5 has type float; expected int"),
    (dict(train__skip_nonfinite_updates="yes"), "has type str; expected bool"),
    (dict(model__encoder_units=-32), "model.encoder_units=-32 is not valid; use a number > 0"),
    (dict(train__learning_rate=-0.001), "train.learning_rate=-0.001 is not valid; use a number "
                                        "> 0"),
    (dict(data__n_train=0), "data.n_train=0 is not valid; use a number > 0"),
    (dict(train__keep_checkpoints=None), "config train lacks keep_checkpoints"),
    (dict(train__label_smoothing=1.0), "train.label_smoothing=1.0 is not valid; use a number in"),
    (dict(train__best_metric="val_acc"), "best_metric='val_acc' is not valid.* 'val_token_accuracy'"),
    (dict(train__checkpoint_every_steps=12), "checkpoint_every_steps=12 is not valid; use a "
                                             "multiple of train.eval_every_steps=8"),
    (dict(train__weight_decay=0.01), "weight_decay=0.01 is not valid with train.optimizer='adam'"),
    (dict(train__schedule="rsqrt"), "schedule='rsqrt' .* set train.warmup_steps > 0"),
    (dict(train__schedule="exponential", train__decay_rate=2.0),
     "decay_rate=2.0 is not valid with train.schedule='exponential'; use a number in \\(0, 1\\]"),
    (dict(model__attention="dott"), "model.attention='dott' is not valid; use one of"),
], ids=["typo_in_a_key", "typo_in_a_group", "typo_in_a_choice", "unknown_schedule",
        "string_for_an_int", "bool_for_an_int", "float_for_an_int", "string_for_a_bool",
        "negative_size", "negative_learning_rate", "no_training_examples", "missing_key",
        "label_smoothing_of_one", "unknown_best_metric", "checkpoint_interval_off_eval_grid",
        "weight_decay_with_plain_adam", "rsqrt_without_warmup", "exponential_growth",
        "unknown_attention"])
def test_bad_config(workdir, overrides, match):
  assert_refused(workdir, ConfigError, match, lambda: train_with(workdir, **overrides))


def test_another_configs_run_in_the_workdir_is_refused_without_force(workdir):
  assert_refused(workdir, workdirs.WorkdirError,
                 r"holds a run of another config \(train.learning_rate: 0.01 -> 0.001\). Use a "
                 r"new --workdir, or pass --force",
                 lambda: train_with(workdir, train__learning_rate=0.001))


def test_checkpoint_of_another_model_shape_is_refused_even_with_force(workdir):
  assert_refused(workdir, checkpoint.CheckpointError,
                 r"does not fit this config's model and optimiser: .*has shape \(.*64.*\) in "
                 r"the checkpoint, \(.*16.*\) here",
                 lambda: train_with(workdir, force=True, model__decoder_units=16))


def test_config_json_edited_to_match_is_caught_by_the_checkpoints_own_config(workdir):
  other = freeze(config_dict(train__learning_rate=0.001))
  (workdir / "config.json").write_text(other.to_json())
  assert_refused(workdir, workdirs.WorkdirError,
                 r"checkpoint .*checkpoints/32 holds a run of another config \(train.learning_rate:"
                 r" 0.01 -> 0.001\)", lambda: train_with(workdir, train__learning_rate=0.001))


def test_missing_checkpoint_file(workdir):
  (latest_checkpoint(workdir) / "state" / "_METADATA").unlink()
  assert_refused(workdir, checkpoint.CheckpointError,
                 r"checkpoints/32 cannot be read \(its state item is missing or incomplete\)"
                 r". It was left as it is. To resume "
                 r"from an earlier checkpoint, move", lambda: train_with(workdir))


def test_truncated_checkpoint_data_file(workdir):
  for path in (latest_checkpoint(workdir) / "state" / "d").iterdir():
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
  assert_refused(workdir, checkpoint.CheckpointError, r"checkpoints/32 cannot be read",
                 lambda: train_with(workdir))


def test_truncated_checkpoint_metadata_json(workdir):
  meta = latest_checkpoint(workdir) / "meta" / "metadata"
  meta.write_text(meta.read_text()[:20])
  assert_refused(workdir, checkpoint.CheckpointError,
                 r"checkpoints/32 cannot be read \(JSONDecodeError", lambda: train_with(workdir))


def test_empty_checkpoint_step_directory(workdir):
  (checkpoint.directory(workdir) / "40").mkdir()
  assert_refused(workdir, checkpoint.CheckpointError, r"checkpoints/40 cannot be read",
                 lambda: train_with(workdir))


def test_checkpoints_path_is_a_file(workdir):
  shutil.rmtree(checkpoint.directory(workdir))
  checkpoint.directory(workdir).write_text("not a directory")
  assert_refused(workdir, checkpoint.CheckpointError, "is a file, not a checkpoint directory",
                 lambda: train_with(workdir))


def test_corrupt_config_json(workdir):
  (workdir / "config.json").write_text('{"seed": 0, "data": {')
  assert_refused(workdir, workdirs.WorkdirError, "config.json is not valid JSON",
                 lambda: train_with(workdir))


def test_corrupt_line_in_metrics_jsonl(workdir):
  lines = (workdir / "metrics.jsonl").read_text().splitlines(keepends=True)
  (workdir / "metrics.jsonl").write_text(lines[0] + "{oops\n" + "".join(lines[1:]))
  assert_refused(workdir, logs.LogError, "metrics.jsonl line 2 is not a JSON record",
                 lambda: train_with(workdir))


def test_workdir_is_a_file(tmp_path):
  path = tmp_path / "run"
  path.write_text("a file")
  assert_refused(tmp_path, workdirs.WorkdirError, "workdir .*run is a file, not a directory",
                 lambda: train_with(path))


@pytest.mark.skipif(not pathlib.Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
def test_unwritable_workdir():
  # sysfs refuses new files to everyone, root included.
  with pytest.raises(workdirs.WorkdirError, match="cannot write in workdir /sys/seqattn-test"):
    train_with(pathlib.Path("/sys/seqattn-test/run"))


def test_batch_larger_than_the_training_data(workdir):
  assert_refused(workdir, ValueError, "train.batch_size=500 exceeds the 400 training examples",
                 lambda: train_with(workdir, force=True, train__batch_size=500))


def test_over_long_inputs_for_max_input_len(workdir):
  assert_refused(workdir, ValueError, "has .* characters; the model reads at most 8",
                 lambda: train_with(workdir, force=True, data__max_input_len=8))


def test_over_long_targets_for_max_target_len(workdir):
  assert_refused(workdir, ValueError, "target '.*' has 10 characters; the model reads at most 5",
                 lambda: train_with(workdir, force=True, data__max_target_len=5))


def test_date_range_too_small_for_the_examples(workdir):
  assert_refused(workdir, ValueError, "distinct dates, but 2000-01-01..2000-01-02 holds about",
                 lambda: train_with(workdir, force=True, data__date_start="2000-01-01",
                                    data__date_end="2000-01-02"))


def test_learning_rate_so_large_the_loss_overflows(tmp_path):
  with pytest.raises(progress.NonFiniteError,
                     match="not finite at step 2 .*; no checkpoint was saved before it"):
    train_with(tmp_path, train__learning_rate=1e37)
  assert checkpoint.latest_step(tmp_path) is None


@pytest.mark.parametrize("text, match", [("", "empty input"), (" , ", "empty input"),
                                         ("tuesday " * 5, "has 39 characters.* at most 30")],
                         ids=["empty", "only_commas_and_spaces", "over_long"])
def test_bad_prediction_input(workdir, text, match):
  trained = predict.load(workdir, "train first")
  assert_refused(workdir, ValueError, match, lambda: predict.predict(trained, [text]))


def test_unknown_characters_in_a_prediction_input_are_named(workdir):
  before = snapshot(workdir)
  [p] = predict.predict(predict.load(workdir, "train first"), ["3 may 1979 ☃ é"])
  assert "'☃' 'é'" in p.source.warnings[0] and len(p.best.output) == 10
  assert snapshot(workdir) == before


def test_predict_without_a_checkpoint_says_how_to_train(workdir):
  shutil.rmtree(checkpoint.directory(workdir))
  assert_refused(workdir, predict.NotTrainedError, "no trained model .* train one first",
                 lambda: predict.load(workdir, "python launch.py --config configs/test.py"))


"""The task interface: a task defined here, registered by one line, trains, evaluates and predicts
through the Python API and the command line's predict, with real-valued inputs and outputs (the other ends of
seqattn.models.ends) and no change to the library."""

import dataclasses
import json
import pathlib

import numpy as np
import pytest

import seqattn
from conftest import CONFIGS
from seqattn import cli, tasks
from seqattn.config import load_file
from seqattn.schema import POSITIVE
from seqattn.data.batching import Split
from seqattn.models import ends


TAIL = 3  # the task: the last TAIL values of a sequence, last first


@dataclasses.dataclass(frozen=True)
class TailConfig:
  task: str
  n_train: int = dataclasses.field(metadata=POSITIVE)
  n_val: int = dataclasses.field(metadata=POSITIVE)
  n_test: int = dataclasses.field(metadata=POSITIVE)
  max_input_len: int = dataclasses.field(metadata=POSITIVE)  # window length
  max_target_len: int = dataclasses.field(metadata=POSITIVE)  # values to give back


@dataclasses.dataclass(frozen=True)
class TailCodec:
  source = ends.Features(1)
  target = ends.Features(1)

  def save(self, workdir: pathlib.Path) -> None:
    (workdir / "tail.json").write_text(json.dumps(dict(features=1)))


class Tail(tasks.Task):
  """Real-valued sequences of TAIL..Tx steps -> their last TAIL values in reverse order."""

  Config = TailConfig
  METRICS = {"loss": "min", "mae": "min"}

  def _split(self, rng: np.random.Generator, n: int) -> Split:
    tx = self.cfg.max_input_len
    lengths = rng.integers(TAIL, tx + 1, n).astype(np.int32)
    x = rng.normal(size=(n, tx, 1)).astype(np.float32)
    x[np.arange(tx)[None, :] >= lengths[:, None]] = 0.0
    tails = np.stack([x[np.arange(n), lengths - 1 - k] for k in range(TAIL)], 1)
    return Split(x, lengths, tails)

  def load(self, seed: int) -> tasks.Data:
    rng = np.random.default_rng(seed)
    cfg = self.cfg
    return tasks.Data(self._split(rng, cfg.n_train), self._split(rng, cfg.n_val),
                      self._split(rng, cfg.n_test), TailCodec())

  def restore(self, workdir: pathlib.Path) -> TailCodec:
    assert (workdir / "tail.json").exists()
    return TailCodec()

  def read(self, codec, text: str) -> tasks.Source:
    values = [float(v) for v in text.split()]
    return tasks.Source(np.array(values, np.float32)[:, None], text.split(), text, [])

  def write(self, codec, output: np.ndarray, source=None) -> tasks.Output:
    labels = [f"{v:.2f}" for v in output[:, 0]]
    return tasks.Output(" ".join(labels), labels)

  def score(self, data, split, predictions):
    return dict(mae=float(np.mean(np.abs(predictions - split.targets))))


@pytest.fixture
def tail_task(monkeypatch):
  monkeypatch.setitem(tasks.REGISTRY, "tail", Tail)  # the one registry line


def tail_config():
  config = load_file(CONFIGS / "test.py")
  config.data = dict(task="tail", n_train=800, n_val=100, n_test=100, max_input_len=8,
                     max_target_len=TAIL)
  config.model.encoder_units, config.model.decoder_units = 16, 32
  config.model.attention = "additive"
  config.train.num_epochs = 10
  config.train.best_metric = "val_mae"
  config.train.eval_every_steps = config.train.checkpoint_every_steps = 80
  return config


def test_a_task_defined_outside_the_library_trains_evaluates_and_predicts(tail_task, tmp_path,
                                                                          capsys):
  results = seqattn.train(tail_config(), tmp_path)
  log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
  assert log[-1]["val_loss"] < 0.5 * log[0]["val_loss"], log
  assert results["best_val_mae"] == min(r["val_mae"] for r in log)
  assert "val_exact_match" not in log[0]  # a regression task has no exact match
  # Better than the best constant guess (the mean, 0: MAE ≈ 0.8 for standard normal values).
  assert results["test_mae"] < 0.5 and "alignment" not in results
  assert not results["dead_attention"]
  assert (tmp_path / "tail.json").exists()

  _, again = seqattn.load(tmp_path).evaluate()
  assert again["mae"] == pytest.approx(results["test_mae"], rel=1e-5)
  capsys.readouterr()
  cli.run("predict", tmp_path, None, None, ["0.5 -1 2 0.25 1.5"])
  line = capsys.readouterr().out.strip()
  assert line.startswith("0.5 -1 2 0.25 1.5 -> ")
  forecast = [float(v) for v in line.split(" -> ")[1].split()[:TAIL]]
  np.testing.assert_allclose(forecast, [1.5, 0.25, 2.0], atol=0.75)
  assert (tmp_path / "attention_0_5_1_2_0_25_1_5.png").exists()

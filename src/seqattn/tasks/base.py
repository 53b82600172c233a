"""The task interface: all that the shared model, train step, run, evaluation and `predict`
need to know of a task. Nothing outside `seqattn.tasks` names a task.

A task answers:
  Config          the dataclass of the config's `data` group (its fields, defaults in the
                  config file, validated by seqattn.config.freeze);
  load(seed)      the train/val/test splits as padded arrays with lengths, and the codec fitted
                  on the training split (vocabularies, subword models, scalers);
  restore(dir)    that codec again, from a workdir (for `predict` and `evaluate`);
  codec.source / codec.target
                  the model's two ends (seqattn.models.ends): how inputs enter the encoder and
                  the readout with its loss;
  score(...)      metrics of its own on decoded output, beyond loss and accuracy;
  report(...)     tables of its own for results.json (e.g. BLEU by sentence length);
  test_data(...)  a user's own test file, for `evaluate`, where the task reads one;
  read / write    how `predict` reads a user's input and prints an output;
  Data.test_examples
                  gold alignments, where the task knows them.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, ClassVar, Protocol, Sequence

import numpy as np

from seqattn.data.batching import Resample, Split
from seqattn.data.examples import Example
from seqattn.models import ends


class Codec(Protocol):
  """Turns a task's raw data into model arrays and back; fitted on the training split."""

  source: ends.Spec
  target: ends.Spec

  def save(self, workdir: pathlib.Path) -> None:
    """Writes what `Task.restore` reads back."""


@dataclasses.dataclass(frozen=True)
class Data:
  train: Split
  val: Split
  test: Split
  codec: Codec
  test_examples: Sequence[Example] = ()  # with gold alignments, or () when the task has none
  # The training split drawn anew at each epoch (data.batching.Resample), where the task does
  # (subword sampling); None: the same every epoch.
  resample_train: Resample | None = None


@dataclasses.dataclass(frozen=True)
class Source:
  """One input read for `predict`: what the model gets and what a person sees."""

  array: np.ndarray  # [Tx] ids or [Tx, n] features, unpadded
  labels: list[str]  # one per input step, for heatmaps and tables
  shown: str  # the input as the model read it (normalised)
  warnings: list[str]
  features: Sequence[str] = ()  # names of the input's real-valued features, where it has them


@dataclasses.dataclass(frozen=True)
class Output:
  """One decoded output as `predict` shows it."""

  text: str  # as a person reads it
  labels: list[str]  # one per output step, for heatmaps and tables
  warnings: list[str] = dataclasses.field(default_factory=list)  # e.g. not a calendar date


class Task:
  """Base class: a task is built from its frozen `data` config group."""

  Config: ClassVar[type]
  # The metrics an evaluation reports (the shared ones and `score`'s), each with whether a
  # smaller or a larger value is better: train.best_metric picks one.
  METRICS: ClassVar[dict[str, str]] = {"loss": "min"}

  def __init__(self, cfg):
    self.cfg = cfg

  @property
  def max_input_len(self) -> int:
    """Tx: input steps of every batch."""
    return self.cfg.max_input_len

  @property
  def max_target_len(self) -> int:
    """Ty: output steps of every batch."""
    return self.cfg.max_target_len

  def load(self, seed: int) -> Data:
    raise NotImplementedError

  def load_saved(self, codec: Codec, seed: int) -> Data:
    """The splits a finished run used, read with its saved `codec` (--mode evaluate). By
    default loaded again (a task whose loading is cheap and deterministic); a task that fits
    costly things (tokenisers) uses the saved ones."""
    del codec
    return self.load(seed)

  def restore(self, workdir: pathlib.Path) -> Codec:
    raise NotImplementedError

  def read(self, codec: Codec, text: str) -> Source:
    """A user's input for `predict`; ValueError with what to do when it cannot be read."""
    raise NotImplementedError

  def write(self, codec: Codec, output: np.ndarray, source: Source | None = None) -> Output:
    """One decoded output (ids or values) as a person reads it; `source` is the input it was
    decoded from, for outputs relative to it."""
    raise NotImplementedError

  def score(self, data: Data, split: Split, predictions: np.ndarray,
            paths: np.ndarray | None = None) -> dict[str, Any]:
    """Metrics of the task's own on a split's decoded predictions (none by default); `paths`
    [N, S, Ty, n] are sample paths of a distributional forecast, passed where drawn (a task
    without distributional forecasts may leave the argument out)."""
    del data, split, predictions, paths
    return {}

  def report(self, data: Data, predictions: np.ndarray, attention: dict[str, np.ndarray],
             workdir: pathlib.Path | None, paths: np.ndarray | None = None) -> dict[str, Any]:
    """What the task adds to the test results (baselines, say) from the test split's decoded
    predictions, attention ('temporal' [N, Ty, Tx]; 'input' [N, Tx, n] where the model has
    one) and sample paths (where drawn); with a workdir, its plots and files there. Nothing by
    default."""
    del data, predictions, attention, workdir, paths
    return {}

  def summary(self, results: dict[str, Any]) -> str | None:
    """A table of a finished run's test results that the task prints (None: the line of
    metrics alone)."""
    del results
    return None

  def test_data(self, codec: Codec, path: str) -> Data:
    """A user's test file as the test split (for `evaluate`), read with the trained codec."""
    raise ValueError(f"data.task={self.cfg.task!r} reads no test file; evaluate its own test "
                     f"split by leaving out --test_file.")

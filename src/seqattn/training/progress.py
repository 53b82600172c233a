"""What the host keeps of a run between steps: PRNG keys, the data position, the early-stopping
record, the stop signals and the non-finite guard."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import pathlib
import signal
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from seqattn.files import checkpoint
from seqattn.config import TrainConfig
from seqattn.data.batching import WHOLE, Batch, Part, Plan


class NonFiniteError(FloatingPointError):
  """A non-finite loss or gradient stopped the run; the message names the step."""


class Interrupted(Exception):
  """SIGINT or SIGTERM stopped the run after a checkpoint was saved."""

  def __init__(self, signum: int, step: int, path: pathlib.Path):
    super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint "
                     f"saved in {path}. Rerun the same command to resume.")
    self.signum = signum


def root_keys(seed: int) -> dict[str, jax.Array]:
  """One root key from the config seed, split once into its uses."""
  init, shuffle, dropout = jax.random.split(jax.random.key(seed), 3)
  return dict(init=init, shuffle=shuffle, dropout=dropout)


def epoch_rng(shuffle_key: jax.Array, epoch: int) -> np.random.Generator:
  """The shuffling generator of one epoch: a function of the seed and the epoch alone."""
  bits = jax.random.bits(jax.random.fold_in(shuffle_key, epoch), (2,), jnp.uint32)
  return np.random.default_rng(np.asarray(bits))


def batches_from(plan: Plan, shuffle_key: jax.Array, num_epochs: int, epoch: int,
                 index: int, part: Part = WHOLE) -> Iterator[tuple[int, int, Batch]]:
  """(epoch, index in epoch, batch) of training from data position (epoch, index) to the end;
  `part`'s rows of each batch."""
  for e in range(epoch, num_epochs):
    batches = enumerate(plan.for_epoch(e).epoch(epoch_rng(shuffle_key, e), part))
    for i, batch in itertools.islice(batches, index if e == epoch else 0, None):
      yield e, i, batch


@dataclasses.dataclass
class Progress:
  """What the host knows of a run beyond the train state; saved as JSON with each checkpoint."""

  epoch: int = 0  # data position: the epoch being read ...
  batch: int = 0  # ... and the index of its next batch
  # ... in a plan of batches made for this many devices along mesh.data (length buckets are
  # cut so that each batch splits over them); 0: not recorded (a checkpoint of an older run)
  plan_devices: int = 0
  best_step: int = 0  # the evaluation with the best train.best_metric so far (0: none yet)
  best_value: float | None = None
  evals_since_best: int = 0
  seconds: float = 0.0  # wall time of the run's sessions up to this checkpoint
  out_of_time: bool = False  # train.time_budget_minutes ran out: training is over

  def record_eval(self, mode: str, step: int, value: float) -> None:
    """Records train.best_metric's `value` at `step`; `mode`: 'min' or 'max' is better."""
    better = {"min": value.__lt__, "max": value.__gt__}[mode]
    if self.best_value is None or better(self.best_value):
      self.best_step, self.best_value, self.evals_since_best = step, value, 0
    else:
      self.evals_since_best += 1

  def stop_early(self, cfg: TrainConfig) -> bool:
    return 0 < cfg.early_stopping_patience <= self.evals_since_best


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
  """Within the block, SIGINT and SIGTERM append their number to the yielded list instead of
  ending the process, so that the loop can save a checkpoint first. Main thread only."""
  received: list[int] = []
  signums = (signal.SIGINT, signal.SIGTERM)
  previous = [signal.signal(s, lambda signum, _: received.append(signum)) for s in signums]
  try:
    yield received
  finally:
    for s, handler in zip(signums, previous):
      signal.signal(s, handler)


def check_finite(cfg: TrainConfig, sums: dict[str, Any], step: int, last_saved: int | None,
                 workdir: pathlib.Path) -> None:
  """Unless non-finite updates are to be skipped, raises NonFiniteError naming the first
  non-finite step counted in `sums` (there is none when sums['nonfinite'] is 0)."""
  if cfg.skip_nonfinite_updates or not sums["nonfinite"]:
    return
  kept = (f"the last good checkpoint, {checkpoint.directory(workdir) / str(last_saved)}, is kept"
          if last_saved is not None else "no checkpoint was saved before it")
  raise NonFiniteError(
      f"the training loss or a gradient was not finite at step {int(sums['first_nonfinite'])} "
      f"({int(sums['nonfinite'])} such step(s) up to step {step}; none was applied); {kept}. "
      f"Lower train.learning_rate, set train.grad_clip_norm (e.g. 1.0) or "
      f"train.skip_nonfinite_updates=True, then rerun with --force to go on from that "
      f"checkpoint, or in a new workdir.")

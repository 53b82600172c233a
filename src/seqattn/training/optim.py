"""The optimiser and its learning-rate schedules, from the config's `train` group."""

from __future__ import annotations

import optax

from seqattn.config import TrainConfig
from seqattn.optimizers import OPTIMIZERS, SCHEDULES


def learning_rate(cfg: TrainConfig, total_steps: int) -> optax.Schedule:
  """The configured schedule after an optional linear warmup from 0 to `cfg.learning_rate`.

  After warmup the schedule sees the steps since warmup ended (optax.join_schedules).
  """
  peak, warmup = cfg.learning_rate, cfg.warmup_steps
  after = SCHEDULES[cfg.schedule](peak, total_steps - warmup, warmup, cfg.decay_steps,
                                  cfg.decay_rate)
  if warmup == 0:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), after], [warmup])


def optimizer(cfg: TrainConfig, total_steps: int) -> optax.GradientTransformation:
  """Clipping (or not), then the optimiser with its schedule and weight decay.

  The chain has the same optimiser state whatever the clipping norm, momentum or decay, so a
  run can go on (--force) from a checkpoint with a changed value of these.
  """
  base = OPTIMIZERS[cfg.optimizer](learning_rate(cfg, total_steps), cfg.b1, cfg.b2,
                                   cfg.momentum, cfg.weight_decay)
  clip = optax.clip_by_global_norm(cfg.grad_clip_norm) if cfg.grad_clip_norm else optax.identity()
  return optax.chain(clip, base)

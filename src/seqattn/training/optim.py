"""The optimiser and its learning-rate schedules, from the config's `train` group."""

from __future__ import annotations

import optax

from seqattn.config import TrainConfig
from seqattn.schedules import SCHEDULES


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
  lr = learning_rate(cfg, total_steps)
  if cfg.optimizer == "adam":
    base = optax.adam(lr, b1=cfg.b1, b2=cfg.b2)
  elif cfg.optimizer == "adamw":
    base = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
  else:  # sgd: weight decay as an L2 term in the gradient, as in torch.optim.SGD
    base = optax.chain(optax.add_decayed_weights(cfg.weight_decay),
                       optax.sgd(lr, momentum=cfg.momentum))
  clip = optax.clip_by_global_norm(cfg.grad_clip_norm) if cfg.grad_clip_norm else optax.identity()
  return optax.chain(clip, base)

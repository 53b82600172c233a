"""The optimiser and its learning-rate schedules, from the config's `train` group."""

from __future__ import annotations

import jax
import optax

from seqattn.config import TrainConfig


def learning_rate(cfg: TrainConfig, total_steps: int) -> optax.Schedule:
  """The configured schedule after an optional linear warmup from 0 to `cfg.learning_rate`.

  After warmup the schedule sees the steps since warmup ended (optax.join_schedules).
  """
  peak, warmup = cfg.learning_rate, cfg.warmup_steps
  if cfg.schedule == "constant":
    after = optax.constant_schedule(peak)
  elif cfg.schedule == "cosine":
    after = optax.cosine_decay_schedule(peak, max(total_steps - warmup, 1))
  elif cfg.schedule == "rsqrt":  # peak * sqrt(warmup / step) at step = warmup + s
    after = lambda s: peak * jax.lax.rsqrt(1.0 + s / warmup)
  elif cfg.schedule == "exponential":
    after = optax.exponential_decay(peak, cfg.decay_steps, cfg.decay_rate)
  else:  # inverse_time: Keras' InverseTimeDecay (the course's `decay`: decay_steps=1)
    after = lambda s: peak / (1.0 + cfg.decay_rate * s / cfg.decay_steps)
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

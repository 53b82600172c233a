"""The train state and the one jitted train step.

Hyperparameters are not in the state: they come as one static, hashable `StepConfig`, so the
state holds arrays only, and runs that differ in their seed alone share one compiled step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from seqattn.measures import metrics
from seqattn.config import TrainConfig
from seqattn.optimizers import SAMPLING
from seqattn.data.batching import Batch
from seqattn.models.decoders import Sampling
from seqattn.models.interface import Model, abstract_params, teacher_forced
from seqattn.training import optim


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Everything the step needs besides arrays (a static argument: hashable, compared by value)."""

  model: Model
  train: TrainConfig  # optimiser, schedule, label smoothing, scheduled sampling
  total_steps: int  # the length of the schedules

  @property
  def tx(self) -> optax.GradientTransformation:
    return optim.optimizer(self.train, self.total_steps)


class TrainState(struct.PyTreeNode):
  """step: [] i32 updates so far. params, opt_state: θ and the optimiser's state.
  sums: on-device sums over the steps since the last log, so that no step waits for the host
    and a resumed run logs what an uninterrupted one would: loss and attention_grad_norm (f32,
    over finite steps; the second the norm of the gradient reaching the attention score's
    parameters, 0 when a dead attention passes none), finite and nonfinite (i32 step counts),
    first_nonfinite (i32 step, 0: none)."""

  step: jax.Array
  params: Any
  opt_state: Any
  sums: dict[str, jax.Array]


def on_device(tree):
  """`tree` committed to the default device, as a restored checkpoint is.

  A fresh, a restored and a reset state then give the jitted step one signature (committed and
  uncommitted arguments compile apart), so a resumed run runs the same executable.
  """
  return jax.device_put(tree, jax.local_devices()[0])


def zero_sums() -> dict[str, jax.Array]:
  """Fresh sums (one buffer each: the step donates them)."""
  f32, i32 = (lambda: jnp.zeros((), jnp.float32)), (lambda: jnp.zeros((), jnp.int32))
  return dict(loss=f32(), attention_grad_norm=f32(), finite=i32(), nonfinite=i32(),
              first_nonfinite=i32())


@jax.jit
def reset_sums(state: TrainState) -> TrainState:
  """`state` with its sums at zero, placed as they were (a jitted function keeps shardings)."""
  return state.replace(sums=jax.tree.map(jnp.zeros_like, state.sums))


def create_state(params, static: StepConfig) -> TrainState:
  # An array step (not the Python int 0) keeps the first call's signature equal to the rest.
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     opt_state=static.tx.init(params), sums=zero_sums())
  return on_device(state)


def abstract_state(static: StepConfig) -> TrainState:
  """Shapes and dtypes of the train state, computed without initialising anything."""
  return jax.eval_shape(lambda p: create_state(p, static), abstract_params(static.model))


def scheduled_sampling(cfg: TrainConfig, step: jax.Array, key: jax.Array) -> Sampling | None:
  """Bengio et al. 2015: at step i the gold token is kept with probability ε_i
  (optimizers.SAMPLING); None when off."""
  keep = SAMPLING[cfg.scheduled_sampling]
  if keep is None:
    return None
  gold = keep(step.astype(jnp.float32), cfg.sampling_k, cfg.sampling_floor)
  return Sampling(1.0 - gold, key)


def loss_fn(params, model: Model, batch: Batch, dropout_key: jax.Array | None = None,
            label_smoothing: float = 0.0, sampling: Sampling | None = None) -> jax.Array:
  """The mean loss per real target step of a batch."""
  outputs, _ = teacher_forced(model, params, batch, dropout_key, sampling)
  loss_sum, steps = metrics.loss_sums(model.target, outputs, batch["targets"],
                                      batch["weights"], label_smoothing)
  return loss_sum / steps


def add_step(sums: dict[str, jax.Array], loss: jax.Array, attention_grad_norm: jax.Array,
             finite: jax.Array, step: jax.Array) -> dict[str, jax.Array]:
  """`sums` with one more step (numbered `step`) of loss `loss` added."""
  first_bad = (sums["first_nonfinite"] == 0) & ~finite
  return dict(loss=sums["loss"] + jnp.where(finite, loss, 0.0),
              attention_grad_norm=sums["attention_grad_norm"]
              + jnp.where(finite, attention_grad_norm, 0.0),
              finite=sums["finite"] + finite.astype(jnp.int32),
              nonfinite=sums["nonfinite"] + (~finite).astype(jnp.int32),
              first_nonfinite=jnp.where(first_bad, step, sums["first_nonfinite"]))


def update(state: TrainState, batch: Batch, key: jax.Array,
           static: StepConfig) -> tuple[TrainState, jax.Array]:
  """One optimiser update on one batch; `key` drives dropout and scheduled sampling.

  Returns (new state, mean loss).

  An update whose loss or gradient norm is not finite (a NaN or inf in the gradients, or a norm
  beyond float32) is not applied: params and optimiser state stay, the step still counts (the
  batch is used up), and `sums` record it, so the host learns of it at the next log without
  waiting on any step.
  """
  dropout_key, sampling_key = jax.random.split(jax.random.fold_in(key, state.step))
  sampling = scheduled_sampling(static.train, state.step, sampling_key)
  loss, grads = jax.value_and_grad(loss_fn)(state.params, static.model, batch, dropout_key,
                                            static.train.label_smoothing, sampling)
  # One global norm rather than a test per leaf: it compiles about a second faster.
  finite = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(grads))

  def apply():
    updates, opt_state = static.tx.update(grads, state.opt_state, state.params)
    return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                         opt_state=opt_state)

  # A branch rather than a select per leaf: a skipped update costs nothing, an applied one no
  # select for each of the parameters and optimiser moments.
  new = jax.lax.cond(finite, apply, lambda: state.replace(step=state.step + 1))
  attention_grad_norm = optax.tree.norm(static.model.attention_params(grads))
  return new.replace(sums=add_step(state.sums, loss, attention_grad_norm, finite,
                                   state.step + 1)), loss


train_step = jax.jit(update, static_argnames="static", donate_argnums=0)

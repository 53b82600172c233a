"""What every architecture is to the rest of the library (`Model`: Seq2Seq and the DA-RNN
implement it), and the functions that initialise and run any of them.

Training, decoding, evaluation and prediction use this interface alone: none of them names an
architecture.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import jax

from seqattn.models import ends


class Model(Protocol):
  """A Flax module between a task's two ends; models.architectures.REGISTRY builds them."""

  source: ends.Spec  # what the encoder reads (seqattn.models.ends)
  target: ends.Spec  # what the decoder emits
  max_input_len: int  # Tx
  max_target_len: int  # Ty

  def __call__(self, inputs: jax.Array, lengths_B: jax.Array, decoder_inputs: jax.Array,
               deterministic: bool = True, sampling: Any = None) -> tuple[jax.Array, jax.Array]:
    """Teacher-forced (outputs [B, Ty, ...], α_tj [B, Ty, Tx])."""

  def encode(self, inputs: jax.Array, lengths_B: jax.Array,
             deterministic: bool = True) -> tuple[Any, Any]:
    """(the decoder's initial carry, the memory every output step reads)."""

  def step(self, carry: Any, y_prev: jax.Array, memory: Any) -> tuple[Any, tuple]:
    """One output step for decoding: (carry, (outputs [B, ...], α_t [B, Tx]))."""

  def input_attention(self, inputs: jax.Array, lengths_B: jax.Array) -> jax.Array | None:
    """The attention over the input features [B, Tx, n] (the DA-RNN's α^k_t); None where the
    model has none."""

  @staticmethod
  def attention_params(params: dict) -> dict:
    """The attention's part of a parameter tree (or of its gradient)."""


def example_inputs(model: Model) -> tuple[jax.Array, jax.Array, jax.Array]:
  """A one-example (inputs, lengths, decoder inputs) batch: all that initialisation needs."""
  tx_len, ty_len = model.max_input_len, model.max_target_len
  return (model.source.example(1, tx_len), jax.numpy.full((1,), tx_len, jax.numpy.int32),
          model.target.example(1, ty_len))


# Runs once a model and only its outputs matter: compile it fast rather than make it run fast.
# The model (a hashable dataclass) is the only static argument, so every seed of one model
# shares one compiled initialisation.
@functools.partial(jax.jit, static_argnums=0,
                   compiler_options={"xla_backend_optimization_level": 0})
def init_params(model: Model, key: jax.Array):
  """θ drawn from `key`: the model's parameters before training."""
  return model.init(key, *example_inputs(model))["params"]


def abstract_params(model: Model):
  """Shapes and dtypes of `model`'s parameters, computed without initialising anything."""
  return jax.eval_shape(model.init, jax.random.key(0), *example_inputs(model))["params"]


def teacher_forced(model: Model, params, batch: dict, dropout_key: jax.Array | None = None,
                   sampling: Any = None):
  """(outputs, α [B, Ty, Tx]) of a batch, the gold targets fed back; dropout is on iff a key
  is given."""
  return model.apply({"params": params}, batch["inputs"], batch["input_lengths"],
                     ends.shift_right(model.target, batch["targets"]),
                     deterministic=dropout_key is None, sampling=sampling,
                     rngs={} if dropout_key is None else {"dropout": dropout_key})


def input_attention(model: Model, params, inputs: jax.Array,
                    lengths_B: jax.Array) -> jax.Array | None:
  """The model's attention over its input features, or None."""
  return model.apply({"params": params}, inputs, lengths_B, method=model.input_attention)

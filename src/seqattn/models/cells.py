"""Recurrent cells by config name and the state they expose.

GRU and simple RNN are Flax's own cells. The LSTM is `FusedLSTMCell`: Flax's equations and
initialisation with each weight matrix stored fused over the four gates (see its docstring).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def per_gate(init: nn.initializers.Initializer, gates: int) -> nn.initializers.Initializer:
  """`init` applied to each gate's [.., H] block of a [.., gates·H] kernel, blocks side by side."""

  def initializer(key, shape, dtype=jnp.float32):
    *rest, width = shape
    keys = jax.random.split(key, gates)
    return jnp.concatenate([init(k, (*rest, width // gates), dtype) for k in keys], axis=-1)

  return initializer


class FusedLSTMCell(nn.RNNCellBase):
  """An LSTM whose four gates (i, f, g, o) share one input and one recurrent kernel.

    z = x W_i + h_{t-1} W_h + b            W_i: [I, 4H], W_h: [H, 4H], b: [4H]
    i, f, g, o = σ(z_i), σ(z_f), tanh(z_g), σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)

  The equations, initialisers (lecun-normal W_i, orthogonal W_h per gate, zero b) and carry
  (c, h) of Flax's OptimizedLSTMCell. That cell keeps a kernel per gate and concatenates them at
  every step, so inside the time loop the backward pass also splits the kernel gradient into
  its 8 per-gate pieces at every step; storing the kernels fused removes those ops and made the
  course model's train step ≈ 13% faster (BUILD_NOTES.md, Performance). tests/test_models.py
  checks it against OptimizedLSTMCell given the same weights.
  """

  features: int

  @nn.compact
  def __call__(self, carry, x_BxI: jax.Array):
    c_BxH, h_BxH = carry
    gates = 4 * self.features
    W_i = self.param("W_i", nn.initializers.lecun_normal(), (x_BxI.shape[-1], gates))
    W_h = self.param("W_h", per_gate(nn.initializers.orthogonal(), 4), (self.features, gates))
    b = self.param("b", nn.initializers.zeros_init(), (gates,))
    z_Bx4H = x_BxI @ W_i + h_BxH @ W_h + b[None, :]
    i, f, g, o = jnp.split(z_Bx4H, 4, axis=-1)
    c_BxH = nn.sigmoid(f) * c_BxH + nn.sigmoid(i) * jnp.tanh(g)
    h_BxH = nn.sigmoid(o) * jnp.tanh(c_BxH)
    return (c_BxH, h_BxH), h_BxH

  @nn.nowrap
  def initialize_carry(self, rng, input_shape):
    del rng
    return zeros_carry("lstm", input_shape[:-1], self.features)

  @property
  def num_feature_axes(self) -> int:
    return 1


CELLS = {
    "lstm": FusedLSTMCell,
    "gru": nn.GRUCell,
    "simple": nn.SimpleCell,
}


def make(kind: str, units: int, **kwargs) -> nn.RNNCellBase:
  """A cell of `kind` (a key of CELLS) with `units` features."""
  return CELLS[kind](features=units, **kwargs)


def hidden(carry) -> jax.Array:
  """The hidden state s of a cell's carry: h of an LSTM's (c, h), the carry itself otherwise."""
  return carry[1] if isinstance(carry, tuple) else carry


def zeros_carry(kind: str, batch: int | tuple[int, ...], units: int):
  """An all-zero carry of a `kind` cell for `batch` sequences (or a tuple of batch dims)."""
  batch_dims = batch if isinstance(batch, tuple) else (batch,)
  zeros = jnp.zeros((*batch_dims, units))
  return (zeros, zeros) if kind == "lstm" else zeros

"""Recurrent cells by config name (`CELLS`): Flax's own cells, and the same cells as
fused-weight steps.

The DA-RNN calls Flax's cells (`make`). The encoder and the decoder run the same equations as
pure steps (each `Cell`'s `step`) on each cell's weights with the gate blocks side by side
(`Fused`), gathered before their loops: the backward pass of a loop then accumulates the
gradient of one W_x, W_h and b_h per cell instead of one per gate (and the encoder's directions
share one loop). `Weights` creates the parameters of Flax's cell (the same names, shapes,
initialisers and initial values) and returns them fused, so checkpoints are the same either
way.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.recurrent import DenseParams


class Fused(NamedTuple):
  """A cell's weights with its G gate blocks side by side (H units each)."""

  W_x: jax.Array  # [I, G·H]
  b_x: jax.Array  # [G·H]; zeros where Flax's input-side Dense has no bias
  W_h: jax.Array  # [H, G·H]
  b_h: jax.Array  # [G·H]; zeros where Flax's recurrent Dense has no bias


class Cell(NamedTuple):
  """Everything the models need of a recurrent cell; `CELLS` maps config names to them.

  The encoder and decoder run `step` on the fused weights that `Weights` creates from `gates`
  and the initialisers. A cell built on Flax's (`of_flax`) keeps Flax's parameter names,
  shapes and initial values (and is what the DA-RNN runs); a new cell needs only these fields.
  """

  # (input-side blocks, recurrent-side blocks): each (its parameter's name, has a bias), in
  # the order `step` splits the fused products.
  gates: tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, bool], ...]]
  step: Callable[[Fused, Any, jax.Array], tuple[Any, jax.Array]]  # (w, carry, x_t) -> (carry, h_t)
  cell_state: bool  # the carry is (c, h), an LSTM's, rather than h alone
  kernel_init: Callable  # of the input side's kernels
  recurrent_kernel_init: Callable
  bias_init: Callable
  flax: type[nn.RNNCellBase] | None = None  # Flax's own cell, when there is one

  @classmethod
  def of_flax(cls, flax_cell: type[nn.RNNCellBase], gates, step, cell_state: bool) -> Cell:
    return cls(gates, step, cell_state, flax_cell.kernel_init, flax_cell.recurrent_kernel_init,
               flax_cell.bias_init, flax_cell)


def make(kind: str, units: int, **kwargs) -> nn.RNNCellBase:
  """Flax's cell of `kind` (a key of CELLS) with `units` features."""
  if CELLS[kind].flax is None:
    raise ValueError(f"cell {kind!r} has no Flax cell; the DA-RNN runs Flax's cells only.")
  return CELLS[kind].flax(features=units, **kwargs)


def steps(body, remat: bool, **scan_kwargs):
  """nn.scan of a step function `body(module, carry, x_t, ...)` over time, parameters shared.

  With `remat` (train.remat) each step's activations are recomputed in the backward pass from
  the step's carry instead of being stored for every t (jax.checkpoint): the same gradients
  with less memory traffic, for more arithmetic. prevent_cse=False: the scan already keeps XLA
  from merging the recomputation into the forward pass, so the extra guard would only cost
  (jax.checkpoint's docs).
  """
  return nn.scan(nn.remat(body, prevent_cse=False) if remat else body,
                 variable_broadcast="params", **scan_kwargs)


def hidden(carry) -> jax.Array:
  """The hidden state s of a cell's carry: h of an LSTM's (c, h), the carry itself otherwise."""
  return carry[1] if isinstance(carry, tuple) else carry


def zeros_carry(kind: str, batch: int, units: int):
  """An all-zero carry of a `kind` cell for `batch` sequences."""
  zeros = jax.numpy.zeros((batch, units))
  return (zeros, zeros) if CELLS[kind].cell_state else zeros


class Weights(nn.Module):
  """The parameters of Flax's `kind` cell (named like the cell), returned fused."""

  kind: str
  units: int

  @nn.compact
  def __call__(self, input_size: int) -> Fused:
    cell = CELLS[self.kind]

    def side(gates, inputs, kernel_init):
      params = [DenseParams(self.units, use_bias=bias, kernel_init=kernel_init,
                            bias_init=cell.bias_init, name=name)(inputs)
                for name, bias in gates]
      return (jnp.concatenate([k for k, _ in params], -1),
              jnp.concatenate([jnp.zeros(self.units) if b is None else b for _, b in params]))

    x_gates, h_gates = cell.gates
    W_x, b_x = side(x_gates, jax.ShapeDtypeStruct((input_size,), jnp.float32), cell.kernel_init)
    W_h, b_h = side(h_gates, jax.ShapeDtypeStruct((self.units,), jnp.float32),
                    cell.recurrent_kernel_init)
    return Fused(W_x, b_x, W_h, b_h)


def _input(w: Fused, x_BxI: jax.Array) -> jax.Array:
  """x_t W_x + b_x: every gate's input-side product in one matmul."""
  return x_BxI @ w.W_x + w.b_x[None]


def lstm_step(w: Fused, carry, x_BxI: jax.Array):
  """OptimizedLSTMCell's step: z = (h_{t-1} W_h + b_h) + x_t W_x;
  c_t = σ(z_f) c_{t-1} + σ(z_i) tanh(z_g);  h_t = σ(z_o) tanh(c_t)."""
  c, h = carry
  z_i, z_f, z_g, z_o = jnp.split((h @ w.W_h + w.b_h[None]) + _input(w, x_BxI), 4, axis=-1)
  c = jax.nn.sigmoid(z_f) * c + jax.nn.sigmoid(z_i) * jnp.tanh(z_g)
  h = jax.nn.sigmoid(z_o) * jnp.tanh(c)
  return (c, h), h


def gru_step(w: Fused, h, x_BxI: jax.Array):
  """GRUCell's step: r = σ(x_r + h W_hr), z = σ(x_z + h W_hz), n = tanh(x_n + r (h W_hn + b_hn)),
  h_t = (1 - z) n + z h_{t-1}, where x_· = x_t W_i· + b_i·."""
  x_r, x_z, x_n = jnp.split(_input(w, x_BxI), 3, axis=-1)
  h_r, h_z, h_n = jnp.split(h @ w.W_h + w.b_h[None], 3, axis=-1)
  r, z = jax.nn.sigmoid(x_r + h_r), jax.nn.sigmoid(x_z + h_z)
  n = jnp.tanh(x_n + r * h_n)
  h = (1.0 - z) * n + z * h
  return h, h


def simple_step(w: Fused, h, x_BxI: jax.Array):
  """SimpleCell's step: h_t = tanh((x_t W_i + b_i) + h_{t-1} W_h)."""
  h = jnp.tanh(_input(w, x_BxI) + (h @ w.W_h + w.b_h[None]))
  return h, h


# Flax names its cells' Dense layers as the gates below; the blocks sit side by side in the
# order each step splits them.
CELLS: dict[str, Cell] = {
    "lstm": Cell.of_flax(nn.OptimizedLSTMCell,
                         ((("ii", False), ("if", False), ("ig", False), ("io", False)),
                          (("hi", True), ("hf", True), ("hg", True), ("ho", True))),
                         lstm_step, cell_state=True),
    "gru": Cell.of_flax(nn.GRUCell, ((("ir", True), ("iz", True), ("in", True)),
                                     (("hr", False), ("hz", False), ("hn", True))),
                        gru_step, cell_state=False),
    "simple": Cell.of_flax(nn.SimpleCell, ((("i", True),), (("h", False),)), simple_step,
                           cell_state=False),
}

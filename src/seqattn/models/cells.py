"""Recurrent cells by config name (Flax's own cells) and the state they expose."""

from __future__ import annotations

import flax.linen as nn
import jax

CELLS = {
    "lstm": nn.OptimizedLSTMCell,
    "gru": nn.GRUCell,
    "simple": nn.SimpleCell,
}


def make(kind: str, units: int, remat: bool = False, **kwargs) -> nn.RNNCellBase:
  """A Flax cell of `kind` (a key of CELLS) with `units` features; `remat`: see `steps`."""
  cell = CELLS[kind]
  return (nn.remat(cell, prevent_cse=False) if remat else cell)(features=units, **kwargs)


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
  return (zeros, zeros) if kind == "lstm" else zeros

"""Recurrent cells by config name (Flax's own cells) and the state they expose."""

from __future__ import annotations

import flax.linen as nn
import jax

CELLS = {
    "lstm": nn.OptimizedLSTMCell,
    "gru": nn.GRUCell,
    "simple": nn.SimpleCell,
}


def make(kind: str, units: int, **kwargs) -> nn.RNNCellBase:
  """A Flax cell of `kind` (a key of CELLS) with `units` features."""
  return CELLS[kind](features=units, **kwargs)


def hidden(carry) -> jax.Array:
  """The hidden state s of a cell's carry: h of an LSTM's (c, h), the carry itself otherwise."""
  return carry[1] if isinstance(carry, tuple) else carry


def zeros_carry(kind: str, batch: int, units: int):
  """An all-zero carry of a `kind` cell for `batch` sequences."""
  zeros = jax.numpy.zeros((batch, units))
  return (zeros, zeros) if kind == "lstm" else zeros

"""Bridges: the decoder's initial state from the encoder's final states.

  zeros     s_0 = 0 (the course)
  copy      s_0 = the encoder's final state, layer by layer (same cell, layers and size)
  linear    s_0 = W h_N + b from the top encoder layer, one map per decoder layer
  bahdanau  s_0 = tanh(W_s h←_1), the backward direction's final state (Bahdanau et al. 2015,
            App. A); a unidirectional encoder gives its forward final state instead
For decoders with a cell state (LSTM) it gets its own map (c_0 = W_c c_N + b_c, unsquashed: a cell state
is unbounded), from the encoder's cell state when it has one, else from its hidden state.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqattn.models import cells

BRIDGES = ("zeros", "copy", "linear", "bahdanau")


def split_carry(carry) -> tuple[jax.Array | None, jax.Array]:
  """(c, h) of an LSTM carry; (None, h) for cells without a cell state."""
  return (carry[0], carry[1]) if isinstance(carry, tuple) else (None, carry)


def merge_directions(final, bidirectional: bool, backward_only: bool = False):
  """One layer's final carry as a single (c or None, h) pair: directions concatenated, or the
  backward direction alone."""
  if not bidirectional:
    return split_carry(final)
  (c_f, h_f), (c_b, h_b) = split_carry(final[0]), split_carry(final[1])
  if backward_only:
    return c_b, h_b
  c = None if c_f is None else jnp.concatenate([c_f, c_b], -1)
  return c, jnp.concatenate([h_f, h_b], -1)


class Bridge(nn.Module):
  kind: str
  cell: str  # the decoder's cell
  units: int
  layers: int
  bidirectional: bool  # the encoder's

  @nn.compact
  def __call__(self, encoder_finals: tuple, batch: int) -> tuple:
    """Per-decoder-layer initial carries."""
    if self.kind == "zeros":
      return tuple(cells.zeros_carry(self.cell, batch, self.units) for _ in range(self.layers))
    if self.kind == "copy":
      return tuple(self._carry(*merge_directions(f, self.bidirectional))
                   for f in encoder_finals)
    c_top, h_top = merge_directions(encoder_finals[-1], self.bidirectional,
                                    backward_only=self.kind == "bahdanau")
    squash = jnp.tanh if self.kind == "bahdanau" else (lambda x: x)
    carries = []
    for layer in range(self.layers):
      h0 = squash(nn.Dense(self.units, name=f"W_h_{layer}")(h_top))
      c0 = None
      if cells.CELLS[self.cell].cell_state:
        c0 = nn.Dense(self.units, name=f"W_c_{layer}")(h_top if c_top is None else c_top)
      carries.append(self._carry(c0, h0))
    return tuple(carries)

  def _carry(self, c, h):
    return (c, h) if cells.CELLS[self.cell].cell_state else h

"""Padding-aware recurrent encoders returning every state h_j and each layer's final state."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqattn.models import cells, ends


class Encoder(nn.Module):
  """`layers` stacked (bi)directional RNNs over the source, dropout between layers.

  With `lengths`, the forward carry stops at each sequence's last real token and the backward
  direction starts there, so states at real positions never depend on padding.
  """

  source: ends.Spec  # how the source enters: token ids or real-valued features
  embed_dim: int
  cell: str
  units: int
  bidirectional: bool
  layers: int = 1
  dropout: float = 0.0
  remat: bool = False  # recompute each step in the backward pass (cells.steps)

  @nn.compact
  def __call__(self, x_BxT: jax.Array, lengths_B: jax.Array, deterministic: bool = True):
    """x_BxT: token ids [B, T] or features [B, T, n]. Returns (h_BxTxH, finals): H = units
    (2·units when bidirectional); finals holds each layer's final carry, a (forward, backward)
    pair per layer when bidirectional."""
    x_BxTxE = self.source.read(self.source.embedder(self.embed_dim, name="embed"), x_BxT)
    finals = []
    for layer in range(self.layers):
      if layer > 0:
        x_BxTxE = nn.Dropout(self.dropout)(x_BxTxE, deterministic=deterministic)
      final, x_BxTxE = self._layer(layer)(x_BxTxE, seq_lengths=lengths_B)
      finals.append(final)
    return x_BxTxE, tuple(finals)

  def _layer(self, layer: int) -> nn.Module:
    def rnn(direction):
      cell = cells.make(self.cell, self.units, self.remat, name=f"{direction}_cell_{layer}")
      return nn.RNN(cell, return_carry=True, name=f"{direction}_{layer}")
    if not self.bidirectional:
      return rnn("forward")
    return nn.Bidirectional(rnn("forward"), rnn("backward"), return_carry=True,
                            name=f"bidirectional_{layer}")


def length_mask(lengths_B: jax.Array, max_len: int) -> jax.Array:
  """[B, max_len] bool, True at real (unpadded) positions."""
  return jnp.arange(max_len)[None, :] < lengths_B[:, None]

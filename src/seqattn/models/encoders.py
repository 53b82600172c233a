"""Padding-aware recurrent encoders returning every state h_j."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqattn.models import cells


def embed(ids_BxT: jax.Array, vocab_size: int, embed_dim: int, name: str) -> jax.Array:
  """[B, T, E]: learned embeddings, or one-hot vectors (as in the course) when embed_dim == 0.

  Must be called inside a compact method.
  """
  if embed_dim == 0:
    return jax.nn.one_hot(ids_BxT, vocab_size)
  return nn.Embed(vocab_size, embed_dim, name=name)(ids_BxT)


class Encoder(nn.Module):
  """A (bi)directional RNN over the source.

  With `lengths`, the forward carry stops at each sequence's last real token and the backward
  direction starts there, so states at real positions never depend on padding.
  """

  vocab_size: int
  embed_dim: int
  cell: str
  units: int
  bidirectional: bool

  @nn.compact
  def __call__(self, ids_BxT: jax.Array, lengths_B: jax.Array):
    """Returns (h_BxTxH, final carry); H = units, or 2·units when bidirectional."""
    x_BxTxE = embed(ids_BxT, self.vocab_size, self.embed_dim, "embed")
    forward = nn.RNN(cells.make(self.cell, self.units, name="forward_cell"), name="forward")
    if not self.bidirectional:
      return forward(x_BxTxE, seq_lengths=lengths_B, return_carry=True)[::-1]
    backward = nn.RNN(cells.make(self.cell, self.units, name="backward_cell"), name="backward")
    rnn = nn.Bidirectional(forward, backward, return_carry=True)
    final, h_BxTxH = rnn(x_BxTxE, seq_lengths=lengths_B)
    return h_BxTxH, final


def length_mask(lengths_B: jax.Array, max_len: int) -> jax.Array:
  """[B, max_len] bool, True at real (unpadded) positions."""
  return jnp.arange(max_len)[None, :] < lengths_B[:, None]

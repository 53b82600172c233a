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
  remat: bool = False  # recompute each step in the backward pass (train.remat)

  @nn.compact
  def __call__(self, x_BxT: jax.Array, lengths_B: jax.Array, deterministic: bool = True):
    """x_BxT: token ids [B, T] or features [B, T, n]. Returns (h_BxTxH, finals): H = units
    (2·units when bidirectional); finals holds each layer's final carry, a (forward, backward)
    pair per layer when bidirectional."""
    x_BxTxE = self.source.read(self.source.embedder(self.embed_dim, name="embed"), x_BxT)
    directions = ("forward", "backward") if self.bidirectional else ("forward",)
    finals = []
    for layer in range(self.layers):
      if layer > 0:
        x_BxTxE = nn.Dropout(self.dropout)(x_BxTxE, deterministic=deterministic)
      weights = [cells.Weights(self.cell, self.units, name=f"{d}_cell_{layer}")(x_BxTxE.shape[-1])
                 for d in directions]
      weights_D = jax.tree.map(lambda *w: jnp.stack(w), *weights)
      finals_D, x_BxTxE = scan_directions(self.cell, weights_D, x_BxTxE, lengths_B, self.remat)
      finals.append(finals_D if self.bidirectional else finals_D[0])
    return x_BxTxE, tuple(finals)


def scan_directions(kind: str, weights_D: cells.Fused, x_BxTxE: jax.Array, lengths_B: jax.Array,
                    remat: bool = False):
  """One layer's D directions over a padded batch, stepped together in one loop over t.

  weights_D: a `kind` cell's weights per direction, stacked on a leading axis D (forward, then
  backward). The forward cell reads x_t, the backward one x_{T-1-t}, both in each step's one
  batched kernel per operation (the step vmapped over D). A carry changes only at real
  positions: the forward carry stops at each sequence's last token, the backward one stays at
  its start through the padding. So the states at real positions and the final carries are
  those of a separate RNN per direction over each unpadded sequence (what flax's nn.RNN with
  seq_lengths computes), with no per-sequence flips. `remat` (train.remat): recompute each
  step in the backward pass from its carry.

  Returns (final carries, a tuple of D; h_BxTxH: the directions' states side by side).
  """
  directions, units = weights_D.W_h.shape[:2]
  real_TxB = jnp.arange(x_BxTxE.shape[1])[:, None] < lengths_B[None, :]
  # Each direction's own order of time: the backward one reads inputs and flags from the end.
  in_order = lambda a: jnp.stack([a, a[::-1]][:directions], axis=1)
  xs = (in_order(x_BxTxE.swapaxes(0, 1)), in_order(real_TxB))
  carry_D = jax.tree.map(lambda z: jnp.stack([z] * directions),
                         cells.zeros_carry(kind, x_BxTxE.shape[0], units))
  step_D = jax.vmap(cells.CELLS[kind].step)

  def body(carry_D, xs_t):
    x_DxBxE, real_DxB = xs_t
    new_D, y_DxBxH = step_D(weights_D, carry_D, x_DxBxE)
    keep = lambda new, old: jnp.where(real_DxB[..., None], new, old)
    return jax.tree.map(keep, new_D, carry_D), y_DxBxH

  if remat:
    body = jax.checkpoint(body, prevent_cse=False)
  finals_D, y_TxDxBxH = jax.lax.scan(body, carry_D, xs)
  finals = tuple(jax.tree.map(lambda f: f[d], finals_D) for d in range(directions))
  h_TxBxH = jnp.concatenate([y_TxDxBxH[:, 0], y_TxDxBxH[::-1, 1]][:directions], axis=-1)
  return finals, h_TxBxH.swapaxes(0, 1)


def length_mask(lengths_B: jax.Array, max_len: int) -> jax.Array:
  """[B, max_len] bool, True at real (unpadded) positions."""
  return jnp.arange(max_len)[None, :] < lengths_B[:, None]

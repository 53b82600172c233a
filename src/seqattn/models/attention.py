"""Attention score functions, the masked softmax and the context vector.

Notation (Bahdanau et al. 2015; Luong et al. 2015): the query is the decoder state s_{t-1}
(or h_t), the keys and values are the encoder states h_j, the scores are e_tj, the weights
α_tj = softmax_j(e_tj) over the real (unpadded) input steps, and the context is
c_t = Σ_j α_tj h_j.

Every variant is a Flax module with two methods:
  project_keys(keys_BxTxH) -> projected keys, computed once per sequence (outside the time loop);
  __call__(query_BxQ, projected) -> e_BxT, computed at every output step.
`REGISTRY` maps config names to variants; adding one is a class, a registry line and its test.
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp


def masked_softmax(scores_BxT: jax.Array, mask_BxT: jax.Array) -> jax.Array:
  """α_tj = softmax_j(e_tj) over positions where mask is True; exactly 0 elsewhere."""
  chex.assert_rank([scores_BxT, mask_BxT], 2)
  scores_BxT = jnp.where(mask_BxT, scores_BxT, -jnp.inf)
  return jax.nn.softmax(scores_BxT, axis=-1)


def attend(scores_BxT: jax.Array, mask_BxT: jax.Array,
           values_BxTxH: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Returns (c_t: [B, H], α_t: [B, T]) with c_t = Σ_j α_tj h_j."""
  chex.assert_rank(values_BxTxH, 3)
  weights_BxT = masked_softmax(scores_BxT, mask_BxT)
  context_BxH = jnp.einsum("bt,bth->bh", weights_BxT, values_BxTxH)
  return context_BxH, weights_BxT


class CourseMLP(nn.Module):
  """The course's energies: e_tj = relu(w · tanh(W [s_{t-1}; h_j] + b) + b_w).

  W [s; h] = W_s s + W_h h, so the key half W_h h_j + b is projected once per sequence.
  """

  units: int

  def setup(self):
    self.query_proj = nn.Dense(self.units, use_bias=False)
    self.key_proj = nn.Dense(self.units)
    self.energy = nn.Dense(1)

  def project_keys(self, keys_BxTxH: jax.Array) -> jax.Array:
    return self.key_proj(keys_BxTxH)

  def __call__(self, query_BxQ: jax.Array, projected_BxTxA: jax.Array) -> jax.Array:
    hidden_BxTxA = jnp.tanh(self.query_proj(query_BxQ)[:, None, :] + projected_BxTxA)
    return nn.relu(self.energy(hidden_BxTxA))[..., 0]


REGISTRY: dict[str, type[nn.Module]] = {
    "course_mlp": CourseMLP,
}


def make(name: str, units: int) -> nn.Module:
  """The attention variant registered under `name`."""
  return REGISTRY[name](units=units)

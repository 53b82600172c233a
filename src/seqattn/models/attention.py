"""Attention: the registry of score functions, the masked softmax and the context vector.

Notation (Bahdanau et al. 2015; Luong et al. 2015): the query is the decoder state s_{t-1}
(attention before the RNN) or h_t (after it), the keys and values are the encoder states h_j,
the scores are e_tj, the weights α_tj = softmax_j(e_tj) over the real (unpadded) input steps,
and the context is c_t = Σ_j α_tj h_j.

The score variants are Flax modules in scores.py; `REGISTRY` maps config names to them. Adding
one is a class there, a registry line here and its test (tests/test_attention.py fails for a
registered name without one).
"""

from __future__ import annotations

import dataclasses
import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from seqattn.models import scores


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


REGISTRY: dict[str, type[nn.Module]] = {
    "none": scores.NoAttention,
    "additive": scores.Additive,
    "normed_additive": scores.NormedAdditive,
    "course_mlp": scores.CourseMLP,
    "concat": scores.Concat,
    "dot": scores.Dot,
    "scaled_dot": scores.ScaledDot,
    "general": scores.General,
    "location": scores.Location,
    "local_m": scores.LocalMonotonic,
    "local_p": scores.LocalPredictive,
}


def coverage_scores() -> list[str]:
  """The scores that can read the coverage C_{t-1,j} (they declare a `coverage` setting)."""
  return [n for n, cls in REGISTRY.items() if "coverage" in _settings(cls)]


def dot_scores() -> list[str]:
  """The scores whose query and keys meet in a dot product (they set `query_is_key`): the
  query's size must equal the keys'."""
  return [n for n, cls in REGISTRY.items() if getattr(cls, "query_is_key", False)]


def _settings(cls: type[nn.Module]) -> set[str]:
  return {f.name for f in dataclasses.fields(cls)}


def make(name: str, **settings) -> nn.Module:
  """The variant registered under `name`, given the settings among
  (units, query_size, max_len, window, coverage, bidirectional, energy_bias) that it declares."""
  cls = REGISTRY[name]
  return cls(**{k: v for k, v in settings.items() if k in _settings(cls)})

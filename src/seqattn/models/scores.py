"""The attention score functions e_tj = score(query, h_j), one Flax module a variant.

Notation (Bahdanau et al. 2015; Luong et al. 2015): the query is the decoder state s_{t-1}
(attention before the RNN) or h_t (after it), the keys are the encoder states h_j. Every variant
has one signature:
  project_keys(keys_BxTxH) -> projected keys, computed once per sequence (outside the time loop);
  __call__(query_BxQ, projected, step: Step) -> e_BxT, computed at every output step;
  and may define values(h_BxTxH, lengths_B) -> what c_t averages (the h_j themselves otherwise).
A variant may return -inf scores (positions it never attends to); attention.attend masks
padding for all. attention.REGISTRY names them for configs.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp


class Step(NamedTuple):
  """What a score may need beyond query and keys at output step t."""

  t: jax.Array  # [] output step index, from 0
  lengths_B: jax.Array  # [B] true source lengths
  coverage_BxT: jax.Array  # [B, T] Σ_{t'<t} α_t'j (Tu et al. 2016); zeros when unused


def positions(max_len: int) -> jax.Array:
  """[1, T] float source positions j = 0..T-1."""
  return jnp.arange(max_len, dtype=jnp.float32)[None, :]


class NoAttention(nn.Module):
  """Cho et al. 2014: one fixed context C, the summary of the whole source.

  As scores: e_tj = 0 at j = N-1 and -inf elsewhere, so α_t is one-hot and c_t = C for all t.
  C = h_N, the encoder state after the last real token; for a bidirectional encoder
  C = [h→_N; h←_1], each direction's state after reading the whole source (h←_N has read only
  the last token).
  """

  bidirectional: bool = False

  def values(self, h_BxTxH: jax.Array, lengths_B: jax.Array) -> jax.Array:
    """h with the backward half of h_N replaced by h←_1, where c_t reads it."""
    if not self.bidirectional:
      return h_BxTxH
    half = h_BxTxH.shape[-1] // 2
    last_BxT = positions(h_BxTxH.shape[1]) == (lengths_B[:, None] - 1)
    backward_first_BxTxH = jnp.broadcast_to(h_BxTxH[:, :1, half:],
                                            h_BxTxH[..., half:].shape)
    summary_BxTxH = jnp.concatenate([h_BxTxH[..., :half], backward_first_BxTxH], -1)
    return jnp.where(last_BxT[..., None], summary_BxTxH, h_BxTxH)

  def project_keys(self, keys_BxTxH: jax.Array) -> jax.Array:
    return keys_BxTxH[..., :0]  # nothing to project; keeps T for the shape

  def __call__(self, query_BxQ, projected_BxTx0, step: Step) -> jax.Array:
    last_BxT = positions(projected_BxTx0.shape[1]) == (step.lengths_B[:, None] - 1)
    return jnp.where(last_BxT, 0.0, -jnp.inf)


class AdditiveBase(nn.Module):
  """The shared hidden layer of the additive family: tanh(W s + U h_j + b).

  With coverage (Tu et al. 2016) the sum inside tanh also gets w_c · C_{t-1,j}.
  """

  units: int
  coverage: bool = False
  key_bias: ClassVar[bool] = True

  def setup(self):
    self.W = nn.Dense(self.units, use_bias=False)
    self.U = nn.Dense(self.units, use_bias=self.key_bias)
    if self.coverage:
      self.w_c = self.param("w_c", nn.initializers.normal(0.1), (self.units,))

  def project_keys(self, keys_BxTxH: jax.Array) -> jax.Array:
    return self.U(keys_BxTxH)

  def hidden(self, query_BxQ, projected_BxTxA, step: Step) -> jax.Array:
    """[B, T, A]."""
    pre_BxTxA = self.W(query_BxQ)[:, None, :] + projected_BxTxA
    if self.coverage:
      pre_BxTxA = pre_BxTxA + step.coverage_BxT[..., None] * self.w_c[None, None, :]
    return jnp.tanh(pre_BxTxA)


def _vector(module: nn.Module, name: str, size: int) -> jax.Array:
  """A learned [size] vector initialised like the kernel of a Dense(1)."""
  return module.param(name, lambda key, shape: nn.initializers.lecun_normal()(
      key, (shape[0], 1))[:, 0], (size,))


class Additive(AdditiveBase):
  """Bahdanau et al. 2015: e_tj = vᵀ tanh(W s_{t-1} + U h_j + b)."""

  def setup(self):
    super().setup()
    self.v = _vector(self, "v", self.units)

  def __call__(self, query_BxQ, projected_BxTxA, step: Step) -> jax.Array:
    return self.hidden(query_BxQ, projected_BxTxA, step) @ self.v


class NormedAdditive(AdditiveBase):
  """Weight-normalised additive attention (Salimans & Kingma 2016, as in tf-nmt):
  e_tj = g · (v / ‖v‖)ᵀ tanh(W s + U h_j + b), with a learned scalar g (init 1/√A).
  """

  def setup(self):
    super().setup()
    self.v = _vector(self, "v", self.units)
    self.g = self.param("g", nn.initializers.constant(self.units ** -0.5), ())

  def __call__(self, query_BxQ, projected_BxTxA, step: Step) -> jax.Array:
    v_A = self.v / jnp.linalg.norm(self.v)
    return self.g * (self.hidden(query_BxQ, projected_BxTxA, step) @ v_A)


class Concat(Additive):
  """Luong et al. 2015 'concat': e_tj = vᵀ tanh(W_a [h_t; h_j]).

  W_a [h; h_j] = W h + U h_j: Bahdanau's score without the bias, split so that the key block
  U is applied once per sequence; in Luong's model the query is h_t (attention after the RNN).
  """

  key_bias: ClassVar[bool] = False


class CourseMLP(AdditiveBase):
  """The course's energies: e_tj = relu(w · tanh(W [s_{t-1}; h_j] + b) + b_w).

  W [s; h] = W_s s + W_h h, so the key half W_h h_j + b is projected once per sequence; the
  second Dense(1) has a bias and a relu, unlike Bahdanau's v.

  b_w starts at `energy_bias` (model.energy_bias), not at 0 as in the course's Keras code, so
  that the relu starts in its linear region: |w · tanh(·)| <= ‖w‖₁, about 2.5 at init (10 units),
  so with b_w = 5 every energy starts positive. With b_w = 0 about 3/4 of the energies start at
  relu's flat 0, Adam's first steps push the rest below 0, and the attention is dead for good:
  uniform weights and no gradient (BUILD_NOTES.md, "A live default attention").
  """

  energy_bias: float = dataclasses.field(kw_only=True)  # model.energy_bias: no default here

  def setup(self):
    super().setup()
    self.energy = nn.Dense(1, bias_init=nn.initializers.constant(self.energy_bias))

  def __call__(self, query_BxQ, projected_BxTxA, step: Step) -> jax.Array:
    return nn.relu(self.energy(self.hidden(query_BxQ, projected_BxTxA, step)))[..., 0]


class Dot(nn.Module):
  """Luong 'dot': e_tj = h_tᵀ h_j (query and key sizes must match)."""

  query_is_key: ClassVar[bool] = True  # the config checks the sizes (attention.dot_scores)

  def project_keys(self, keys_BxTxH: jax.Array) -> jax.Array:
    return keys_BxTxH

  def __call__(self, query_BxQ, keys_BxTxQ, step: Step) -> jax.Array:
    return jnp.einsum("bq,btq->bt", query_BxQ, keys_BxTxQ)


class ScaledDot(Dot):
  """Scaled dot product (Vaswani et al. 2017): e_tj = h_tᵀ h_j / √d."""

  def __call__(self, query_BxQ, keys_BxTxQ, step: Step) -> jax.Array:
    return super().__call__(query_BxQ, keys_BxTxQ, step) / jnp.sqrt(query_BxQ.shape[-1])


class General(nn.Module):
  """Luong 'general': e_tj = h_tᵀ W_a h_j; W_a h_j is projected once per sequence."""

  query_size: int

  def setup(self):
    self.W_a = nn.Dense(self.query_size, use_bias=False)

  def project_keys(self, keys_BxTxH: jax.Array) -> jax.Array:
    return self.W_a(keys_BxTxH)

  def __call__(self, query_BxQ, projected_BxTxQ, step: Step) -> jax.Array:
    return jnp.einsum("bq,btq->bt", query_BxQ, projected_BxTxQ)


class Location(nn.Module):
  """Luong 'location': e_t = W_a h_t, one score per source position, ignoring the keys. W_a
  scores the first `max_len` positions (Tx): a longer source (evaluated, never trained on) gets
  -inf beyond them."""

  max_len: int

  def setup(self):
    self.W_a = nn.Dense(self.max_len)

  def project_keys(self, keys_BxTxH: jax.Array) -> jax.Array:
    return keys_BxTxH[..., :0]  # only T is used

  def __call__(self, query_BxQ, projected_BxTx0, step: Step) -> jax.Array:
    beyond = max(0, projected_BxTx0.shape[1] - self.max_len)
    e_BxT = jnp.pad(self.W_a(query_BxQ), [(0, 0), (0, beyond)], constant_values=-jnp.inf)
    return e_BxT[:, :projected_BxTx0.shape[1]]


class LocalMonotonic(General):
  """Luong 'local-m': the 'general' score inside the window |j - p_t| <= D, with p_t = t
  (clipped to the last real token); -inf outside it."""

  window: int

  def __call__(self, query_BxQ, projected_BxTxQ, step: Step) -> jax.Array:
    e_BxT = super().__call__(query_BxQ, projected_BxTxQ, step)
    p_Bx1 = jnp.minimum(step.t, step.lengths_B - 1)[:, None].astype(jnp.float32)
    return jnp.where(jnp.abs(positions(e_BxT.shape[1]) - p_Bx1) <= self.window, e_BxT, -jnp.inf)


class LocalPredictive(General):
  """Luong 'local-p': p_t = (N-1) · sigmoid(v_pᵀ tanh(W_p h_t)) for a source of N tokens;
  e_tj = h_tᵀ W_a h_j - (j - p_t)² / (2σ²) inside |j - p_t| <= D, σ = D/2; -inf outside.

  Adding the Gaussian's log to the scores renormalises Luong's product align · Gaussian over
  the window, so the weights still sum to 1.
  """

  window: int

  def setup(self):
    super().setup()
    self.W_p = nn.Dense(self.query_size, use_bias=False)
    self.v_p = nn.Dense(1, use_bias=False)

  def predicted_position(self, query_BxQ, lengths_B) -> jax.Array:
    """p_t: [B] in [0, N-1]."""
    fraction_B = nn.sigmoid(self.v_p(jnp.tanh(self.W_p(query_BxQ))))[:, 0]
    return (lengths_B - 1) * fraction_B

  def __call__(self, query_BxQ, projected_BxTxQ, step: Step) -> jax.Array:
    e_BxT = super().__call__(query_BxQ, projected_BxTxQ, step)
    p_Bx1 = self.predicted_position(query_BxQ, step.lengths_B)[:, None]
    distance_BxT = positions(e_BxT.shape[1]) - p_Bx1
    sigma = self.window / 2
    e_BxT = e_BxT - distance_BxT ** 2 / (2 * sigma ** 2)
    return jnp.where(jnp.abs(distance_BxT) <= self.window, e_BxT, -jnp.inf)

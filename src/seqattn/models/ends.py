"""The model's two ends, chosen by the task; the encoder, attention and decoder in between are
shared by every task.

  Tokens(V)    symbols from a vocabulary of V. In: one-hot vectors (embed_dim = 0, as in the
               course) or a learned embedding E y. Out: logits W_o s_t over the V symbols,
               softmax cross-entropy, predictions by argmax (or beam search); y_0 = <bos>.
  Features(n)  n real values a step. In: the values as they are (embed_dim = 0) or a dense
               projection E x. Out: n values W_o s_t, mean squared (or absolute) error,
               predictions fed back as the next input; y_0 = 0. With loss='gaussian' or
               'student_t' the readout is 2n wide: the location μ and a raw scale of a normal
               (or Student-t, STUDENT_DOF degrees of freedom: heavier tails) distribution per
               value, σ = softplus(raw) + MIN_SCALE, trained by its negative log-likelihood;
               μ is the prediction fed back, draws of the distribution are the sample paths
               (seqattn.inference.decode.sample_paths) that give prediction intervals.

A spec is a frozen dataclass: hashable, so the jitted step may take it as a static argument.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from seqattn.data.vocab import BOS_ID, PAD_ID


@dataclasses.dataclass(frozen=True)
class Tokens:
  vocab_size: int

  distributional = False  # a distribution over symbols, but no intervals to draw

  @property
  def size(self) -> int:
    """Width of the readout."""
    return self.vocab_size

  def example(self, batch: int, length: int) -> jax.Array:
    """A [batch, length] input of the right dtype, for initialisation."""
    return jnp.ones((batch, length), jnp.int32)

  def embedder(self, embed_dim: int, **kwargs) -> nn.Module | None:
    return nn.Embed(self.vocab_size, embed_dim, **kwargs) if embed_dim else None

  def read(self, embedder: nn.Module | None, ids: jax.Array) -> jax.Array:
    """[..., E]: the embedding of `ids`, or one-hot vectors without an embedder."""
    return jax.nn.one_hot(ids, self.vocab_size) if embedder is None else embedder(ids)

  def start(self, batch: int) -> jax.Array:
    """y_0 of `batch` sequences: <bos>."""
    return jnp.full((batch,), BOS_ID, jnp.int32)

  def mask(self, targets_BxT: jax.Array) -> jax.Array:
    """[B, T] bool: real (unpadded) target steps."""
    return targets_BxT != PAD_ID

  def losses(self, outputs_BxTxV: jax.Array, targets_BxT: jax.Array,
             label_smoothing: float = 0.0) -> jax.Array:
    """[B, T] cross-entropy of each step; `label_smoothing` (static) moves that mass from the
    target to a uniform distribution over the V symbols."""
    if label_smoothing:
      labels_BxTxV = optax.smooth_labels(jax.nn.one_hot(targets_BxT, self.vocab_size),
                                         label_smoothing)
      return optax.softmax_cross_entropy(outputs_BxTxV, labels_BxTxV)
    return optax.softmax_cross_entropy_with_integer_labels(outputs_BxTxV, targets_BxT)

  def sample(self, key: jax.Array, outputs_BxV: jax.Array) -> jax.Array:
    """A draw from the model's own p(y_t) (scheduled sampling)."""
    return jax.random.categorical(key, outputs_BxV)


MIN_SCALE = 1e-3  # σ's floor, in the scaled units the model reads: the NLL stays bounded
# ν of the Student-t readout: tails heavy enough for the surprises of real series, a variance
# still finite (ν > 2) and an NLL that an outlier moves less than the normal's.
STUDENT_DOF = 5.0


@dataclasses.dataclass(frozen=True)
class Features:
  features: int
  loss: Literal["mse", "mae", "gaussian", "student_t"] = "mse"

  @property
  def size(self) -> int:
    """Width of the readout: the values, or their means and scales."""
    return self.features * (2 if self.distributional else 1)

  @property
  def distributional(self) -> bool:
    """Whether the readout is a distribution (intervals), not only a value."""
    return self.loss in ("gaussian", "student_t")

  def example(self, batch: int, length: int) -> jax.Array:
    return jnp.zeros((batch, length, self.features), jnp.float32)

  def embedder(self, embed_dim: int, **kwargs) -> nn.Module | None:
    return nn.Dense(embed_dim, **kwargs) if embed_dim else None

  def read(self, embedder: nn.Module | None, x: jax.Array) -> jax.Array:
    return x if embedder is None else embedder(x)

  def start(self, batch: int) -> jax.Array:
    return jnp.zeros((batch, self.features), jnp.float32)

  def mask(self, targets_BxTxN: jax.Array) -> jax.Array:
    return jnp.ones(targets_BxTxN.shape[:2], bool)

  def point(self, outputs: jax.Array) -> jax.Array:
    """[..., n]: the prediction of a readout (the mean, for a distribution)."""
    return outputs[..., :self.features]

  def scale(self, outputs: jax.Array) -> jax.Array:
    """[..., n]: σ of a distributional readout."""
    return jax.nn.softplus(outputs[..., self.features:]) + MIN_SCALE

  def losses(self, outputs_BxTxN: jax.Array, targets_BxTxN: jax.Array,
             label_smoothing: float = 0.0) -> jax.Array:
    del label_smoothing  # a classification setting
    error = self.point(outputs_BxTxN) - targets_BxTxN
    if self.distributional:  # -log p(y; μ, σ)
      sigma = self.scale(outputs_BxTxN)
      return jnp.mean(jnp.log(sigma) + self.standard_nll(error / sigma), -1)
    return jnp.mean(error ** 2 if self.loss == "mse" else jnp.abs(error), -1)

  def standard_nll(self, z: jax.Array) -> jax.Array:
    """-log p(z) of the standardised distribution (location 0, scale 1)."""
    if self.loss == "gaussian":
      return 0.5 * z ** 2 + 0.5 * jnp.log(2 * jnp.pi)
    nu = STUDENT_DOF
    return (0.5 * (nu + 1) * jnp.log1p(z ** 2 / nu) + 0.5 * jnp.log(nu * jnp.pi)
            + jax.scipy.special.gammaln(nu / 2) - jax.scipy.special.gammaln((nu + 1) / 2))

  def spread(self, z: np.ndarray, level: float = 0.95) -> float:
    """The factor s of σ by which the central `level` interval holds held-out standardised
    errors z = (y - μ) / σ as split conformal prediction would (Vovk et al. 2005; scaled by σ:
    Lei et al. 2018): the ⌈(n + 1) level⌉-th smallest |z| (the largest, for few z) over the
    standardised distribution's own (1 + level) / 2 quantile."""
    from scipy import stats
    ranked = np.sort(np.abs(np.asarray(z, np.float64)).ravel())
    k = min(len(ranked), int(np.ceil((len(ranked) + 1) * level))) - 1
    q = (1 + level) / 2
    quantile = stats.norm.ppf(q) if self.loss == "gaussian" else stats.t.ppf(q, STUDENT_DOF)
    return float(ranked[k] / quantile)

  def sample(self, key: jax.Array, outputs_BxN: jax.Array, spread: jax.Array | float = 1.0
             ) -> jax.Array:
    """A draw from the readout's distribution, its σ times `spread` (a calibration); a point
    forecast is its own sample."""
    if not self.distributional:
      return outputs_BxN
    mean = self.point(outputs_BxN)
    sigma = self.scale(outputs_BxN) * spread
    if self.loss == "student_t":
      return mean + sigma * jax.random.t(key, STUDENT_DOF, mean.shape, mean.dtype)
    return mean + sigma * jax.random.normal(key, mean.shape, mean.dtype)


Spec = Tokens | Features


def shift_right(spec: Spec, targets: jax.Array) -> jax.Array:
  """Decoder inputs y_0..y_{T-1} for targets y_1..y_T: y_0 first, the last target dropped."""
  start = spec.start(targets.shape[0])[:, None]
  return jnp.concatenate([start.astype(targets.dtype), targets[:, :-1]], axis=1)

"""Masked loss and accuracy metrics over padded target batches."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from seqattn.data.vocab import PAD_ID


def cross_entropy(logits_BxTxV: jax.Array, targets_BxT: jax.Array, weights_B: jax.Array,
                  label_smoothing: float = 0.0) -> tuple[jax.Array, jax.Array]:
  """(sum of token losses, number of tokens) over real target tokens of weighted rows.

  label_smoothing: the probability mass moved from each target to a uniform distribution over
  the V classes (static; 0 keeps the plain loss on integer labels).
  """
  token_mask_BxT = (targets_BxT != PAD_ID) * weights_B[:, None]
  if label_smoothing:
    labels_BxTxV = optax.smooth_labels(
        jax.nn.one_hot(targets_BxT, logits_BxTxV.shape[-1]), label_smoothing)
    losses_BxT = optax.softmax_cross_entropy(logits_BxTxV, labels_BxTxV)
  else:
    losses_BxT = optax.softmax_cross_entropy_with_integer_labels(logits_BxTxV, targets_BxT)
  return jnp.sum(losses_BxT * token_mask_BxT), jnp.sum(token_mask_BxT)


def counts(logits_BxTxV: jax.Array, predictions_BxT: jax.Array, targets_BxT: jax.Array,
           weights_B: jax.Array) -> dict[str, jax.Array]:
  """Sums that add up over batches: loss, tokens, correct tokens, exact sequences, sequences.

  logits_BxTxV: teacher-forced, for the loss. predictions_BxT: decoded (PAD after EOS), for the
  accuracies; a sequence is exact when it equals the target everywhere, padding included.
  """
  loss_sum, tokens = cross_entropy(logits_BxTxV, targets_BxT, weights_B)
  real_BxT = targets_BxT != PAD_ID
  correct_BxT = (predictions_BxT == targets_BxT) & real_BxT
  exact_B = exact(predictions_BxT, targets_BxT)
  return dict(loss_sum=loss_sum, tokens=tokens,
              correct_tokens=jnp.sum(correct_BxT * weights_B[:, None]),
              exact=jnp.sum(exact_B * weights_B), sequences=jnp.sum(weights_B))


def exact(predictions_BxT: jax.Array, targets_BxT: jax.Array) -> jax.Array:
  """[B] bool: the decoded sequence equals the target everywhere, padding included."""
  return jnp.all(predictions_BxT == targets_BxT, axis=-1)


def summarise(sums: dict[str, float]) -> dict[str, float]:
  """Loss per token, per-token accuracy and exact match from summed counts."""
  return dict(loss=sums["loss_sum"] / sums["tokens"],
              token_accuracy=sums["correct_tokens"] / sums["tokens"],
              exact_match=sums["exact"] / sums["sequences"],
              examples=sums["sequences"])

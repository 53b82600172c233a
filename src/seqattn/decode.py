"""Decoding a trained model: greedy search under `lax.scan`, one output step at a time.

The model is used only through `model.apply(..., method=model.encode / model.step)`, so the
loop here is plain JAX and the same step function serves training (teacher forcing) and search.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqattn.data.vocab import BOS_ID, EOS_ID, PAD_ID


class Decoded(NamedTuple):
  tokens_BxT: jax.Array  # int32; PAD after an emitted EOS
  scores_B: jax.Array  # Σ_t log p(y_t | y_<t, x) over the emitted tokens (EOS included)
  alpha_BxTxS: jax.Array  # attention of each output step over the S source positions


def greedy(model: nn.Module, params, inputs_BxS: jax.Array, lengths_B: jax.Array,
           max_len: int) -> Decoded:
  """Feeds back the model's own argmax; a sequence stops at its first EOS (then emits PAD)."""
  variables = {"params": params}
  carry, memory = model.apply(variables, inputs_BxS, lengths_B, method=model.encode)
  batch = inputs_BxS.shape[0]

  def body(state, _):
    carry, y_prev_B, done_B = state
    carry, (logits_BxV, alpha_BxS) = model.apply(variables, carry, y_prev_B, memory,
                                                 method=model.step)
    y_B = jnp.where(done_B, PAD_ID, jnp.argmax(logits_BxV, -1))
    log_p_B = jnp.take_along_axis(jax.nn.log_softmax(logits_BxV), y_B[:, None], -1)[:, 0]
    alpha_BxS = jnp.where(done_B[:, None], 0.0, alpha_BxS)
    return (carry, y_B, done_B | (y_B == EOS_ID)), (y_B, jnp.where(done_B, 0.0, log_p_B),
                                                    alpha_BxS)

  start = (carry, jnp.full((batch,), BOS_ID, jnp.int32), jnp.zeros((batch,), bool))
  _, (tokens_TxB, log_p_TxB, alpha_TxBxS) = jax.lax.scan(body, start, length=max_len)
  return Decoded(tokens_TxB.T, log_p_TxB.sum(0), alpha_TxBxS.swapaxes(0, 1))

"""Decoding a trained model: greedy and beam search under `lax.scan`, one output step at a time.

The model is used only through `model.apply(..., method=model.encode / model.step)`, so the
loop here is plain JAX and the same step function serves training (teacher forcing) and search.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqattn.config import DecodeConfig
from seqattn.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from seqattn.models import ends


NEVER_EMITTED = (PAD_ID, BOS_ID, UNK_ID)  # symbols a search never chooses as output


def allowed(log_p_BxV: jax.Array) -> jax.Array:
  """`log_p_BxV` with -inf at <pad>, <bos> and <unk>: a search chooses among the rest, while
  the scores of what it chooses stay the model's own log-probabilities."""
  never_V = jnp.isin(jnp.arange(log_p_BxV.shape[-1]), jnp.array(NEVER_EMITTED))
  return jnp.where(never_V, -jnp.inf, log_p_BxV)


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
    y_B = jnp.where(done_B, PAD_ID, jnp.argmax(allowed(logits_BxV), -1))
    log_p_B = jnp.take_along_axis(jax.nn.log_softmax(logits_BxV), y_B[:, None], -1)[:, 0]
    alpha_BxS = jnp.where(done_B[:, None], 0.0, alpha_BxS)
    return (carry, y_B, done_B | (y_B == EOS_ID)), (y_B, jnp.where(done_B, 0.0, log_p_B),
                                                    alpha_BxS)

  start = (carry, jnp.full((batch,), BOS_ID, jnp.int32), jnp.zeros((batch,), bool))
  _, (tokens_TxB, log_p_TxB, alpha_TxBxS) = jax.lax.scan(body, start, length=max_len)
  return Decoded(tokens_TxB.T, log_p_TxB.sum(0), alpha_TxBxS.swapaxes(0, 1))


class Beams(NamedTuple):
  """The K hypotheses of each sequence, best first."""

  tokens_BxKxT: jax.Array  # int32; PAD after EOS
  scores_BxK: jax.Array  # the ranking score: log P / lp(|Y|) + cp(α)
  log_probs_BxK: jax.Array  # log P(Y | x) = Σ_t log p(y_t | y_<t, x)
  lengths_BxK: jax.Array  # |Y|, EOS included
  alpha_BxKxTxS: jax.Array  # each hypothesis' attention, one row per output step


def length_penalty(length: jax.Array, alpha: float) -> jax.Array:
  """GNMT (Wu et al. 2016): lp(Y) = ((5 + |Y|) / 6)^α."""
  return ((5.0 + length) / 6.0) ** alpha


def coverage_penalty(coverage_BxS: jax.Array, mask_BxS: jax.Array, beta: float) -> jax.Array:
  """GNMT: cp = β Σ_j log(min(Σ_t α_tj, 1)) over real source positions (0 when β = 0)."""
  if beta == 0.0:
    return jnp.zeros(coverage_BxS.shape[:-1])
  covered = jnp.log(jnp.clip(coverage_BxS, 1e-10, 1.0))
  return beta * jnp.sum(jnp.where(mask_BxS, covered, 0.0), -1)


def _gather_beams(x_BxKx, parent_BxK):
  """x[b, parent[b, k]] for every new beam k: [B, K, ...] -> [B, K, ...]."""
  index = parent_BxK.reshape(*parent_BxK.shape, *([1] * (x_BxKx.ndim - 2)))
  return jnp.take_along_axis(x_BxKx, index, axis=1)


def _gather_flat(x_BKx, parent_BxK):
  """The same for arrays with batch and beam flattened, as the model sees them."""
  batch, k = parent_BxK.shape
  x_BxKx = x_BKx.reshape(batch, k, *x_BKx.shape[1:])
  return _gather_beams(x_BxKx, parent_BxK).reshape(x_BKx.shape)


def beam_search(model: nn.Module, params, inputs_BxS: jax.Array, lengths_B: jax.Array,
                max_len: int, beam_size: int, length_alpha: float = 0.6,
                coverage_beta: float = 0.0) -> Beams:
  """Beam search with finished hypotheses kept in the beam.

  A finished hypothesis (it emitted EOS) stays in its slot and extends only by PAD at no cost,
  its length and coverage frozen; every step ranks all candidates by log P / lp + cp, so a beam
  of 1 is greedy search exactly. Hypotheses end with EOS or reach `max_len`.
  """
  variables = {"params": params}
  batch, k = inputs_BxS.shape[0], beam_size
  carry, memory = model.apply(variables, inputs_BxS, lengths_B, method=model.encode)
  carry, memory = jax.tree.map(lambda x: jnp.repeat(x, k, axis=0) if x.ndim else x,
                               (carry, memory))
  mask_BxKxS = memory.mask_BxT.reshape(batch, k, -1)
  source_len = mask_BxKxS.shape[-1]

  def body(state, t):
    carry, y_BxK, log_p_BxK, finished_BxK, length_BxK, coverage_BxKxS, tokens, alpha = state
    carry, (logits_BKxV, alpha_BKxS) = model.apply(variables, carry, y_BxK.reshape(-1), memory,
                                                   method=model.step)
    vocab = logits_BKxV.shape[-1]
    step_log_p_BxKxV = allowed(jax.nn.log_softmax(logits_BKxV)).reshape(batch, k, vocab)
    pad_only_V = jnp.where(jnp.arange(vocab) == PAD_ID, 0.0, -jnp.inf)
    step_log_p_BxKxV = jnp.where(finished_BxK[..., None], pad_only_V, step_log_p_BxKxV)
    candidates_BxKxV = log_p_BxK[..., None] + step_log_p_BxKxV
    new_length_BxK = jnp.where(finished_BxK, length_BxK, length_BxK + 1)
    new_coverage_BxKxS = jnp.where(finished_BxK[..., None], coverage_BxKxS,
                                   carry.coverage_BxT.reshape(batch, k, -1))
    rank_BxKxV = (candidates_BxKxV / length_penalty(new_length_BxK, length_alpha)[..., None]
                  + coverage_penalty(new_coverage_BxKxS, mask_BxKxS, coverage_beta)[..., None])
    _, best_BxK = jax.lax.top_k(rank_BxKxV.reshape(batch, -1), k)
    parent_BxK, y_BxK = best_BxK // vocab, (best_BxK % vocab).astype(jnp.int32)

    gather = lambda x: _gather_beams(x, parent_BxK)
    was_finished_BxK = gather(finished_BxK)
    alpha_BxKxS = jnp.where(was_finished_BxK[..., None], 0.0,
                            gather(alpha_BKxS.reshape(batch, k, -1)))
    state = (jax.tree.map(lambda x: _gather_flat(x, parent_BxK) if x.ndim else x, carry),
             y_BxK,
             jnp.take_along_axis(candidates_BxKxV.reshape(batch, -1), best_BxK, 1),
             was_finished_BxK | (y_BxK == EOS_ID),
             gather(new_length_BxK),
             gather(new_coverage_BxKxS),
             gather(tokens).at[:, :, t].set(y_BxK),
             gather(alpha).at[:, :, t].set(alpha_BxKxS))
    return state, None

  first_beam_only = jnp.where(jnp.arange(k) == 0, 0.0, -jnp.inf)
  start = (carry, jnp.full((batch, k), BOS_ID, jnp.int32),
           jnp.tile(first_beam_only, (batch, 1)), jnp.zeros((batch, k), bool),
           jnp.zeros((batch, k), jnp.int32), jnp.zeros((batch, k, source_len)),
           jnp.full((batch, k, max_len), PAD_ID, jnp.int32),
           jnp.zeros((batch, k, max_len, source_len)))
  state, _ = jax.lax.scan(body, start, jnp.arange(max_len))
  _, _, log_p, _, length, coverage, tokens, alpha = state
  scores = (log_p / length_penalty(length, length_alpha)
            + coverage_penalty(coverage, mask_BxKxS, coverage_beta))
  return Beams(tokens, scores, log_p, length, alpha)


class Forecast(NamedTuple):
  values_BxTxN: jax.Array  # the forecast of each output step (the mean, for a distribution)
  alpha_BxTxS: jax.Array


def forecast(model: nn.Module, params, inputs_BxS: jax.Array, lengths_B: jax.Array,
             max_len: int) -> Forecast:
  """Real-valued outputs for `max_len` steps, each fed back as the next step's input."""
  variables = {"params": params}
  carry, memory = model.apply(variables, inputs_BxS, lengths_B, method=model.encode)

  def body(state, _):
    carry, y_prev_BxN = state
    carry, (outputs_BxV, alpha_BxS) = model.apply(variables, carry, y_prev_BxN, memory,
                                                  method=model.step)
    y_BxN = model.target.point(outputs_BxV)
    return (carry, y_BxN), (y_BxN, alpha_BxS)

  start = (carry, model.target.start(inputs_BxS.shape[0]))
  _, (values_TxBxN, alpha_TxBxS) = jax.lax.scan(body, start, length=max_len)
  return Forecast(values_TxBxN.swapaxes(0, 1), alpha_TxBxS.swapaxes(0, 1))


def sample_paths(model: nn.Module, params, inputs_BxS: jax.Array, lengths_B: jax.Array,
                 max_len: int, key: jax.Array, samples: int, spread: jax.Array | float = 1.0,
                 chunk: int = 100) -> jax.Array:
  """[B, samples, max_len, N]: ancestral draws from a distributional readout, each step's draw
  fed back as the next step's input (DeepAR, Salinas et al. 2020), so that the spread of step
  h carries the uncertainty of the steps before it; every σ is multiplied by `spread` (the
  calibration of evaluation.spread_factor). The input is encoded once; the paths are drawn
  `chunk` at a time (memory grows with B · chunk, not B · samples)."""
  variables = {"params": params}
  carry, memory = model.apply(variables, inputs_BxS, lengths_B, method=model.encode)

  def path(key):
    def body(state, key_t):
      carry, y_prev_BxN = state
      carry, (outputs_BxV, _) = model.apply(variables, carry, y_prev_BxN, memory,
                                            method=model.step)
      y_BxN = model.target.sample(key_t, outputs_BxV, spread)
      return (carry, y_BxN), y_BxN

    start = (carry, model.target.start(inputs_BxS.shape[0]))
    _, y_TxBxN = jax.lax.scan(body, start, jax.random.split(key, max_len))
    return y_TxBxN.swapaxes(0, 1)

  paths_SxBxTxN = jax.lax.map(path, jax.random.split(key, samples), batch_size=chunk)
  return paths_SxBxTxN.swapaxes(0, 1)


def search(model: nn.Module, params, inputs_BxS: jax.Array, lengths_B: jax.Array,
           max_len: int, cfg: DecodeConfig) -> Beams | Forecast:
  """The configured search for token outputs (greedy comes back as a beam of one, scored like
  a beam); a fed-back forecast for real-valued ones."""
  if isinstance(model.target, ends.Features):
    return forecast(model, params, inputs_BxS, lengths_B, max_len)
  if cfg.method == "beam":
    return beam_search(model, params, inputs_BxS, lengths_B, max_len, cfg.beam_size,
                       cfg.length_alpha, cfg.coverage_beta)
  g = greedy(model, params, inputs_BxS, lengths_B, max_len)
  length_B = jnp.sum(g.tokens_BxT != PAD_ID, -1)
  mask_BxS = jnp.arange(inputs_BxS.shape[1])[None, :] < lengths_B[:, None]
  score_B = (g.scores_B / length_penalty(length_B, cfg.length_alpha)
             + coverage_penalty(g.alpha_BxTxS.sum(1), mask_BxS, cfg.coverage_beta))
  return Beams(g.tokens_BxT[:, None], score_B[:, None], g.scores_B[:, None], length_B[:, None],
               g.alpha_BxTxS[:, None])

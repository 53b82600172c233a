"""Decoding a trained model: greedy and beam search, one output step at a time.

The model is used only through `model.apply(..., method=model.encode / model.step)`, so the
loop here is plain JAX and the same step function serves training (teacher forcing) and search.
A token search runs under `lax.while_loop` and stops when every sentence of the batch has
ended (EOS, or its limit ⌊a·|x| + b⌋), going on with the sentences still decoding alone once
few are left; evaluation's teacher forcing (`forced`) steps the same way. A forecast has a fixed
horizon and runs under `lax.scan`.
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


def output_width(cfg: DecodeConfig, input_len: int, target_len: int) -> int:
  """The longest output decoded for sources of at most `input_len` steps: ⌊a·|x| + b⌋ with
  a = decode.max_len_a and b = decode.max_len_b, so that the bound follows the source; Ty
  (`target_len`, the task's own output length) where both are 0."""
  if not (cfg.max_len_a or cfg.max_len_b):
    return target_len
  return max(1, int(cfg.max_len_a * input_len + cfg.max_len_b))


def output_limits(cfg: DecodeConfig, lengths_B: jax.Array, width: int) -> jax.Array:
  """[B] int32: each sentence's own bound ⌊a·|x_i| + b⌋, at most `width` (all `width` when
  a = b = 0)."""
  if not (cfg.max_len_a or cfg.max_len_b):
    return jnp.full(lengths_B.shape, width, jnp.int32)
  limits_B = jnp.floor(cfg.max_len_a * lengths_B + cfg.max_len_b).astype(jnp.int32)
  return jnp.clip(limits_B, 1, width)


def encode(model: nn.Module, params, inputs_BxS: jax.Array, lengths_B: jax.Array,
           encoding: tuple | None = None) -> tuple:
  """(the decoder's initial carry, the memory every output step reads): `encoding` where the
  caller has encoded the batch already (evaluation encodes once for teacher forcing and the
  search), else the model's encoding of it."""
  if encoding is not None:
    return encoding
  return model.apply({"params": params}, inputs_BxS, lengths_B, method=model.encode)


def _limits(limits_B: jax.Array | None, batch: int, max_len: int) -> jax.Array:
  """[B] each sentence's last step: `limits_B` within `max_len` (all `max_len` when None), so
  that every search's loop ends by `max_len` steps."""
  if limits_B is None:
    return jnp.full((batch,), max_len, jnp.int32)
  return jnp.minimum(limits_B, max_len)


# A search's batch shrinks to 1/SHRINK of its rows once no more than that are still decoding,
# but not below MIN_ROWS: a batch of short sentences would otherwise compute every row for as
# many steps as its longest output takes, while below a few dozen rows a row-step costs nearly
# twice what it costs in a batch of hundreds (and each stage is another loop to compile).
# Measured in BUILD_NOTES (bench/eval_speed.py).
SHRINK, MIN_ROWS = 6, 24


def _shrinking_loop(body, unfinished_N, state, rows):
  """`state` after `body(state, rows) -> state` has run until `unfinished_N(state, rows)` [N] is
  all False; from when at most N // SHRINK are left, on those alone (and so on, while a stage
  keeps at least MIN_ROWS). A finished row must be a fixed point of `body` (it emits PAD at no
  cost) and rows must not interact, so that the result is the full batch's.

  Every array of `state` and `rows` (what the body reads but does not change) holds the N rows
  along axis 0, or N·k rows (the k beams of each row in turn), or is a scalar (the step t)."""
  n = unfinished_N(state, rows).shape[0]
  keep = n // SHRINK
  step, left = (lambda state: body(state, rows)), (lambda state: unfinished_N(state, rows))
  if keep < MIN_ROWS:
    return jax.lax.while_loop(lambda state: jnp.any(left(state)), step, state)
  state = jax.lax.while_loop(lambda state: jnp.sum(left(state)) > keep, step, state)
  kept = jnp.argsort(~left(state), stable=True)[:keep]  # the unfinished rows first

  by_row = lambda x, count: x.reshape(count, x.shape[0] // count, *x.shape[1:])  # [N, 1|k, ...]

  def take(x):
    return x if x.ndim == 0 else by_row(x, n)[kept].reshape(keep * x.shape[0] // n, *x.shape[1:])

  def put(x, part):
    return part if x.ndim == 0 else by_row(x, n).at[kept].set(by_row(part, keep)).reshape(x.shape)

  rest = _shrinking_loop(body, unfinished_N, jax.tree.map(take, state), jax.tree.map(take, rows))
  return jax.tree.map(put, state, rest)


def greedy(model: nn.Module, params, inputs_BxS: jax.Array, lengths_B: jax.Array,
           max_len: int, limits_B: jax.Array | None = None,
           encoding: tuple | None = None) -> Decoded:
  """Feeds back the model's own argmax; a sequence stops at its first EOS or at its limit
  (`limits_B`, at most `max_len`; then it emits PAD), and the loop stops when all have: the
  steps a batch takes are those of its longest output, not `max_len`."""
  variables = {"params": params}
  carry, memory = encode(model, params, inputs_BxS, lengths_B, encoding)
  batch, source_len = inputs_BxS.shape[0], memory.mask_BxT.shape[1]
  limits_B = _limits(limits_B, batch, max_len)

  def body(state, rows):
    t, carry, y_prev_B, done_B, tokens_BxT, log_p_B, alpha_BxTxS = state
    memory, limits_B = rows
    carry, (logits_BxV, alpha_BxS) = model.apply(variables, carry, y_prev_B, memory,
                                                 method=model.step)
    y_B = jnp.where(done_B, PAD_ID, jnp.argmax(allowed(logits_BxV), -1))
    step_log_p_B = jnp.take_along_axis(jax.nn.log_softmax(logits_BxV), y_B[:, None], -1)[:, 0]
    return (t + 1, carry, y_B, done_B | (y_B == EOS_ID) | (t + 1 >= limits_B),
            tokens_BxT.at[:, t].set(y_B),
            log_p_B + jnp.where(done_B, 0.0, step_log_p_B),
            alpha_BxTxS.at[:, t].set(jnp.where(done_B[:, None], 0.0, alpha_BxS)))

  start = (jnp.zeros((), jnp.int32), carry, jnp.full((batch,), BOS_ID, jnp.int32),
           jnp.zeros((batch,), bool), jnp.full((batch, max_len), PAD_ID, jnp.int32),
           jnp.zeros((batch,)), jnp.zeros((batch, max_len, source_len)))
  *_, tokens_BxT, log_p_B, alpha_BxTxS = _shrinking_loop(body, lambda state, _: ~state[3], start,
                                                         (memory, limits_B))
  return Decoded(tokens_BxT, log_p_B, alpha_BxTxS)


class Forced(NamedTuple):
  losses_BxT: jax.Array  # the loss of each gold step given the gold steps before it (0 after)
  alpha_BxTxS: jax.Array  # α_tj of each gold step (0 after)


def forced(model: nn.Module, params, inputs_BxS: jax.Array, lengths_B: jax.Array,
           targets_BxT: jax.Array, encoding: tuple | None = None) -> Forced:
  """Teacher forcing one output step at a time, as a search runs: the gold y_{t-1} fed back,
  each sentence ending after its last real target step, so that a batch of short targets
  shrinks (`_shrinking_loop`) instead of computing every row for the longest. The losses and
  α of the real steps are teacher_forced's; evaluation needs no more than these. A forecast's
  steps are all real: its batch is teacher-forced in one pass."""
  if isinstance(model.target, ends.Features):
    outputs, alpha_BxTxS = model.apply({"params": params}, inputs_BxS, lengths_B,
                                       ends.shift_right(model.target, targets_BxT))
    return Forced(model.target.losses(outputs, targets_BxT), alpha_BxTxS)
  variables = {"params": params}
  carry, memory = encode(model, params, inputs_BxS, lengths_B, encoding)
  batch, width = targets_BxT.shape[:2]
  steps_B = jnp.max(jnp.where(model.target.mask(targets_BxT), jnp.arange(1, width + 1), 0), -1)

  def body(state, rows):
    t, carry, losses_BxT, alpha_BxTxS = state
    memory, y_prev_BxT, targets_BxT, steps_B = rows
    carry, (outputs_Bx, alpha_BxS) = model.apply(variables, carry, y_prev_BxT[:, t], memory,
                                                 method=model.step)
    loss_B = model.target.losses(outputs_Bx[:, None], targets_BxT[:, t][:, None])[:, 0]
    live_B = t < steps_B
    return (t + 1, carry, losses_BxT.at[:, t].set(jnp.where(live_B, loss_B, 0.0)),
            alpha_BxTxS.at[:, t].set(jnp.where(live_B[:, None], alpha_BxS, 0.0)))

  start = (jnp.zeros((), jnp.int32), carry, jnp.zeros((batch, width)),
           jnp.zeros((batch, width, memory.mask_BxT.shape[1])))
  rows = (memory, ends.shift_right(model.target, targets_BxT), targets_BxT, steps_B)
  _, _, losses_BxT, alpha_BxTxS = _shrinking_loop(
      body, lambda state, rows: state[0] < rows[-1], start, rows)
  return Forced(losses_BxT, alpha_BxTxS)


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
                coverage_beta: float = 0.0, limits_B: jax.Array | None = None,
                encoding: tuple | None = None) -> Beams:
  """Beam search with finished hypotheses kept in the beam.

  A finished hypothesis (it emitted EOS) stays in its slot and extends only by PAD at no cost,
  its length and coverage frozen; every step ranks all candidates by log P / lp + cp, so a beam
  of 1 is greedy search exactly. Hypotheses end with EOS or at their sentence's limit
  (`limits_B`, at most `max_len`). The loop stops when every hypothesis has ended: from then on
  each step would only extend them by PAD at no cost, so the result is that of `max_len` steps.
  """
  variables = {"params": params}
  batch, k = inputs_BxS.shape[0], beam_size
  carry, memory = encode(model, params, inputs_BxS, lengths_B, encoding)
  carry, memory = jax.tree.map(lambda x: jnp.repeat(x, k, axis=0) if x.ndim else x,
                               (carry, memory))
  source_len = memory.mask_BxT.shape[1]
  limits_Bx1 = _limits(limits_B, batch, max_len)[:, None]

  def body(state, rows):
    t, carry, y_BxK, log_p_BxK, finished_BxK, length_BxK, coverage_BxKxS, tokens, alpha = state
    memory, limits_Bx1 = rows
    batch = y_BxK.shape[0]  # fewer than the batch's once it has shrunk
    mask_BxKxS = memory.mask_BxT.reshape(batch, k, -1)
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
    return (t + 1,
            jax.tree.map(lambda x: _gather_flat(x, parent_BxK) if x.ndim else x, carry),
            y_BxK,
            jnp.take_along_axis(candidates_BxKxV.reshape(batch, -1), best_BxK, 1),
            was_finished_BxK | (y_BxK == EOS_ID) | (t + 1 >= limits_Bx1),
            gather(new_length_BxK),
            gather(new_coverage_BxKxS),
            gather(tokens).at[:, :, t].set(y_BxK),
            gather(alpha).at[:, :, t].set(alpha_BxKxS))

  first_beam_only = jnp.where(jnp.arange(k) == 0, 0.0, -jnp.inf)
  start = (jnp.zeros((), jnp.int32), carry, jnp.full((batch, k), BOS_ID, jnp.int32),
           jnp.tile(first_beam_only, (batch, 1)), jnp.zeros((batch, k), bool),
           jnp.zeros((batch, k), jnp.int32), jnp.zeros((batch, k, source_len)),
           jnp.full((batch, k, max_len), PAD_ID, jnp.int32),
           jnp.zeros((batch, k, max_len, source_len)))
  _, _, _, log_p, _, length, coverage, tokens, alpha = _shrinking_loop(
      body, lambda state, _: ~jnp.all(state[4], -1), start, (memory, limits_Bx1))
  scores = (log_p / length_penalty(length, length_alpha)
            + coverage_penalty(coverage, memory.mask_BxT.reshape(batch, k, -1), coverage_beta))
  return Beams(tokens, scores, log_p, length, alpha)


class Forecast(NamedTuple):
  values_BxTxN: jax.Array  # the forecast of each output step (the mean, for a distribution)
  alpha_BxTxS: jax.Array


def forecast(model: nn.Module, params, inputs_BxS: jax.Array, lengths_B: jax.Array,
             max_len: int, encoding: tuple | None = None) -> Forecast:
  """Real-valued outputs for `max_len` steps, each fed back as the next step's input."""
  variables = {"params": params}
  carry, memory = encode(model, params, inputs_BxS, lengths_B, encoding)

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
  carry, memory = encode(model, params, inputs_BxS, lengths_B)

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
           max_len: int, cfg: DecodeConfig, encoding: tuple | None = None) -> Beams | Forecast:
  """The configured search for token outputs (greedy comes back as a beam of one, scored like
  a beam), each sentence bounded by `output_limits` within `max_len` steps; a fed-back forecast
  of `max_len` steps for real-valued ones. `encoding`: the batch's, where it is at hand."""
  if isinstance(model.target, ends.Features):
    return forecast(model, params, inputs_BxS, lengths_B, max_len, encoding)
  limits_B = output_limits(cfg, lengths_B, max_len)
  if cfg.method == "beam":
    return beam_search(model, params, inputs_BxS, lengths_B, max_len, cfg.beam_size,
                       cfg.length_alpha, cfg.coverage_beta, limits_B, encoding)
  g = greedy(model, params, inputs_BxS, lengths_B, max_len, limits_B, encoding)
  length_B = jnp.sum(g.tokens_BxT != PAD_ID, -1)
  mask_BxS = jnp.arange(inputs_BxS.shape[1])[None, :] < lengths_B[:, None]
  score_B = (g.scores_B / length_penalty(length_B, cfg.length_alpha)
             + coverage_penalty(g.alpha_BxTxS.sum(1), mask_BxS, cfg.coverage_beta))
  return Beams(g.tokens_BxT[:, None], score_B[:, None], g.scores_B[:, None], length_B[:, None],
               g.alpha_BxTxS[:, None])

"""Greedy decoding: consistent with teacher forcing, stops at EOS, independent of the batch."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqattn.inference import decode
from seqattn.models import ends
from seqattn.models.interface import init_params
from seqattn.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from seqattn.models.encoders import length_mask

B, TX, TY, V_SRC, V_TGT = 4, 8, 6, 11, 9
LENGTHS = jnp.array([8, 3, 5, 1], jnp.int32)


def _readout_bias(params, bias: dict[int, float]):
  """`params` with `bias[v]` added to the readout's bias of symbol v."""
  def add(path, x):
    if "readout" not in jax.tree_util.keystr(path) or x.ndim != 1:
      return x
    for v, b in bias.items():
      x = x.at[v].add(b)
    return x
  return jax.tree_util.tree_map_with_path(add, params)


@pytest.fixture(scope="module")
def luong(request):
  from conftest import CONFIGS, model_of
  from seqattn.config import freeze, load_file
  config = freeze(load_file(CONFIGS / "test.py"))
  config = dataclasses.replace(config, model=dataclasses.replace(
      config.model, placement="after_rnn", attention="general", feed_previous_token=True,
      input_feeding=True, embed_dim=5, bridge="linear"))
  model = model_of(config, V_SRC, V_TGT)
  params = init_params(model, jax.random.key(0))
  params = _readout_bias(params, {EOS_ID: 2.0})  # some sequences stop early
  ids = jax.random.randint(jax.random.key(1), (B, TX), 4, V_SRC)
  return model, params, jnp.where(length_mask(LENGTHS, TX), ids, PAD_ID)


greedy = jax.jit(decode.greedy, static_argnums=(0, 4))


def test_greedy_is_consistent_with_teacher_forcing_on_its_own_output(luong):
  model, params, ids = luong
  out = greedy(model, params, ids, LENGTHS, TY)
  chex.assert_shape([out.tokens_BxT, out.scores_B, out.alpha_BxTxS], [(B, TY), (B,), (B, TY, TX)])
  logits, alpha = model.apply({"params": params}, ids, LENGTHS,
                              ends.shift_right(model.target, out.tokens_BxT))
  live = np.asarray(jnp.cumsum(out.tokens_BxT == EOS_ID, 1) - (out.tokens_BxT == EOS_ID) == 0)
  np.testing.assert_array_equal(np.asarray(jnp.argmax(decode.allowed(logits), -1))[live],
                                np.asarray(out.tokens_BxT)[live])
  log_p = jnp.take_along_axis(jax.nn.log_softmax(logits), out.tokens_BxT[..., None], -1)[..., 0]
  chex.assert_trees_all_close(out.scores_B, jnp.sum(jnp.where(live, log_p, 0.0), 1), atol=1e-5)
  chex.assert_trees_all_close(out.alpha_BxTxS[live], alpha[live], atol=1e-6)


def test_greedy_stops_at_eos(luong):
  model, params, ids = luong
  tokens = np.asarray(greedy(model, params, ids, LENGTHS, TY).tokens_BxT)
  assert (tokens == EOS_ID).any(), "the fixture should make EOS likely"
  for row in tokens:
    if EOS_ID in row:
      first = list(row).index(EOS_ID)
      assert np.all(row[first + 1:] == PAD_ID) and np.all(row[:first] != PAD_ID)


def test_greedy_does_not_depend_on_the_rest_of_the_batch(luong):
  model, params, ids = luong
  batch = greedy(model, params, ids, LENGTHS, TY)
  for i in range(B):
    alone = greedy(model, params, ids[i:i + 1], LENGTHS[i:i + 1], TY)
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[i:i + 1], batch), alone, atol=1e-5)


beam = jax.jit(decode.beam_search, static_argnums=(0, 4, 5, 6, 7))


def test_beam_of_one_is_greedy_exactly(luong):
  model, params, ids = luong
  g = greedy(model, params, ids, LENGTHS, TY)
  b = beam(model, params, ids, LENGTHS, TY, 1, 0.6, 0.0)
  chex.assert_trees_all_equal(b.tokens_BxKxT[:, 0], g.tokens_BxT)
  chex.assert_trees_all_close(b.log_probs_BxK[:, 0], g.scores_B, atol=1e-5)
  chex.assert_trees_all_close(b.alpha_BxKxTxS[:, 0], g.alpha_BxTxS, atol=1e-6)


@pytest.mark.parametrize("k, alpha, beta", [(4, 0.6, 0.0), (3, 1.0, 0.2)])
def test_beam_hypotheses_are_sorted_complete_and_rescore_exactly(luong, k, alpha, beta):
  model, params, ids = luong
  b = beam(model, params, ids, LENGTHS, TY, k, alpha, beta)
  chex.assert_shape([b.tokens_BxKxT, b.scores_BxK, b.alpha_BxKxTxS],
                    [(B, k, TY), (B, k), (B, k, TY, TX)])
  scores = np.asarray(b.scores_BxK)
  assert np.all(np.diff(scores, axis=1) <= 1e-6), scores
  tokens, lengths = np.asarray(b.tokens_BxKxT), np.asarray(b.lengths_BxK)
  for row, n in zip(tokens.reshape(-1, TY), lengths.reshape(-1)):
    assert n == TY or row[n - 1] == EOS_ID
    assert np.all(row[n:] == PAD_ID) and np.all(row[:n] != PAD_ID)

  # Re-scoring every hypothesis with teacher forcing gives its log-prob and attention maps.
  flat = b.tokens_BxKxT.reshape(B * k, TY)
  logits, alpha_tf = model.apply({"params": params}, jnp.repeat(ids, k, 0),
                                 jnp.repeat(LENGTHS, k), ends.shift_right(model.target, flat))
  live = flat != PAD_ID
  log_p = jnp.take_along_axis(jax.nn.log_softmax(logits), flat[..., None], -1)[..., 0]
  chex.assert_trees_all_close(b.log_probs_BxK.reshape(-1), jnp.where(live, log_p, 0.0).sum(1),
                              atol=1e-4)
  chex.assert_trees_all_close(b.alpha_BxKxTxS.reshape(B * k, TY, TX)[live], alpha_tf[live],
                              atol=1e-6)
  expected = (b.log_probs_BxK / decode.length_penalty(b.lengths_BxK, alpha)
              + decode.coverage_penalty((alpha_tf * live[..., None]).reshape(B, k, TY, TX).sum(2),
                                        jnp.repeat(length_mask(LENGTHS, TX)[:, None], k, 1),
                                        beta))
  chex.assert_trees_all_close(b.scores_BxK, expected, atol=1e-4)


def test_beam_best_scores_at_least_greedy(luong):
  model, params, ids = luong
  g = greedy(model, params, ids, LENGTHS, TY)
  greedy_length = jnp.sum(g.tokens_BxT != PAD_ID, 1)
  greedy_score = g.scores_B / decode.length_penalty(greedy_length, 0.6)
  b = beam(model, params, ids, LENGTHS, TY, 4, 0.6, 0.0)
  assert np.all(np.asarray(b.scores_BxK[:, 0]) >= np.asarray(greedy_score) - 1e-5)


def test_beam_does_not_depend_on_the_batch_and_is_traced_once_per_shape(luong):
  model, params, ids = luong
  counted = jax.jit(chex.assert_max_traces(decode.beam_search, n=1),
                    static_argnums=(0, 4, 5, 6, 7))
  full = counted(model, params, ids, LENGTHS, TY, 3, 0.5, 0.0)
  counted(model, params, ids[::-1], LENGTHS[::-1], TY, 3, 0.5, 0.0)  # a retrace would raise
  for i in range(B):
    alone = beam(model, params, ids[i:i + 1], LENGTHS[i:i + 1], TY, 3, 0.5, 0.0)
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[i:i + 1], full), alone, atol=1e-5)


def test_no_search_emits_pad_bos_or_unk_even_when_the_model_prefers_them(luong):
  model, params, ids = luong
  params = _readout_bias(params, {PAD_ID: 8.0, BOS_ID: 8.0, UNK_ID: 8.0})
  g = greedy(model, params, ids, LENGTHS, TY)
  b = beam(model, params, ids, LENGTHS, TY, 1, 0.0, 0.0)
  for tokens in (np.asarray(g.tokens_BxT), np.asarray(b.tokens_BxKxT[:, 0])):
    for row in tokens:
      n = np.argmax(row == EOS_ID) + 1 if EOS_ID in row else TY  # the steps before the end
      assert not np.isin(row[:n], [PAD_ID, BOS_ID, UNK_ID]).any(), row
  # Beam 1 is greedy search, lengths included.
  np.testing.assert_array_equal(np.asarray(g.tokens_BxT), np.asarray(b.tokens_BxKxT[:, 0]))
  np.testing.assert_array_equal(np.sum(np.asarray(g.tokens_BxT) != PAD_ID, 1),
                                np.asarray(b.lengths_BxK[:, 0]))


def test_the_output_bound_follows_the_source_or_is_ty():
  follows = dataclasses.replace(_search(), max_len_a=1.5, max_len_b=10)
  assert decode.output_width(follows, 40, TY) == 70  # ⌊1.5 · 40 + 10⌋
  lengths = jnp.array([1, 3, 40, 55])
  np.testing.assert_array_equal(decode.output_limits(follows, lengths, 70), [11, 14, 70, 70])
  assert decode.output_width(_search(), 40, TY) == TY  # a = b = 0: the task's Ty
  np.testing.assert_array_equal(decode.output_limits(_search(), lengths, TY), [TY] * 4)


def _search():
  from conftest import CONFIGS
  from seqattn.config import freeze, load_file
  return freeze(load_file(CONFIGS / "test.py")).decode


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_each_sentence_stops_at_its_own_limit_and_keeps_the_prefix_it_had(luong, method):
  model, params, ids = luong
  limits = jnp.array([2, TY, 1, 3], jnp.int32)
  if method == "greedy":
    run = lambda limits_B: greedy(model, params, ids, LENGTHS, TY, limits_B).tokens_BxT
  else:
    run = lambda limits_B: beam(model, params, ids, LENGTHS, TY, 1, 0.6, 0.0,
                                limits_B).tokens_BxKxT[:, 0]
  free, bounded = np.asarray(run(None)), np.asarray(run(limits))
  for row_free, row, n in zip(free, bounded, limits.tolist()):
    np.testing.assert_array_equal(row[:n], row_free[:n])
    assert not row[n:].any()  # PAD beyond the limit


def test_a_longer_bound_than_needed_changes_nothing(luong):
  """The searches stop when every sentence has ended: a bound of 3·Ty steps that no sentence
  reaches gives the results of Ty steps, the rest of its buffer PAD."""
  model, params, ids = luong
  params = _readout_bias(params, {EOS_ID: 4.0})  # every sentence ends within Ty
  short, long = greedy(model, params, ids, LENGTHS, TY), greedy(model, params, ids, LENGTHS, 3 * TY)
  assert np.all(np.any(np.asarray(short.tokens_BxT) == EOS_ID, 1))
  chex.assert_trees_all_equal(long.tokens_BxT[:, :TY], short.tokens_BxT)
  assert not np.asarray(long.tokens_BxT[:, TY:]).any()
  chex.assert_trees_all_close(long.scores_B, short.scores_B, atol=1e-6)
  b_short = beam(model, params, ids, LENGTHS, TY, 3, 0.6, 0.0)
  b_long = beam(model, params, ids, LENGTHS, 3 * TY, 3, 0.6, 0.0)
  chex.assert_trees_all_equal(b_long.tokens_BxKxT[..., :TY], b_short.tokens_BxKxT)
  chex.assert_trees_all_close(b_long.scores_BxK, b_short.scores_BxK, atol=1e-6)


def _many(max_len: int):
  """n sources of random lengths and n random limits in [1, max_len]: rows that end at
  different steps, enough of them (n // SHRINK = MIN_ROWS) that a search's batch shrinks."""
  n = decode.SHRINK * decode.MIN_ROWS
  lengths_N = jax.random.randint(jax.random.key(2), (n,), 1, TX + 1)
  ids = jax.random.randint(jax.random.key(3), (n, TX), 4, V_SRC)
  limits_N = jax.random.randint(jax.random.key(4), (n,), 1, max_len + 1)
  return jnp.where(length_mask(lengths_N, TX), ids, PAD_ID), lengths_N, limits_N


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_a_shrinking_batch_decodes_as_the_whole_batch_does(luong, monkeypatch, method):
  """Once few rows are still decoding the search goes on with those alone: the same tokens,
  scores and α as a batch that never shrinks (MIN_ROWS out of reach). Run without jit, so that
  each call traces the constants anew."""
  model, params, _ = luong
  params = _readout_bias(params, {EOS_ID: -3.0})  # most rows end at their limits
  ids, lengths_N, limits_N = _many(2 * TY)
  search = ((lambda: decode.greedy(model, params, ids, lengths_N, 2 * TY, limits_N))
            if method == "greedy" else
            lambda: decode.beam_search(model, params, ids, lengths_N, 2 * TY, 3, 0.6, 0.2,
                                       limits_N))
  shrinking = search()
  ended_T = np.sum(np.asarray(shrinking[0]) != PAD_ID, -1).reshape(len(ids), -1).max(-1)
  keep = len(ids) // decode.SHRINK
  assert np.sort(ended_T)[-keep - 1] < ended_T.max()  # steps run on the shrunk batch
  monkeypatch.setattr(decode, "MIN_ROWS", 10 ** 6)
  whole = search()
  chex.assert_trees_all_equal(shrinking[0], whole[0])  # the tokens
  chex.assert_trees_all_close(shrinking, whole, atol=1e-5)


def test_forced_decoding_gives_teacher_forcings_losses_and_attention(luong):
  """decode.forced, one step at a time and shrinking as targets end, equals the teacher-forced
  pass at every real target step, and is 0 after."""
  model, params, _ = luong
  ids, lengths_N, ends_N = _many(TY)
  steps_T = jnp.arange(TY)[None, :]
  targets = jnp.where(steps_T < ends_N[:, None] - 1,
                      jax.random.randint(jax.random.key(5), (len(ids), TY), 4, V_TGT),
                      jnp.where(steps_T == ends_N[:, None] - 1, EOS_ID, PAD_ID))
  got = jax.jit(decode.forced, static_argnums=0)(model, params, ids, lengths_N, targets)
  logits, alpha = model.apply({"params": params}, ids, lengths_N,
                              ends.shift_right(model.target, targets))
  real = np.asarray(model.target.mask(targets))
  assert not real.all() and real[:, 0].all()
  np.testing.assert_allclose(np.asarray(got.losses_BxT)[real],
                             np.asarray(model.target.losses(logits, targets))[real], atol=1e-5)
  np.testing.assert_allclose(np.asarray(got.alpha_BxTxS)[real], np.asarray(alpha)[real],
                             atol=1e-6)
  assert not np.asarray(got.losses_BxT)[~real].any()
  assert not np.asarray(got.alpha_BxTxS)[~real].any()

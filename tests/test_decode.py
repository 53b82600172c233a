"""Greedy decoding: consistent with teacher forcing, stops at EOS, independent of the batch."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqattn import decode, train
from seqattn.data.vocab import EOS_ID, PAD_ID
from seqattn.models.encoders import length_mask

B, TX, TY, V_SRC, V_TGT = 4, 8, 6, 11, 9
LENGTHS = jnp.array([8, 3, 5, 1], jnp.int32)


@pytest.fixture(scope="module")
def luong(request):
  from conftest import CONFIGS
  from seqattn.config import freeze, load_file
  config = freeze(load_file(CONFIGS / "test.py"))
  config = dataclasses.replace(config, model=dataclasses.replace(
      config.model, placement="after_rnn", attention="general", feed_previous_token=True,
      input_feeding=True, embed_dim=5, bridge="linear"))
  model = train.build_model(config, V_SRC, V_TGT)
  params = train.init_params(model, config, jax.random.key(0))
  # Make EOS likely so that some sequences stop early.
  params = jax.tree_util.tree_map_with_path(
      lambda p, x: x.at[EOS_ID].add(2.0) if "readout" in jax.tree_util.keystr(p)
      and x.ndim == 1 else x, params)
  ids = jax.random.randint(jax.random.key(1), (B, TX), 4, V_SRC)
  return model, params, jnp.where(length_mask(LENGTHS, TX), ids, PAD_ID)


greedy = jax.jit(decode.greedy, static_argnums=(0, 4))


def test_greedy_is_consistent_with_teacher_forcing_on_its_own_output(luong):
  model, params, ids = luong
  out = greedy(model, params, ids, LENGTHS, TY)
  chex.assert_shape([out.tokens_BxT, out.scores_B, out.alpha_BxTxS], [(B, TY), (B,), (B, TY, TX)])
  logits, alpha = model.apply({"params": params}, ids, LENGTHS,
                              train.shift_right(out.tokens_BxT))
  live = np.asarray(jnp.cumsum(out.tokens_BxT == EOS_ID, 1) - (out.tokens_BxT == EOS_ID) == 0)
  np.testing.assert_array_equal(np.asarray(jnp.argmax(logits, -1))[live],
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

"""Encoder, decoder and seq2seq: shapes, exact padding handling, scan vs step-by-step."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqattn import train
from seqattn.data.vocab import PAD_ID
from seqattn.models import cells
from seqattn.models.decoders import AttentionDecoder
from seqattn.models.encoders import Encoder, length_mask

B, TX, TY, V_SRC, V_TGT = 3, 9, 4, 12, 7
LENGTHS = jnp.array([9, 4, 1], jnp.int32)


def _inputs(key, lengths=LENGTHS, tx=TX):
  ids = jax.random.randint(key, (len(lengths), tx), 2, V_SRC)
  return jnp.where(length_mask(lengths, tx), ids, PAD_ID)


def _with_new_padding(ids, lengths, key):
  noise = jax.random.randint(key, ids.shape, 2, V_SRC)
  return jnp.where(length_mask(lengths, ids.shape[1]), ids, noise)


def _decoder_inputs(ty=10):
  return jax.random.randint(jax.random.key(9), (B, ty), 2, V_TGT)


@pytest.fixture
def model_and_params(tiny_config):
  model = train.build_model(tiny_config, V_SRC, V_TGT)
  ids = _inputs(jax.random.key(0))
  return model, jax.jit(model.init)(jax.random.key(1), ids, LENGTHS, _decoder_inputs())["params"]


def test_seq2seq_shapes_and_attention_rows(tiny_config, model_and_params):
  model, params = model_and_params
  ids = _inputs(jax.random.key(0))
  logits, alpha = model.apply({"params": params}, ids, LENGTHS, _decoder_inputs())
  ty = tiny_config.data.max_target_len
  chex.assert_shape([logits, alpha], [(B, ty, V_TGT), (B, ty, TX)])
  chex.assert_tree_all_finite((logits, alpha))
  chex.assert_trees_all_close(alpha.sum(-1), jnp.ones((B, ty)), atol=1e-6)
  mask = length_mask(LENGTHS, TX)[:, None, :]
  assert jnp.all(jnp.where(mask, True, alpha == 0.0))


def test_outputs_do_not_depend_on_padding_content(model_and_params):
  model, params = model_and_params
  ids = _inputs(jax.random.key(0))
  repadded = _with_new_padding(ids, LENGTHS, jax.random.key(5))
  assert not jnp.array_equal(ids, repadded)
  apply = jax.jit(model.apply)
  chex.assert_trees_all_equal(apply({"params": params}, ids, LENGTHS, _decoder_inputs()),
                              apply({"params": params}, repadded, LENGTHS, _decoder_inputs()))


def test_padding_gets_zero_gradient(tiny_config):
  """A token seen only in padding positions gets exactly zero embedding gradient."""
  config = dataclasses.replace(tiny_config,
                               model=dataclasses.replace(tiny_config.model, embed_dim=6))
  model = train.build_model(config, V_SRC, V_TGT)
  ids = jnp.where(length_mask(LENGTHS, TX), _inputs(jax.random.key(0)) % 9 + 2, V_SRC - 1)
  batch = dict(inputs=ids, input_lengths=LENGTHS, weights=jnp.ones(B),
               targets=jax.random.randint(jax.random.key(2), (B, 10), 1, V_TGT))
  params = jax.jit(model.init)(jax.random.key(1), ids, LENGTHS, _decoder_inputs())["params"]
  grads = jax.jit(jax.grad(train.loss_fn), static_argnums=1)(params, model.apply, batch)
  embed_grad = grads["encoder"]["embed"]["embedding"]
  assert jnp.all(embed_grad[V_SRC - 1] == 0.0)
  assert jnp.any(embed_grad[2] != 0.0)


@pytest.mark.parametrize("cell", sorted(cells.CELLS))
def test_bidirectional_encoder_on_a_padded_batch_equals_each_unpadded_sequence(cell):
  encoder = Encoder(V_SRC, embed_dim=0, cell=cell, units=5, bidirectional=True)
  ids = _inputs(jax.random.key(3))
  params = encoder.init(jax.random.key(4), ids, LENGTHS)
  apply = jax.jit(encoder.apply)
  h, _ = apply(params, ids, LENGTHS)
  chex.assert_shape(h, (B, TX, 10))
  for i, n in enumerate(LENGTHS.tolist()):
    alone, _ = apply(params, ids[i:i + 1, :n], jnp.array([n]))
    chex.assert_trees_all_close(h[i:i + 1, :n], alone, atol=1e-6)


def test_scanned_decoder_equals_a_step_by_step_reference():
  decoder = AttentionDecoder(V_TGT, cell="lstm", units=8, attention="course_mlp",
                             attention_units=5)
  h = jax.random.normal(jax.random.key(6), (B, TX, 6))
  mask = length_mask(LENGTHS, TX)
  params = decoder.init(jax.random.key(7), h, mask, TY)
  logits, alpha = decoder.apply(params, h, mask, TY)
  chex.assert_shape([logits, alpha], [(B, TY, V_TGT), (B, TY, TX)])

  projected = decoder.apply(params, h, method=lambda m, h: m.score.project_keys(h))
  carry = cells.zeros_carry("lstm", B, 8)
  for t in range(TY):
    carry, (logits_t, alpha_t) = decoder.apply(params, carry, (h, projected, mask),
                                               method=AttentionDecoder.step)
    chex.assert_trees_all_close(logits[:, t], logits_t, atol=1e-6)
    chex.assert_trees_all_close(alpha[:, t], alpha_t, atol=1e-6)


def test_jit_and_no_jit_give_the_same_loss(model_and_params):
  model, params = model_and_params
  batch = dict(inputs=_inputs(jax.random.key(0)), input_lengths=LENGTHS, weights=jnp.ones(B),
               targets=jax.random.randint(jax.random.key(8), (B, 10), 1, V_TGT))
  jitted = jax.jit(train.loss_fn, static_argnums=1)(params, model.apply, batch)
  with jax.disable_jit():
    eager = train.loss_fn(params, model.apply, batch)
  assert np.isfinite(float(jitted))
  chex.assert_trees_all_close(jitted, eager, rtol=1e-5)

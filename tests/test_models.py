"""Encoder, bridge, decoder and seq2seq: shapes, exact padding, scan vs step-by-step, bridges."""

import dataclasses
import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import CONFIGS, model_of, recomputes
from seqattn.models import ends
from seqattn.models.interface import abstract_params, init_params
from seqattn.training.step import loss_fn
from seqattn.config import freeze, load_file
from seqattn.data.vocab import PAD_ID
from seqattn.models import bridges, cells
from seqattn.models.encoders import Encoder, length_mask

B, TX, TY, V_SRC, V_TGT = 3, 9, 4, 12, 7
LENGTHS = jnp.array([9, 4, 1], jnp.int32)
KEY = jax.random.key(5)  # dropout

# Architectures that together exercise every decoder branch.
ARCHITECTURES = {
    "course": {},
    "bahdanau": dict(encoder_cell="gru", decoder_cell="gru", attention="additive", coverage=True,
                     bridge="bahdanau", feed_previous_token=True, deep_output=True, embed_dim=5),
    "luong": dict(encoder_layers=2, decoder_layers=2, bidirectional=False, attention="general",
                  bridge="copy", decoder_units=32, placement="after_rnn",
                  feed_previous_token=True, input_feeding=True, embed_dim=5),
    "luong_local_p": dict(attention="local_p", placement="after_rnn", feed_previous_token=True,
                          bridge="linear", attention_window=2),
    "cho": dict(encoder_cell="gru", decoder_cell="gru", bidirectional=False, attention="none",
                bridge="linear", feed_previous_token=True, deep_output=True),
}


def _config(tiny_config, **model):
  return dataclasses.replace(tiny_config, model=dataclasses.replace(tiny_config.model, **model))


def _inputs(key, lengths=LENGTHS, tx=TX):
  ids = jax.random.randint(key, (len(lengths), tx), 4, V_SRC)
  return jnp.where(length_mask(lengths, tx), ids, PAD_ID)


def _with_new_padding(ids, lengths, key):
  noise = jax.random.randint(key, ids.shape, 4, V_SRC)
  return jnp.where(length_mask(lengths, ids.shape[1]), ids, noise)


def _decoder_inputs():
  return jax.random.randint(jax.random.key(9), (B, TY), 4, V_TGT)


def _model(config):
  model = model_of(config, V_SRC, V_TGT)
  return model, init_params(model, jax.random.key(1))


@functools.cache
def _architecture(name):
  """(model, params, jitted apply), built once per module run."""
  model, params = _model(_config(freeze(load_file(CONFIGS / "test.py")), **ARCHITECTURES[name]))
  return model, params, jax.jit(model.apply)


@pytest.fixture(params=list(ARCHITECTURES))
def architecture(request):
  return _architecture(request.param)


def test_shapes_and_attention_rows(architecture):
  model, params, apply = architecture
  logits, alpha = apply({"params": params}, _inputs(jax.random.key(0)), LENGTHS,
                        _decoder_inputs())
  chex.assert_shape([logits, alpha], [(B, TY, V_TGT), (B, TY, TX)])
  chex.assert_tree_all_finite((logits, alpha))
  chex.assert_trees_all_close(alpha.sum(-1), jnp.ones((B, TY)), atol=1e-6)
  mask = length_mask(LENGTHS, TX)[:, None, :]
  assert jnp.all(jnp.where(mask, True, alpha == 0.0))


def test_outputs_do_not_depend_on_padding_content(architecture):
  model, params, apply = architecture
  ids = _inputs(jax.random.key(0))
  repadded = _with_new_padding(ids, LENGTHS, jax.random.key(5))
  assert not jnp.array_equal(ids, repadded)
  chex.assert_trees_all_close(apply({"params": params}, ids, LENGTHS, _decoder_inputs()),
                              apply({"params": params}, repadded, LENGTHS, _decoder_inputs()),
                              atol=1e-6, rtol=0)


def test_scanned_decoder_equals_a_step_by_step_reference(architecture):
  model, params, apply = architecture
  ids, y_in = _inputs(jax.random.key(0)), _decoder_inputs()
  logits, alpha = apply({"params": params}, ids, LENGTHS, y_in)
  carry, memory = model.apply({"params": params}, ids, LENGTHS, method=model.encode)
  step = jax.jit(lambda c, y: model.apply({"params": params}, c, y, memory, method=model.step))
  coverage = jnp.zeros((B, TX))
  for t in range(TY):
    carry, (logits_t, alpha_t) = step(carry, y_in[:, t])
    chex.assert_trees_all_close(logits[:, t], logits_t, atol=1e-5)
    chex.assert_trees_all_close(alpha[:, t], alpha_t, atol=1e-6)
    coverage = coverage + alpha_t
    chex.assert_trees_all_close(carry.coverage_BxT, coverage, atol=1e-6)
  assert int(carry.t) == TY


@pytest.mark.parametrize("name", ["course", "luong"])
def test_padding_gets_zero_gradient(tiny_config, name):
  """A token seen only at padded positions gets exactly zero embedding gradient."""
  config = _config(tiny_config, **dict(ARCHITECTURES[name], embed_dim=6))
  model, params = _model(config)
  pad_token = V_SRC - 1
  ids = jnp.where(length_mask(LENGTHS, TX), _inputs(jax.random.key(0)) % 7 + 4, pad_token)
  batch = dict(inputs=ids, input_lengths=LENGTHS, weights=jnp.ones(B),
               targets=jax.random.randint(jax.random.key(2), (B, TY), 4, V_TGT))
  grads = jax.jit(jax.grad(loss_fn), static_argnums=1)(params, model, batch)
  embed_grad = grads["encoder"]["embed"]["embedding"]
  assert jnp.all(embed_grad[pad_token] == 0.0)
  assert jnp.any(embed_grad[4] != 0.0)


@pytest.mark.parametrize("cell", sorted(cells.CELLS))
def test_bidirectional_encoder_on_a_padded_batch_equals_each_unpadded_sequence(cell):
  encoder = Encoder(ends.Tokens(V_SRC), embed_dim=0, cell=cell, units=5, bidirectional=True, layers=2)
  ids = _inputs(jax.random.key(3))
  params = encoder.init(jax.random.key(4), ids, LENGTHS)
  apply = jax.jit(encoder.apply)
  h, finals = apply(params, ids, LENGTHS)
  chex.assert_shape(h, (B, TX, 10))
  for i, n in enumerate(LENGTHS.tolist()):
    alone, alone_finals = apply(params, ids[i:i + 1, :n], jnp.array([n]))
    chex.assert_trees_all_close(h[i:i + 1, :n], alone, atol=1e-6)
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[i:i + 1], finals), alone_finals,
                                atol=1e-6)


@pytest.mark.parametrize("cell", sorted(cells.CELLS))
def test_fused_cell_steps_equal_flax_cells(cell):
  """Each cell's step on cells.Weights (the decoder's and encoder's cells) against Flax's own cell:
  the same parameters (tree and initial values), carry, output and gradients."""
  units, inputs = 6, 4
  x_BxI = jax.random.normal(jax.random.key(0), (B, inputs))
  flax_cell = cells.make(cell, units)
  carry = jax.tree.map(lambda z: jax.random.normal(jax.random.key(1), z.shape),
                       flax_cell.initialize_carry(jax.random.key(0), x_BxI.shape))
  params = flax_cell.init(jax.random.key(2), carry, x_BxI)["params"]
  weights = cells.Weights(cell, units)
  chex.assert_trees_all_equal(weights.init(jax.random.key(2), inputs)["params"], params)

  def ours(params, carry, x):
    return cells.CELLS[cell].step(weights.apply({"params": params}, inputs), carry, x)

  def theirs(params, carry, x):
    return flax_cell.apply({"params": params}, carry, x)

  chex.assert_trees_all_close(ours(params, carry, x_BxI), theirs(params, carry, x_BxI),
                              atol=1e-6)
  loss = lambda f: lambda *a: sum(jnp.sum(jnp.sin(y)) for y in jax.tree.leaves(f(*a)))
  chex.assert_trees_all_close(jax.grad(loss(ours), argnums=(0, 1, 2))(params, carry, x_BxI),
                              jax.grad(loss(theirs), argnums=(0, 1, 2))(params, carry, x_BxI),
                              atol=1e-5)


def _flax_rnn_encoder(params, kind: str, units: int, layers: int, bidirectional: bool, x_BxTxE,
                      lengths_B):
  """The reference: Flax's own cell in an nn.RNN with seq_lengths per direction and layer (the
  backward one reversed within each sequence), on the encoder's parameters."""
  finals = []
  for layer in range(layers):
    outputs, carries = [], []
    for direction in ("forward", "backward")[:1 + bidirectional]:
      rnn = nn.RNN(cells.make(kind, units), return_carry=True, reverse=direction == "backward",
                   keep_order=True)
      carry, y = rnn.apply({"params": {"cell": params[f"{direction}_cell_{layer}"]}}, x_BxTxE,
                           seq_lengths=lengths_B)
      outputs.append(y)
      carries.append(carry)
    x_BxTxE = jnp.concatenate(outputs, -1)
    finals.append(tuple(carries) if bidirectional else carries[0])
  return x_BxTxE, tuple(finals)


@pytest.mark.parametrize("cell, bidirectional",
                         [(cell, True) for cell in sorted(cells.CELLS)] + [("lstm", False)])
def test_encoder_loop_equals_flax_cells_in_nn_rnn(cell, bidirectional):
  """The encoder's loop (fused gate weights, directions stacked in one scan, carries held at
  padding) against Flax's cells in nn.RNN: the same parameters, the same states at real
  positions and final carries, the same gradients of a loss on them; with and without remat."""
  units, layers = 5, 2
  ids = _inputs(jax.random.key(3))
  encoder = Encoder(ends.Tokens(V_SRC), embed_dim=0, cell=cell, units=units,
                    bidirectional=bidirectional, layers=layers)
  params = encoder.init(jax.random.key(4), ids, LENGTHS)["params"]
  flax_params = jax.eval_shape(lambda: _flax_params(cell, units, layers, bidirectional))
  chex.assert_trees_all_equal_shapes_and_dtypes(params, flax_params)
  real_BxTx1 = length_mask(LENGTHS, TX)[..., None]
  w_BxTxH = jax.random.normal(jax.random.key(6), (B, TX, units * (1 + bidirectional)))

  def run(encode):
    """(real-position states, final carries), and the gradients of a loss on them."""
    def loss(params):
      h_BxTxH, finals = encode(params)
      h_BxTxH = jnp.where(real_BxTx1, h_BxTxH, 0.0)
      return (jnp.sum(h_BxTxH * w_BxTxH)
              + sum(jnp.sum(jnp.sin(x)) for x in jax.tree.leaves(finals))), (h_BxTxH, finals)
    (_, outputs), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    return outputs, grads

  reference = run(lambda p: _flax_rnn_encoder(p, cell, units, layers, bidirectional,
                                               jax.nn.one_hot(ids, V_SRC), LENGTHS))
  for remat in (False, True):
    outputs, grads = run(lambda p: encoder.clone(remat=remat).apply({"params": p}, ids, LENGTHS))
    chex.assert_trees_all_close(outputs, reference[0], atol=1e-6)
    chex.assert_trees_all_close(grads, reference[1], atol=1e-5)


def _flax_params(kind: str, units: int, layers: int, bidirectional: bool):
  """The parameter tree of Flax's cells named as the encoder names them (one-hot inputs)."""
  params = {}
  for layer in range(layers):
    inputs = jnp.zeros((1, V_SRC if layer == 0 else units * (1 + bidirectional)))
    for direction in ("forward", "backward")[:1 + bidirectional]:
      cell = cells.make(kind, units)
      carry = cell.initialize_carry(jax.random.key(0), inputs.shape)
      params[f"{direction}_cell_{layer}"] = cell.init(jax.random.key(0), carry, inputs)["params"]
  return params


def test_bridges_closed_forms():
  """copy = the encoder's final states; bahdanau = tanh(W h←_1 + b); linear = W h_N + b."""
  encoder = Encoder(ends.Tokens(V_SRC), embed_dim=0, cell="lstm", units=4, bidirectional=True, layers=1)
  ids = _inputs(jax.random.key(3))
  h, finals = encoder.apply(encoder.init(jax.random.key(4), ids, LENGTHS), ids, LENGTHS)
  (c_f, h_f), (c_b, h_b) = finals[0]
  chex.assert_trees_all_close(h_b, h[:, 0, 4:], atol=1e-6)  # h←_1 is the backward output at j=1

  def run(kind, units=8):
    bridge = bridges.Bridge(kind, "lstm", units, layers=1, bidirectional=True)
    params = bridge.init(jax.random.key(5), finals, B)
    return params.get("params", {}), bridge.apply(params, finals, B)[0]

  _, (c0, h0) = run("copy")
  chex.assert_trees_all_equal((c0, h0), (jnp.concatenate([c_f, c_b], -1),
                                         jnp.concatenate([h_f, h_b], -1)))
  p, (c0, h0) = run("bahdanau")
  p, h_b, c_b = jax.tree.map(np.asarray, (p, h_b, c_b))
  chex.assert_trees_all_close(h0, np.tanh(h_b @ p["W_h_0"]["kernel"] + p["W_h_0"]["bias"]),
                              atol=1e-6)
  chex.assert_trees_all_close(c0, c_b @ p["W_c_0"]["kernel"] + p["W_c_0"]["bias"], atol=1e-6)
  p, (c0, h0) = run("linear")
  p, h_n = jax.tree.map(np.asarray, (p, jnp.concatenate([h_f, h_b], -1)))
  chex.assert_trees_all_close(h0, h_n @ p["W_h_0"]["kernel"] + p["W_h_0"]["bias"], atol=1e-6)
  _, (c0, h0) = run("zeros")
  assert not jnp.any(c0) and not jnp.any(h0)


def test_jit_and_no_jit_give_the_same_loss(tiny_config):
  model, params = _model(_config(tiny_config, **ARCHITECTURES["luong"]))
  batch = dict(inputs=_inputs(jax.random.key(0)), input_lengths=LENGTHS, weights=jnp.ones(B),
               targets=jax.random.randint(jax.random.key(8), (B, TY), 4, V_TGT))
  jitted = jax.jit(loss_fn, static_argnums=1)(params, model, batch)
  with jax.disable_jit():
    eager = loss_fn(params, model, batch)
  assert np.isfinite(float(jitted))
  chex.assert_trees_all_close(jitted, eager, rtol=1e-5)


def test_dropout_changes_training_outputs_only(tiny_config):
  model, params = _model(_config(tiny_config, **dict(ARCHITECTURES["luong"], dropout=0.5)))
  ids, y_in = _inputs(jax.random.key(0)), _decoder_inputs()
  apply = jax.jit(model.apply, static_argnames="deterministic")
  test_a = apply({"params": params}, ids, LENGTHS, y_in)
  test_b = apply({"params": params}, ids, LENGTHS, y_in)
  chex.assert_trees_all_equal(test_a, test_b)
  train_a = apply({"params": params}, ids, LENGTHS, y_in, deterministic=False,
                  rngs={"dropout": jax.random.key(0)})
  assert not jnp.allclose(train_a[0], test_a[0])


def test_scheduled_sampling_feeds_model_samples_with_the_given_probability(tiny_config):
  from seqattn.models.decoders import Sampling
  model, params, apply = _architecture("luong")
  ids, y_in = _inputs(jax.random.key(0)), _decoder_inputs()
  teacher = apply({"params": params}, ids, LENGTHS, y_in)
  never = apply({"params": params}, ids, LENGTHS, y_in,
                sampling=Sampling(jnp.float32(0.0), jax.random.key(3)))
  chex.assert_trees_all_close(never, teacher, atol=1e-6)
  always = Sampling(jnp.float32(1.0), jax.random.key(3))
  sampled = apply({"params": params}, ids, LENGTHS, y_in, sampling=always)
  chex.assert_trees_all_close(sampled[0][:, 0], teacher[0][:, 0], atol=1e-6)  # y_0 is <bos>
  assert not jnp.allclose(sampled[0][:, 1:], teacher[0][:, 1:])
  chex.assert_trees_all_equal(sampled, apply({"params": params}, ids, LENGTHS, y_in,
                                             sampling=always))


@pytest.mark.parametrize("name", ["course", "bahdanau", "luong"])
def test_train_loss_and_gradients_equal_a_plain_step_by_step_reference(tiny_config, name):
  """The compiled step's loss (one scan over the output steps, key projections computed once
  per sequence) and its gradients equal those of the plain formulation: a Python loop over
  model.step, as an eager implementation writes it, and the cross-entropy written out."""
  config = _config(tiny_config, **ARCHITECTURES[name])
  model, params = _model(config)
  targets = jax.random.randint(jax.random.key(8), (B, TY), 4, V_TGT)
  targets = targets.at[2, 2:].set(PAD_ID)  # a short target: its padding must not count
  batch = dict(inputs=_inputs(jax.random.key(0)), input_lengths=LENGTHS, weights=jnp.ones(B),
               targets=targets)

  def reference_loss(params):
    carry, memory = model.apply({"params": params}, batch["inputs"], LENGTHS,
                                method=model.encode)
    y_prev, total = ends.shift_right(model.target, targets), 0.0
    for t in range(TY):
      carry, (logits_t, _) = model.apply({"params": params}, carry, y_prev[:, t], memory,
                                         method=model.step)
      log_p = jax.nn.log_softmax(logits_t)[jnp.arange(B), targets[:, t]]
      total = total - jnp.sum(jnp.where(targets[:, t] != PAD_ID, log_p, 0.0))
    return total / jnp.sum(targets != PAD_ID)

  loss, grads = jax.jit(jax.value_and_grad(loss_fn), static_argnums=1)(
      params, model, batch)
  ref_loss, ref_grads = jax.jit(jax.value_and_grad(reference_loss))(params)
  chex.assert_trees_all_close(loss, ref_loss, rtol=1e-6)
  chex.assert_trees_all_close(grads, ref_grads, rtol=1e-4, atol=1e-6)


def test_remat_gives_the_same_parameters_loss_and_gradients(tiny_config):
  """train.remat recomputes every time step in the backward pass: the parameter tree (so
  checkpoints load either way), the training loss (dropout on) and its gradients are those of
  the stored-activations step. Luong's model: stacked cells in both the encoder's remat cells
  and the decoder's remat step, input feeding, dropout between layers."""
  model, params = _model(_config(tiny_config, **dict(ARCHITECTURES["luong"], dropout=0.3)))
  rematted = model.clone(remat=True)
  assert jax.tree.structure(abstract_params(rematted)) == jax.tree.structure(params)
  batch = dict(inputs=_inputs(jax.random.key(0)), input_lengths=LENGTHS, weights=jnp.ones(B),
               targets=jax.random.randint(jax.random.key(8), (B, TY), 4, V_TGT))
  grad = jax.value_and_grad(loss_fn)
  assert recomputes(rematted, params, batch, KEY) and not recomputes(model, params, batch, KEY)
  loss, grads = jax.jit(grad, static_argnums=1)(params, model, batch, KEY)
  remat_loss, remat_grads = jax.jit(grad, static_argnums=1)(params, rematted, batch, KEY)
  chex.assert_trees_all_close(remat_loss, loss, rtol=1e-6)
  chex.assert_trees_all_close(remat_grads, grads, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("tied", [False, True])
def test_tied_embeddings_are_one_matrix_read_at_the_input_and_at_the_readout(tiny_config, tied):
  model, params = _model(_config(tiny_config, **dict(ARCHITECTURES["bahdanau"], deep_output=False,
                                                     tied_embeddings=tied)))
  decoder = params["decoder"]
  E = decoder["embed"]["embedding"]
  chex.assert_shape(E, (V_TGT, 5))
  assert ("readout" in decoder) != tied  # tied: no second [·, V] matrix
  if tied:  # logits = E W_p o_t + b
    o = jax.random.normal(jax.random.key(3), (B, tiny_config.model.decoder_units))
    logits = model.apply({"params": params}, o, method=lambda m, o: m.decoder.logits(o))
    chex.assert_trees_all_close(
        logits, o @ decoder["project"]["kernel"] @ E.T + decoder["readout_bias"][None], atol=1e-5)
  # A symbol in no target is never fed back as y_{t-1}: its row of E learns only through the
  # readout, so only when tied.
  unseen = V_TGT - 1
  batch = dict(inputs=_inputs(jax.random.key(0)), input_lengths=LENGTHS, weights=jnp.ones(B),
               targets=jax.random.randint(jax.random.key(8), (B, TY), 4, unseen))
  grad = jax.grad(loss_fn)(params, model, batch)["decoder"]["embed"]["embedding"]
  assert bool(jnp.any(grad[unseen] != 0)) == tied

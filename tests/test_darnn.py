"""DA-RNN: attention rows, the scanned model against the paper's equations step by step, the
fed-back forecast, the ablations and the config checks."""

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from seqattn.inference import decode
from seqattn.config import ConfigError, freeze, load_file
from seqattn.models import architectures, attention, ends
from seqattn.models.darnn import DARNNConfig
from seqattn.models.interface import abstract_params, init_params, teacher_forced
from seqattn.training.step import loss_fn
from conftest import CONFIGS, recomputes

B, T, H, N = 3, 6, 3, 4  # windows, steps, horizon, driving series
CFG = DARNNConfig("darnn", encoder_units=8, decoder_units=5, input_attention=True,
                  attention="additive", attention_units=7, attention_window=2,
                  energy_bias=5.0, highway="none")


@functools.cache
def _model(**changes):
  model = architectures.build(dataclasses.replace(CFG, **changes), ends.Features(N + 1),
                              ends.Features(1), T, H)
  return model, init_params(model, jax.random.key(3))


_teacher_forced = jax.jit(teacher_forced, static_argnums=0)


@functools.partial(jax.jit, static_argnums=0)
def _input_attention(model, params, batch):
  return model.apply({"params": params}, batch["inputs"], batch["input_lengths"],
                     method=model.input_attention)


def _batch():
  inputs = jax.random.normal(jax.random.key(0), (B, T, N + 1))
  targets = jax.random.normal(jax.random.key(1), (B, H, 1))
  return dict(inputs=inputs, input_lengths=jnp.full((B,), T, jnp.int32), targets=targets)


def test_input_attention_sums_to_one_over_the_series_and_temporal_over_the_window():
  model, params = _model()
  batch = _batch()
  alpha_BxTxN = _input_attention(model, params, batch)
  outputs, beta_BxHxT = _teacher_forced(model, params, batch)
  chex.assert_shape([alpha_BxTxN, beta_BxHxT, outputs], [(B, T, N), (B, H, T), (B, H, 1)])
  chex.assert_trees_all_close(alpha_BxTxN.sum(-1), jnp.ones((B, T)), atol=1e-6)
  chex.assert_trees_all_close(beta_BxHxT.sum(-1), jnp.ones((B, H)), atol=1e-6)
  assert float(jnp.std(alpha_BxTxN)) > 1e-4  # the weights do vary with the input


def _lstm(p, carry, x):
  """Flax's LSTM (cell, hidden) carry; gates from the per-gate kernels."""
  c, h = carry
  gate = lambda g: x @ p["i" + g]["kernel"] + h @ p["h" + g]["kernel"] + p["h" + g]["bias"]
  sig = lambda z: 1 / (1 + np.exp(-z))
  c = sig(gate("f")) * c + sig(gate("i")) * np.tanh(gate("g"))
  return c, sig(gate("o")) * np.tanh(c)


def _reference(params, inputs_BxTxK, y_in_BxH):
  """The paper's equations one step at a time in float64 numpy (Python loops over t)."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  x, y = np.asarray(inputs_BxTxK, np.float64)[..., :N], np.asarray(inputs_BxTxK)[..., N:]
  m, q = CFG.encoder_units, CFG.decoder_units
  a = p["input_attn"]
  U_e_x = np.einsum("btn,ta->bna", x, a["U_e"]["kernel"]) + a["U_e"]["bias"]  # U_e x^k
  s, h = np.zeros((B, m)), np.zeros((B, m))
  hs, alphas = [], []
  for t in range(T):
    e = np.tanh((np.concatenate([h, s], -1) @ a["W_e"]["kernel"])[:, None] + U_e_x)
    e = (e @ a["v_e"]["kernel"])[..., 0]
    alpha = np.exp(e) / np.exp(e).sum(-1, keepdims=True)  # α^k_t
    s, h = _lstm(p["encoder_cell"], (s, h), alpha * x[:, t])  # x̃_t
    hs.append(h)
    alphas.append(alpha)
  h_BxTxM = np.stack(hs, 1)
  sc = p["score"]
  keys = h_BxTxM @ sc["U"]["kernel"] + sc["U"]["bias"]
  s_d, d, c = np.zeros((B, q)), np.zeros((B, q)), np.zeros((B, m))
  decoder_in = [y[:, t] for t in range(1, T)] + [y_in_BxH[:, k] for k in range(1, H)]
  outputs, betas = [], []
  for k, y_prev in enumerate(decoder_in):  # steps t = 2 .. T+H-1
    l = np.tanh((np.concatenate([d, s_d], -1) @ sc["W"]["kernel"])[:, None] + keys) @ sc["v"]
    beta = np.exp(l) / np.exp(l).sum(-1, keepdims=True)  # β^i_t
    c_new = np.einsum("bt,btm->bm", beta, h_BxTxM)  # c_t
    y_tilde = np.concatenate([y_prev, c], -1) @ p["w_tilde"]["kernel"] + p["w_tilde"]["bias"]
    s_d, d = _lstm(p["decoder_cell"], (s_d, d), y_tilde)
    c = c_new
    y_hat = ((np.concatenate([d, c], -1) @ p["W_y"]["kernel"] + p["W_y"]["bias"])
             @ p["v_y"]["kernel"] + p["v_y"]["bias"])
    if k >= T - 2:  # ŷ_T onwards
      outputs.append(y_hat)
      betas.append(beta)
  return np.stack(outputs, 1), np.stack(betas, 1), np.stack(alphas, 1)


def test_scanned_model_equals_a_plain_step_by_step_reference():
  model, params = _model()
  batch = _batch()
  outputs, beta = _teacher_forced(model, params, batch)
  alpha = _input_attention(model, params, batch)
  y_in = np.asarray(ends.shift_right(model.target, batch["targets"]))
  ref_outputs, ref_beta, ref_alpha = _reference(params, batch["inputs"], y_in)
  np.testing.assert_allclose(alpha, ref_alpha, atol=1e-5)
  np.testing.assert_allclose(beta, ref_beta, atol=1e-5)
  np.testing.assert_allclose(outputs, ref_outputs, atol=1e-5)


def test_forecast_feeds_back_its_own_values():
  """Decoding (encode + step, fed back) equals teacher forcing on its own forecasts."""
  model, params = _model()
  batch = _batch()
  found = jax.jit(decode.forecast, static_argnums=(0, 4))(
      model, params, batch["inputs"], batch["input_lengths"], H)
  outputs, beta = _teacher_forced(model, params, dict(batch, targets=found.values_BxTxN))
  chex.assert_trees_all_close(outputs, found.values_BxTxN, atol=1e-5)
  chex.assert_trees_all_close(beta, found.alpha_BxTxS, atol=1e-6)
  # ... and differs from teacher forcing on other targets (steps 2..H read them).
  other, _ = _teacher_forced(model, params, batch)
  chex.assert_trees_all_close(other[:, 0], found.values_BxTxN[:, 0], atol=1e-5)
  assert not np.allclose(other[:, 1:], found.values_BxTxN[:, 1:], atol=1e-3)


@functools.cache
def _gaussian_model(**changes):
  """The model with a distributional readout (μ and σ of each step)."""
  model = architectures.build(dataclasses.replace(CFG, **changes), ends.Features(N + 1),
                              ends.Features(1, "gaussian"), T, H)
  return model, init_params(model, jax.random.key(3))


@pytest.mark.parametrize("highway", ["target", "window"])
def test_the_highway_adds_a_linear_autoregression_to_the_mean(highway):
  """With the network's readout at zero, every forecast step h is the highway's a_hᵀ z + b_h
  (z: the target's history in the window, or all of it); the scale σ is the network's alone."""
  model, params = _gaussian_model(highway=highway)
  rng = np.random.default_rng(0)
  kernel_ZxH = rng.normal(size=params["ar"]["kernel"].shape).astype(np.float32)
  bias_H = rng.normal(size=H).astype(np.float32)
  params = dict(params, ar=dict(kernel=kernel_ZxH, bias=bias_H),
                v_y=dict(kernel=np.zeros_like(params["v_y"]["kernel"]),
                         bias=np.array([0.0, 0.3], np.float32)))
  batch = _batch()
  z = np.asarray(batch["inputs"])[..., N:] if highway == "target" else np.asarray(batch["inputs"])
  expected_BxH = z.reshape(B, -1) @ kernel_ZxH + bias_H
  outputs, _ = _teacher_forced(model, params, batch)  # decoding runs the same `step`
  np.testing.assert_allclose(outputs[..., 0], expected_BxH, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(outputs[..., 1], 0.3)


def test_gaussian_loss_is_the_normal_negative_log_likelihood():
  target = ends.Features(2, "gaussian")
  outputs = jax.random.normal(jax.random.key(0), (3, 4, 4))
  y = jax.random.normal(jax.random.key(1), (3, 4, 2))
  mu, sigma = np.asarray(target.point(outputs)), np.log1p(np.exp(np.asarray(outputs[..., 2:])))
  expected = -scipy.stats.norm.logpdf(y, mu, sigma + ends.MIN_SCALE).mean(-1)
  np.testing.assert_allclose(target.losses(outputs, y), expected, rtol=1e-5)


def test_sample_paths_draw_from_the_readout_and_feed_their_draws_back():
  """Step 1 of the paths is N(μ, σ²) of the model's first forecast step (mean and spread
  within sampling error); step 2 reads the drawn value (made to weigh: w̃ scaled up), and is
  N(μ_2, σ_2²) of teacher forcing on it."""
  model, params = _gaussian_model()
  params = dict(params, w_tilde=dict(params["w_tilde"], kernel=params["w_tilde"]["kernel"] * 30))
  batch = _batch()
  samples = 4000
  paths = jax.jit(decode.sample_paths, static_argnums=(0, 4, 6))(
      model, params, batch["inputs"], batch["input_lengths"], H, jax.random.key(5), samples)
  chex.assert_shape(paths, (B, samples, H, 1))
  outputs, _ = _teacher_forced(model, params, batch)
  mu, sigma = model.target.point(outputs)[:, 0, 0], model.target.scale(outputs)[:, 0, 0]
  first = np.asarray(paths[:, :, 0, 0])
  np.testing.assert_array_less(np.abs(first.mean(1) - mu), 4 * sigma / np.sqrt(samples))
  np.testing.assert_allclose(first.std(1), sigma, rtol=0.08)
  second = np.asarray(paths[:, :, 1, 0])
  forced, _ = _teacher_forced(model, params, dict(
      inputs=np.repeat(batch["inputs"], samples, 0), input_lengths=np.full(B * samples, T),
      targets=np.asarray(paths).reshape(B * samples, H, 1)))
  residual = ((second.reshape(-1) - model.target.point(forced)[:, 1, 0])
              / model.target.scale(forced)[:, 1, 0])
  assert abs(float(np.mean(residual))) < 0.05 and abs(float(np.std(residual)) - 1) < 0.05
  assert all(np.corrcoef(first[b], second[b])[0, 1] > 0.1 for b in range(B))  # fed back


def test_ablations_drop_their_parameters():
  """Traced, not compiled: no input attention, no input-attention parameters; no temporal
  attention ('none': β one-hot on h_T, tested in test_attention.py), no score parameters."""
  def params(**changes):
    model = architectures.build(dataclasses.replace(CFG, **changes), ends.Features(N + 1),
                                ends.Features(1), T, H)
    return abstract_params(model)
  assert "input_attn" in params() and "score" in params()
  assert "input_attn" not in params(input_attention=False)
  assert "score" not in params(attention="none")


def test_course_mlp_temporal_attention_starts_at_the_configured_energy_bias():
  """model.energy_bias reaches the DA-RNN's course_mlp score (it was left at 0, the value whose
  relu attention dies)."""
  model = architectures.build(dataclasses.replace(CFG, attention="course_mlp", energy_bias=5.0),
                              ends.Features(N + 1), ends.Features(1), T, H)
  params = init_params(model, jax.random.key(0))
  np.testing.assert_array_equal(params["score"]["energy"]["bias"], [5.0])


@pytest.mark.parametrize("score", sorted(attention.REGISTRY))
def test_every_score_of_the_registry_serves_as_temporal_attention(score):
  """Traced, not compiled: shapes and β's support for every registered score."""
  units = dict(encoder_units=10) if score in attention.dot_scores() else {}
  model = architectures.build(dataclasses.replace(CFG, attention=score, **units),
                              ends.Features(N + 1), ends.Features(1), T, H)
  params = abstract_params(model)
  outputs, beta = jax.eval_shape(lambda p: teacher_forced(model, p, _batch()), params)
  chex.assert_shape([outputs, beta], [(B, H, 1), (B, H, T)])


def test_config_choice_and_checks():
  config = load_file(CONFIGS / "series.py")
  assert isinstance(freeze(config).model, DARNNConfig)
  config.model.architecture = "transformer"
  with pytest.raises(ConfigError, match="'darnn'"):
    freeze(config)
  config.model.architecture, config.model.attention = "darnn", "dot"
  with pytest.raises(ConfigError, match="encoder_units == 2 \\* model.decoder_units"):
    freeze(config)
  with pytest.raises(ValueError, match="data.task='series'"):
    architectures.build(CFG, ends.Tokens(10), ends.Tokens(10), T, H)


def test_remat_gives_the_same_loss_and_gradients():
  """train.remat recomputes each step of the three scans in the backward pass."""
  model, params = _model()
  batch = dict(_batch(), weights=jnp.ones(B))
  assert recomputes(model.clone(remat=True), params, batch) and not recomputes(model, params, batch)
  grad = jax.jit(jax.value_and_grad(loss_fn), static_argnums=1)
  chex.assert_trees_all_close(grad(params, model.clone(remat=True), batch),
                              grad(params, model, batch), rtol=1e-5, atol=1e-7)

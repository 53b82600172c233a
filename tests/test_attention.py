"""Attention: the masked softmax, every registered score against its closed form, exact masking.

Each name in REGISTRY must have a `test_closed_form_<name>` here; the last test checks it.
"""

import dataclasses
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqattn.models import attention, scores

B, T, Q = 3, 5, 6
LENGTHS = jnp.array([2, 5, 4])
MASK = jnp.arange(T)[None, :] < LENGTHS[:, None]
SETTINGS = dict(units=4, query_size=Q, max_len=T, window=1, coverage=False, energy_bias=0.0)


def _step(t=0, lengths=LENGTHS, coverage=None):
  coverage = jnp.zeros((len(lengths), T)) if coverage is None else coverage
  return scores.Step(jnp.asarray(t, jnp.int32), lengths, coverage)


def _random(seed, *shape):
  return jax.random.normal(jax.random.key(seed), shape)


def _init(module, query, keys, step):
  return module.init(jax.random.key(9), keys, method=lambda m, k: m(
      query, m.project_keys(k), step)).get("params", {})


def _scores(module, params, query, keys, step):
  projected = module.apply({"params": params}, keys, method=module.project_keys)
  return module.apply({"params": params}, query, projected, step)


def _weights(module, params, query, keys, step, mask=MASK):
  return attention.masked_softmax(_scores(module, params, query, keys, step), mask)


def _np(tree):
  return jax.tree.map(np.asarray, tree)


def _softmax(x, mask):
  x = np.where(mask, x, -np.inf)
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_masked_softmax_sums_to_one_and_is_exactly_zero_on_padding():
  weights = attention.masked_softmax(_random(0, B, T) * 5, MASK)
  chex.assert_trees_all_close(weights.sum(-1), jnp.ones(B), atol=1e-6)
  assert jnp.all(jnp.where(MASK, True, weights == 0.0))


def test_attend_hand_computed():
  scores = jnp.array([[0.0, jnp.log(3.0), 100.0]])
  values = jnp.array([[[1.0, 0.0], [0.0, 1.0], [7.0, 7.0]]])
  context, weights = attention.attend(scores, jnp.array([[True, True, False]]), values)
  chex.assert_trees_all_close(weights, jnp.array([[0.25, 0.75, 0.0]]), atol=1e-6)
  chex.assert_trees_all_close(context, jnp.array([[0.25, 0.75]]), atol=1e-6)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", list(attention.REGISTRY))
def test_every_score_masks_exactly(name, jit):
  """Weights sum to 1 and are 0 on padding; padding gets 0 gradient and changes nothing."""
  module = attention.make(name, **SETTINGS)
  query, keys = _random(1, B, Q), _random(2, B, T, Q)
  step = _step(t=3)
  params = _init(module, query, keys, step)

  def context_and_weights(keys):
    return attention.attend(_scores(module, params, query, keys, step), MASK, keys)

  fn = jax.jit(context_and_weights) if jit else context_and_weights
  context, weights = fn(keys)
  chex.assert_shape([context, weights], [(B, Q), (B, T)])
  chex.assert_tree_all_finite((context, weights))
  chex.assert_trees_all_close(weights.sum(-1), jnp.ones(B), atol=1e-6)
  assert jnp.all(jnp.where(MASK, True, weights == 0.0))

  noisy = jnp.where(MASK[..., None], keys, 1e3 * _random(3, B, T, Q))
  chex.assert_trees_all_equal(fn(noisy), (context, weights))

  grad = jax.grad(lambda k: jnp.sum(fn(k)[0] ** 2))(keys)
  chex.assert_tree_all_finite(grad)
  assert jnp.all(jnp.where(MASK[..., None], True, grad == 0.0))


def test_closed_form_none():
  module = attention.make("none", **SETTINGS)
  keys = _random(2, B, T, Q)
  weights = _weights(module, {}, _random(1, B, Q), keys, _step())
  expected = np.eye(T)[np.asarray(LENGTHS) - 1]
  chex.assert_trees_all_equal(weights, jnp.asarray(expected, jnp.float32))


def test_none_with_a_bidirectional_encoder_reads_each_direction_after_the_whole_source():
  """Cho's C for h_j = [h→_j; h←_j]: [h→_N; h←_1], not h_N = [h→_N; h←_N]."""
  module = attention.make("none", **dict(SETTINGS, bidirectional=True))
  h = _random(2, B, T, Q)
  scores = _scores(module, {}, _random(1, B, Q), h, _step())
  context, _ = attention.attend(scores, MASK, module.values(h, LENGTHS))
  last = np.asarray(LENGTHS) - 1
  expected = np.concatenate([np.asarray(h)[np.arange(B), last, :Q // 2],
                             np.asarray(h)[:, 0, Q // 2:]], -1)
  chex.assert_trees_all_close(context, expected, atol=1e-6)


def test_closed_form_additive():
  """Hand-computed: W = U = I, b = 0, v = (1, 1), so e_j = Σ tanh(s + h_j)."""
  module = attention.make("additive", **dict(SETTINGS, units=2))
  params = {"W": {"kernel": jnp.eye(2)}, "U": {"kernel": jnp.eye(2), "bias": jnp.zeros(2)},
            "v": jnp.ones(2)}
  query = jnp.array([[0.0, 0.0], [1.0, 0.0]])
  keys = jnp.tile(jnp.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]]), (2, 1, 1))
  e = _scores(module, params, query, keys, _step(lengths=jnp.array([3, 3])))
  tanh1, tanh2 = 0.7615942, 0.9640276
  chex.assert_trees_all_close(e, jnp.array([[0.0, tanh1, tanh1],
                                            [tanh1, tanh2, 2 * tanh1]]), atol=1e-6)


def test_closed_form_additive_with_coverage():
  module = attention.make("additive", **dict(SETTINGS, coverage=True))
  query, keys, coverage = _random(1, B, Q), _random(2, B, T, Q), jnp.abs(_random(4, B, T))
  step = _step(coverage=coverage)
  p = _np(_init(module, query, keys, step))
  e = _scores(module, p, query, keys, step)
  hidden = np.tanh((np.asarray(query) @ p["W"]["kernel"])[:, None] + np.asarray(keys)
                   @ p["U"]["kernel"] + p["U"]["bias"] + np.asarray(coverage)[..., None] * p["w_c"])
  chex.assert_trees_all_close(e, hidden @ p["v"], atol=1e-5)


def test_closed_form_normed_additive():
  """g · (v/‖v‖)ᵀ tanh(...) equals additive with v scaled to norm g."""
  normed = attention.make("normed_additive", **SETTINGS)
  query, keys = _random(1, B, Q), _random(2, B, T, Q)
  p = _init(normed, query, keys, _step())
  chex.assert_trees_all_close(p["g"], 0.5)  # 1/√units
  additive = attention.make("additive", **SETTINGS)
  as_additive = dict(W=p["W"], U=p["U"], v=p["g"] * p["v"] / jnp.linalg.norm(p["v"]))
  chex.assert_trees_all_close(_scores(normed, p, query, keys, _step()),
                              _scores(additive, as_additive, query, keys, _step()), atol=1e-5)


def test_closed_form_concat():
  """vᵀ tanh(W_a [s; h_j]) with the concatenation done explicitly."""
  module = attention.make("concat", **SETTINGS)
  query, keys = _random(1, B, Q), _random(2, B, T, Q)
  p = _np(_init(module, query, keys, _step()))
  assert "bias" not in p["U"]
  W_a = np.concatenate([p["W"]["kernel"], p["U"]["kernel"]], 0)
  both = np.concatenate([np.repeat(np.asarray(query)[:, None], T, 1), np.asarray(keys)], -1)
  chex.assert_trees_all_close(_scores(module, p, query, keys, _step()),
                              np.tanh(both @ W_a) @ p["v"], atol=1e-5)


def test_closed_form_course_mlp():
  """Hand-computed: e_j = relu(2 tanh(s + h_j)) with s = 0, h = (0, atanh(1/2), -1)."""
  module = attention.make("course_mlp", **dict(SETTINGS, units=1))
  params = {"W": {"kernel": jnp.ones((1, 1))},
            "U": {"kernel": jnp.ones((1, 1)), "bias": jnp.zeros(1)},
            "energy": {"kernel": 2 * jnp.ones((1, 1)), "bias": jnp.zeros(1)}}
  keys = jnp.array([[[0.0], [np.arctanh(0.5)], [-1.0]]])
  e = _scores(module, params, jnp.zeros((1, 1)), keys, _step(lengths=jnp.array([3])))
  chex.assert_trees_all_close(e, jnp.array([[0.0, 1.0, 0.0]]), atol=1e-6)


def test_course_mlp_with_the_energy_bias_starts_with_every_energy_positive():
  """b_w = 5 exceeds |w · tanh(.)| <= ‖w‖₁ at init, whatever the query and keys: no energy
  starts at relu's flat 0, where the attention dies."""
  module = attention.make("course_mlp", **dict(SETTINGS, units=10, energy_bias=5.0))
  query, keys = 10 * _random(1, B, Q), 10 * _random(2, B, T, Q)
  p = _np(_init(module, query, keys, _step()))
  assert np.abs(p["energy"]["kernel"]).sum() < p["energy"]["bias"][0] == 5.0
  assert (np.asarray(_scores(module, p, query, keys, _step())) > 0).all()


def test_course_mlp_equals_its_formula_on_random_parameters():
  module = attention.make("course_mlp", **SETTINGS)
  query, keys = _random(1, B, Q), _random(2, B, T, Q)
  p = _np(_init(module, query, keys, _step()))
  both = np.concatenate([np.repeat(np.asarray(query)[:, None], T, 1), np.asarray(keys)], -1)
  W = np.concatenate([p["W"]["kernel"], p["U"]["kernel"]], 0)
  hidden = np.tanh(both @ W + p["U"]["bias"])
  expected = np.maximum(hidden @ p["energy"]["kernel"] + p["energy"]["bias"], 0.0)[..., 0]
  chex.assert_trees_all_close(_scores(module, p, query, keys, _step()), expected, atol=1e-5)


def test_closed_form_dot():
  """dot equals general with W_a = I."""
  query, keys = _random(1, B, Q), _random(2, B, T, Q)
  dot = _scores(attention.make("dot", **SETTINGS), {}, query, keys, _step())
  general = _scores(attention.make("general", **SETTINGS), {"W_a": {"kernel": jnp.eye(Q)}},
                    query, keys, _step())
  chex.assert_trees_all_close(dot, general, atol=1e-5)
  chex.assert_trees_all_close(dot, jnp.sum(query[:, None, :] * keys, -1), atol=1e-5)


def test_closed_form_scaled_dot():
  query, keys = _random(1, B, Q), _random(2, B, T, Q)
  scaled = _scores(attention.make("scaled_dot", **SETTINGS), {}, query, keys, _step())
  dot = _scores(attention.make("dot", **SETTINGS), {}, query, keys, _step())
  chex.assert_trees_all_close(scaled, dot / np.sqrt(Q), atol=1e-6)


def test_closed_form_general():
  module = attention.make("general", **SETTINGS)
  query, keys = _random(1, B, Q), _random(2, B, T, Q)
  p = _np(_init(module, query, keys, _step()))
  expected = np.einsum("bq,qh,bth->bt", np.asarray(query), p["W_a"]["kernel"].T, np.asarray(keys))
  chex.assert_trees_all_close(_scores(module, p, query, keys, _step()), expected, atol=1e-5)


def test_closed_form_location():
  """α_t = softmax(W_a h_t + b) over the real positions, whatever the keys."""
  module = attention.make("location", **SETTINGS)
  query, keys = _random(1, B, Q), _random(2, B, T, Q)
  p = _np(_init(module, query, keys, _step()))
  expected = _softmax(np.asarray(query) @ p["W_a"]["kernel"] + p["W_a"]["bias"], MASK)
  chex.assert_trees_all_close(_weights(module, p, query, keys, _step()), expected, atol=1e-6)
  other_keys = _random(5, B, T, Q)
  chex.assert_trees_all_equal(_weights(module, p, query, keys, _step()),
                              _weights(module, p, query, other_keys, _step()))


@pytest.mark.parametrize("t", [0, 2, 7])
def test_closed_form_local_m(t):
  """The general score's softmax restricted to |j - min(t, N-1)| <= D."""
  module = attention.make("local_m", **SETTINGS)
  query, keys = _random(1, B, Q), _random(2, B, T, Q)
  p = _np(_init(module, query, keys, _step()))
  centre = np.minimum(t, np.asarray(LENGTHS) - 1)[:, None]
  window = np.abs(np.arange(T)[None, :] - centre) <= SETTINGS["window"]
  general = np.einsum("bq,btq->bt", np.asarray(query), np.asarray(keys) @ p["W_a"]["kernel"])
  expected = _softmax(general, window & np.asarray(MASK))
  weights = _weights(module, p, query, keys, _step(t=t))
  chex.assert_trees_all_close(weights, expected, atol=1e-6)
  assert np.all(np.asarray(weights)[~window] == 0.0)


def test_closed_form_local_p():
  """General score + log N(j; p_t, (D/2)²) inside |j - p_t| <= D; exactly 0 outside."""
  settings = dict(SETTINGS, window=2)
  module = attention.make("local_p", **settings)
  query, keys = _random(1, B, Q), 3 * _random(2, B, T, Q)
  p = _np(_init(module, query, keys, _step()))
  p_t = module.apply({"params": p}, query, LENGTHS, method=module.predicted_position)
  assert np.all((0 <= np.asarray(p_t)) & (np.asarray(p_t) <= np.asarray(LENGTHS) - 1))
  distance = np.arange(T)[None, :] - np.asarray(p_t)[:, None]
  window = np.abs(distance) <= 2
  general = np.einsum("bq,btq->bt", np.asarray(query), np.asarray(keys) @ p["W_a"]["kernel"])
  expected = _softmax(general - distance ** 2 / (2 * 1.0 ** 2), window & np.asarray(MASK))
  weights = _weights(module, p, query, keys, _step())
  chex.assert_trees_all_close(weights, expected, atol=1e-5)
  assert np.all(np.asarray(weights)[~window] == 0.0)


def test_make_gives_each_variant_exactly_the_settings_it_declares():
  """One call with every setting builds any variant: each takes the ones it declares (with
  their values) and ignores the rest; the result scores a batch."""
  settings = dict(units=7, query_size=Q, max_len=T, window=2, coverage=True, energy_bias=1.5)
  for name, cls in attention.REGISTRY.items():
    module = attention.make(name, **settings)
    assert type(module) is cls
    declared = {f.name for f in dataclasses.fields(cls)} & set(settings)
    assert {k: getattr(module, k) for k in declared} == {k: settings[k] for k in declared}
    query, keys = _random(1, B, Q), _random(2, B, T, Q)
    scores = _scores(module, _init(module, query, keys, _step()), query, keys, _step())
    chex.assert_shape(scores, (B, T))
  assert attention.make("additive", **settings).units == 7
  assert attention.make("local_m", **settings).window == 2
  assert attention.make("course_mlp", **settings).energy_bias == 1.5


def test_every_registered_score_has_a_closed_form_test():
  module = sys.modules[__name__]
  missing = [n for n in attention.REGISTRY if not hasattr(module, f"test_closed_form_{n}")]
  assert not missing, f"registered scores without a closed-form test: {missing}"

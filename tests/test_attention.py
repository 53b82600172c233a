"""Attention: masked softmax, the course score against its closed form, exact masking."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqattn.models import attention


def test_masked_softmax_sums_to_one_and_is_exactly_zero_on_padding():
  scores = jax.random.normal(jax.random.key(0), (4, 7)) * 5
  mask = jnp.arange(7)[None, :] < jnp.array([1, 3, 6, 7])[:, None]
  weights = attention.masked_softmax(scores, mask)
  chex.assert_trees_all_close(weights.sum(-1), jnp.ones(4), atol=1e-6)
  assert jnp.all(jnp.where(mask, True, weights == 0.0))


def test_attend_hand_computed():
  scores = jnp.array([[0.0, jnp.log(3.0), 100.0]])
  mask = jnp.array([[True, True, False]])
  values = jnp.array([[[1.0, 0.0], [0.0, 1.0], [7.0, 7.0]]])
  context, weights = attention.attend(scores, mask, values)
  chex.assert_trees_all_close(weights, jnp.array([[0.25, 0.75, 0.0]]), atol=1e-6)
  chex.assert_trees_all_close(context, jnp.array([[0.25, 0.75]]), atol=1e-6)


def _course_params(units=1):
  return {"query_proj": {"kernel": jnp.ones((1, units))},
          "key_proj": {"kernel": jnp.ones((1, units)), "bias": jnp.zeros(units)},
          "energy": {"kernel": 2 * jnp.ones((units, 1)), "bias": jnp.zeros(1)}}


def _score(module, params, query, keys):
  return module.apply({"params": params}, query, module.apply(
      {"params": params}, keys, method=module.project_keys))


def test_course_mlp_hand_computed():
  # e_j = relu(2 tanh(s + h_j)): s = 0, h = (0, atanh(1/2), -1) -> e = (0, 1, 0).
  module = attention.CourseMLP(units=1)
  keys = jnp.array([[[0.0], [np.arctanh(0.5)], [-1.0]]])
  e = _score(module, _course_params(), jnp.zeros((1, 1)), keys)
  chex.assert_trees_all_close(e, jnp.array([[0.0, 1.0, 0.0]]), atol=1e-6)


def test_course_mlp_equals_its_formula_on_random_parameters():
  module = attention.CourseMLP(units=5)
  k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
  query, keys = jax.random.normal(k1, (2, 4)), jax.random.normal(k2, (2, 6, 3))
  params = module.init(k3, keys, method=lambda m, k: m(query, m.project_keys(k)))["params"]
  e = _score(module, params, query, keys)
  p = jax.tree.map(np.asarray, params)
  w_s, w_h = p["query_proj"]["kernel"], p["key_proj"]["kernel"]
  b, w, b_w = p["key_proj"]["bias"], p["energy"]["kernel"], p["energy"]["bias"]
  hidden = np.tanh((np.asarray(query) @ w_s)[:, None, :] + np.asarray(keys) @ w_h + b)
  expected = np.maximum(hidden @ w + b_w, 0.0)[..., 0]
  chex.assert_trees_all_close(e, expected, atol=1e-5)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", sorted(attention.REGISTRY))
def test_every_score_masks_exactly(name, jit):
  """Weights sum to 1, are 0 on padding, and padding gets 0 gradient and changes nothing."""
  module = attention.make(name, units=4)
  k1, k2, k3 = jax.random.split(jax.random.key(2), 3)
  query, keys = jax.random.normal(k1, (3, 6)), jax.random.normal(k2, (3, 5, 6))
  mask = jnp.arange(5)[None, :] < jnp.array([2, 5, 4])[:, None]
  params = module.init(k3, keys, method=lambda m, k: m(query, m.project_keys(k)))["params"]

  def context_and_weights(keys):
    e = module.apply({"params": params}, query,
                     module.apply({"params": params}, keys, method=module.project_keys))
    return attention.attend(e, mask, keys)

  fn = jax.jit(context_and_weights) if jit else context_and_weights
  context, weights = fn(keys)
  chex.assert_shape([context, weights], [(3, 6), (3, 5)])
  chex.assert_trees_all_close(weights.sum(-1), jnp.ones(3), atol=1e-6)
  assert jnp.all(jnp.where(mask, True, weights == 0.0))

  noisy = jnp.where(mask[..., None], keys, 1e3 * jax.random.normal(k3, keys.shape))
  chex.assert_trees_all_equal(fn(noisy), (context, weights))

  grad = jax.grad(lambda k: jnp.sum(fn(k)[0] ** 2))(keys)
  assert jnp.all(jnp.where(mask[..., None], True, grad == 0.0))


def test_every_registered_score_has_a_closed_form_test():
  tested = {"course_mlp"}  # names with a hand-computed or formula test in this file
  assert set(attention.REGISTRY) <= tested, set(attention.REGISTRY) - tested

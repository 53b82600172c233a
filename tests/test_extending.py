"""Extending the library from outside it: a new attention score and a new recurrent cell, each
defined here and added with one registry line (docs/architecture.md, "Where a new thing
goes"), are accepted by the config, keep the encoder's padding invariance and train. A new task
is shown the same way in tests/test_tasks.py."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import CONFIGS, task_and_model
from seqattn.config import freeze, load_file, override
from seqattn.data.batching import train_batches
from seqattn.models import attention, cells, ends
from seqattn.models.encoders import Encoder
from seqattn.models.scores import Step
from seqattn.models.interface import init_params
from seqattn.training import step


class ProjectedDot(nn.Module):
  """e_tj = (W_q s)ᵀ (W_k h_j) / √d: both sides projected to d = units."""

  units: int

  def setup(self):
    self.W_q = nn.Dense(self.units, use_bias=False)
    self.W_k = nn.Dense(self.units, use_bias=False)

  def project_keys(self, keys_BxTxH):
    return self.W_k(keys_BxTxH)

  def __call__(self, query_BxQ, projected_BxTxD, step: Step):
    return jnp.einsum("bd,btd->bt", self.W_q(query_BxQ), projected_BxTxD) / jnp.sqrt(self.units)


def mgu_step(w: cells.Fused, h, x_BxI):
  """The minimal gated unit (Zhou et al. 2016), in the GRU's arrangement: f = σ(x_f + h W_hf),
  n = tanh(x_n + f (h W_hn + b_hn)), h_t = (1 - f) h_{t-1} + f n."""
  x_f, x_n = jnp.split(x_BxI @ w.W_x + w.b_x[None], 2, axis=-1)
  h_f, h_n = jnp.split(h @ w.W_h + w.b_h[None], 2, axis=-1)
  f = jax.nn.sigmoid(x_f + h_f)
  h = (1.0 - f) * h + f * jnp.tanh(x_n + f * h_n)
  return h, h


MGU = cells.Cell(gates=((("if", True), ("in", True)), (("hf", False), ("hn", True))),
                 step=mgu_step, cell_state=False, kernel_init=nn.initializers.lecun_normal(),
                 recurrent_kernel_init=nn.initializers.orthogonal(),
                 bias_init=nn.initializers.zeros_init())


@pytest.fixture
def registered(monkeypatch):
  monkeypatch.setitem(attention.REGISTRY, "projected_dot", ProjectedDot)  # the registry line
  monkeypatch.setitem(cells.CELLS, "mgu", MGU)  # the registry line


def test_the_new_score_computes_its_closed_form(registered):
  score = attention.make("projected_dot", units=4, query_size=6, max_len=5)  # make's settings
  query, keys = jax.random.normal(jax.random.key(0), (2, 6)), jax.random.normal(
      jax.random.key(1), (2, 5, 3))
  step_ = Step(jnp.array(0), jnp.array([5, 2]), jnp.zeros((2, 5)))
  scores = lambda m, q, k, s: m(q, m.project_keys(k), s)  # as the decoder calls a score
  params = score.init(jax.random.key(2), query, keys, step_, method=scores)
  e = score.apply(params, query, keys, step_, method=scores)
  p = params["params"]
  expected = np.einsum("bd,btd->bt", query @ p["W_q"]["kernel"], keys @ p["W_k"]["kernel"]) / 2
  np.testing.assert_allclose(e, expected, rtol=1e-5, atol=1e-6)


def test_an_encoder_of_the_new_cell_is_blind_to_padding(registered):
  lengths = jnp.array([6, 3], jnp.int32)
  ids = jax.random.randint(jax.random.key(0), (2, 6), 4, 10)
  encoder = Encoder(ends.Tokens(10), embed_dim=4, cell="mgu", units=5, bidirectional=True,
                    layers=1)
  params = encoder.init(jax.random.key(1), ids, lengths)
  h, _ = encoder.apply(params, ids, lengths)
  alone, _ = encoder.apply(params, ids[1:, :3], lengths[1:])
  np.testing.assert_allclose(h[1:, :3], alone, atol=1e-6)
  assert params["params"]["forward_cell_0"].keys() == {"if", "in", "hf", "hn"}


def test_a_model_of_the_new_score_and_cell_trains(registered):
  config = freeze(override(load_file(CONFIGS / "test.py"), {
      "model.attention": "projected_dot", "model.encoder_cell": "mgu",
      "model.decoder_cell": "mgu", "model.encoder_units": 8, "model.decoder_units": 16}))
  _, data, model = task_and_model(config)
  static = step.StepConfig(model, config.train, total_steps=10)
  state = step.create_state(init_params(model, jax.random.key(0)), static)
  batch = next(train_batches(data.train, 20, np.random.default_rng(0)))
  losses = []
  for _ in range(4):
    state, loss = step.update(state, batch, jax.random.key(1), static)
    losses.append(float(loss))
  assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses


def test_an_unregistered_name_is_refused_with_the_registered_ones():
  with pytest.raises(ValueError, match="'lstm', 'gru', 'simple'"):
    freeze(override(load_file(CONFIGS / "test.py"), {"model.encoder_cell": "mgu"}))

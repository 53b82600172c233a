"""Training: one compiled step, falling loss, same numbers from the same config."""

import dataclasses
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqattn import data, metrics, train


def test_train_step_is_traced_once_across_batches(tiny_config):
  task = data.load(tiny_config.data, tiny_config.seed)
  model = train.build_model(tiny_config, len(task.src_vocab), len(task.tgt_vocab))
  params = train.init_params(model, tiny_config, jax.random.key(0))
  state = train.create_state(model, params, tiny_config, total_steps=10)
  batches = train.train_batches(task.train, 40, np.random.default_rng(0))
  before = train.train_step._cache_size()
  losses = []
  for i, batch in enumerate(batches):
    state, loss = train.train_step(state, batch, jax.random.key(0))
    losses.append(float(loss))
    if i == 4:  # as after a log: the fresh sums must not change the signature
      state = train.reset_sums(state)
  assert len(losses) == 10
  assert train.train_step._cache_size() == before + 1
  assert losses[-1] < losses[0]


def test_a_short_run_lowers_the_loss_and_is_reproducible(tiny_config, tmp_path):
  results = train.train_and_evaluate(tiny_config, tmp_path / "a", progress=False)
  log = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").open()]
  train_losses = [r["train_loss"] for r in log if "train_loss" in r]
  val_losses = [r["val_loss"] for r in log if "val_loss" in r]
  assert all(b < a for a, b in zip(train_losses, train_losses[1:])), train_losses
  assert train_losses[-1] < 0.9 * train_losses[0]
  assert val_losses[-1] < 0.9 * val_losses[0]
  assert results["test_examples"] == tiny_config.data.n_test
  for name in ("config.json", "src_vocab.json", "tgt_vocab.json", "results.json"):
    assert (tmp_path / "a" / name).exists()

  train.train_and_evaluate(tiny_config, tmp_path / "b", progress=False)
  strip = lambda p: [{k: v for k, v in json.loads(l).items() if k != "seconds"} for l in p.open()]
  assert strip(tmp_path / "a" / "metrics.jsonl") == strip(tmp_path / "b" / "metrics.jsonl")


def test_schedules_start_at_the_configured_rate(tiny_config):
  for schedule in ("constant", "cosine", "exponential", "inverse_time"):
    cfg = dataclasses.replace(tiny_config.train, schedule=schedule, warmup_steps=0,
                              decay_rate=0.5)
    lr = train.learning_rate(cfg, total_steps=100)
    chex.assert_trees_all_close(lr(0), cfg.learning_rate, rtol=1e-6)
    assert float(lr(99)) <= float(lr(0))
  warm = train.learning_rate(dataclasses.replace(tiny_config.train, warmup_steps=10), 100)
  assert float(warm(0)) == 0.0
  chex.assert_trees_all_close(warm(10), tiny_config.train.learning_rate, rtol=1e-6)


def test_scheduled_sampling_schedules():
  import jax.numpy as jnp
  key = jax.random.key(0)
  assert train.scheduled_sampling("off", 1.0, jnp.int32(5), key) is None
  for kind, k, step, gold in [("linear", 100.0, 25, 0.75), ("linear", 100.0, 250, 0.0),
                              ("exponential", 0.99, 10, 0.99 ** 10),
                              ("inverse_sigmoid", 10.0, 20, 10 / (10 + np.exp(2.0)))]:
    sampling = train.scheduled_sampling(kind, k, jnp.int32(step), key)
    chex.assert_trees_all_close(sampling.probability, 1.0 - gold, atol=1e-6)


@pytest.mark.parametrize("overrides, step, factor", [
    (dict(schedule="inverse_time", decay_rate=0.01, decay_steps=1), 100, 1 / 2),  # the course's
    (dict(schedule="inverse_time", decay_rate=1.0, decay_steps=10), 30, 1 / 4),
    (dict(schedule="exponential", decay_rate=0.5, decay_steps=10), 20, 1 / 4),
    (dict(schedule="cosine", warmup_steps=20), 100, 0.0),  # cosine to 0 at the end
    (dict(schedule="cosine", warmup_steps=20), 60, 1 / 2),
    (dict(schedule="rsqrt", warmup_steps=10), 10, 1.0),  # sqrt(warmup / step) after warmup
    (dict(schedule="rsqrt", warmup_steps=10), 40, 1 / 2),
    (dict(schedule="rsqrt", warmup_steps=10), 5, 1 / 2),  # half-way through warmup
])
def test_schedules_follow_their_formulas(tiny_config, overrides, step, factor):
  cfg = dataclasses.replace(tiny_config.train, **overrides)
  chex.assert_trees_all_close(train.learning_rate(cfg, total_steps=100)(step),
                              factor * cfg.learning_rate, rtol=1e-6, atol=1e-9)


def _first_update(cfg, params, grads):
  tx = train.optimizer(cfg, total_steps=100)
  updates, _ = tx.update(grads, tx.init(params), params)
  return updates


def test_weight_decay_of_each_optimiser_on_zero_gradients(tiny_config):
  params = {"w": jnp.array([1.0, -2.0])}
  zero = {"w": jnp.zeros(2)}
  lr, decay = tiny_config.train.learning_rate, 0.1
  for optimizer, expected in [("adam", 0.0), ("adamw", -lr * decay), ("sgd", -lr * decay)]:
    cfg = dataclasses.replace(tiny_config.train, optimizer=optimizer,
                              weight_decay=0.0 if optimizer == "adam" else decay, momentum=0.9)
    chex.assert_trees_all_close(_first_update(cfg, params, zero),
                                {"w": expected * params["w"]}, rtol=1e-6)


def test_clipping_bounds_the_update_of_sgd(tiny_config):
  cfg = dataclasses.replace(tiny_config.train, optimizer="sgd", grad_clip_norm=1.0)
  update = _first_update(cfg, {"w": jnp.zeros(2)}, {"w": jnp.array([30.0, 40.0])})
  chex.assert_trees_all_close(update, {"w": -cfg.learning_rate * jnp.array([0.6, 0.8])},
                              rtol=1e-6)


@pytest.mark.parametrize("optimizer, changes", [
    ("adam", dict(grad_clip_norm=1.0)), ("adamw", dict(weight_decay=0.1)),
    ("sgd", dict(momentum=0.9, weight_decay=0.1, grad_clip_norm=1.0))])
def test_optimiser_state_does_not_depend_on_clipping_momentum_or_decay(tiny_config, optimizer,
                                                                       changes):
  # So that a run can go on (--force) from a checkpoint after one of these is changed.
  params = {"w": jnp.ones(3)}
  base = dataclasses.replace(tiny_config.train, optimizer=optimizer)
  structure = lambda cfg: jax.tree.structure(train.optimizer(cfg, 100).init(params))
  assert structure(base) == structure(dataclasses.replace(base, **changes))


def test_label_smoothing_is_cross_entropy_with_the_smoothed_distribution():
  logits_BxTxV = jnp.array([[[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 0.0, 0.0]]])
  targets_BxT = jnp.array([[2, 0]])  # the second is padding
  weights_B = jnp.ones(1)
  loss, tokens = metrics.cross_entropy(logits_BxTxV, targets_BxT, weights_B, 0.2)
  q_V = jnp.array([0.05, 0.05, 0.85, 0.05])
  chex.assert_trees_all_close(loss, -jnp.sum(q_V * jax.nn.log_softmax(logits_BxTxV[0, 0])),
                              rtol=1e-6)
  assert float(tokens) == 1.0
  plain, _ = metrics.cross_entropy(logits_BxTxV, targets_BxT, weights_B)
  chex.assert_trees_all_close(plain, -jax.nn.log_softmax(logits_BxTxV[0, 0])[2], rtol=1e-6)

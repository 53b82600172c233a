"""Training: one compiled step, falling loss, same numbers from the same config."""

import dataclasses
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import task_and_model
from seqattn.measures import metrics
from seqattn.data.batching import train_batches
from seqattn.models import ends
from seqattn.models.interface import init_params
from seqattn.training import optim, run, step


def test_train_step_is_traced_once_across_batches_and_seeds(tiny_config):
  _, data, model = task_and_model(tiny_config)
  counted = jax.jit(chex.assert_max_traces(step.update, n=1), static_argnames="static",
                    donate_argnums=0)
  losses = []
  for seed in (0, 1):  # a new seed and a new (equal) StepConfig: still the same program
    static = step.StepConfig(model, tiny_config.train, total_steps=10)
    state = step.create_state(init_params(model, jax.random.key(seed)), static)
    for i, batch in enumerate(train_batches(data.train, 40, np.random.default_rng(seed))):
      state, loss = counted(state, batch, jax.random.key(0), static=static)  # a retrace raises
      losses.append(float(loss))
      if i == 4:  # as after a log: the fresh sums must not change the signature
        state = step.reset_sums(state)
  assert len(losses) == 20
  assert losses[9] < losses[0] and losses[19] < losses[10]


def test_the_logged_attention_gradient_is_zero_exactly_when_the_attention_is_dead(tiny_config):
  """The course's relu energies below 0 everywhere (b_w = -100) give uniform weights and no
  gradient to the attention: the step's attention_grad_norm is 0, while the loss still has a
  gradient; with the live default (b_w = 5) the norm is positive."""
  _, data, model = task_and_model(tiny_config)
  static = step.StepConfig(model, tiny_config.train, total_steps=10)
  params = init_params(model, jax.random.key(0))
  dead = jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.full_like(x, -100.0) if "energy" in jax.tree_util.keystr(path)
      and "bias" in jax.tree_util.keystr(path) else x, params)
  changed = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(dead),
                                                      jax.tree.leaves(params))]
  assert sum(changed) == 1  # the energy's bias, found
  batch = next(train_batches(data.train, 40, np.random.default_rng(0)))
  norms, update = {}, jax.jit(step.update, static_argnames="static")  # one program for both
  for name, p in dict(live=params, dead=dead).items():
    state, loss = update(step.create_state(p, static), batch, jax.random.key(0), static=static)
    norms[name] = float(state.sums["attention_grad_norm"])
    assert np.isfinite(float(loss)) and int(state.sums["finite"]) == 1
  assert norms["dead"] == 0.0 and norms["live"] > 1e-6, norms


def test_initialisation_is_compiled_once_for_every_seed(tiny_config):
  _, _, model = task_and_model(tiny_config)
  counted = jax.jit(chex.assert_max_traces(init_params.__wrapped__, n=1), static_argnums=0)
  first, second = counted(model, jax.random.key(0)), counted(model, jax.random.key(1))
  assert not np.allclose(first["decoder"]["readout"]["kernel"],
                         second["decoder"]["readout"]["kernel"])


def test_a_short_run_lowers_the_loss_and_is_reproducible(tiny_config, tmp_path):
  results = run.train_and_evaluate(tiny_config, tmp_path / "a", progress=False)
  log = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").open()]
  train_losses = [r["train_loss"] for r in log if "train_loss" in r]
  val_losses = [r["val_loss"] for r in log if "val_loss" in r]
  assert all(b < a for a, b in zip(train_losses, train_losses[1:])), train_losses
  assert train_losses[-1] < 0.9 * train_losses[0]
  assert val_losses[-1] < 0.9 * val_losses[0]
  assert results["test_examples"] == tiny_config.data.n_test
  for name in ("config.json", "src_vocab.json", "tgt_vocab.json", "results.json"):
    assert (tmp_path / "a" / name).exists()

  run.train_and_evaluate(tiny_config, tmp_path / "b", progress=False)
  strip = lambda p: [{k: v for k, v in json.loads(l).items() if k != "seconds"} for l in p.open()]
  assert strip(tmp_path / "a" / "metrics.jsonl") == strip(tmp_path / "b" / "metrics.jsonl")


def test_a_time_budget_stops_the_run_and_says_so(tiny_config, tmp_path):
  config = dataclasses.replace(tiny_config, train=dataclasses.replace(
      tiny_config.train, time_budget_minutes=1e-4, test_checkpoint="best"))
  results = run.train_and_evaluate(config, tmp_path, progress=False)
  log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
  assert results["stopped_by_time_budget"] and results["step"] == 1
  assert [r["step"] for r in log] == [1] and results["tested_step"] == 1
  again = run.train_and_evaluate(config, tmp_path, progress=False)  # resumed: nothing more
  assert again["step"] == 1 and again["stopped_by_time_budget"]


def test_schedules_start_at_the_configured_rate(tiny_config):
  for schedule in ("constant", "cosine", "exponential", "inverse_time"):
    cfg = dataclasses.replace(tiny_config.train, schedule=schedule, warmup_steps=0,
                              decay_rate=0.5)
    lr = optim.learning_rate(cfg, total_steps=100)
    chex.assert_trees_all_close(lr(0), cfg.learning_rate, rtol=1e-6)
    assert float(lr(99)) <= float(lr(0))
  warm = optim.learning_rate(dataclasses.replace(tiny_config.train, warmup_steps=10), 100)
  assert float(warm(0)) == 0.0
  chex.assert_trees_all_close(warm(10), tiny_config.train.learning_rate, rtol=1e-6)


def test_scheduled_sampling_schedules(tiny_config):
  key = jax.random.key(0)
  with_schedule = lambda kind, k: dataclasses.replace(
      tiny_config.train, scheduled_sampling=kind.removesuffix("_with_floor"), sampling_k=k,
      sampling_floor=0.2 if kind.endswith("_with_floor") else 0.0)
  assert step.scheduled_sampling(with_schedule("off", 1.0), jnp.int32(5), key) is None
  for kind, k, i, gold in [("linear", 100.0, 25, 0.75), ("linear", 100.0, 250, 0.0),
                           ("linear_with_floor", 100.0, 250, 0.2),
                           ("exponential", 0.99, 10, 0.99 ** 10),
                           ("inverse_sigmoid", 10.0, 20, 10 / (10 + np.exp(2.0)))]:
    sampling = step.scheduled_sampling(with_schedule(kind, k), jnp.int32(i), key)
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
  chex.assert_trees_all_close(optim.learning_rate(cfg, total_steps=100)(step),
                              factor * cfg.learning_rate, rtol=1e-6, atol=1e-9)


def _first_update(cfg, params, grads):
  tx = optim.optimizer(cfg, total_steps=100)
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
  structure = lambda cfg: jax.tree.structure(optim.optimizer(cfg, 100).init(params))
  assert structure(base) == structure(dataclasses.replace(base, **changes))


def test_label_smoothing_is_cross_entropy_with_the_smoothed_distribution():
  logits_BxTxV = jnp.array([[[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 0.0, 0.0]]])
  targets_BxT = jnp.array([[2, 0]])  # the second is padding
  weights_B = jnp.ones(1)
  loss, tokens = metrics.loss_sums(ends.Tokens(4), logits_BxTxV, targets_BxT, weights_B, 0.2)
  q_V = jnp.array([0.05, 0.05, 0.85, 0.05])
  chex.assert_trees_all_close(loss, -jnp.sum(q_V * jax.nn.log_softmax(logits_BxTxV[0, 0])),
                              rtol=1e-6)
  assert float(tokens) == 1.0
  plain, _ = metrics.loss_sums(ends.Tokens(4), logits_BxTxV, targets_BxT, weights_B)
  chex.assert_trees_all_close(plain, -jax.nn.log_softmax(logits_BxTxV[0, 0])[2], rtol=1e-6)

"""Training: one compiled step, falling loss, same numbers from the same config."""

import json

import chex
import jax
import numpy as np

from seqattn import data, train


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
  import dataclasses
  for schedule in ("constant", "cosine", "inverse_time"):
    cfg = dataclasses.replace(tiny_config.train, schedule=schedule, warmup_steps=0)
    lr = train.learning_rate(cfg, total_steps=100)
    chex.assert_trees_all_close(lr(0), cfg.learning_rate, rtol=1e-6)
    assert float(lr(99)) <= float(lr(0))
  inverse = train.learning_rate(dataclasses.replace(tiny_config.train, schedule="inverse_time",
                                                     decay_rate=0.01, warmup_steps=0), 100)
  chex.assert_trees_all_close(inverse(100), tiny_config.train.learning_rate / 2, rtol=1e-6)
  warm = train.learning_rate(dataclasses.replace(tiny_config.train, warmup_steps=10), 100)
  assert float(warm(0)) == 0.0
  chex.assert_trees_all_close(warm(10), tiny_config.train.learning_rate, rtol=1e-6)

"""Training and evaluation: one jitted train step, masked metrics, logs in the workdir."""

from __future__ import annotations

import functools
import json
import pathlib
import time
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm
from flax.training import train_state

from seqattn import alignment, checkpoint, data, decode, metrics
from seqattn.config import Config, DecodeConfig, TrainConfig
from seqattn.data.batching import Batch, Split, eval_batches, train_batches
from seqattn.data.vocab import BOS_ID
from seqattn.models.decoders import Sampling
from seqattn.models.seq2seq import Seq2Seq


class TrainState(train_state.TrainState):
  pass


def build_model(config: Config, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
  return Seq2Seq(config.model, src_vocab_size, tgt_vocab_size, config.data.max_input_len)


def learning_rate(cfg: TrainConfig, total_steps: int) -> optax.Schedule:
  """The configured schedule, with an optional linear warmup."""
  peak = cfg.learning_rate
  decay_steps = max(total_steps - cfg.warmup_steps, 1)
  if cfg.schedule == "constant":
    after = optax.constant_schedule(peak)
  elif cfg.schedule == "cosine":
    after = optax.cosine_decay_schedule(peak, decay_steps)
  else:  # inverse_time: Keras' legacy `decay`, lr / (1 + decay_rate * step)
    after = lambda step: peak / (1.0 + cfg.decay_rate * step)
  if cfg.warmup_steps == 0:
    return after
  return optax.join_schedules(
      [optax.linear_schedule(0.0, peak, cfg.warmup_steps), after], [cfg.warmup_steps])


def optimizer(cfg: TrainConfig, total_steps: int) -> optax.GradientTransformation:
  adam = optax.adam(learning_rate(cfg, total_steps), b1=cfg.b1, b2=cfg.b2)
  if cfg.grad_clip_norm > 0:
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), adam)
  return adam


def example_inputs(config: Config) -> tuple[jax.Array, jax.Array, jax.Array]:
  """A one-example (inputs, lengths, decoder inputs) batch: all that initialisation needs."""
  tx_len, ty_len = config.data.max_input_len, config.data.max_target_len
  return (jnp.ones((1, tx_len), jnp.int32), jnp.full((1,), tx_len, jnp.int32),
          jnp.ones((1, ty_len), jnp.int32))


def init_params(model: nn.Module, config: Config, key: jax.Array):
  # Runs once and only its outputs matter: compile it fast rather than make it run fast.
  init = jax.jit(model.init, compiler_options={"xla_backend_optimization_level": 0})
  return init(key, *example_inputs(config))["params"]


def create_state(model: nn.Module, params, config: Config, total_steps: int) -> TrainState:
  state = TrainState.create(apply_fn=model.apply, params=params,
                            tx=optimizer(config.train, total_steps))
  # An array step (not the Python int 0) keeps the first call's signature equal to the rest.
  return state.replace(step=jnp.zeros((), jnp.int32))


def abstract_state(model: nn.Module, config: Config, total_steps: int) -> TrainState:
  """Shapes and dtypes of the train state, computed without initialising anything."""
  params = jax.eval_shape(model.init, jax.random.key(0), *example_inputs(config))["params"]
  return jax.eval_shape(lambda p: create_state(model, p, config, total_steps), params)


def forward(params, apply_fn, batch: Batch, dropout_key: jax.Array | None = None,
            sampling: Sampling | None = None):
  """Teacher-forced (logits_BxTyxV, α_BxTyxTx); dropout is on iff a key is given."""
  return apply_fn({"params": params}, batch["inputs"], batch["input_lengths"],
                  shift_right(batch["targets"]), deterministic=dropout_key is None,
                  sampling=sampling,
                  rngs={} if dropout_key is None else {"dropout": dropout_key})


def scheduled_sampling(cfg: TrainConfig, step: jax.Array, key: jax.Array) -> Sampling | None:
  """Bengio et al. 2015: the gold token is kept with probability ε_i at step i."""
  if cfg.scheduled_sampling == "off":
    return None
  i, k = step.astype(jnp.float32), cfg.sampling_k
  gold = {"linear": lambda: jnp.maximum(0.0, 1.0 - i / k),
          "exponential": lambda: k ** i,
          "inverse_sigmoid": lambda: k / (k + jnp.exp(i / k))}[cfg.scheduled_sampling]()
  return Sampling(1.0 - gold, key)


def shift_right(targets_BxT: jax.Array) -> jax.Array:
  """Decoder inputs y_0..y_{T-1} for targets y_1..y_T: `<bos>` first, the last target dropped."""
  bos_Bx1 = jnp.full_like(targets_BxT[:, :1], BOS_ID)
  return jnp.concatenate([bos_Bx1, targets_BxT[:, :-1]], axis=1)


def loss_fn(params, apply_fn, batch: Batch, dropout_key: jax.Array | None = None,
            sampling: Sampling | None = None):
  logits, _ = forward(params, apply_fn, batch, dropout_key, sampling)
  loss_sum, tokens = metrics.cross_entropy(logits, batch["targets"], batch["weights"])
  return loss_sum / tokens


@functools.partial(jax.jit, static_argnums=3, donate_argnums=0)
def train_step(state: TrainState, batch: Batch, key: jax.Array,
               cfg: TrainConfig) -> tuple[TrainState, jax.Array]:
  """One optimiser update on one batch; `key` drives dropout and scheduled sampling.

  Returns (new state, mean token loss).
  """
  dropout_key, sampling_key = jax.random.split(jax.random.fold_in(key, state.step))
  sampling = scheduled_sampling(cfg, state.step, sampling_key)
  loss, grads = jax.value_and_grad(loss_fn)(state.params, state.apply_fn, batch, dropout_key,
                                            sampling)
  return state.apply_gradients(grads=grads), loss


@functools.partial(jax.jit, static_argnums=(0, 3))
def eval_step(model: nn.Module, params, batch: Batch, search: DecodeConfig):
  """One batch: (summable counts, [B] exact flags, teacher-forced α [B, Ty, Tx])."""
  logits, alpha = forward(params, model.apply, batch)
  predictions = decode.search(model, params, batch["inputs"], batch["input_lengths"],
                              batch["targets"].shape[1], search).tokens_BxKxT[:, 0]
  return (metrics.counts(logits, predictions, batch["targets"], batch["weights"]),
          metrics.exact(predictions, batch["targets"]), alpha)


class Evaluation(NamedTuple):
  metrics: dict[str, float]  # loss, token_accuracy, exact_match, examples
  exact_N: np.ndarray  # per example, decoded with the configured search
  alpha_NxTxS: np.ndarray  # teacher-forced attention per example


def evaluate(model: nn.Module, params, split: Split, batch_size: int,
             search: DecodeConfig) -> Evaluation:
  """Metrics over a whole split, decoding with `search`."""
  sums, exact, alpha = None, [], []
  for batch in eval_batches(split, batch_size):
    counts, exact_B, alpha_BxTxS = eval_step(model, params, batch, search)
    sums = counts if sums is None else jax.tree.map(jnp.add, sums, counts)
    exact.append(exact_B)
    alpha.append(alpha_BxTxS)
  n = len(split)
  return Evaluation(metrics.summarise({k: float(v) for k, v in sums.items()}),
                    np.concatenate(jax.device_get(exact))[:n],
                    np.concatenate(jax.device_get(alpha))[:n])


def report(evaluation: Evaluation, task: data.TaskData) -> dict[str, Any]:
  """Alignment measures against the gold links and exact match by source length."""
  sure, possible = alignment.gold(task.test_examples, *evaluation.alpha_NxTxS.shape[1:])
  by_length: dict[int, list[int]] = {}
  for length, ok in zip(task.test.input_lengths.tolist(), evaluation.exact_N.tolist()):
    by_length.setdefault(length, [0, 0])
    by_length[length][0] += ok
    by_length[length][1] += 1
  return dict(alignment=alignment.scores(evaluation.alpha_NxTxS, sure, possible),
              exact_by_length={n: by_length[n] for n in sorted(by_length)})


def root_keys(seed: int) -> dict[str, jax.Array]:
  """One root key from the config seed, split once into its uses."""
  init, shuffle, dropout = jax.random.split(jax.random.key(seed), 3)
  return dict(init=init, shuffle=shuffle, dropout=dropout)


def epoch_rng(shuffle_key: jax.Array, epoch: int) -> np.random.Generator:
  """The shuffling generator of one epoch: a function of the seed and the epoch alone."""
  bits = jax.random.bits(jax.random.fold_in(shuffle_key, epoch), (2,), jnp.uint32)
  return np.random.default_rng(np.asarray(bits))


def write_workdir_files(workdir: pathlib.Path, config: Config, task: data.TaskData) -> None:
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "config.json").write_text(config.to_json())
  (workdir / "src_vocab.json").write_text(task.src_vocab.to_json())
  (workdir / "tgt_vocab.json").write_text(task.tgt_vocab.to_json())


def _log(path: pathlib.Path, record: dict[str, Any]) -> None:
  with path.open("a") as f:
    f.write(json.dumps(record) + "\n")


def train_and_evaluate(config: Config, workdir: str | pathlib.Path,
                       progress: bool = True) -> dict[str, Any]:
  """Trains `config` from scratch in `workdir`, evaluates on the test split, saves everything.

  Returns the final metrics (also in `<workdir>/results.json`).
  """
  start = time.perf_counter()
  workdir = pathlib.Path(workdir)
  task = data.load(config.data, config.seed)
  write_workdir_files(workdir, config, task)
  log_path = workdir / "metrics.jsonl"
  log_path.write_text("")

  cfg = config.train
  steps_per_epoch = len(task.train) // cfg.batch_size
  if steps_per_epoch == 0:
    raise ValueError(f"train.batch_size={cfg.batch_size} exceeds the {len(task.train)} "
                     f"training examples; lower it or raise data.n_train.")
  total_steps = steps_per_epoch * cfg.num_epochs
  keys = root_keys(config.seed)
  model = build_model(config, len(task.src_vocab), len(task.tgt_vocab))
  state = create_state(model, init_params(model, config, keys["init"]), config, total_steps)

  step, losses = 0, []
  bar = tqdm.tqdm(total=total_steps, disable=not progress, unit="step", dynamic_ncols=True)
  for epoch in range(cfg.num_epochs):
    for batch in train_batches(task.train, cfg.batch_size, epoch_rng(keys["shuffle"], epoch)):
      state, loss = train_step(state, batch, keys["dropout"], cfg)
      losses.append(loss)  # stays on the device: no host round-trip per step
      step += 1
      bar.update()
      if step % cfg.eval_every_steps == 0 or step == total_steps:
        train_loss = float(jnp.mean(jnp.stack(losses)))
        losses = []
        if not np.isfinite(train_loss):
          raise FloatingPointError(
              f"the training loss became {train_loss} by step {step}; lower "
              f"train.learning_rate or set train.grad_clip_norm (e.g. 1.0) and rerun.")
        val = evaluate(model, state.params, task.val, cfg.eval_batch_size,
                       config.decode).metrics
        record = dict(step=step, epoch=epoch + 1, train_loss=train_loss,
                      **{f"val_{k}": v for k, v in val.items()},
                      seconds=time.perf_counter() - start)
        _log(log_path, record)
        bar.set_postfix(loss=f"{train_loss:.4f}", val_exact=f"{val['exact_match']:.4f}")
  bar.close()

  checkpoint.save(workdir, step, state)
  test = evaluate(model, state.params, task.test, cfg.eval_batch_size, config.decode)
  results = dict(step=step, **{f"test_{k}": v for k, v in test.metrics.items()},
                 seconds=time.perf_counter() - start,
                 parameters=sum(x.size for x in jax.tree.leaves(state.params)),
                 **report(test, task))
  _log(log_path, results)
  (workdir / "results.json").write_text(json.dumps(results, indent=2))
  return results

"""Training and evaluation: one jitted train step, checkpoints with exact resume, logs, guards.

A run in a workdir that holds checkpoints continues from the latest one: the train state, the
PRNG keys and the data position (epoch, batch) come back, so the resumed run computes what the
uninterrupted one would have, bit for bit. SIGINT and SIGTERM save a checkpoint before exiting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import pathlib
import signal
import time
from typing import Any, Iterator, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm
from flax import struct
from flax.training import train_state

from seqattn import alignment, checkpoint, data, decode, logs, metrics, workdirs
from seqattn.config import Config, DecodeConfig, TrainConfig
from seqattn.data.batching import Batch, Split, eval_batches, train_batches
from seqattn.data.vocab import BOS_ID
from seqattn.models.decoders import Sampling
from seqattn.models.seq2seq import Seq2Seq


class NonFiniteError(FloatingPointError):
  """A non-finite loss or gradient stopped the run; the message names the step."""


class Interrupted(Exception):
  """SIGINT or SIGTERM stopped the run after a checkpoint was saved."""

  def __init__(self, signum: int, step: int, path: pathlib.Path):
    super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint "
                     f"saved in {path}. Rerun the same command to resume.")
    self.signum = signum


class TrainState(train_state.TrainState):
  """Flax's train state plus what the step adds up between two logs.

  sums: on-device sums over the steps since the last log, so that no step waits for the host
    and a resumed run logs what an uninterrupted one would: loss (f32, over finite steps),
    finite and nonfinite (i32 step counts), first_nonfinite (i32 step, 0: none).
  label_smoothing: of the training loss (static).
  scheduled_sampling, sampling_k: train.scheduled_sampling's schedule (static).
  """

  sums: dict[str, jax.Array]
  label_smoothing: float = struct.field(pytree_node=False, default=0.0)
  scheduled_sampling: str = struct.field(pytree_node=False, default="off")
  sampling_k: float = struct.field(pytree_node=False, default=1.0)


def on_device(tree):
  """`tree` committed to the default device, as a restored checkpoint is.

  A fresh, a restored and a reset state then give the jitted step one signature (committed and
  uncommitted arguments compile apart), so a resumed run runs the same executable.
  """
  return jax.device_put(tree, jax.devices()[0])


def reset_sums(state: TrainState) -> TrainState:
  sums = dict(loss=jnp.zeros((), jnp.float32), finite=jnp.zeros((), jnp.int32),
              nonfinite=jnp.zeros((), jnp.int32), first_nonfinite=jnp.zeros((), jnp.int32))
  return state.replace(sums=on_device(sums))


def build_model(config: Config, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
  return Seq2Seq(config.model, src_vocab_size, tgt_vocab_size, config.data.max_input_len)


def learning_rate(cfg: TrainConfig, total_steps: int) -> optax.Schedule:
  """The configured schedule after an optional linear warmup from 0 to `cfg.learning_rate`.

  After warmup the schedule sees the steps since warmup ended (optax.join_schedules).
  """
  peak, warmup = cfg.learning_rate, cfg.warmup_steps
  if cfg.schedule == "constant":
    after = optax.constant_schedule(peak)
  elif cfg.schedule == "cosine":
    after = optax.cosine_decay_schedule(peak, max(total_steps - warmup, 1))
  elif cfg.schedule == "rsqrt":  # peak * sqrt(warmup / step) at step = warmup + s
    after = lambda s: peak * jax.lax.rsqrt(1.0 + s / warmup)
  elif cfg.schedule == "exponential":
    after = optax.exponential_decay(peak, cfg.decay_steps, cfg.decay_rate)
  else:  # inverse_time: Keras' InverseTimeDecay (the course's `decay`: decay_steps=1)
    after = lambda s: peak / (1.0 + cfg.decay_rate * s / cfg.decay_steps)
  if warmup == 0:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), after], [warmup])


def optimizer(cfg: TrainConfig, total_steps: int) -> optax.GradientTransformation:
  """Clipping (or not), then the optimiser with its schedule and weight decay.

  The chain has the same optimiser state whatever the clipping norm, momentum or decay, so a
  run can go on (--force) from a checkpoint with a changed value of these.
  """
  lr = learning_rate(cfg, total_steps)
  if cfg.optimizer == "adam":
    base = optax.adam(lr, b1=cfg.b1, b2=cfg.b2)
  elif cfg.optimizer == "adamw":
    base = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
  else:  # sgd: weight decay as an L2 term in the gradient, as in torch.optim.SGD
    base = optax.chain(optax.add_decayed_weights(cfg.weight_decay),
                       optax.sgd(lr, momentum=cfg.momentum))
  clip = optax.clip_by_global_norm(cfg.grad_clip_norm) if cfg.grad_clip_norm else optax.identity()
  return optax.chain(clip, base)


def example_inputs(config: Config) -> tuple[jax.Array, jax.Array, jax.Array]:
  """A one-example (inputs, lengths, decoder inputs) batch: all that initialisation needs."""
  tx_len, ty_len = config.data.max_input_len, config.data.max_target_len
  return (jnp.ones((1, tx_len), jnp.int32), jnp.full((1,), tx_len, jnp.int32),
          jnp.ones((1, ty_len), jnp.int32))


# Runs once a model and only its outputs matter: compile it fast rather than make it run fast.
# Jitted once here (not per call), so that more seeds of one model compile it once.
@functools.partial(jax.jit, static_argnums=(0, 1),
                   compiler_options={"xla_backend_optimization_level": 0})
def init_params(model: nn.Module, config: Config, key: jax.Array):
  return model.init(key, *example_inputs(config))["params"]


def create_state(model: nn.Module, params, config: Config, total_steps: int) -> TrainState:
  state = TrainState.create(apply_fn=model.apply, params=params,
                            tx=optimizer(config.train, total_steps), sums={},
                            label_smoothing=config.train.label_smoothing,
                            scheduled_sampling=config.train.scheduled_sampling,
                            sampling_k=config.train.sampling_k)
  # An array step (not the Python int 0) keeps the first call's signature equal to the rest.
  return on_device(reset_sums(state.replace(step=jnp.zeros((), jnp.int32))))


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


def scheduled_sampling(kind: str, k: float, step: jax.Array,
                       key: jax.Array) -> Sampling | None:
  """Bengio et al. 2015: at step i the gold token is kept with probability ε_i:
  linear max(0, 1 - i/k), exponential k^i, inverse_sigmoid k / (k + exp(i/k)); None when off."""
  if kind == "off":
    return None
  i = step.astype(jnp.float32)
  gold = {"linear": lambda: jnp.maximum(0.0, 1.0 - i / k),
          "exponential": lambda: k ** i,
          "inverse_sigmoid": lambda: k / (k + jnp.exp(i / k))}[kind]()
  return Sampling(1.0 - gold, key)


def shift_right(targets_BxT: jax.Array) -> jax.Array:
  """Decoder inputs y_0..y_{T-1} for targets y_1..y_T: `<bos>` first, the last target dropped."""
  bos_Bx1 = jnp.full_like(targets_BxT[:, :1], BOS_ID)
  return jnp.concatenate([bos_Bx1, targets_BxT[:, :-1]], axis=1)


def loss_fn(params, apply_fn, batch: Batch, dropout_key: jax.Array | None = None,
            label_smoothing: float = 0.0, sampling: Sampling | None = None):
  logits, _ = forward(params, apply_fn, batch, dropout_key, sampling)
  loss_sum, tokens = metrics.cross_entropy(logits, batch["targets"], batch["weights"],
                                           label_smoothing)
  return loss_sum / tokens


def add_step(sums: dict[str, jax.Array], loss: jax.Array, finite: jax.Array,
             step: jax.Array) -> dict[str, jax.Array]:
  """`sums` with one more step (numbered `step`) of loss `loss` added."""
  first_bad = (sums["first_nonfinite"] == 0) & ~finite
  return dict(loss=sums["loss"] + jnp.where(finite, loss, 0.0),
              finite=sums["finite"] + finite.astype(jnp.int32),
              nonfinite=sums["nonfinite"] + (~finite).astype(jnp.int32),
              first_nonfinite=jnp.where(first_bad, step, sums["first_nonfinite"]))


@jax.jit(donate_argnums=0)
def train_step(state: TrainState, batch: Batch,
               key: jax.Array) -> tuple[TrainState, jax.Array]:
  """One optimiser update on one batch; `key` drives dropout and scheduled sampling.

  Returns (new state, mean loss).

  An update whose loss or gradient norm is not finite (a NaN or inf in the gradients, or a norm
  beyond float32) is not applied: params and optimiser state stay, the step still counts (the
  batch is used up), and `sums` record it, so the host learns of it at the next log without
  waiting on any step.
  """
  dropout_key, sampling_key = jax.random.split(jax.random.fold_in(key, state.step))
  sampling = scheduled_sampling(state.scheduled_sampling, state.sampling_k, state.step,
                                sampling_key)
  loss, grads = jax.value_and_grad(loss_fn)(state.params, state.apply_fn, batch, dropout_key,
                                            state.label_smoothing, sampling)
  # One global norm rather than a test per leaf: it compiles about a second faster.
  finite = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(grads))
  new = optax.tree.where(finite, state.apply_gradients(grads=grads),
                         state.replace(step=state.step + 1))
  return new.replace(sums=add_step(state.sums, loss, finite, state.step + 1)), loss


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


def batches_from(split: Split, batch_size: int, shuffle_key: jax.Array, num_epochs: int,
                 epoch: int, index: int) -> Iterator[tuple[int, int, Batch]]:
  """(epoch, index in epoch, batch) of training from data position (epoch, index) to the end."""
  for e in range(epoch, num_epochs):
    batches = enumerate(train_batches(split, batch_size, epoch_rng(shuffle_key, e)))
    for i, batch in itertools.islice(batches, index if e == epoch else 0, None):
      yield e, i, batch


@dataclasses.dataclass
class Progress:
  """What the host knows of a run beyond the train state; saved as JSON with each checkpoint."""

  epoch: int = 0  # data position: the epoch being read ...
  batch: int = 0  # ... and the index of its next batch
  best_step: int = 0  # the evaluation with the best train.best_metric so far (0: none yet)
  best_value: float | None = None
  evals_since_best: int = 0
  seconds: float = 0.0  # wall time of the run's sessions up to this checkpoint

  def record_eval(self, cfg: TrainConfig, step: int, value: float) -> None:
    better = {"min": value.__lt__, "max": value.__gt__}[cfg.best_mode]
    if self.best_value is None or better(self.best_value):
      self.best_step, self.best_value, self.evals_since_best = step, value, 0
    else:
      self.evals_since_best += 1

  def stop_early(self, cfg: TrainConfig) -> bool:
    return 0 < cfg.early_stopping_patience <= self.evals_since_best


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
  """Within the block, SIGINT and SIGTERM append their number to the yielded list instead of
  ending the process, so that the loop can save a checkpoint first. Main thread only."""
  received: list[int] = []
  signums = (signal.SIGINT, signal.SIGTERM)
  previous = [signal.signal(s, lambda signum, _: received.append(signum)) for s in signums]
  try:
    yield received
  finally:
    for s, handler in zip(signums, previous):
      signal.signal(s, handler)


def check_finite(cfg: TrainConfig, sums: dict[str, Any], step: int, last_saved: int | None,
                 workdir: pathlib.Path) -> None:
  """Unless non-finite updates are to be skipped, raises NonFiniteError naming the first
  non-finite step counted in `sums` (there is none when sums['nonfinite'] is 0)."""
  if cfg.skip_nonfinite_updates or not sums["nonfinite"]:
    return
  kept = (f"the last good checkpoint, {checkpoint.directory(workdir) / str(last_saved)}, is kept"
          if last_saved is not None else "no checkpoint was saved before it")
  raise NonFiniteError(
      f"the training loss or a gradient was not finite at step {int(sums['first_nonfinite'])} "
      f"({int(sums['nonfinite'])} such step(s) up to step {step}; none was applied); {kept}. "
      f"Lower train.learning_rate, set train.grad_clip_norm (e.g. 1.0) or "
      f"train.skip_nonfinite_updates=True, then rerun with --force to go on from that "
      f"checkpoint, or in a new workdir.")


def save_checkpoint(mngr, config: Config, state: TrainState, keys: dict[str, jax.Array],
                    prog: Progress, metrics: dict[str, float] | None) -> None:
  """Saves the run at `state.step`: state, PRNG keys, config and progress; `metrics` rank it."""
  checkpoint.save(mngr, int(state.step),
                  dict(state=state, rng={k: jax.random.key_data(v) for k, v in keys.items()}),
                  dict(config=config.to_dict(), progress=dataclasses.asdict(prog)), metrics)


def write_workdir_files(workdir: pathlib.Path, config: Config, task: data.TaskData) -> None:
  (workdir / "config.json").write_text(config.to_json())
  (workdir / "src_vocab.json").write_text(task.src_vocab.to_json())
  (workdir / "tgt_vocab.json").write_text(task.tgt_vocab.to_json())


def resume(workdir: pathlib.Path, config: Config, model: nn.Module, total_steps: int,
           force: bool) -> tuple[TrainState, dict[str, jax.Array], Progress] | None:
  """(state, PRNG keys, progress) of the latest checkpoint in `workdir`; None without one.

  Refuses a checkpoint of another config (unless `force`), or one that is damaged or does not
  fit `model`'s train state, before anything is written.
  """
  step = checkpoint.latest_step(workdir)
  if step is None:
    return None
  meta = checkpoint.read_meta(workdir, step)
  where = f"checkpoint {checkpoint.directory(workdir) / str(step)}"
  workdirs.check_config(config, meta["config"], where, force)
  key_data = jax.eval_shape(lambda: {k: jax.random.key_data(v) for k, v in root_keys(0).items()})
  arrays = checkpoint.restore(
      workdir, step, dict(state=abstract_state(model, config, total_steps), rng=key_data))
  keys = {k: jax.random.wrap_key_data(v) for k, v in arrays["rng"].items()}
  prog = Progress(**meta["progress"])
  if meta["config"]["train"]["best_metric"] != config.train.best_metric:  # --force: start over
    prog = dataclasses.replace(prog, best_step=0, best_value=None, evals_since_best=0)
  return arrays["state"], keys, prog


def train_and_evaluate(config: Config, workdir: str | pathlib.Path, progress: bool = True,
                       force: bool = False) -> dict[str, Any]:
  """Trains `config` in `workdir` (resuming its latest checkpoint), then evaluates on test.

  force: go on from a checkpoint written under another config.
  Returns the final metrics (also in `<workdir>/results.json`).
  """
  start = time.perf_counter()
  workdir = pathlib.Path(workdir)
  cfg = config.train
  workdirs.check_writable(workdir)
  changes = workdirs.check_config(config, workdirs.stored_config(workdir), str(workdir), force)
  task = data.load(config.data, config.seed)
  steps_per_epoch = len(task.train) // cfg.batch_size
  if steps_per_epoch == 0:
    raise ValueError(f"train.batch_size={cfg.batch_size} exceeds the {len(task.train)} "
                     f"training examples; lower it or raise data.n_train.")
  total_steps = steps_per_epoch * cfg.num_epochs
  model = build_model(config, len(task.src_vocab), len(task.tgt_vocab))
  resumed = resume(workdir, config, model, total_steps, force)
  if resumed is None:
    keys = on_device(root_keys(config.seed))
    state = create_state(model, init_params(model, config, keys["init"]), config, total_steps)
    prog = Progress()
  else:
    state, keys, prog = resumed
  step = int(state.step)
  if resumed is not None:
    tqdm.tqdm.write(f"resuming from step {step} in {checkpoint.directory(workdir)}"
                    + (f" under a changed config: {'; '.join(changes)}" if changes else ""))
  before = prog.seconds
  elapsed = lambda: before + time.perf_counter() - start
  lr = learning_rate(cfg, total_steps)

  with logs.Logs(workdir, step) as log, \
       checkpoint.manager(workdir, cfg.keep_checkpoints, cfg.best_metric, cfg.best_mode) as mngr:
    write_workdir_files(workdir, config, task)
    with stop_signals() as stop, tqdm.tqdm(total=total_steps, initial=step, unit="step",
                                           disable=not progress, dynamic_ncols=True) as bar:
      for epoch, index, batch in batches_from(task.train, cfg.batch_size, keys["shuffle"],
                                              cfg.num_epochs, prog.epoch, prog.batch):
        if stop:
          check_finite(cfg, jax.device_get(state.sums), step, mngr.latest_step(), workdir)
          prog.seconds = elapsed()
          save_checkpoint(mngr, config, state, keys, prog, None)
          raise Interrupted(stop[0], step, checkpoint.directory(workdir) / str(step))
        if prog.stop_early(cfg):
          break
        state, _ = train_step(state, batch, keys["dropout"])
        step += 1
        prog.epoch, prog.batch = epoch, index + 1
        bar.update()
        last = epoch == cfg.num_epochs - 1 and index == steps_per_epoch - 1
        if step % cfg.eval_every_steps and not last:
          continue
        sums = jax.device_get(state.sums)  # the one wait for the device in an interval
        check_finite(cfg, sums, step, mngr.latest_step(), workdir)
        val = evaluate(model, state.params, task.val, cfg.eval_batch_size, config.decode)
        val = {f"val_{k}": v for k, v in val.metrics.items()}
        prog.record_eval(cfg, step, val[cfg.best_metric])
        train_loss = float(sums["loss"] / sums["finite"]) if sums["finite"] else None
        log.write(dict(step=step, epoch=epoch + 1, train_loss=train_loss,
                       skipped_updates=int(sums["nonfinite"]), learning_rate=float(lr(step)),
                       **val, seconds=elapsed()))
        bar.set_postfix(loss=train_loss, **{cfg.best_metric: val[cfg.best_metric]})
        state = reset_sums(state)
        if step % cfg.checkpoint_every_steps == 0 or last or prog.stop_early(cfg):
          prog.seconds = elapsed()
          save_checkpoint(mngr, config, state, keys, prog, dict(val, step=step))

    evaluation = evaluate(model, state.params, task.test, cfg.eval_batch_size, config.decode)
    test = {f"test_{k}": v for k, v in evaluation.metrics.items()}
    log.scalars(dict(step=step, **test))
  results = dict(step=step, **test, best_step=prog.best_step,
                 **{f"best_{cfg.best_metric}": prog.best_value},
                 stopped_early=prog.stop_early(cfg), seconds=elapsed(),
                 parameters=sum(x.size for x in jax.tree.leaves(state.params)),
                 **report(evaluation, task))
  (workdir / "results.json").write_text(json.dumps(results, indent=2))
  return results

"""A training run in its workdir: resume, the loop, evaluations, checkpoints, logs, signals.

A run in a workdir that holds checkpoints continues from the latest one: the train state, the
PRNG keys and the data position (epoch, batch) come back, so the resumed run computes what the
uninterrupted one would have, bit for bit. SIGINT and SIGTERM save a checkpoint before exiting.
One run at a time owns a workdir (an exclusive lock, see workdirs.owned).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import time
from typing import Any

import jax
import tqdm

from seqattn import tasks
from seqattn.files import checkpoint, logs, workdirs
from seqattn.inference import evaluation
from seqattn.measures import liveness
from seqattn.runtime import allocator, parallel
from seqattn.config import Config
from seqattn.data.batching import Plan, make_buckets, padding_share
from seqattn.models import architectures
from seqattn.models.interface import Model, abstract_params, init_params
from seqattn.training.optim import learning_rate
from seqattn.training.progress import (Interrupted, Progress, batches_from, check_finite,
                                       root_keys, stop_signals)
from seqattn.training.step import (StepConfig, TrainState, abstract_state, create_state,
                                   reset_sums, train_step)


def build_model(config: Config, task: tasks.Task, codec: tasks.base.Codec) -> Model:
  """The configured model between the task's two ends, as trained (train.remat)."""
  return architectures.build(config.model, codec.source, codec.target, task.max_input_len,
                             task.max_target_len, config.train.remat)


def save_checkpoint(mngr, config: Config, state: TrainState, keys: dict[str, jax.Array],
                    prog: Progress, metrics: dict[str, float] | None) -> None:
  """Saves the run at `state.step`: state, PRNG keys, config and progress; `metrics` rank it."""
  checkpoint.save(mngr, int(state.step),
                  dict(state=state, rng={k: jax.random.key_data(v) for k, v in keys.items()}),
                  dict(config=config.to_dict(), progress=dataclasses.asdict(prog)), metrics)


def batch_plan(config: Config, data: tasks.Data, devices: int) -> Plan:
  """The training batches' plan: one shape, or `train.buckets` length buckets whose batches
  split evenly over `devices` (the mesh's data axis)."""
  cfg = config.train
  if cfg.buckets == 1:
    return Plan(data.train, cfg.batch_size, resample=data.resample_train)
  plan = Plan(data.train, cfg.batch_size,
              make_buckets(data.train, cfg.buckets, cfg.batch_size, cfg.token_budget, devices),
              data.resample_train)
  tqdm.tqdm.write(f"{len(plan.buckets)} length buckets, batch x Tx x Ty: "
                  + ", ".join("x".join(map(str, s)) for s in plan.shapes)
                  + f"; padding {padding_share(plan.split, plan.buckets):.1%} of positions "
                  f"({padding_share(plan.split, ()):.1%} without buckets)")
  return plan


def resume(workdir: pathlib.Path, config: Config, static: StepConfig, mesh,
           force: bool) -> tuple[TrainState, dict[str, jax.Array], Progress] | None:
  """(state, PRNG keys, progress) of the latest checkpoint in `workdir`; None without one.

  Refuses a checkpoint of another config (unless `force`), one whose length buckets were cut
  for another number of devices along mesh.data (unless `force`: then the batches are
  planned again, and the run no longer computes what an uninterrupted one would), or one that
  is damaged or does not fit the train state, before anything is written.
  """
  step = checkpoint.latest_step(workdir)
  if step is None:
    return None
  meta = checkpoint.read_meta(workdir, step)
  where = f"checkpoint {checkpoint.directory(workdir) / str(step)}"
  workdirs.check_config(config.to_dict(), meta["config"], where, force)
  prog = Progress(**meta["progress"])
  devices = mesh.shape[parallel.DATA]
  if config.train.buckets > 1 and prog.plan_devices not in (0, devices):
    if not force:
      raise workdirs.WorkdirError(
          f"{where} was trained with its length buckets cut for {prog.plan_devices} devices "
          f"along mesh.data; this run has {devices}, so its batches would differ from the "
          f"ones the run began with. Resume on {prog.plan_devices} devices (mesh.data="
          f"{prog.plan_devices}), or pass --force to plan the batches again for {devices}.")
    tqdm.tqdm.write(f"the batches are planned again for {devices} devices along mesh.data "
                    f"(the run began on {prog.plan_devices}): it goes on from epoch "
                    f"{prog.epoch}, batch {prog.batch} of the new plan")
  key_data = jax.eval_shape(lambda: {k: jax.random.key_data(v) for k, v in root_keys(0).items()})
  abstract = parallel.abstract_on(mesh, dict(state=abstract_state(static), rng=key_data))
  arrays = checkpoint.restore(workdir, step, abstract)
  keys = {k: jax.random.wrap_key_data(v) for k, v in arrays["rng"].items()}
  # A run its time budget stopped goes on under a larger one (the budget is not compared).
  prog.out_of_time = 0 < config.train.time_budget_minutes * 60 <= prog.seconds
  if meta["config"]["train"]["best_metric"] != config.train.best_metric:  # --force: start over
    prog = dataclasses.replace(prog, best_step=0, best_value=None, evals_since_best=0)
  return arrays["state"], keys, prog


def train_and_evaluate(config: Config, workdir: str | pathlib.Path, progress: bool = True,
                       force: bool = False) -> dict[str, Any]:
  """Trains `config` in `workdir` (resuming its latest checkpoint), then evaluates on test.

  force: go on from a checkpoint written under another config.
  Returns the final metrics (also in `<workdir>/results.json`).
  """
  workdir = pathlib.Path(workdir)
  parallel.initialize(config.mesh)
  # Process 0 owns the workdir for all the processes of a multi-host run.
  with workdirs.owned(workdir) if parallel.is_primary() else contextlib.nullcontext():
    return _train_and_evaluate(config, workdir, progress and parallel.is_primary(), force)


def _train_and_evaluate(config: Config, workdir: pathlib.Path, progress: bool,
                        force: bool) -> dict[str, Any]:
  start = time.perf_counter()
  cfg = config.train
  changes = workdirs.check_config(config.to_dict(), workdirs.stored_config(workdir),
                                  str(workdir), force)
  task = tasks.make(config.data)
  data = task.load(config.seed)
  mesh = parallel.mesh(config.mesh)
  plan = batch_plan(config, data, mesh.shape[parallel.DATA])
  steps_per_epoch = plan.steps_per_epoch
  if steps_per_epoch == 0:
    raise ValueError(f"train.batch_size={cfg.batch_size} exceeds the {len(data.train)} "
                     f"training examples; lower it or give more training data.")
  total_steps = steps_per_epoch * cfg.num_epochs
  model = build_model(config, task, data.codec)
  static = StepConfig(model, cfg, total_steps)
  resumed = resume(workdir, config, static, mesh, force)
  if resumed is None:
    keys = root_keys(config.seed)  # computed by each process on its own, then placed
    state = create_state(init_params(model, keys["init"]), static)
    keys, state = parallel.place_state(mesh, (keys, state))
    prog = Progress()
  else:
    state, keys, prog = resumed
  prog.plan_devices = mesh.shape[parallel.DATA]
  step = int(state.step)
  if resumed is not None:
    tqdm.tqdm.write(f"resuming from step {step} in {checkpoint.directory(workdir)}"
                    + (f" under a changed config: {'; '.join(changes)}" if changes else ""))
  before = prog.seconds
  elapsed = lambda: before + time.perf_counter() - start
  lr = learning_rate(cfg, total_steps)
  evaluate = lambda split, key=None, spread=1.0: evaluation.evaluate(
      model, state.params, split, cfg.eval_batch_size, config.decode, task, data, mesh, key,
      spread, cfg.eval_buckets)
  primary = parallel.is_primary()

  with logs.Logs(workdir, step, enabled=primary) as log, \
       checkpoint.manager(workdir, cfg.keep_checkpoints, cfg.best_metric, config.best_mode) as mngr:
    if primary:
      workdirs.write_text(workdir / "config.json", config.to_json())
      data.codec.save(workdir)
    stopping = 0  # the signal every process agreed to stop for
    with stop_signals() as stop, tqdm.tqdm(total=total_steps, initial=step, unit="step",
                                           disable=not progress, dynamic_ncols=True) as bar:
      for epoch, index, batch in batches_from(plan, keys["shuffle"], cfg.num_epochs, prog.epoch,
                                              prog.batch, parallel.part()):
        if stopping:
          check_finite(cfg, parallel.to_host(state.sums), step, mngr.latest_step(), workdir)
          prog.seconds = elapsed()
          save_checkpoint(mngr, config, state, keys, prog, None)
          raise Interrupted(stopping, step, checkpoint.directory(workdir) / str(step))
        if prog.stop_early(cfg) or prog.out_of_time:
          break
        state, _ = train_step(state, parallel.shard_batch(mesh, batch), keys["dropout"], static)
        step += 1
        prog.epoch, prog.batch = epoch, index + 1
        bar.update()
        # Every process must stop at the same step, or their collectives part ways.
        agreed = parallel.agree(
            [max(stop, default=0), int(0 < cfg.time_budget_minutes * 60 <= elapsed())], step,
            config.mesh.stop_check_steps)
        if agreed is not None:
          stopping, prog.out_of_time = agreed[0], bool(agreed[1])
        last = (epoch == cfg.num_epochs - 1 and index == steps_per_epoch - 1) or prog.out_of_time
        if step % cfg.eval_every_steps and not last:
          continue
        sums = parallel.to_host(state.sums)  # the one wait for the devices in an interval
        check_finite(cfg, sums, step, mngr.latest_step(), workdir)
        validation = evaluate(data.val)
        val = {f"val_{k}": v for k, v in validation.metrics.items()}
        if cfg.best_metric not in val:  # a metric undefined on this data (MAPE at a zero)
          raise ValueError(f"train.best_metric={cfg.best_metric!r} is not defined on this "
                           f"validation part; use one of {', '.join(sorted(val))}.")
        prog.record_eval(config.best_mode, step, val[cfg.best_metric])
        mean = lambda name: float(sums[name] / sums["finite"]) if sums["finite"] else None
        train_loss = mean("loss")
        shown = evaluation.examples(task, data, data.val, validation)
        if progress:  # a few decoded validation examples, as translation tools show them
          for line in shown:
            tqdm.tqdm.write(f"  {line}")
        log.write(dict(step=step, epoch=epoch + 1, train_loss=train_loss,
                       skipped_updates=int(sums["nonfinite"]), learning_rate=float(lr(step)),
                       attention_grad_norm=mean("attention_grad_norm"), **val,
                       seconds=elapsed(), **(dict(val_shown=shown) if shown else {})))
        log.images(lambda: evaluation.attention_images(model, data.val, validation), step)
        bar.set_postfix(loss=train_loss, **{cfg.best_metric: val[cfg.best_metric]})
        state = reset_sums(state)
        new_best = cfg.test_checkpoint == "best" and prog.best_step == step
        if step % cfg.checkpoint_every_steps == 0 or last or prog.stop_early(cfg) or new_best:
          prog.seconds = elapsed()
          save_checkpoint(mngr, config, state, keys, prog, dict(val, step=step))

    tested = prog.best_step if cfg.test_checkpoint == "best" and prog.best_step else step
    if tested != step:
      best = checkpoint.restore_params(workdir, tested, abstract_params(model))
      state = state.replace(params=parallel.place_state(mesh, best))
    spread = evaluation.spread_factor(model, state.params, data.val, cfg.eval_batch_size)
    final = evaluate(data.test, evaluation.paths_key(config.seed), spread)
    test = {f"test_{k}": v for k, v in final.metrics.items()}
    log.scalars(dict(step=step, **test))
  results = dict(step=step, **test, dead_attention=liveness.is_dead(test),
                 best_step=prog.best_step, interval_spread=spread,
                 **{f"best_{cfg.best_metric}": prog.best_value}, tested_step=tested,
                 stopped_early=prog.stop_early(cfg), stopped_by_time_budget=prog.out_of_time,
                 seconds=elapsed(), malloc=allocator.name(),
                 padding_share=padding_share(plan.split, plan.buckets), batch_shapes=plan.shapes,
                 parameters=sum(x.size for x in jax.tree.leaves(state.params)),
                 params_sha256=parallel.digest(state.params),
                 **evaluation.report(model, task, data, final, workdir if primary else None))
  if primary:
    evaluation.write_hypotheses(task, data, data.test, final, workdir)
    workdirs.write_text(workdir / "results.json", json.dumps(results, indent=2))
  return results

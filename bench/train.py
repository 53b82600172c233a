"""Training throughput of seqattn's jitted step against the same models in PyTorch eager.

  python bench/train.py                       # course b100, course b1000, nmt b64; then converge
  python bench/train.py --models course --batches 100 --no-converge
  python bench/train.py --converge-only       # time to 99% validation exact match only

Throughput: both frameworks train on the same batches in one process; after compilation
(JAX) and a warm-up window (PyTorch), `--windows` timed windows of each run in turn, and the
ratio is taken per pair of windows. Examples/s and target tokens/s (real tokens, no padding)
are medians over windows.

Convergence (course model, batch 100, lr 0.01, the default data): each framework trains from
scratch until its validation exact match (every 100 steps) reaches 99%; the time counts model
construction, compilation and evaluation. Runs alternate, `--repeats` of each.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np

from common import (JaxTrainer, batch_stream, emit, environment, load_config, load_task,
                    median_ratio, page_faults_per_call, table, timed_windows)
from seqattn import evaluation
from seqattn.data.vocab import PAD_ID
from seqattn.models.seq2seq import init_params
from seqattn.training import step
from seqattn.training.run import build_model
import torch_models

TARGET_EXACT = 0.99


def throughput(name: str, batch_size: int, windows: int, seconds_per_window: float) -> dict:
  config = load_config(name, batch_size=batch_size)
  task, data = load_task(config)
  stream = batch_stream(data.train, batch_size)
  batches = [next(stream) for _ in range(8)]
  tokens = float(np.mean([(b["targets"] != PAD_ID).sum() for b in batches]))
  jax_trainer = JaxTrainer(config, task, data)
  compile_s = jax_trainer.compile(batches[0])
  torch_trainer = torch_models.Trainer(config, len(data.codec.src_vocab),
                                       len(data.codec.tgt_vocab))
  threads = torch_models.fastest_threads(lambda: torch_trainer.step(batches[0]))
  it = iter(range(10**9))
  contenders = {"jax": lambda: jax_trainer.step(batches[next(it) % len(batches)]),
                "torch": lambda: torch_trainer.step(batches[next(it) % len(batches)])}
  calls, seconds = timed_windows(contenders, windows, seconds_per_window)
  row = dict(model=name, batch=batch_size, compile_s=compile_s, torch_threads=threads,
             calls_per_window=calls, windows=windows)
  for k, v in seconds.items():
    row[f"{k}_ms_per_step"] = 1e3 * statistics.median(v)
    row[f"{k}_examples_per_s"] = batch_size / statistics.median(v)
    row[f"{k}_tokens_per_s"] = tokens / statistics.median(v)
    row[f"{k}_page_faults_per_step"] = page_faults_per_call(contenders[k])
  row["ratio_jax_over_torch"] = median_ratio(seconds["torch"], seconds["jax"])
  row["ratio_min_max"] = [min(t / j for t, j in zip(seconds["torch"], seconds["jax"])),
                          max(t / j for t, j in zip(seconds["torch"], seconds["jax"]))]
  return emit(row)


def until_target(start: float, step, exact, max_steps: int, eval_every: int) -> dict:
  """Runs `step()` until `exact()` (every `eval_every` steps) reaches TARGET_EXACT."""
  for n in range(1, max_steps + 1):
    step()
    if n % eval_every == 0:
      reached = exact()
      if reached >= TARGET_EXACT:
        return dict(steps=n, seconds=time.perf_counter() - start, exact=reached)
  return dict(steps=None, seconds=None, exact=reached)


def converge_jax(config, task, data, max_steps: int) -> dict:
  start = time.perf_counter()
  model = build_model(config, task, data.codec)
  static = step.StepConfig(model, config.train, max_steps)
  state = step.create_state(init_params(model, jax.random.key(0)), static)
  key = step.on_device(jax.random.key(0))
  stream = batch_stream(data.train, config.train.batch_size)

  def one_step():
    nonlocal state
    state, _ = step.train_step(state, next(stream), key, static)

  def exact():
    return evaluation.evaluate(model, state.params, data.val, config.train.eval_batch_size,
                               config.decode, task, data).metrics["exact_match"]

  return until_target(start, one_step, exact, max_steps, config.train.eval_every_steps)


def converge_torch(config, task, data, max_steps: int) -> dict:
  del task  # the PyTorch twin reads the arrays alone
  start = time.perf_counter()
  trainer = torch_models.Trainer(config, len(data.codec.src_vocab), len(data.codec.tgt_vocab))
  stream = batch_stream(data.train, config.train.batch_size)
  return until_target(start, lambda: trainer.step(next(stream)),
                      lambda: trainer.exact_match(data.val, config.train.eval_batch_size),
                      max_steps, config.train.eval_every_steps)


def converge(repeats: int, max_steps: int) -> dict:
  config = load_config("course")
  task, data = load_task(config)
  # PyTorch's thread count is chosen outside the timed runs, on a throwaway model.
  probe = torch_models.Trainer(config, len(data.codec.src_vocab), len(data.codec.tgt_vocab))
  threads = torch_models.fastest_threads(lambda: probe.step(next(batch_stream(data.train, 100))))
  runs = {"jax": [], "torch": []}
  for repeat in range(repeats):
    for name, fn in (("jax", converge_jax), ("torch", converge_torch)):
      runs[name].append(emit(dict(converge=name, repeat=repeat,
                                  **fn(config, task, data, max_steps))))
  row = dict(model="course", batch=config.train.batch_size, target_exact=TARGET_EXACT,
             torch_threads=threads)
  for name, results in runs.items():
    seconds = [r["seconds"] for r in results if r["seconds"] is not None]
    row[f"{name}_seconds_to_99"] = statistics.median(seconds) if seconds else None
    row[f"{name}_steps_to_99"] = [r["steps"] for r in results]
  if row["jax_seconds_to_99"] and row["torch_seconds_to_99"]:
    row["ratio_torch_over_jax_time"] = row["torch_seconds_to_99"] / row["jax_seconds_to_99"]
  return emit(row)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--models", nargs="+", default=["course", "nmt"])
  parser.add_argument("--batches", nargs="+", type=int, default=None,
                      help="course batch sizes (default 100 1000); nmt always uses its own")
  parser.add_argument("--windows", type=int, default=7)
  parser.add_argument("--seconds-per-window", type=float, default=1.5)
  parser.add_argument("--repeats", type=int, default=2, help="convergence runs per framework")
  parser.add_argument("--max-steps", type=int, default=3000)
  parser.add_argument("--no-converge", action="store_true")
  parser.add_argument("--converge-only", action="store_true")
  args = parser.parse_args()
  emit(dict(environment=environment()))
  rows = []
  if not args.converge_only:
    for name in args.models:
      sizes = (args.batches or [100, 1000]) if name == "course" else [
          load_config(name).train.batch_size]
      for batch_size in sizes:
        rows.append(throughput(name, batch_size, args.windows, args.seconds_per_window))
    table(rows, dict(model="model", batch="batch", compile_s="JAX compile s",
                     jax_examples_per_s="JAX ex/s", torch_examples_per_s="PyTorch ex/s",
                     jax_tokens_per_s="JAX tokens/s", torch_tokens_per_s="PyTorch tokens/s",
                     ratio_jax_over_torch="JAX / PyTorch (median of pairs)"))
  if args.converge_only or not args.no_converge:
    row = converge(args.repeats, args.max_steps)
    table([row], dict(model="model", batch="batch", jax_seconds_to_99="JAX s to 99%",
                      torch_seconds_to_99="PyTorch s to 99%", jax_steps_to_99="JAX steps",
                      torch_steps_to_99="PyTorch steps",
                      ratio_torch_over_jax_time="PyTorch time / JAX time"))


if __name__ == "__main__":
  main()

"""Training throughput and time to 99% of seqattn's jitted step against the same models in
PyTorch, eager and under torch.compile.

  python bench/train.py                       # course b100, course b1000, nmt b64; then converge
  python bench/train.py --models course --batches 100 --no-converge
  python bench/train.py --converge-only       # time to 99% validation exact match, seeds 0-4
  python bench/train.py --no-torch-compile    # JAX against eager only (as before issue 16)
  python bench/train.py --models course --batches 1000 --buckets 4 --no-remat --no-converge
      # all three on the same 4-length-bucket batches, JAX without train.remat

Throughput: the three train on the same batches in one process: JAX's step compiled ahead,
PyTorch eager (torch_models.Trainer) at its faster thread count, and a second Trainer whose
`step` is under torch.compile (bench/torch_compiled.py: the whole step, inductor; where dynamo
cuts it is reported). torch.compile's cold compile time is its first call with dynamo reset and
an empty inductor cache (a fresh TORCHINDUCTOR_CACHE_DIR), after the process's one-time start-up
(timed apart, first); JAX's is trace + lower + compile.
Then, after a warm-up window, `--windows` timed windows of each run in turn, and the ratios
(JAX / eager, JAX / compiled; > 1: JAX is faster) are taken per round of windows. Examples/s and
target tokens/s (real tokens, no padding) are medians over windows. A model torch.compile fails
on is reported with its error and timed without that peer.

Convergence (course model, batch 100, lr 0.01, the default data): each framework trains from
scratch until its validation exact match (every 100 steps) reaches 99%, once per seed (`--seeds
N`: 0..N-1, default 5), because the initialisation seed decides the step count. The seed sets
jax.random.key(seed) and torch.manual_seed(seed); data and batch order are the same for every
run. The clock counts model construction, compilation (JAX's caches cleared, torch.compile's
cold, before every run) and evaluation. Frameworks take turns within each seed, in reversed order
every other seed. Reported per framework: median and (min, max) of seconds and steps, and the
ratio of its median seconds to JAX's.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import time

import jax
import numpy as np
import torch

from common import (JaxTrainer, batch_stream, emit, environment, load_config, load_task,
                    one_per_shape, page_faults_per_call, PEER_RATIO_COLUMNS, ratios_over_peers,
                    table, timed_windows)
from seqattn.inference import evaluation
from seqattn.runtime import allocator
from seqattn.data.vocab import PAD_ID
from seqattn.models.interface import init_params
from seqattn.training import step
from seqattn.training.run import build_model
import torch_compiled
import torch_models

TARGET_EXACT = 0.99


def throughput(name: str, batch_size: int, windows: int, seconds_per_window: float,
               with_compile: bool = True, torch_threads: int | None = None, buckets: int = 1,
               remat: bool | None = None) -> dict:
  """One model's row; PyTorch at `torch_threads`, or at its faster count (fastest_threads).
  With `buckets` > 1 every framework gets the same length-bucketed batches (train.buckets);
  `remat`: JAX's train.remat (None: the config's)."""
  overrides = {} if remat is None else dict(remat=remat)
  config = load_config(name, batch_size=batch_size, buckets=buckets, **overrides)
  task, data = load_task(config)
  stream = batch_stream(data.train, batch_size, buckets=buckets)
  batches = [next(stream) for _ in range(8 if buckets == 1 else 24)]
  tokens = float(np.mean([(b["targets"] != PAD_ID).sum() for b in batches]))
  first = one_per_shape(batches)
  jax_trainer = JaxTrainer(config, task, data)
  compile_s = jax_trainer.compile(*first)
  vocabs = len(data.codec.src_vocab), len(data.codec.tgt_vocab)
  torch_trainer = torch_models.Trainer(config, *vocabs)
  threads = torch_threads or torch_models.fastest_threads(lambda: torch_trainer.step(batches[0]))
  torch.set_num_threads(threads)
  padding = float(np.mean([(b["inputs"] == PAD_ID).mean() for b in batches]))
  row = dict(model=name, batch=batch_size, buckets=buckets, remat=config.train.remat,
             compile_s=compile_s, torch_threads=threads, padding=padding)
  it = iter(range(10**9))
  contenders = {"jax": lambda: jax_trainer.step(batches[next(it) % len(batches)]),
                "torch": lambda: torch_trainer.step(batches[next(it) % len(batches)])}
  if with_compile:  # after fastest_threads: inductor's kernels take the thread count it set
    compiled = torch_compiled.peer(lambda: torch_models.Trainer(config, *vocabs).step,
                                   first, row)
    if compiled is not None:
      contenders["torch_compile"] = lambda: compiled(batches[next(it) % len(batches)])
  calls, seconds = timed_windows(contenders, windows, seconds_per_window)
  row.update(calls_per_window=calls, windows=windows)
  for k, v in seconds.items():
    row[f"{k}_ms_per_step"] = 1e3 * statistics.median(v)
    row[f"{k}_examples_per_s"] = batch_size / statistics.median(v)
    row[f"{k}_tokens_per_s"] = tokens / statistics.median(v)
    row[f"{k}_page_faults_per_step"] = page_faults_per_call(contenders[k])
  row.update(ratios_over_peers(seconds))
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


def converge_jax(config, task, data, max_steps: int, seed: int) -> dict:
  jax.clear_caches()  # every run compiles its steps, as a fresh process would
  start = time.perf_counter()
  model = build_model(config, task, data.codec)
  static = step.StepConfig(model, config.train, max_steps)
  state = step.create_state(init_params(model, jax.random.key(seed)), static)
  key = step.on_device(jax.random.key(seed))
  stream = batch_stream(data.train, config.train.batch_size)

  def one_step():
    nonlocal state
    state, _ = step.train_step(state, next(stream), key, static)

  def exact():
    return evaluation.evaluate(model, state.params, data.val, config.train.eval_batch_size,
                               config.decode, task, data).metrics["exact_match"]

  return until_target(start, one_step, exact, max_steps, config.train.eval_every_steps)


def converge_torch(config, task, data, max_steps: int, seed: int,
                   compiled: bool = False) -> dict:
  """PyTorch eager, or with `compiled` its step under torch.compile from a cold cache (the
  compilation counted, as JAX's is); evaluation is eager in both."""
  del task  # the PyTorch twin reads the arrays alone
  with torch_compiled.cold() if compiled else contextlib.nullcontext():
    start = time.perf_counter()
    trainer = torch_models.Trainer(config, len(data.codec.src_vocab), len(data.codec.tgt_vocab),
                                   seed)
    train_step = torch_compiled.compile_step(trainer.step) if compiled else trainer.step
    stream = batch_stream(data.train, config.train.batch_size)
    return until_target(start, lambda: train_step(next(stream)),
                        lambda: trainer.exact_match(data.val, config.train.eval_batch_size),
                        max_steps, config.train.eval_every_steps)


CONVERGE = {"jax": converge_jax, "torch": converge_torch,
            "torch_compile": functools.partial(converge_torch, compiled=True)}


def converge(seeds: list[int], max_steps: int, frameworks: list[str]) -> list[dict]:
  """One run per seed and framework, the frameworks in turn (their order reversed every other
  seed, so that drift in the machine's load falls on all alike). The seed sets the
  initialisation (jax.random.key(seed); torch.manual_seed(seed)); data and batch order are the
  same for every run, so the spread over seeds is the initialisation's."""
  config = load_config("course")
  task, data = load_task(config)
  # PyTorch's thread count is chosen outside the timed runs, on a throwaway model.
  probe = torch_models.Trainer(config, len(data.codec.src_vocab), len(data.codec.tgt_vocab))
  threads = torch_models.fastest_threads(lambda: probe.step(next(batch_stream(data.train, 100))))
  runs = {name: [] for name in frameworks}
  for i, seed in enumerate(seeds):
    for name in frameworks if i % 2 == 0 else frameworks[::-1]:
      runs[name].append(emit(dict(converge=name, seed=seed,
                                  **CONVERGE[name](config, task, data, max_steps, seed))))
  rows = []
  for name, results in runs.items():
    reached = [r for r in results if r["steps"] is not None]
    seconds, steps = [r["seconds"] for r in reached], [r["steps"] for r in reached]
    rows.append(dict(framework=name, model="course", batch=config.train.batch_size,
                     target_exact=TARGET_EXACT, torch_threads=threads, seeds=seeds,
                     reached=f"{len(reached)}/{len(results)}",
                     seconds_to_99=statistics.median(seconds) if reached else None,
                     seconds_min_max=[min(seconds), max(seconds)] if reached else None,
                     steps_to_99=statistics.median(steps) if reached else None,
                     steps_min_max=[min(steps), max(steps)] if reached else None,
                     steps_per_seed=[r["steps"] for r in results]))
  base = rows[0]["seconds_to_99"]  # the first framework's median, JAX's by default
  for row in rows:
    if base and row["seconds_to_99"]:
      row["ratio_of_medians"] = row["seconds_to_99"] / base
    emit(row)
  return rows


def main():
  allocator.use_tcmalloc()  # as launch.py runs: both frameworks in this process get it
  parser = argparse.ArgumentParser()
  parser.add_argument("--models", nargs="+", default=["course", "nmt"])
  parser.add_argument("--batches", nargs="+", type=int, default=None,
                      help="course batch sizes (default 100 1000); nmt always uses its own")
  parser.add_argument("--windows", type=int, default=7)
  parser.add_argument("--seconds-per-window", type=float, default=1.5)
  parser.add_argument("--seeds", type=int, default=5,
                      help="convergence: initialisation seeds 0..N-1, one run per framework each")
  parser.add_argument("--max-steps", type=int, default=3000)
  parser.add_argument("--no-torch-compile", action="store_true",
                      help="leave torch.compile out (throughput and convergence)")
  parser.add_argument("--buckets", type=int, default=1,
                      help="throughput: every framework trains on batches of this many length "
                           "buckets (train.buckets)")
  parser.add_argument("--remat", action=argparse.BooleanOptionalAction, default=None,
                      help="throughput: JAX with or without train.remat (default: the config's)")
  parser.add_argument("--no-converge", action="store_true")
  parser.add_argument("--converge-only", action="store_true")
  args = parser.parse_args()
  emit(dict(environment=environment()))
  if not args.no_torch_compile:
    emit(dict(torch_compile_start_up_s=torch_compiled.start_up()))
  rows = []
  if not args.converge_only:
    for name in args.models:
      sizes = (args.batches or [100, 1000]) if name == "course" else [
          load_config(name).train.batch_size]
      for batch_size in sizes:
        rows.append(throughput(name, batch_size, args.windows, args.seconds_per_window,
                               not args.no_torch_compile, buckets=args.buckets,
                               remat=args.remat))
    table(rows, dict(model="model", batch="batch", buckets="buckets", padding="source padding",
                     remat="JAX remat", compile_s="JAX compile s",
                     torch_compile_s="torch.compile cold first call s",
                     jax_examples_per_s="JAX ex/s", torch_examples_per_s="eager ex/s",
                     torch_compile_examples_per_s="compiled ex/s",
                     jax_tokens_per_s="JAX tokens/s",
                     **PEER_RATIO_COLUMNS))
  if args.converge_only or not args.no_converge:
    frameworks = ["jax", "torch"] + ([] if args.no_torch_compile else ["torch_compile"])
    rows = converge(list(range(args.seeds)), args.max_steps, frameworks)
    table(rows, dict(framework="framework", model="model", batch="batch", reached="reached 99%",
                     seconds_to_99="s to 99% (median)", seconds_min_max="(min, max)",
                     steps_to_99="steps (median)", steps_min_max="(min, max)",
                     steps_per_seed="steps by seed",
                     ratio_of_medians="median s / JAX's median s"))


if __name__ == "__main__":
  main()

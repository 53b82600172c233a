"""The text model's training speed against PyTorch (eager and torch.compile), and its memory
with a large readout.

  python bench/text_speed.py throughput   # target tokens/s, JAX vs PyTorch, on the same batches
  python bench/text_speed.py memory       # peak RSS of training with a 32,000-token readout

throughput: configs/text.py (dropout 0, so both sides compute the same function) and its
PyTorch twin (torch_models.Bahdanau with the same sizes) train on the same length-bucketed
batches of the shipped corpus, windows taken in turn (common.timed_windows); tokens are real
target tokens. PyTorch gets each bucketed batch as it is (it could cut them further, but then the
batches would differ). The second PyTorch peer is the same twin's step under torch.compile
(bench/torch_compiled.py), compiled cold for each bucket's shape.

memory: one child process per setting trains 20 steps of configs/text.py with a 32,000-piece
target vocabulary (random ids over real lengths: the readout's [B, Ty, V] logits and their
gradient are what grows) and reports its peak resident memory (ru_maxrss): full-width batches of
64 against length buckets with a token budget.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import types

import jax
import numpy as np
import torch
import torch.nn.functional as F

from common import (JaxTrainer, PEER_RATIO_COLUMNS, ROOT, emit, environment, one_per_shape,
                    ratios_over_peers, table, timed_windows)
from seqattn import config as config_lib, tasks
from seqattn.runtime import allocator
from seqattn.data.batching import Plan, make_buckets
from seqattn.data.vocab import PAD_ID
from seqattn.models import ends
from torch_models import Bahdanau
import torch_compiled
import torch_models

VOCAB = 32_000


def text_config(**overrides) -> config_lib.Config:
  return config_lib.freeze(config_lib.override(config_lib.load_file(ROOT / "configs/text.py"),
                                               {"model.dropout": 0.0, **overrides}))


def throughput(windows: int, seconds_per_window: float, with_compile: bool = True) -> dict:
  config = text_config()
  task = tasks.make(config.data)
  data = task.load(config.seed)
  t, m = config.train, config.model
  plan = Plan(data.train, t.batch_size, make_buckets(data.train, t.buckets, t.batch_size, 0))
  batches = list(plan.epoch(np.random.default_rng(0)))[:24]
  tokens = float(np.mean([(b["targets"] != PAD_ID).sum() for b in batches]))
  jax_trainer = JaxTrainer(config, task, data)
  first = one_per_shape(batches)
  start = time.perf_counter()
  jax_trainer.compile(*first)  # one compilation per bucket, and its first step
  for b in first:
    jax.block_until_ready(jax_trainer.step(b))
  compile_s = time.perf_counter() - start

  def torch_trainer():
    """A fresh PyTorch twin and its Adam (seed 0): its training step."""
    torch.manual_seed(0)
    model = Bahdanau(len(data.codec.src), len(data.codec.tgt), m.embed_dim, m.encoder_units,
                     m.decoder_units, m.attention_units)
    opt = torch.optim.Adam(model.parameters(), lr=t.learning_rate)

    def torch_step(batch):
      x, lengths, y = torch_models.to_torch(batch)
      loss = F.cross_entropy(model(x, lengths, y).flatten(0, 1), y.flatten(),
                             ignore_index=PAD_ID)
      opt.zero_grad(set_to_none=True)
      loss.backward()
      opt.step()
      return loss.detach()

    return torch_step

  torch_step = torch_trainer()
  threads = torch_models.fastest_threads(lambda: torch_step(batches[0]))
  row = dict(model="configs/text.py", batch=t.batch_size, buckets=plan.shapes,
             compile_s=compile_s, torch_threads=threads, windows=windows)
  it = iter(range(10**9))
  contenders = {"jax": lambda: jax_trainer.step(batches[next(it) % len(batches)]),
                "torch": lambda: torch_step(batches[next(it) % len(batches)])}
  if with_compile:  # one static compilation per bucket, as JAX's
    compiled = torch_compiled.peer(torch_trainer, first, row)
    if compiled is not None:
      contenders["torch_compile"] = lambda: compiled(batches[next(it) % len(batches)])
  calls, seconds = timed_windows(contenders, windows, seconds_per_window, len(batches))
  for k, v in seconds.items():
    row[f"{k}_ms_per_step"] = 1e3 * statistics.median(v)
    row[f"{k}_tokens_per_s"] = tokens / statistics.median(v)
  row.update(ratios_over_peers(seconds))
  return emit(row)


def memory_child(budget: int) -> None:
  """Trains 20 steps with a VOCAB-piece readout; prints peak RSS in MiB."""
  overrides = ({"train.buckets": 4, "train.token_budget": budget} if budget else
               {"train.buckets": 1})
  config = text_config(**overrides)
  task = tasks.make(config.data)
  data = task.load(config.seed)
  rng = np.random.default_rng(0)
  targets = data.train.targets
  data.train.targets[:] = np.where(targets != PAD_ID, rng.integers(4, VOCAB, targets.shape), PAD_ID)
  wide = types.SimpleNamespace(source=data.codec.source, target=ends.Tokens(VOCAB))
  data = tasks.Data(data.train, data.val, data.test, wide)
  t = config.train
  plan = (Plan(data.train, t.batch_size, make_buckets(data.train, t.buckets, t.batch_size,
                                                      t.token_budget))
          if budget else Plan(data.train, t.batch_size))
  trainer = JaxTrainer(config, task, data)
  before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  batches = [batch for batch, _ in zip(plan.epoch(rng), range(20))]
  trainer.compile(*batches)
  for batch in batches:
    jax.block_until_ready(trainer.step(batch))
  print(json.dumps(dict(token_budget=budget, shapes=plan.shapes, rss_before_training_mib=before,
                        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def memory(budgets: list[int]) -> list[dict]:
  rows = []
  for budget in budgets:
    out = subprocess.run([sys.executable, __file__, "memory-child", str(budget)],
                         capture_output=True, text=True, check=True).stdout
    rows.append(emit(dict(vocab=VOCAB, **json.loads(out.strip().splitlines()[-1]))))
  return rows


def main():
  allocator.use_tcmalloc()  # as launch.py runs: both frameworks in this process get it
  parser = argparse.ArgumentParser()
  parser.add_argument("what", choices=["throughput", "memory", "memory-child"])
  parser.add_argument("budget", nargs="?", type=int, default=0)
  parser.add_argument("--windows", type=int, default=5)
  parser.add_argument("--seconds-per-window", type=float, default=4.0)
  parser.add_argument("--no-torch-compile", action="store_true",
                      help="throughput: JAX against PyTorch eager only")
  args = parser.parse_args()
  if args.what == "memory-child":
    return memory_child(args.budget)
  emit(dict(environment=environment()))
  if args.what == "throughput":
    if not args.no_torch_compile:
      emit(dict(torch_compile_start_up_s=torch_compiled.start_up()))
    row = throughput(args.windows, args.seconds_per_window, not args.no_torch_compile)
    table([row], dict(model="model", batch="batch",
                      compile_s="JAX compile + first step s (all buckets)",
                      torch_compile_s="torch.compile cold, first call s (all buckets)",
                      jax_tokens_per_s="JAX tokens/s", torch_tokens_per_s="eager tokens/s",
                      torch_compile_tokens_per_s="compiled tokens/s",
                      **PEER_RATIO_COLUMNS))
  else:
    rows = memory([0, 4096, 2048, 1024])
    table(rows, dict(token_budget="token budget (0: full-width batches of 64)", shapes="shapes",
                     peak_rss_mib="peak RSS MiB"))


if __name__ == "__main__":
  main()

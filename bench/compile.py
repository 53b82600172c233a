"""Compile time of the train step against the source length Tx (20, 50, 100, 200).

  python bench/compile.py             # the course model, batch 100, 3 compilations per Tx
  python bench/compile.py --repeats 1

The encoder and decoder loops are `lax.scan`s, so the compiled program has one loop body
whatever Tx is; compile time should stay flat. Each measurement clears JAX's caches first,
and the lengths are taken in turn (repeat after repeat) so that drift in the machine's load
falls on all of them alike. Parameters and data are random: compilation sees only shapes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np

from common import emit, load_config, table
from seqattn.models import ends
from seqattn.models.interface import init_params
from seqattn.models.seq2seq import Seq2Seq
from seqattn.training import step

SRC_VOCAB, TGT_VOCAB = 39, 15  # the date task's vocabularies


def compile_seconds(tx: int, batch_size: int) -> tuple[float, float]:
  """(trace + lower, XLA compile) seconds of the train step for source length `tx`."""
  config = load_config("course", batch_size=batch_size)
  ty = config.data.max_target_len
  model = Seq2Seq(config.model, ends.Tokens(SRC_VOCAB), ends.Tokens(TGT_VOCAB), tx, ty)
  static = step.StepConfig(model, config.train, total_steps=100)
  state = step.create_state(init_params(model, jax.random.key(0)), static)
  rng = np.random.default_rng(0)
  batch = dict(inputs=rng.integers(4, SRC_VOCAB, (batch_size, tx)).astype(np.int32),
               input_lengths=rng.integers(1, tx + 1, batch_size).astype(np.int32),
               targets=rng.integers(4, TGT_VOCAB, (batch_size, ty)).astype(np.int32),
               weights=np.ones(batch_size, np.float32))
  jax.clear_caches()
  start = time.perf_counter()
  lowered = step.train_step.lower(state, batch, jax.random.key(0), static)
  traced = time.perf_counter()
  lowered.compile()
  return traced - start, time.perf_counter() - traced


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--lengths", nargs="+", type=int, default=[20, 50, 100, 200])
  parser.add_argument("--batch", type=int, default=100)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  runs = {tx: [] for tx in args.lengths}
  for repeat in range(args.repeats):
    for tx in args.lengths:
      lower_s, compile_s = compile_seconds(tx, args.batch)
      runs[tx].append(lower_s + compile_s)
      emit(dict(tx=tx, repeat=repeat, lower_s=lower_s, compile_s=compile_s))
  base = statistics.median(runs[args.lengths[0]])
  rows = [emit(dict(tx=tx, batch=args.batch, seconds=statistics.median(s),
                    ratio=statistics.median(s) / base)) for tx, s in runs.items()]
  table(rows, dict(tx="Tx", batch="batch", seconds="trace + lower + compile s (median)",
                   ratio=f"/ Tx={args.lengths[0]}"))


if __name__ == "__main__":
  main()

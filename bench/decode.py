"""Decoding throughput: sequences/s of greedy and beam search (k = 1, 4, 8).

  python bench/decode.py            # the course date model and configs/nmt.py (NMT-sized)
  python bench/decode.py --quick    # fewer, shorter windows

Prints one JSON line per measurement, then a table. Parameters are random: a search stops when
every sequence of its batch has ended (EOS or max_len), so its steps are whatever the random
readout's EOS draws give, the same for every run of one seed; compare searches within a run.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import jax
import numpy as np

from common import ROOT, emit, interleave, table
from seqattn import config as config_lib
from seqattn.inference import decode
from seqattn.models import ends
from seqattn.models.interface import init_params
from seqattn.models.seq2seq import Seq2Seq


def model_configs():
  course = config_lib.load_file(ROOT / "configs/dates.py")
  nmt = config_lib.load_file(ROOT / "configs/nmt.py")
  return {"course (batch 100, Tx 30, Ty 10)": (course, 100, 40, 15),
          "nmt (batch 64, Tx=Ty=50, bi-LSTM 2x512, dec 512, V 8000)": (nmt, 64, 8000, 8000)}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true")
  args = parser.parse_args()
  windows, calls = (3, 2) if args.quick else (5, 5)
  rows = []
  for name, (cfg_dict, batch, src_vocab, tgt_vocab) in model_configs().items():
    config = config_lib.freeze(cfg_dict)
    tx, ty = config.data.max_input_len, config.data.max_target_len
    model = Seq2Seq(config.model, ends.Tokens(src_vocab), ends.Tokens(tgt_vocab), tx, ty)
    params = init_params(model, jax.random.key(0))
    rng = np.random.default_rng(0)
    inputs = rng.integers(4, src_vocab, (batch, tx)).astype(np.int32)
    lengths = rng.integers(tx // 2, tx + 1, batch).astype(np.int32)
    searches = [("greedy", None)] + [(f"beam {k}", k) for k in (1, 4, 8)]
    for label, k in searches:
      search = dataclasses.replace(config.decode, method="greedy" if k is None else "beam",
                                   beam_size=k or 1)
      fn = jax.jit(decode.search, static_argnums=(0, 4, 5))
      run = lambda: fn(model, params, inputs, lengths, ty, search).tokens_BxKxT
      jax.block_until_ready(run())  # compile
      seconds = interleave(dict(search=run), windows, dict(search=calls))["search"]
      median = statistics.median(seconds)
      rows.append(emit(dict(model=name, search=label, batch=batch, seq_per_s=batch / median,
                            ms_per_batch=1e3 * median, windows=len(seconds))))
  table(rows, dict(model="model", search="search", seq_per_s="sequences/s",
                   ms_per_batch="ms/batch"))


if __name__ == "__main__":
  main()

"""Decoding throughput: sequences/s of greedy and beam search (k = 1, 4, 8).

  python bench/decode.py            # the course date model and configs/nmt.py (NMT-sized)
  python bench/decode.py --quick    # fewer, shorter windows

Prints one JSON line per measurement, then a table. Parameters are random (speed does not
depend on their values: every search runs max_len steps under `lax.scan`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import platform
import statistics
import sys
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from seqattn import config as config_lib, decode, train  # noqa: E402


def model_configs():
  course = config_lib.load_file(ROOT / "configs/dates.py")
  nmt = config_lib.load_file(ROOT / "configs/nmt.py")
  return {"course (batch 100, Tx 30, Ty 10)": (course, 100, 40, 15),
          "nmt (batch 64, Tx=Ty=50, bi-LSTM 2x512, dec 512, V 8000)": (nmt, 64, 8000, 8000)}


def time_windows(fn, windows: int, calls: int) -> list[float]:
  jax.block_until_ready(fn())  # compile
  seconds = []
  for _ in range(windows):
    start = time.perf_counter()
    for _ in range(calls):
      out = fn()
    jax.block_until_ready(out)
    seconds.append((time.perf_counter() - start) / calls)
  return seconds


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--quick", action="store_true")
  args = parser.parse_args()
  windows, calls = (3, 2) if args.quick else (5, 5)
  rows = []
  for name, (cfg_dict, batch, src_vocab, tgt_vocab) in model_configs().items():
    config = config_lib.freeze(cfg_dict)
    model = train.build_model(config, src_vocab, tgt_vocab)
    params = train.init_params(model, config, jax.random.key(0))
    rng = np.random.default_rng(0)
    tx, ty = config.data.max_input_len, config.data.max_target_len
    inputs = rng.integers(4, src_vocab, (batch, tx)).astype(np.int32)
    lengths = rng.integers(tx // 2, tx + 1, batch).astype(np.int32)
    searches = [("greedy", None)] + [(f"beam {k}", k) for k in (1, 4, 8)]
    for label, k in searches:
      search = dataclasses.replace(config.decode, method="greedy" if k is None else "beam",
                                   beam_size=k or 1)
      fn = jax.jit(decode.search, static_argnums=(0, 4, 5))
      seconds = time_windows(lambda: fn(model, params, inputs, lengths, ty, search).tokens_BxKxT,
                             windows, calls)
      median = statistics.median(seconds)
      row = dict(model=name, search=label, batch=batch, seq_per_s=batch / median,
                 ms_per_batch=1e3 * median, windows=len(seconds))
      rows.append(row)
      print(json.dumps(row), flush=True)
  print(f"\n{platform.processor() or platform.machine()}, jax {jax.__version__}, "
        f"{jax.devices()[0].device_kind}")
  print(f"| model | search | sequences/s | ms/batch |\n|---|---|---|---|")
  for r in rows:
    print(f"| {r['model']} | {r['search']} | {r['seq_per_s']:,.0f} | {r['ms_per_batch']:.1f} |")


if __name__ == "__main__":
  main()

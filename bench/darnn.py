"""DA-RNN train-step throughput (windows/s): seqattn's jitted step against a PyTorch eager twin
(bench/torch_darnn.py), on the same batches, timed in interleaved windows.

  python bench/darnn.py                    # the default series config and the paper's NASDAQ size
  python bench/darnn.py --sizes nasdaq --windows 9

Sizes: `default` is configs/series.py (n = 3 driving series, T = 8, m = p = 32, batch 32);
`nasdaq` the paper's NASDAQ-100 setting (n = 81, T = 10, m = p = 64, batch 128). The windows are
random numbers of those shapes (the step's cost does not depend on them), so the script needs
no data file. Gradient clipping is off on both sides.
"""

from __future__ import annotations

import argparse
import statistics
import types

import numpy as np

from common import JaxTrainer, ROOT, emit, median_ratio, table, timed_windows
from seqattn import config as config_lib, tasks
from seqattn.data import series
from seqattn.data.batching import Split, train_batches
from seqattn.tasks.series_data import SeriesCodec
import torch_darnn
import torch_models

SIZES = {
    "default": (3, {}),
    "nasdaq": (81, {"data.window": 10, "model.encoder_units": 64, "model.decoder_units": 64,
                    "model.attention_units": 64, "train.batch_size": 128}),
}


def setup(size: str):
  """(config, task, data with a codec of the size's columns, batches of random windows)."""
  n, overrides = SIZES[size]
  config = config_lib.freeze(config_lib.override(
      config_lib.load_file(ROOT / "configs/series.py"), dict(overrides, **{
          "train.grad_clip_norm": 0.0})))
  names = tuple(f"x{k}" for k in range(n)) + ("y",)
  codec = SeriesCodec(names, series.Scaler(np.zeros(n + 1), np.ones(n + 1)))
  rng = np.random.default_rng(0)
  window, horizon, batch = config.data.window, config.data.horizon, config.train.batch_size
  split = Split(rng.normal(size=(8 * batch, window, n + 1)).astype(np.float32),
                np.full(8 * batch, window, np.int32),
                rng.normal(size=(8 * batch, horizon, 1)).astype(np.float32))
  batches = list(train_batches(split, batch, rng))
  return config, tasks.make(config.data), types.SimpleNamespace(codec=codec), batches


def throughput(size: str, windows: int, seconds_per_window: float) -> dict:
  config, task, data, batches = setup(size)
  jax_trainer = JaxTrainer(config, task, data)
  compile_s = jax_trainer.compile(batches[0])
  torch_trainer = torch_darnn.Trainer(config, len(data.codec.names) - 1)
  threads = torch_models.fastest_threads(lambda: torch_trainer.step(batches[0]))
  it = iter(range(10**9))
  contenders = {"jax": lambda: jax_trainer.step(batches[next(it) % len(batches)]),
                "torch": lambda: torch_trainer.step(batches[next(it) % len(batches)])}
  calls, seconds = timed_windows(contenders, windows, seconds_per_window)
  batch = config.train.batch_size
  row = dict(size=size, driving=len(data.codec.names) - 1, window=config.data.window,
             units=config.model.encoder_units, batch=batch, compile_s=compile_s,
             torch_threads=threads, windows=windows)
  for k, v in seconds.items():
    row[f"{k}_ms_per_step"] = 1e3 * statistics.median(v)
    row[f"{k}_windows_per_s"] = batch / statistics.median(v)
  row["ratio_jax_over_torch"] = median_ratio(seconds["torch"], seconds["jax"])
  row["ratio_min_max"] = [min(t / j for t, j in zip(seconds["torch"], seconds["jax"])),
                          max(t / j for t, j in zip(seconds["torch"], seconds["jax"]))]
  return emit(row)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
  parser.add_argument("--windows", type=int, default=7)
  parser.add_argument("--seconds-per-window", type=float, default=1.5)
  args = parser.parse_args()
  rows = [throughput(size, args.windows, args.seconds_per_window) for size in args.sizes]
  table(rows, dict(size="size", driving="n", window="T", units="m = p", batch="batch",
                   compile_s="JAX compile s", jax_windows_per_s="JAX windows/s",
                   torch_windows_per_s="PyTorch windows/s",
                   ratio_jax_over_torch="JAX / PyTorch (median of pairs)"))


if __name__ == "__main__":
  main()

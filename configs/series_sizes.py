"""What the window T and the hidden sizes m = p do to the DA-RNN, 3 seeds each: T in
{2, 4, 8, 12} at m = p = 32, and m = p in {16, 64} at T = 4 (the default is T = 4, 32).

  python launch.py --config configs/series_sizes.py --workdir runs/series_sizes --mode sweep

Expected result: docs/forecasting.md.
"""

import pathlib

from seqattn.config import load_file

SEEDS = (0, 1, 2)


def get_config(arg=None):
  del arg
  return load_file(pathlib.Path(__file__).with_name("series.py"))


def sweep(add):
  for window in (2, 4, 8, 12):
    for seed in SEEDS:
      add(**{"data.window": window, "seed": seed})
  for units in (16, 64):
    for seed in SEEDS:
      add(**{"model.encoder_units": units, "model.decoder_units": units,
             "model.attention_units": units, "seed": seed})

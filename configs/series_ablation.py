"""The paper's table: the encoder-decoder without attention, temporal attention only, input
attention only and DA-RNN, 3 seeds each, with the baselines (naive, seasonal naive, linear
autoregression, ARIMA) added as rows by the sweep.

  python launch.py --config configs/series_ablation.py --workdir runs/series_ablation --mode sweep
  python launch.py --config configs/series_ablation.py:nasdaq --workdir runs/nasdaq_ablation \
      --mode sweep --config.data.path=../shared/data/nasdaq100-sample.csv

Expected result: the tables of docs/forecasting.md (results.md in the workdir).
"""

import pathlib

from seqattn.config import load_file

SEEDS = (0, 1, 2)
VARIANTS = (  # (input attention, temporal score)
    (False, "none"),  # encoder-decoder
    (False, "additive"),  # temporal attention only (attention RNN)
    (True, "none"),  # input attention only
    (True, "additive"),  # DA-RNN
)


def get_config(arg=None):
  name = "nasdaq" if arg == "nasdaq" else "series"
  return load_file(pathlib.Path(__file__).with_name(f"{name}.py"))


def sweep(add):
  for input_attention, attention in VARIANTS:
    for seed in SEEDS:
      add(**{"model.input_attention": input_attention, "model.attention": attention,
             "seed": seed})

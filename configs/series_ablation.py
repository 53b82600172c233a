"""The paper's ablations and this project's variants of the default forecaster, backtested: the
encoder-decoder without attention, temporal attention only, input attention only and the
DA-RNN (each with the default's highway and normal readout), then the DA-RNN without the
highway, with the highway on the whole window, with a Student-t readout and with a point (MSE)
readout; every variant over data.folds x data.seeds runs, the
baselines (naive, seasonal naive, linear autoregression, ARIMA) refitted per fold as rows.

  python launch.py --config configs/series_ablation.py:macrodata --workdir runs/macro_ablation \
      --mode backtest
  python launch.py --config configs/series_ablation.py:sunspots --workdir runs/sun_ablation \
      --mode backtest

The argument names a series of configs/forecasting.py. Expected result: docs/forecasting.md.
"""

import pathlib

from seqattn.config import load_file

VARIANTS = (  # overrides of configs/series.py
    {"model.input_attention": False, "model.attention": "none"},  # encoder-decoder
    {"model.input_attention": False},  # temporal attention only (attention RNN)
    {"model.attention": "none"},  # input attention only
    {},  # DA-RNN, the default
    {"model.highway": "none"},  # DA-RNN, no highway
    {"model.highway": "window"},  # DA-RNN, the highway on the whole window
    {"data.loss": "student_t"},  # DA-RNN, Student-t intervals
    {"data.loss": "mse"},  # DA-RNN, a point forecast (no intervals)
)


def get_config(arg=None):
  return load_file(f"{pathlib.Path(__file__).with_name('forecasting.py')}:{arg or 'macrodata'}")


def sweep(add):
  for overrides in VARIANTS:
    add(**overrides)

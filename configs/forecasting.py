"""The real series of docs/forecasting.md, each described to configs/series.py by its data
alone (file, columns, seasonal period, gaps); the model and training settings are the default's.

  python launch.py --config configs/forecasting.py:co2 --workdir runs/co2_bt --mode backtest
  python launch.py --config configs/forecasting.py:sunspots --workdir runs/sun_bt --mode backtest \
      --config.data.horizon=4

Series (all public, shipped inside statsmodels, so nothing is downloaded):
  macrodata  US unemployment, quarterly 1959-2009, three driving rates (the default's own data)
  co2        Mauna Loa CO2 (ppm), weekly 1958-2001, univariate, 59 weeks missing (linear fill)
  sunspots   yearly sunspot numbers 1700-2008, univariate, the ~11-year cycle
  nasdaq     the NASDAQ-100 sample, not shipped: give its CSV with --config.data.path (the docs
             used the team's ../shared/data/nasdaq100-sample.csv); the index from its own history
             and the 81 stocks of the same minute (data.nowcast)
Expected results: docs/forecasting.md.
"""

import pathlib

from seqattn.config import load_file

SERIES = {
    "macrodata": {},
    "co2": dict(path="package:statsmodels.datasets.co2/co2.csv", time_column="date",
                target_column="co2", driving_columns="", seasonal_period=52, fill="linear"),
    "sunspots": dict(path="package:statsmodels.datasets.sunspots/sunspots.csv",
                     time_column="YEAR", target_column="SUNACTIVITY", driving_columns="",
                     seasonal_period=11),
    "nasdaq": dict(path="", time_column="", target_column="NDX", driving_columns="",
                   seasonal_period=390, nowcast=True),  # path: --config.data.path=<the CSV>
}


def get_config(arg=None):
  arg = arg or "macrodata"
  if arg not in SERIES:
    raise ValueError(f"configs/forecasting.py:{arg}: use one of {', '.join(SERIES)}")
  c = load_file(pathlib.Path(__file__).with_name("series.py"))
  for key, value in SERIES[arg].items():
    c.data[key] = value
  return c

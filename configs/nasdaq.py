"""DA-RNN in the paper's own setting (Qin et al. 2017, NASDAQ-100): the index NDX at minute T
from its history and the 81 stocks up to and including minute T (data.nowcast), T = 10,
m = p = 64. The data is not shipped: give the CSV (a header row, 81 stock columns, NDX last).

  python launch.py --config configs/nasdaq.py --workdir runs/nasdaq \
      --config.data.path=../shared/data/nasdaq100-sample.csv

Expected result (the 4,517-row sample, seed 0): docs/forecasting.md.
"""

import pathlib

from seqattn.config import load_file


def get_config(arg=None):
  del arg
  c = load_file(pathlib.Path(__file__).with_name("series.py"))
  c.data.path = ""  # required: --config.data.path=<the CSV>
  c.data.time_column = ""  # one row a minute, in order
  c.data.target_column = "NDX"
  c.data.driving_columns = ""  # every other column: the 81 stocks
  c.data.window = 10  # T (the paper's best on NASDAQ-100)
  c.data.nowcast = True  # the paper: x_T is known when y_T is forecast
  c.data.val_fraction = 0.1
  c.data.test_fraction = 0.1
  c.data.seasonal_period = 390  # minutes in a trading day (9:30-16:00)
  c.data.arima_order = "1,1,0"
  c.model.encoder_units = 64  # m = p = 64: the paper's best
  c.model.decoder_units = 64
  c.model.attention_units = 64
  c.train.batch_size = 128  # the paper's
  c.train.num_epochs = 40
  c.train.learning_rate = 0.001  # the paper's starting rate
  c.train.eval_every_steps = 100
  c.train.checkpoint_every_steps = 500
  return c

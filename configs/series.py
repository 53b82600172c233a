"""DA-RNN (Qin et al. 2017) forecasting a real multivariate series: the default series config.

Data: US macroeconomic data 1959Q1-2009Q3 (statsmodels.datasets.macrodata, public domain:
FRED, Federal Reserve Bank of St. Louis, and the Bureau of Labor Statistics; shipped inside
statsmodels, so nothing is downloaded). Target: the unemployment rate (unemp); driving series:
inflation, the 3-month T-bill rate and the real interest rate (the trending levels, GDP and the
like, leave the training range in the test years); quarterly rows, the last 15% (2002-2009)
the test part.

  python launch.py --config configs/series.py --workdir runs/series
  python launch.py --config configs/series.py --workdir runs/my --config.data.path=my.csv \
      --config.data.time_column=date --config.data.target_column=y --config.data.driving_columns=
  python launch.py --workdir runs/series --mode predict my.csv

Ablations (the paper's baselines) by overrides: --config.model.input_attention=false (temporal
attention only), --config.model.attention=none (input attention only), both (the plain
encoder-decoder). Expected result: docs/forecasting.md.
"""

import pathlib

import ml_collections

from seqattn.config import load_file


def get_config(arg=None):
  del arg
  c = ml_collections.ConfigDict()
  c.seed = 0  # initialisation and shuffling; the data is the file

  c.data = ml_collections.ConfigDict()
  c.data.task = "series"
  c.data.path = "package:statsmodels.datasets.macrodata/macrodata.csv"
  c.data.time_column = "year,quarter"  # '' when the rows have no time column
  c.data.target_column = "unemp"
  c.data.driving_columns = "infl,tbilrate,realint"  # rates (levels trend out of the training range); '': all others
  c.data.window = 4  # T: input steps (quarters); 8 and 12 did worse (docs/forecasting.md)
  c.data.horizon = 1  # H: steps forecast (1: the paper's one-step setting)
  c.data.nowcast = False  # True: the paper's x_T known when forecasting y_T
  c.data.val_fraction = 0.15
  c.data.test_fraction = 0.25  # the test part: every origin of it is forecast (backtest: 5 folds)
  c.data.folds = 5  # --mode backtest: the test part forecast by 5 models, each refitted
  c.data.fold = -1  # -1: the whole test part from one model (--mode train)
  c.data.seeds = 5  # --mode backtest: seeds a fold (seed, seed + 1, ...), also averaged
  c.data.fill = "error"  # missing values: error | previous | linear
  c.data.difference = True  # model first differences, summed back onto the last known level
  c.data.seasonal_period = 4  # quarters a year (seasonal naive)
  c.data.arima_order = "auto"  # or "p,d,q"; auto: KPSS for d, then AIC, on the training rows
  c.data.loss = "gaussian"  # mean and scale by likelihood: 80% and 95% prediction intervals

  c.model = ml_collections.ConfigDict()
  c.model.architecture = "darnn"
  c.model.encoder_units = 32  # m
  c.model.decoder_units = 32  # p
  c.model.input_attention = True
  c.model.attention = "additive"  # temporal score (the paper's); 'none': c_t = h_T
  c.model.attention_units = 32
  c.model.attention_window = 4  # D, local_m / local_p only
  c.model.energy_bias = 5.0  # course_mlp only: b_w's initial value (configs/dates.py)
  c.model.highway = "target"  # + a linear autoregression (LSTNet), trained jointly

  # Training, decoding and mesh settings are the date model's (configs/dates.py) but these:
  dates = load_file(pathlib.Path(__file__).with_name("dates.py"))
  c.train, c.decode, c.mesh = dates.train, dates.decode, dates.mesh
  c.train.batch_size = 32
  c.train.num_epochs = 150
  c.train.learning_rate = 0.003
  c.train.schedule = "cosine"
  c.train.grad_clip_norm = 1.0
  c.train.eval_batch_size = 256
  c.train.best_metric = "val_rmse"
  c.train.eval_every_steps = 20  # small series: validation is cheap, and the best step early
  c.train.checkpoint_every_steps = 100
  c.train.test_checkpoint = "best"  # the parameters of the best validation RMSE are tested
  c.train.early_stopping_patience = 10  # evaluations without a better one (200 steps)
  return c

"""Forecasting baselines on the same windows as the models: naive, seasonal naive, a linear
autoregression on the same inputs (least squares) and ARIMA (statsmodels).

Each returns forecasts [W, H] in the data's own units for the forecast origins o_W (the last
row whose target is known; the forecasts are of rows o+1..o+H).
"""

from __future__ import annotations

import warnings

import numpy as np


def naive(y_N: np.ndarray, origins_W: np.ndarray, horizon: int) -> np.ndarray:
  """ŷ_{o+h} = y_o: the last known value."""
  return np.repeat(y_N[origins_W][:, None], horizon, 1)


def seasonal_naive(y_N: np.ndarray, origins_W: np.ndarray, horizon: int,
                   period: int) -> np.ndarray:
  """ŷ_{o+h} = y_{o+h-m·k}, k = ⌈h/m⌉: the value one (or more) seasons of m rows earlier."""
  h = np.arange(1, horizon + 1)
  back = period * np.ceil(h / period).astype(int)
  return y_N[origins_W[:, None] + h[None, :] - back[None, :]]


def linear(train_inputs_WxTxK: np.ndarray, train_targets_WxH: np.ndarray,
           inputs_WxTxK: np.ndarray) -> np.ndarray:
  """A direct linear autoregression: every input of the window (the driving series and the
  target's history, scaled) and a bias, one least-squares fit per horizon step (numpy lstsq;
  the minimum-norm solution when there are more inputs than windows)."""
  def design(x):
    return np.concatenate([x.reshape(len(x), -1), np.ones((len(x), 1))], 1).astype(np.float64)
  coef, *_ = np.linalg.lstsq(design(train_inputs_WxTxK), train_targets_WxH.astype(np.float64),
                             rcond=None)
  return design(inputs_WxTxK) @ coef


def parse_order(text: str) -> tuple[int, int, int] | None:
  """'p,d,q' -> (p, d, q); 'auto' -> None (chosen on the training rows: select_order)."""
  if text == "auto":
    return None
  parts = [p.strip() for p in text.split(",")]
  if len(parts) != 3 or not all(p.isdigit() for p in parts):
    raise ValueError(f"data.arima_order={text!r} is not valid; use 'p,d,q', e.g. '1,1,0', or "
                     f"'auto'.")
  return tuple(int(p) for p in parts)


def select_order(y_train: np.ndarray, max_p: int = 3, max_q: int = 2) -> tuple[int, int, int]:
  """The order auto.arima would choose, in its simplest form (Hyndman & Khandakar 2008): d = 1
  when the KPSS test rejects level stationarity at 5%, else 0; then (p, q) of the lowest AIC
  over p <= max_p, q <= max_q, each fitted on `y_train` alone."""
  from statsmodels.tsa.arima.model import ARIMA
  from statsmodels.tsa.stattools import kpss
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # look-up table bounds, convergence chatter
    d = int(kpss(y_train, regression="c", nlags="auto")[1] < 0.05)
    fits = {}
    for p in range(max_p + 1):
      for q in range(max_q + 1):
        try:
          fits[p, d, q] = ARIMA(y_train, order=(p, d, q)).fit().aic
        except (ValueError, np.linalg.LinAlgError):
          continue
  return min(fits, key=fits.get)


def arima(y_N: np.ndarray, train_rows: int, origins_W: np.ndarray, horizon: int,
          order: tuple[int, int, int]) -> np.ndarray:
  """ARIMA(p, d, q) of the target alone, fitted on the training rows; its parameters are then
  kept fixed and each origin forecasts from the data up to it (no refit, no look-ahead)."""
  from statsmodels.tsa.arima.model import ARIMA
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # convergence chatter on short series
    fitted = ARIMA(y_N[:train_rows], order=order).fit()
    full = fitted.apply(y_N)
    if horizon == 1:  # one-step predictions at every row, each from the rows before it
      return full.get_prediction().predicted_mean[origins_W + 1][:, None]
    return np.stack([full.get_prediction(start=o + 1, end=o + horizon, dynamic=True)
                     .predicted_mean for o in origins_W])

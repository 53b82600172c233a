"""A series' rows as model data: missing values filled within parts, the rolling-origin folds
(train, validation, a gap, the test block), the scaler fitted on the training rows only, first
differences, and the windows.

Notation (Qin et al. 2017): n driving series x^1..x^n and the target y, one row a time step.
A window has its forecast origin o (the last row whose target is known): the model reads
y at rows o-T+1..o and x at rows o-T+1+lead..o+lead, and forecasts y at rows o+1..o+H.
lead = 1 is the paper's setting (the driving series are observed at the target's own time:
ŷ_T from y_1..y_{T-1} and x_1..x_T); lead = 0 forecasts from the past alone.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from seqattn.data.table import Fill, line

def fill_parts(values_NxK: np.ndarray, fill: Fill, bounds: Sequence[int] = ()) -> np.ndarray:
  """Missing values (NaN) filled within each part of rows cut at `bounds`, so that no filled
  value reads a value of a later part: 'previous' carries the last known value forward,
  'linear' interpolates between known neighbours; a part's leading gap takes its first known
  value, and a part with none the last value before it. With 'error' the only missing value
  is the last row's target (what `predict` forecasts), which no window reads."""
  out = values_NxK.copy()
  if fill == "error" or not np.isnan(out).any():
    return out
  edges = [0, *bounds, len(out)]
  for lo, hi in zip(edges[:-1], edges[1:]):
    part = pd.DataFrame(out[lo:hi])
    part = part.ffill() if fill == "previous" else part.interpolate("linear", limit_area="inside")
    out[lo:hi] = part.ffill().bfill().to_numpy()
    if lo:  # nothing known in this part: the last value before it
      out[lo:hi] = np.where(np.isnan(out[lo:hi]), out[lo - 1], out[lo:hi])
  return out


@dataclasses.dataclass(frozen=True)
class Scaler:
  """z = (v - mean) / std per column, fitted on the training rows only."""

  mean_K: np.ndarray
  std_K: np.ndarray

  @classmethod
  def fit(cls, values_NxK: np.ndarray, names: tuple[str, ...], rows: slice) -> "Scaler":
    part = values_NxK[rows]
    std = part.std(0)
    constant = [n for n, s in zip(names, std) if s == 0.0]
    if constant:
      raise ValueError(f"column {constant[0]!r} is constant on the training rows (lines "
                       f"{line(rows.start)}..{line(rows.stop - 1)}, value "
                       f"{part[0, names.index(constant[0])]:g}): it carries no signal (or no "
                       f"change, with data.difference) and cannot be scaled; leave it out of "
                       f"data.driving_columns.")
    return cls(part.mean(0), std)

  def scale(self, values_xK: np.ndarray) -> np.ndarray:
    return ((values_xK - self.mean_K) / self.std_K).astype(np.float32)

  def unscale_target(self, z: np.ndarray) -> np.ndarray:
    """The target column back in the data's own units."""
    return np.asarray(z, np.float64) * self.std_K[-1] + self.mean_K[-1]


@dataclasses.dataclass(frozen=True)
class Fold:
  """One fit-and-test of a series, in time order: training targets in rows [0, train_end),
  validation targets in [train_end, val_end), then a gap of H rows that no fitted model's
  target reads, then the forecasts of `test_origins` (targets o+1..o+H, inputs up to o)."""

  train_end: int
  val_end: int
  test_origins: np.ndarray

  @property
  def bounds(self) -> tuple[int, int]:
    """Where the parts whose missing values are filled apart begin (fill_parts)."""
    return self.train_end, self.val_end


def fold(n_rows: int, val_fraction: float, test_fraction: float, horizon: int, folds: int,
         k: int) -> Fold:
  """The k-th of `folds` rolling origins (k = -1: the whole test part as one fold).

  The test part holds every origin whose H targets lie in the last `test_fraction` of the rows;
  fold k forecasts the k-th of `folds` consecutive, equal blocks of those origins from a model
  (and baselines) fitted on the rows before the block: an expanding window that ends H rows
  before its first target, its last `val_fraction` of the file's rows the validation part.
  """
  first_target = n_rows - int(round(n_rows * test_fraction))
  test = np.arange(first_target - 1, n_rows - horizon)
  if len(test) < max(folds, 1) or first_target - horizon <= 0:
    raise ValueError(f"the test part (data.test_fraction={test_fraction:g} of {n_rows} rows) "
                     f"holds {max(len(test), 0)} forecast origins of data.horizon={horizon} "
                     f"steps, fewer than data.folds={folds}; raise data.test_fraction or lower "
                     f"data.folds.")
  block = test if k < 0 else np.array_split(test, folds)[k]
  val_end = int(block[0]) + 1 - horizon
  return Fold(val_end - int(round(n_rows * val_fraction)), val_end, block)


def differenced(values_NxK: np.ndarray) -> np.ndarray:
  """Δv: row i holds v_i - v_{i-1}; row 0 (nothing before it) is NaN and never read."""
  return np.concatenate([np.full_like(values_NxK[:1], np.nan), np.diff(values_NxK, axis=0)])


def origins(lo: int, hi: int, window: int, horizon: int, first_row: int = 0) -> np.ndarray:
  """Forecast origins o whose target rows o+1..o+H all lie in [lo, hi) and whose inputs lie in
  the file from `first_row` on (1 for differences)."""
  first = max(window - 1 + first_row, lo - 1)
  last = hi - 1 - horizon  # o + H <= hi - 1
  return np.arange(first, last + 1) if last >= first else np.zeros(0, np.int64)


def windows(z_NxK: np.ndarray, origins_W: np.ndarray, window: int, horizon: int,
            lead: int) -> tuple[np.ndarray, np.ndarray]:
  """(inputs_WxTxK, targets_WxHx1) of scaled values.

  inputs[w, t] = (x at row o-T+1+t+lead, ..., y at row o-T+1+t): step t holds the driving
  series and the target of the step before (y_{t-1} in the paper's indexing).
  """
  t = np.arange(window)
  rows_y = origins_W[:, None] - window + 1 + t[None, :]
  x = z_NxK[rows_y + lead, :-1]
  y = z_NxK[rows_y, -1:]
  targets = z_NxK[origins_W[:, None] + 1 + np.arange(horizon)[None, :], -1:]
  return np.concatenate([x, y], -1).astype(np.float32), targets.astype(np.float32)


def check_length(n_rows: int, window: int, horizon: int, path: str) -> None:
  """ValueError unless `n_rows` hold a window of T rows and the `horizon` rows after it."""
  need = window + horizon
  if n_rows < need:
    raise ValueError(f"{path}: the series has {n_rows} rows; a window of data.window={window} "
                     f"rows and data.horizon={horizon} targets needs at least {need}. Give a "
                     f"longer series or lower data.window / data.horizon.")

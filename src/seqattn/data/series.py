"""Multivariate time series from a CSV: columns by name, checks, windows, the chronological split
and the scaler fitted on the training rows only.

Notation (Qin et al. 2017): n driving series x^1..x^n and the target y, one row a time step.
A window has its forecast origin o (the last row whose target is known): the model reads
y at rows o-T+1..o and x at rows o-T+1+lead..o+lead, and forecasts y at rows o+1..o+H.
lead = 1 is the paper's setting (the driving series are observed at the target's own time:
ŷ_T from y_1..y_{T-1} and x_1..x_T); lead = 0 forecasts from the past alone.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import pathlib
from typing import Literal

import numpy as np
import pandas as pd

PACKAGE = "package:"  # a CSV shipped inside an installed package: package:<module>/<file>
Fill = Literal["error", "previous", "linear"]


@dataclasses.dataclass(frozen=True)
class Table:
  """The columns a task uses, in file order of rows.

  values_NxK: float64, the n driving series then the target (K = n + 1).
  times: one label a row (the time column(s), or the row's line number in the file).
  filled: missing cells filled, per column name (empty without any).
  """

  values_NxK: np.ndarray
  names: tuple[str, ...]
  times: tuple[str, ...]
  filled: dict[str, int]

  @property
  def driving(self) -> tuple[str, ...]:
    return self.names[:-1]

  @property
  def target(self) -> str:
    return self.names[-1]


def resolve(path: str) -> pathlib.Path:
  """A file path, or `package:<module>/<file>` for a file inside an installed package."""
  if not path.startswith(PACKAGE):
    return pathlib.Path(path).expanduser()
  module, _, name = path[len(PACKAGE):].partition("/")
  try:
    return pathlib.Path(str(importlib.resources.files(module) / name))
  except ModuleNotFoundError as e:
    raise ValueError(f"data.path={path!r}: no installed package {module!r}; install it or give "
                     f"a CSV path.") from e


def _names(text: str) -> list[str]:
  return [n.strip() for n in text.split(",") if n.strip()]


def _line(row: int) -> int:
  """The file line of data row `row` (0-based; line 1 is the header)."""
  return row + 2


def _numeric(frame: pd.DataFrame, name: str) -> np.ndarray:
  """The column as float64 (NaN where empty); ValueError naming the first non-number."""
  text = frame[name]
  values = pd.to_numeric(text, errors="coerce")
  bad = values.isna() & text.notna() & (text.str.strip() != "")
  if bad.any():
    row = int(np.argmax(bad.to_numpy()))
    raise ValueError(f"column {name!r} is not numeric: line {_line(row)} holds {text.iloc[row]!r}. "
                     f"Use a numeric column, or leave it out of data.driving_columns.")
  return values.to_numpy(np.float64)


def _fill(values_N: np.ndarray, name: str, fill: Fill, skip_last: bool) -> tuple[np.ndarray, int]:
  """Missing values filled as configured; ValueError naming the first one otherwise."""
  missing = np.isnan(values_N)
  if skip_last:
    missing[-1] = False
  if not missing.any():
    return values_N, 0
  if fill == "error":
    row = int(np.argmax(missing))
    raise ValueError(f"column {name!r} has {int(missing.sum())} missing values, the first at "
                     f"line {_line(row)}; fill them in the file, or set data.fill to 'previous' "
                     f"or 'linear'.")
  series = pd.Series(np.where(missing, np.nan, values_N))
  filled = series.ffill() if fill == "previous" else series.interpolate("linear")
  filled = filled.bfill()  # leading gaps take the first value
  out = filled.to_numpy(np.float64)
  if skip_last:
    out[-1] = values_N[-1]
  return out, int(missing.sum())


def read_csv(path: str, time_column: str, target: str, driving: str, fill: Fill = "error",
             target_may_end_empty: bool = False) -> Table:
  """The driving columns (comma-separated names; '' for every other column) and the target.

  time_column: '' (rows are in time order, labelled by line number) or one or more names
  (comma-separated, e.g. 'year,quarter'); numeric times must increase row by row.
  target_may_end_empty: the last row's target may be missing (what `predict` forecasts).
  """
  if not path:
    raise ValueError("no data file: give the CSV as --config.data.path=<file.csv>.")
  file = resolve(path)
  if not file.is_file():
    raise ValueError(f"no CSV file at {file} (data.path={path!r}); give the path of a CSV "
                     f"with a header row.")
  frame = pd.read_csv(file, dtype=str, skipinitialspace=True, keep_default_na=False,
                      na_values=[""])
  frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
  times = _names(time_column)
  wanted = times + [target] + _names(driving)
  unknown = [n for n in wanted if n not in frame.columns]
  if unknown:
    raise ValueError(f"{path}: no column {', '.join(repr(n) for n in unknown)}; the columns are "
                     f"{', '.join(repr(c) for c in frame.columns)}.")
  driving_names = _names(driving) or [c for c in frame.columns if c not in times + [target]]
  if not driving_names:
    raise ValueError(f"{path}: no driving series; name them in data.driving_columns.")
  if target in driving_names:
    raise ValueError(f"data.target_column {target!r} is also in data.driving_columns; "
                     f"the target's own history is read anyway: drop it there.")
  columns, filled = [], {}
  for name in driving_names + [target]:
    values, count = _fill(_numeric(frame, name), name, fill,
                          skip_last=target_may_end_empty and name == target)
    columns.append(values)
    if count:
      filled[name] = count
  return Table(np.stack(columns, 1), tuple(driving_names + [target]), _times(frame, times),
               filled)


def _times(frame: pd.DataFrame, names: list[str]) -> tuple[str, ...]:
  """Row labels; numeric time columns must increase strictly (rows in time order)."""
  if not names:
    return tuple(str(_line(i)) for i in range(len(frame)))
  parts = frame[names].fillna("")
  numeric = parts.apply(pd.to_numeric, errors="coerce")
  if not numeric.isna().any().any() and len(frame) > 1:
    keys = [tuple(r) for r in numeric.to_numpy()]
    for i in range(1, len(keys)):
      if keys[i] <= keys[i - 1]:
        raise ValueError(f"rows are not in time order: line {_line(i)} ({', '.join(names)} = "
                         f"{' '.join(parts.iloc[i])}) does not come after line {_line(i - 1)}; "
                         f"sort the file by time.")
  return tuple(" ".join(r) for r in parts.to_numpy())


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
                       f"{_line(rows.start)}..{_line(rows.stop - 1)}, value "
                       f"{part[0, names.index(constant[0])]:g}): it carries no signal (or no "
                       f"change, with data.difference) and cannot be scaled; leave it out of "
                       f"data.driving_columns.")
    return cls(part.mean(0), std)

  def scale(self, values_xK: np.ndarray) -> np.ndarray:
    return ((values_xK - self.mean_K) / self.std_K).astype(np.float32)

  def unscale_target(self, z: np.ndarray) -> np.ndarray:
    """The target column back in the data's own units."""
    return np.asarray(z, np.float64) * self.std_K[-1] + self.mean_K[-1]


def split_rows(n_rows: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
  """(a, b): rows [0, a) train, [a, b) validation, [b, n_rows) test, in time order."""
  a = int(round(n_rows * (1.0 - val_fraction - test_fraction)))
  b = int(round(n_rows * (1.0 - test_fraction)))
  return a, b


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

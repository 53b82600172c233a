"""Multivariate time series from a CSV: columns by name, checks, windows, the chronological split
and the scaler fitted on the training rows only.

Notation (Qin et al. 2017): n driving series x^1..x^n and the target y, one row a time step.
A window has its forecast origin o (the last row whose target is known): the model reads
y at rows o-T+1..o and x at rows o-T+1+lead..o+lead, and forecasts y at rows o+1..o+H.
lead = 1 is the paper's setting (the driving series are observed at the target's own time:
ŷ_T from y_1..y_{T-1} and x_1..x_T); lead = 0 forecasts from the past alone.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.resources
import io
import pathlib
from typing import Literal, Sequence

import numpy as np
import pandas as pd

PACKAGE = "package:"  # a CSV shipped inside an installed package: package:<module>/<file>
Fill = Literal["error", "previous", "linear"]


@dataclasses.dataclass(frozen=True)
class Table:
  """The columns a task uses, in file order of rows.

  values_NxK: float64, the n driving series (n may be 0) then the target (K = n + 1); NaN
    where a cell is empty (fill_parts fills them).
  times: one label a row (the time column(s), or the row's line number in the file).
  missing: empty cells per column name (none without any).
  """

  values_NxK: np.ndarray
  names: tuple[str, ...]
  times: tuple[str, ...]
  missing: dict[str, int]

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
  """The column as float64 (NaN where empty); ValueError naming the first non-number, or the
  first infinity (pandas reads 'inf' as a number)."""
  text = frame[name]
  values = pd.to_numeric(text, errors="coerce")
  bad = values.isna() & text.notna() & (text.str.strip() != "")
  if bad.any():
    row = int(np.argmax(bad.to_numpy()))
    raise ValueError(f"column {name!r} is not numeric: line {_line(row)} holds {text.iloc[row]!r}. "
                     f"Use a numeric column, or leave it out of data.driving_columns.")
  values = values.to_numpy(np.float64)
  infinite = np.isinf(values)
  if infinite.any():
    row = int(np.argmax(infinite))
    raise ValueError(f"column {name!r} holds {text.iloc[row]!r} at line {_line(row)}, not a "
                     f"finite number ({int(infinite.sum())} such cells): replace them with the "
                     f"real values, or leave the cells empty and set data.fill.")
  return values


def _missing(values_N: np.ndarray, name: str, fill: Fill, skip_last: bool) -> int:
  """How many values of the column are missing; ValueError when that cannot be filled."""
  missing = np.isnan(values_N)
  if missing.all():
    raise ValueError(f"column {name!r} is empty: no line holds a value. Fill it in the file, or "
                     f"choose another column.")
  if skip_last:
    missing[-1] = False
  if missing.any() and fill == "error":
    row = int(np.argmax(missing))
    raise ValueError(f"column {name!r} has {int(missing.sum())} missing values, the first at "
                     f"line {_line(row)}; fill them in the file, or set data.fill to 'previous' "
                     f"or 'linear'.")
  return int(missing.sum())


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


def _decode(file: pathlib.Path) -> str:
  """The file's text; ValueError naming the line of the first byte that is not UTF-8."""
  data = file.read_bytes()
  try:
    return data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    raise ValueError(f"{file}: line {line} is not UTF-8 text (byte 0x{data[e.start]:02x}); save "
                     f"the file as UTF-8 (e.g. iconv -f latin1 -t utf-8).") from None


def _header(text: str, path: str) -> list[str]:
  """The header row's names; ValueError naming any that appear twice (pandas would rename a
  copy 'name.1', and a copy of the target could then be read as a driving series)."""
  names = [n.strip() for n in next(csv.reader(io.StringIO(text)), [])]
  twice = sorted({n for n in names if names.count(n) > 1})
  if twice:
    raise ValueError(f"{path}: the header names {', '.join(repr(n) for n in twice)} more than "
                     f"once (columns {', '.join(str(i + 1) for i, n in enumerate(names) if n in twice)}); "
                     f"give every column its own name.")
  return names


def read_csv(path: str, time_column: str, target: str, driving: str | tuple[str, ...],
             fill: Fill = "error", target_may_end_empty: bool = False) -> Table:
  """The driving columns and the target, missing values left as NaN (see fill_parts).

  driving: comma-separated names, '' for every other column (there may be none: a univariate
  series), or a tuple of exactly the names to read (what a trained model reads).
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
  text = _decode(file)
  columns = _header(text, path)
  frame = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True,
                      keep_default_na=False, na_values=[""])
  frame.columns = columns
  times = _names(time_column)
  named = list(driving) if isinstance(driving, tuple) else _names(driving)
  wanted = times + [target] + named
  unknown = [n for n in wanted if n not in frame.columns]
  if unknown:
    raise ValueError(f"{path}: no column {', '.join(repr(n) for n in unknown)}; the columns are "
                     f"{', '.join(repr(c) for c in frame.columns)}.")
  driving_names = (named if named or isinstance(driving, tuple)
                   else [c for c in frame.columns if c not in times + [target]])
  if target in driving_names:
    raise ValueError(f"data.target_column {target!r} is also in data.driving_columns; "
                     f"the target's own history is read anyway: drop it there.")
  values, missing = [], {}
  for name in driving_names + [target]:
    values.append(_numeric(frame, name))
    count = _missing(values[-1], name, fill, skip_last=target_may_end_empty and name == target)
    if count:
      missing[name] = count
  return Table(np.stack(values, 1), tuple(driving_names + [target]), _times(frame, times),
               missing)


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

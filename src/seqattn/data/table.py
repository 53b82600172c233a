"""A CSV of time series read into a table: columns by name, one row a time step, with every
cell that cannot be used refused at load, naming its line and column (numbers only, finite,
UTF-8, each column named once, time in order); empty cells are kept as NaN for
seqattn.data.series.fill_parts.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.resources
import io
import pathlib
from typing import Literal

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


def line(row: int) -> int:
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
    raise ValueError(f"column {name!r} is not numeric: line {line(row)} holds {text.iloc[row]!r}. "
                     f"Use a numeric column, or leave it out of data.driving_columns.")
  values = values.to_numpy(np.float64)
  infinite = np.isinf(values)
  if infinite.any():
    row = int(np.argmax(infinite))
    raise ValueError(f"column {name!r} holds {text.iloc[row]!r} at line {line(row)}, not a "
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
                     f"line {line(row)}; fill them in the file, or set data.fill to 'previous' "
                     f"or 'linear'.")
  return int(missing.sum())


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
    return tuple(str(line(i)) for i in range(len(frame)))
  parts = frame[names].fillna("")
  numeric = parts.apply(pd.to_numeric, errors="coerce")
  if not numeric.isna().any().any() and len(frame) > 1:
    keys = [tuple(r) for r in numeric.to_numpy()]
    for i in range(1, len(keys)):
      if keys[i] <= keys[i - 1]:
        raise ValueError(f"rows are not in time order: line {line(i)} ({', '.join(names)} = "
                         f"{' '.join(parts.iloc[i])}) does not come after line {line(i - 1)}; "
                         f"sort the file by time.")
  return tuple(" ".join(r) for r in parts.to_numpy())

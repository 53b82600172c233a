"""The series task's parts: its config (the `data` group), its codec (the column names and the
scaler fitted on the training rows, saved as series.json) and its data (windows, and their
values back in the series' own units).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Literal

import numpy as np

from seqattn.files import workdirs
from seqattn.measures import baselines
from seqattn.data import series
from seqattn.data.batching import Split
from seqattn.data.table import Table
from seqattn.models import ends
from seqattn.schema import POSITIVE, PROBABILITY, refuse
from seqattn.tasks.base import Data


@dataclasses.dataclass(frozen=True)
class SeriesConfig:
  task: str
  path: str  # a CSV file, or package:<module>/<file> for one an installed package ships
  time_column: str  # '' (rows in time order) or names, comma-separated ('year,quarter')
  target_column: str
  driving_columns: str  # comma-separated names; '' for every other column
  window: int = dataclasses.field(metadata=POSITIVE)  # T
  horizon: int = dataclasses.field(metadata=POSITIVE)  # H
  # True: the paper's setting, the driving series known at the target's own time (x_T for
  # y_T); False: forecasts from the past alone.
  nowcast: bool
  val_fraction: float = dataclasses.field(metadata=PROBABILITY)
  # The last test_fraction of the rows: the test part, forecast by `folds` refitted models in
  # `--mode backtest` (rolling origins, seqattn.data.series.fold); `fold` picks one of them
  # (-1: the whole test part from one model, what `--mode train` scores).
  test_fraction: float = dataclasses.field(metadata=PROBABILITY)
  folds: int = dataclasses.field(metadata=POSITIVE)
  fold: int
  seeds: int = dataclasses.field(metadata=POSITIVE)  # runs a fold in a backtest (an ensemble)
  # Missing values: refuse, or fill within each part (train, validation, the rest), so that no
  # filled value reads a later part's values.
  fill: Literal["error", "previous", "linear"]
  # True: the model reads and forecasts first differences (of every column), summed back onto
  # the last known level; levels that leave the training range then stay readable.
  difference: bool
  seasonal_period: int = dataclasses.field(metadata=POSITIVE)  # m of the seasonal naive
  arima_order: str  # 'p,d,q', or 'auto': chosen on each fit's training rows (KPSS, then AIC)
  # The forecasts' training loss; 'gaussian' / 'student_t': a normal (Student-t) distribution
  # per step (location and scale, by negative log-likelihood), whose sample paths give 80% and
  # 95% prediction intervals.
  loss: Literal["mse", "mae", "gaussian", "student_t"]

  def __post_init__(self):
    refuse([(self.window < 2, "data.window must be >= 2 (the target's history is T-1 steps)"),
            (not 0 < self.val_fraction + self.test_fraction < 1 or self.test_fraction == 0,
             "data.val_fraction + data.test_fraction must lie in (0, 1), with a test part"),
            (not -1 <= self.fold < self.folds,
             f"data.fold={self.fold} is not valid; use -1 (the whole test part) or a fold "
             f"0..{self.folds - 1} of data.folds={self.folds}")])
    baselines.parse_order(self.arima_order)

  @property
  def lead(self) -> int:
    return int(self.nowcast)


@dataclasses.dataclass(frozen=True)
class SeriesCodec:
  """Column names, the scaler fitted on the training rows, and the forecasts' loss."""

  names: tuple[str, ...]  # driving series, then the target
  scaler: series.Scaler
  loss: str = "mse"  # data.loss

  @property
  def source(self) -> ends.Features:
    """Step t: x_t^1..x_t^n and y_{t-1} (the DA-RNN's layout: driving series, then target)."""
    return ends.Features(len(self.names))

  @property
  def target(self) -> ends.Features:
    return ends.Features(1, self.loss)

  def save(self, workdir: pathlib.Path) -> None:
    workdirs.write_text(workdir / "series.json", json.dumps(dict(
        names=self.names, mean=self.scaler.mean_K.tolist(), std=self.scaler.std_K.tolist()),
        indent=1))

  @classmethod
  def restore(cls, workdir: pathlib.Path, loss: str) -> "SeriesCodec":
    saved = json.loads((workdir / "series.json").read_text())
    return cls(tuple(saved["names"]), series.Scaler(np.array(saved["mean"]),
                                                    np.array(saved["std"])), loss)


def to_levels(z_WxH: np.ndarray, scaler: series.Scaler, difference: bool,
              last_level_W: np.ndarray) -> np.ndarray:
  """Model outputs in the data's own units: unscaled, and for differences summed onto the last
  known level y_o (ŷ_{o+h} = y_o + Σ_{j<=h} Δŷ_{o+j})."""
  values = scaler.unscale_target(z_WxH)
  return last_level_W[:, None] + np.cumsum(values, 1) if difference else values


@dataclasses.dataclass(frozen=True)
class SeriesData(Data):
  table: Table | None = None  # the columns as read, NaN where a cell is empty
  values_NxK: np.ndarray | None = None  # the same, filled (data.fill); data units
  fold: series.Fold | None = None  # the rows of each part
  origins: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # per split
  difference: bool = False

  @property
  def y_N(self) -> np.ndarray:
    """The target, data units."""
    return self.values_NxK[:, -1]

  def split_name(self, split: Split) -> str:
    return next(name for name in ("train", "val", "test") if getattr(self, name) is split)

  def levels(self, name: str, z_WxH: np.ndarray) -> np.ndarray:
    """Forecasts [W, H] of split `name` in the data's own units."""
    return to_levels(z_WxH, self.codec.scaler, self.difference, self.y_N[self.origins[name]])

  def path_levels(self, name: str, z_WxSxH: np.ndarray) -> np.ndarray:
    """Sample paths [W, S, H] of split `name` in the data's own units (each path's
    differences summed on its own)."""
    w, s, h = z_WxSxH.shape
    last_WS = np.repeat(self.y_N[self.origins[name]], s)
    return to_levels(z_WxSxH.reshape(w * s, h), self.codec.scaler, self.difference,
                     last_WS).reshape(w, s, h)

  def actual(self, name: str) -> np.ndarray:
    """The targets [W, H] of split `name`, read from the file."""
    horizon = self.test.targets.shape[1]
    rows = self.origins[name][:, None] + 1 + np.arange(horizon)[None, :]
    return self.y_N[rows]

  @property
  def naive_mae(self) -> float:
    """In-sample MAE of the one-step naive forecast on the training rows (MASE's scale)."""
    return float(np.mean(np.abs(np.diff(self.y_N[:self.fold.train_end]))))

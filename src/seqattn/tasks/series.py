"""Forecasting a real multivariate time series read from a CSV (Qin et al. 2017's setting).

Windows of T steps (data.window) with H targets (data.horizon), split in time order into
train/val/test (seqattn.data.series); the scaler is fitted on the training rows alone and saved
in the workdir (series.json). Metrics are in the data's own units: MAE, RMSE, MAPE, MASE; the
test report adds the baselines (seqattn.measures.baselines) and plots. `predict` reads a CSV and
forecasts the H values after its latest window. Its config, codec and data: tasks/series_data.py.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import numpy as np
from absl import logging

from seqattn.files import workdirs
from seqattn.measures import baselines, metrics
from seqattn.data import series
from seqattn.data.table import read_csv
from seqattn.data.batching import Split
from seqattn.tasks.base import Output, Source, Task
from seqattn.tasks.series_data import SeriesCodec, SeriesConfig, SeriesData, to_levels


class Series(Task):
  Config = SeriesConfig
  # mape is left out of a split with a zero target (seqattn.measures.metrics.forecast_errors).
  METRICS = {"loss": "min", "mae": "min", "rmse": "min", "smape": "min", "mape": "min",
             "mase": "min"}

  @property
  def max_input_len(self) -> int:
    return self.cfg.window

  @property
  def max_target_len(self) -> int:
    return self.cfg.horizon

  def load(self, seed: int) -> SeriesData:
    del seed  # the data is the file
    cfg = self.cfg
    table = read_csv(cfg.path, cfg.time_column, cfg.target_column, cfg.driving_columns,
                     cfg.fill)
    n_rows = len(table.values_NxK)
    series.check_length(n_rows, cfg.window, cfg.horizon, cfg.path)
    fold = series.fold(n_rows, cfg.val_fraction, cfg.test_fraction, cfg.horizon, cfg.folds,
                       cfg.fold)
    levels = series.fill_parts(table.values_NxK, cfg.fill, fold.bounds)
    for name, count in table.missing.items():
      logging.warning("%s: filled %d missing values of column %r (data.fill=%r)", cfg.path,
                      count, name, cfg.fill)
    first = int(cfg.difference)
    values = series.differenced(levels) if cfg.difference else levels
    unknown = [n for n, gap in zip(table.names, np.isnan(levels[:fold.train_end]).all(0)) if gap]
    if unknown:
      raise ValueError(f"{cfg.path}: column {unknown[0]!r} has no value in the training rows "
                       f"(lines 2..{fold.train_end + 1}); leave it out of data.driving_columns.")
    codec = SeriesCodec(table.names, series.Scaler.fit(values, table.names,
                                                       slice(first, fold.train_end)), cfg.loss)
    z = codec.scaler.scale(values)
    origins = dict(train=series.origins(0, fold.train_end, cfg.window, cfg.horizon, first),
                   val=series.origins(fold.train_end, fold.val_end, cfg.window, cfg.horizon,
                                      first),
                   test=fold.test_origins)
    splits = {}
    for name, (lo, hi) in dict(train=(0, fold.train_end), val=(fold.train_end, fold.val_end),
                               test=(fold.val_end, n_rows)).items():
      if not len(origins[name]) or origins[name][0] < cfg.window - 1 + first:
        raise ValueError(f"{cfg.path}: the {name} part (lines {lo + 2}..{hi + 1}) holds no "
                         f"window of data.window={cfg.window} + data.horizon={cfg.horizon}; "
                         f"give a longer series, or change data.val_fraction/test_fraction"
                         f"/folds.")
      inputs, targets = series.windows(z, origins[name], cfg.window, cfg.horizon, cfg.lead)
      splits[name] = Split(inputs, np.full(len(inputs), cfg.window, np.int32), targets)
    return SeriesData(splits["train"], splits["val"], splits["test"], codec, table=table,
                      values_NxK=levels, fold=fold, origins=origins, difference=cfg.difference)

  def restore(self, workdir: pathlib.Path) -> SeriesCodec:
    return SeriesCodec.restore(workdir, self.cfg.loss)

  def score(self, data: SeriesData, split: Split, predictions: np.ndarray,
            paths: np.ndarray | None = None) -> dict[str, Any]:
    """Forecast errors in the data's units; with sample paths, the intervals' coverage and
    width and the CRPS (seqattn.measures.metrics.interval_scores)."""
    name = data.split_name(split)
    actual = data.actual(name)
    out = metrics.forecast_errors(data.levels(name, predictions[..., 0]), actual, data.naive_mae)
    if paths is not None:
      out.update(metrics.interval_scores(data.path_levels(name, paths[..., 0]), actual))
    return out

  def arima_order(self, data: SeriesData) -> tuple[int, int, int]:
    """data.arima_order, or the order chosen on the training rows ('auto')."""
    return (baselines.parse_order(self.cfg.arima_order)
            or baselines.select_order(data.y_N[:data.fold.train_end]))

  def baselines(self, data: SeriesData,
                arima_order: tuple[int, int, int] | None = None) -> dict[str, np.ndarray]:
    """Forecasts [W, H] of each baseline on the test windows, data units, each fitted on the
    training rows alone."""
    cfg, y = self.cfg, data.y_N
    origins = data.origins["test"]
    linear = baselines.linear(data.train.inputs, data.train.targets[..., 0], data.test.inputs)
    return dict(naive=baselines.naive(y, origins, cfg.horizon),
                seasonal_naive=baselines.seasonal_naive(y, origins, cfg.horizon,
                                                        cfg.seasonal_period),
                linear=data.levels("test", linear),
                arima=baselines.arima(y, data.fold.train_end, origins, cfg.horizon,
                                      arima_order or self.arima_order(data)))

  def report(self, data: SeriesData, predictions: np.ndarray, attention: dict[str, np.ndarray],
             workdir: pathlib.Path | None, paths: np.ndarray | None = None) -> dict[str, Any]:
    """The baselines' test errors, and every forecaster's RMSE at each step h = 1..H; with a
    workdir, the plots of the test part and forecasts_test.npz (the origins, actual values,
    forecasts and sample paths in the data's units: what `--mode backtest` reads)."""
    actual = data.actual("test")
    order = self.arima_order(data)
    forecasts = dict(model=data.levels("test", predictions[..., 0]), **self.baselines(data, order))
    out = dict(baselines={name: metrics.forecast_errors(f, actual, data.naive_mae)
                          for name, f in forecasts.items() if name != "model"},
               arima_order=list(order),
               rmse_by_horizon={name: np.sqrt(np.mean((f - actual) ** 2, 0)).tolist()
                                for name, f in forecasts.items()})
    if workdir is not None:
      from seqattn.files import plots  # matplotlib only where plots are drawn
      levels = None if paths is None else data.path_levels("test", paths[..., 0])
      bands = None if levels is None else {
          level: tuple(np.quantile(levels[:, :, 0], q, axis=1))
          for level, q in metrics.INTERVALS.items()}
      rows = data.origins["test"] + 1
      plots.forecast_vs_actual([data.table.times[r] for r in rows], actual[:, 0],
                               {k: forecasts[k][:, 0] for k in ("model", "naive", "linear")},
                               workdir / "forecast_test.png", data.codec.names[-1], bands)
      plots.attention_plots(attention, data.codec.names[:-1], workdir, "test")
      extra = {} if levels is None else dict(paths=levels.astype(np.float32))
      with workdirs.replaced(workdir / "forecasts_test.npz") as f:
        np.savez(f, origins=data.origins["test"], actual=actual, naive_mae=data.naive_mae,
                 **forecasts, **extra)
    return out

  def summary(self, results: dict[str, Any]) -> str:
    """The model's test errors beside every baseline's (and its intervals, where it has
    them), as a markdown table."""
    rows = dict(model={k[len("test_"):]: v for k, v in results.items() if k.startswith("test_")},
                **results["baselines"])
    columns = [c for c in ("rmse", "mae", "smape", "mape", "mase", "coverage_80", "coverage_95",
                           "crps") if c in rows["model"]]
    lines = [f"| test, {int(results['test_examples'])} windows | " + " | ".join(columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name, errors in rows.items():
      cells = [("" if c not in errors else f"{errors[c]:.1%}" if c.startswith("coverage")
                else f"{errors[c]:.4g}") for c in columns]
      label = f"arima{tuple(results['arima_order'])}" if name == "arima" else name
      lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

  def read(self, codec: SeriesCodec, text: str) -> Source:
    """The latest window of the CSV at path `text`: the H rows after it are forecast. In the
    paper's setting (data.nowcast) the last row's driving values are read and its target is
    forecast (it may be left empty)."""
    cfg = self.cfg
    table = read_csv(text, cfg.time_column, codec.names[-1], codec.names[:-1],
                     cfg.fill, target_may_end_empty=cfg.nowcast)
    n_rows = len(table.values_NxK)
    series.check_length(n_rows, cfg.window + cfg.difference, cfg.lead, text)
    origin = n_rows - 1 - cfg.lead  # the driving values of `lead` rows ahead are read
    levels = series.fill_parts(table.values_NxK, cfg.fill)
    values = series.differenced(levels) if cfg.difference else levels
    inputs, _ = series.windows(codec.scaler.scale(values), np.array([origin]), cfg.window, 0,
                               cfg.lead)
    rows = np.arange(origin - cfg.window + 1, origin + 1)
    shown = (f"{pathlib.Path(text).name} ({codec.names[-1]} up to {table.times[origin]}; the "
             f"next {cfg.horizon} value{'s' * (cfg.horizon > 1)})")
    warnings = [f"filled {c} missing values of {n!r}" for n, c in table.missing.items()]
    return SeriesSource(inputs[0], [table.times[r] for r in rows], shown, warnings,
                        list(codec.names[:-1]), float(levels[origin, -1]))

  def write(self, codec: SeriesCodec, output: np.ndarray,
            source: Source | None = None) -> Output:
    """The H forecasts in the data's units (differences are summed onto the source's last
    level), labelled +1..+H."""
    last = np.array([source.last_level if self.cfg.difference else 0.0])
    values = to_levels(output[None, :, 0], codec.scaler, self.cfg.difference, last)[0]
    labels = [f"+{h + 1}" for h in range(len(values))]
    return Output(" ".join(f"{v:.6g}" for v in values), labels)

  def intervals(self, codec: SeriesCodec, paths_SxHx1: np.ndarray, source: SeriesSource) -> str:
    """The 80% and 95% prediction intervals of each step, from the forecast's sample paths:
    '80%: lo-hi lo-hi | 95%: ...' in the data's units."""
    last = np.full(len(paths_SxHx1), source.last_level if self.cfg.difference else 0.0)
    levels_SxH = to_levels(paths_SxHx1[..., 0], codec.scaler, self.cfg.difference, last)
    parts = []
    for level, (lo, hi) in metrics.INTERVALS.items():
      low, high = np.quantile(levels_SxH, [lo, hi], axis=0)
      parts.append(f"{level}%: " + " ".join(f"{a:.6g}..{b:.6g}" for a, b in zip(low, high)))
    return " | ".join(parts)


@dataclasses.dataclass(frozen=True)
class SeriesSource(Source):
  last_level: float = 0.0  # y_o, the latest known target value

"""Rolling-origin backtests of a series config (`--mode backtest`): the test part forecast by
`data.folds` models, each fitted on the rows before its block of origins (seqattn.data.series.
fold), with `data.seeds` seeds each, every baseline refitted on exactly the same rows.

Each (fold, seed) is an ordinary run in `<workdir>/points/`, trained and claimed as a sweep's
points are (seqattn.experiments.sweep.train_points: resumable, several workers); a config file
that defines sweep(add) backtests each of its points (an ablation). The runs' forecasts_test.npz
are then scored together: every error per fold and seed, its mean and 95% interval over folds ×
seeds (baselines: over folds), RMSE at each step h = 1..H, the intervals' coverage and CRPS, and
the ensemble (per fold, the mean of the seeds' forecasts, the seeds' sample paths pooled).
Written to backtest.json, backtest.md and backtest_by_horizon.png.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import ml_collections
import numpy as np

from seqattn import config as config_lib
from seqattn.experiments import report, sweep
from seqattn.files import plots, workdirs
from seqattn.measures import metrics
from seqattn.runtime import parallel
from seqattn.experiments.report import mean_ci, point_name


def points(config: ml_collections.ConfigDict, module=None) -> list[dict[str, Any]]:
  """Every (group, fold, seed) to train: the sweep's points (seed left out) or the config alone."""
  groups = [{k: v for k, v in o.items() if k != "seed"} for o in sweep.points(module)] \
      if module is not None and hasattr(module, "sweep") else [{}]
  unique = [g for i, g in enumerate(groups) if g not in groups[:i]]
  seeds = range(config.seed, config.seed + config.data.seeds)
  return [dict(g, **{"data.fold": k, "seed": s}) for g in unique
          for k in range(config.data.folds) for s in seeds]


def run(config_path: str | None, workdir: str | pathlib.Path, base: ml_collections.ConfigDict,
        progress: bool = True, worker: int = 0, workers: int = 1) -> dict[str, Any] | None:
  """Trains the missing (group, fold, seed) runs as worker `worker` of `workers`, then scores
  them all; returns what backtest.json holds (None in a worker's processes other than 0:
  process 0 writes the tables)."""
  module = config_lib.load_module(config_path)[0] if config_path else None
  frozen = config_lib.freeze(base)
  if frozen.data.task != "series":
    raise ValueError(f"--mode backtest forecasts a series (data.task='series'), not "
                     f"data.task={frozen.data.task!r}.")
  workdir = pathlib.Path(workdir)
  todo = points(base, module)
  configs = [config_lib.freeze(config_lib.override(base, o)) for o in todo]  # typos fail here
  parallel.initialize(frozen.mesh)  # a worker of several processes
  sweep.train_points(todo, configs, workdir, worker, workers, progress)
  if not parallel.is_primary():
    return None
  todo = sweep.finished_points(todo, workdir)
  with workdirs.owned(workdir, wait=True):  # one worker at a time writes the tables
    summary = score(workdir, todo)
    workdirs.write_text(workdir / "backtest.json", json.dumps(summary, indent=1))
    workdirs.write_text(workdir / "backtest.md", markdown(summary))
    plot_by_horizon(summary, workdir / "backtest_by_horizon.png")
  return summary


def _errors(forecast_WxH: np.ndarray, saved, paths_WxSxH: np.ndarray | None) -> dict[str, Any]:
  """A forecaster's errors on one fold, overall and by horizon step."""
  actual = saved["actual"]
  out = metrics.forecast_errors(forecast_WxH, actual, float(saved["naive_mae"]))
  out["rmse_by_horizon"] = np.sqrt(np.mean((forecast_WxH - actual) ** 2, 0)).tolist()
  if paths_WxSxH is not None:
    out.update(metrics.interval_scores(paths_WxSxH, actual))
  return out


def score(workdir: pathlib.Path, todo: list[dict]) -> dict[str, Any]:
  """Per fold and seed, then mean ± 95% interval: one row per group, its ensemble and each
  baseline (one set when every group fits them on the same rows and settings)."""
  runs: dict[str, dict[int, list]] = {}  # group -> fold -> [(saved forecasts, results)]
  for o in todo:
    point = workdir / "points" / point_name(o)
    saved = dict(np.load(point / "forecasts_test.npz"))
    results = json.loads((point / "results.json").read_text())
    group = report.group_name({k: v for k, v in o.items() if k != "data.fold"})
    runs.setdefault(group, {}).setdefault(o["data.fold"], []).append((saved, results))
  rows: dict[str, list[dict]] = {}  # row name -> one errors dict per fold (and seed)
  baselines: dict[str, dict[str, list]] = {}
  for group, folds in runs.items():
    name = "model" if group == "all" else group
    for fold in sorted(folds):
      seeds = folds[fold]
      for saved, results in seeds:
        errors = _errors(saved["model"], saved, saved.get("paths"))
        rows.setdefault(name, []).append(dict(errors, train_seconds=results["seconds"]))
      if len(seeds) > 1:
        mean = np.mean([s["model"] for s, _ in seeds], 0)
        pooled = (np.concatenate([s["paths"] for s, _ in seeds], 1)
                  if "paths" in seeds[0][0] else None)
        rows.setdefault(f"{name}: ensemble of {len(seeds)} seeds", []).append(
            _errors(mean, seeds[0][0], pooled))
      saved = seeds[0][0]
      baselines.setdefault(group, {})
      for b in ("naive", "seasonal_naive", "linear", "arima"):
        baselines[group].setdefault(b, []).append(
            (_errors(saved[b], saved, None), saved[b]))
  shared = all(_same(baselines[g], next(iter(baselines.values()))) for g in baselines)
  for group, found in list(baselines.items())[:1] if shared else baselines.items():
    for b, folds in found.items():
      rows[f"baseline: {b}" + ("" if shared else f" ({group})")] = [e for e, _ in folds]
  first = next(iter(runs.values()))
  return dict(folds=len(first), seeds=len(next(iter(first.values()))),
              test_windows=sum(len(s[0][0]["origins"]) for s in first.values()),
              horizon=len(next(iter(first.values()))[0][0]["actual"][0]),
              rows={name: _summary(found) for name, found in rows.items()},
              per_run={name: found for name, found in rows.items()})


def _same(a: dict[str, list], b: dict[str, list]) -> bool:
  """Whether two groups' baselines made the same forecasts on every fold."""
  return all(np.array_equal(x, y) for k in a for (_, x), (_, y) in zip(a[k], b[k]))


def _summary(found: list[dict]) -> dict[str, Any]:
  """Mean and 95% interval half-width of each measure over the runs (folds × seeds)."""
  out: dict[str, Any] = dict(runs=len(found))
  for measure in found[0]:
    values = [f.get(measure) for f in found]
    if measure == "rmse_by_horizon":
      by_h = np.array(values)
      out[measure] = [mean_ci(list(by_h[:, h])) for h in range(by_h.shape[1])]
    elif all(v is not None for v in values):
      out[measure] = mean_ci(values)
  return out


COLUMNS = ("rmse", "mae", "smape", "mase", "coverage_80", "coverage_95", "crps", "train_seconds")


def markdown(summary: dict[str, Any]) -> str:
  """The summary as tables: the errors, then RMSE by horizon step (H > 1)."""
  rows = summary["rows"]
  columns = [c for c in COLUMNS if any(c in r for r in rows.values())]
  lines = [f"Rolling-origin backtest: {summary['folds']} folds × {summary['seeds']} seeds, "
           f"{summary['test_windows']} test windows, H = {summary['horizon']}; mean ± 95% "
           f"interval over folds × seeds (baselines and ensembles: over folds).", "",
           "| forecaster | runs | " + " | ".join(columns) + " |",
           "|---|---|" + "---|" * len(columns)]
  for name, row in rows.items():
    lines.append(f"| {name} | {row['runs']} | "
                 + " | ".join(_cell(row.get(c), c) for c in columns) + " |")
  if summary["horizon"] > 1:
    steps = range(1, summary["horizon"] + 1)
    lines += ["", "RMSE at each step ahead:", "",
              "| forecaster | " + " | ".join(f"h = {h}" for h in steps) + " |",
              "|---|" + "---|" * len(steps)]
    for name, row in rows.items():
      lines.append(f"| {name} | "
                   + " | ".join(_cell(v, "rmse") for v in row["rmse_by_horizon"]) + " |")
  return "\n".join(lines) + "\n"


def _cell(value: tuple[float, float] | None, measure: str) -> str:
  if value is None:
    return ""
  mean, ci = value
  if measure.startswith("coverage"):
    return f"{mean:.1%} ± {ci:.1%}"
  if measure == "train_seconds":
    return f"{mean:.1f} ± {ci:.1f}"
  return f"{mean:.4g} ± {ci:.2g}"


def plot_by_horizon(summary: dict[str, Any], path: pathlib.Path) -> None:
  """RMSE (mean over folds and seeds) at each step ahead, one line per forecaster."""
  steps = list(range(1, summary["horizon"] + 1))
  curves = {name: (steps, [m for m, _ in row["rmse_by_horizon"]])
            for name, row in summary["rows"].items()}
  plots.lines(curves, path, xlabel="steps ahead h", ylabel="RMSE (data units)",
              title=f"Backtest: RMSE by horizon ({summary['folds']} folds)")

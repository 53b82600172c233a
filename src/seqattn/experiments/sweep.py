"""Sweeps: every point of a config's `sweep(add)` trained in its own workdir, then aggregated.

A config file that defines `sweep(add)` calls `add(**{"model.attention": "dot", "seed": 1})`
once per point. `run` trains the points that have no `results.json` yet (so a re-run resumes),
then writes the tables and plots of seqattn.experiments.report.

Several workers may share one sweep directory (a cluster's job array: worker i of N, on one
or many hosts): a worker claims a point by owning its workdir (the run's
lock, see workdirs.owned), so each point is trained by one worker; a worker killed mid-point
releases it with its process, and another worker (or a rerun) resumes it from its checkpoints.
A point counts once it has its results.json, whole (a run writes it by renaming a complete
file over it; one cut short by a crash is not counted). Every worker waits for the points
others are training, then writes the same tables. A worker may itself be several processes
(hosts) that train each point together: its process 0 claims the point and tells the others
which.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import sys
import time
import traceback
from typing import Any

import ml_collections

from seqattn import config as config_lib
from seqattn.experiments import report
from seqattn.files import workdirs
from seqattn.runtime import parallel
from seqattn.experiments.report import point_name
from seqattn.training import run as training_run
from seqattn.training.progress import Interrupted


def load_module(path: str):
  """The sweep config module at `path` and its ':arg' suffix; it must define sweep(add)."""
  module, arg = config_lib.load_module(path)
  if not hasattr(module, "sweep"):
    raise config_lib.ConfigError(f"{path} defines no sweep(add); --mode sweep needs one.")
  return module, arg


def points(module) -> list[dict[str, Any]]:
  found: list[dict[str, Any]] = []
  module.sweep(lambda **overrides: found.append(overrides))
  return found


def _order(n: int, worker: int, workers: int) -> list[int]:
  """Worker `worker`'s own share of n points first (i ≡ worker mod workers), then the rest."""
  own = list(range(worker, n, workers))
  return own + [i for i in range(n) if i not in own]


FAILED = "failed.json"  # in a point's workdir: the error that stopped it


def failed(point_dir: pathlib.Path) -> bool:
  """Whether the point was tried and raised (its failed.json is there)."""
  return (point_dir / FAILED).exists()


WAIT, DONE = -1, -2  # what process 0 tells the others instead of a point's index


def _claim(todo: list[dict], workdir: pathlib.Path, worker: int, workers: int,
           claims: contextlib.ExitStack) -> int:
  """The index of the next point this worker trains, its workdir's lock held on `claims`;
  WAIT while other workers train the points left, DONE when every point has results or
  failed."""
  busy = False
  for i in _order(len(todo), worker, workers):
    point_dir = workdir / "points" / point_name(todo[i])
    if workdirs.finished(point_dir) or failed(point_dir):
      continue
    try:
      claims.enter_context(workdirs.owned(point_dir))
    except workdirs.WorkdirBusy:
      busy = True
      continue
    if not (workdirs.finished(point_dir) or failed(point_dir)):  # not done while this looked
      return i
    claims.close()
  return WAIT if busy else DONE


def train_points(todo: list[dict], configs: list, workdir: pathlib.Path, worker: int = 0,
                 workers: int = 1, progress: bool = True, poll_seconds: float = 1.0) -> None:
  """Trains every point without results, claiming each; returns once all have results or
  failed. A point that raises is recorded in its failed.json and skipped, by every worker,
  until the file is removed; a stop signal (training.progress.Interrupted) ends the worker.

  A worker of several processes (hosts) trains each point with all of them: process 0 claims
  it and tells the others which (they take no locks). A point must then raise in every
  process or in none (a config error, a non-finite loss: they are computed alike), or the
  processes part ways.
  """
  primary = parallel.is_primary()
  while True:
    with contextlib.ExitStack() as claims:
      i = parallel.broadcast(_claim(todo, workdir, worker, workers, claims) if primary else 0)
      if i == DONE:
        return
      if i == WAIT:  # another worker is training a point (none is claimed): wait for its results
        time.sleep(poll_seconds)
        continue
      point_dir = workdir / "points" / point_name(todo[i])
      if progress and primary:
        print(f"[{i + 1}/{len(todo)}] {point_name(todo[i])} (worker {worker})", flush=True)
      try:
        training_run.train_and_evaluate(configs[i], point_dir, progress=progress)
      except Interrupted:
        raise
      except Exception as e:  # one point that cannot be trained must not stop the rest
        if not primary:
          continue
        workdirs.write_text(point_dir / FAILED, json.dumps(dict(
            error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()), indent=1))
        print(f"point {point_name(todo[i])} failed ({type(e).__name__}: {e}); recorded in "
              f"{point_dir / FAILED}, skipped; remove that file to try it again",
              file=sys.stderr, flush=True)


def finished_points(todo: list[dict], workdir: pathlib.Path) -> list[dict]:
  """The points that have results, saying which did not (they failed); ValueError if none."""
  done = [o for o in todo if workdirs.finished(workdir / "points" / point_name(o))]
  missing = [point_name(o) for o in todo if o not in done]
  if missing:
    print(f"{len(missing)} of {len(todo)} points failed and are left out of the tables: "
          f"{', '.join(missing)} (see each one's {FAILED})", file=sys.stderr)
  if not done:
    raise ValueError(f"every point of {workdir} failed; see their {FAILED} files.")
  return done


def run(config_path: str, workdir: str | pathlib.Path, progress: bool = True,
        base: ml_collections.ConfigDict | None = None, worker: int = 0,
        workers: int = 1) -> list[dict] | None:
  """Trains the missing points (as worker `worker` of `workers`), then aggregates all of
  them; returns the aggregate rows (None in a worker's processes other than 0: process 0
  writes the tables).

  `base` (default: the file's get_config) is the config every point overrides.
  """
  module, arg = load_module(config_path)
  base = module.get_config(arg) if base is None else base
  workdir = pathlib.Path(workdir)
  todo = points(module)
  configs = [config_lib.freeze(config_lib.override(base, o)) for o in todo]  # typos fail here
  parallel.initialize(config_lib.freeze(base).mesh)  # a worker of several processes
  train_points(todo, configs, workdir, worker, workers, progress)
  if not parallel.is_primary():
    return None
  todo = finished_points(todo, workdir)
  with workdirs.owned(workdir, wait=True):  # one worker at a time writes the tables
    rows = report.aggregate(workdir, todo, getattr(module, "TARGET_EXACT_MATCH", None))
    rows += report.baseline_rows(workdir, todo, rows[0])
    report.write_tables(workdir, rows)
    if "exact_by_length" in report.read_point(workdir, todo[0])[0]:
      report.write_length_study(workdir, todo)
    if "bleu_by_source_length" in report.read_point(workdir, todo[0])[0]:
      report.write_bleu_by_length(workdir, todo)
    report.write_plots(workdir, todo, module, base.train.best_metric)
  return rows

"""Where a launch.py run's wall time goes: the run as launch.py makes it, its phases timed.

  python bench/phases.py --config configs/dates.py --workdir /tmp/phases   # launch.py's flags

Wraps the run's functions (data, initialisation, the first train step with its compilation,
evaluations, checkpoints) with timers and runs launch.py unchanged; the first train step is
waited for so that its compilation is counted there. Training steps are the rest of the run's
time. Runs under the malloc launch.py picks (seqattn.runtime.allocator).
"""

from __future__ import annotations

import atexit
import collections
import functools
import runpy
import sys
import time

from seqattn.runtime import allocator

START = time.perf_counter()
allocator.use_tcmalloc()
import jax  # noqa: E402  (after the allocator's re-execution)

from seqattn import tasks  # noqa: E402
from seqattn.inference import evaluation
from seqattn.training import run  # noqa: E402

seconds: dict[str, float] = collections.defaultdict(float)
calls: collections.Counter = collections.Counter()
seconds["imports"] = time.perf_counter() - START


def timed(owner, name: str, label: str, wait: bool = False, first_only: bool = False) -> None:
  """Replaces owner.name by a timed call (waiting for its results when `wait`)."""
  inner = getattr(owner, name)

  @functools.wraps(inner)
  def wrapper(*args, **kwargs):
    if first_only and calls[label]:
      return inner(*args, **kwargs)
    began = time.perf_counter()
    result = inner(*args, **kwargs)
    if wait:
      jax.block_until_ready(result)
    seconds[label] += time.perf_counter() - began
    calls[label] += 1
    return result

  setattr(owner, name, wrapper)


def report() -> None:
  total = time.perf_counter() - START
  named = sum(seconds.values())
  print(f"\n{'phase':36s} {'s':>7s} calls", file=sys.stderr)
  for label, value in seconds.items():
    print(f"{label:36s} {value:7.2f} {calls[label] or 1:5d}", file=sys.stderr)
  print(f"{'the rest (training steps, logging)':36s} {total - named:7.2f}", file=sys.stderr)
  print(f"{'total in this process':36s} {total:7.2f}", file=sys.stderr)


original_make = tasks.make


def make_timed_task(*args, **kwargs):
  task = original_make(*args, **kwargs)
  timed(task, "load", "data (generate or read, encode)")
  return task


run.tasks.make = make_timed_task
timed(run, "init_params", "init_params (compile and run)", wait=True)
timed(run, "train_step", "first train step (trace, compile)", wait=True, first_only=True)
timed(evaluation, "evaluate", "evaluations (validation, test)")
timed(run, "save_checkpoint", "checkpoints")
atexit.register(report)
sys.argv[0] = "launch.py"
runpy.run_path("launch.py", run_name="__main__")

"""What the benchmark scripts share: configs, the JAX train step, interleaved timing, reports.

Every script prints one JSON line per measurement (`emit`), then a markdown table (`table`)
headed by the machine and versions (`environment`). Figures from other processes on a shared
machine move a lot, so comparisons are timed interleaved (`interleave`): one window of each
contender in turn, a ratio per round of windows, and medians over rounds.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from seqattn import config as config_lib, tasks  # noqa: E402
from seqattn.runtime import allocator
from seqattn.data import batching  # noqa: E402
from seqattn.models.interface import init_params  # noqa: E402
from seqattn.training import step  # noqa: E402
from seqattn.training.run import build_model  # noqa: E402

CONFIGS = {"course": ROOT / "configs/dates.py", "nmt": ROOT / "configs/nmt.py"}


def load_config(name: str, **train_overrides) -> config_lib.Config:
  """configs/<name>.py frozen, with `train` fields overridden (e.g. batch_size=1000)."""
  overrides = {f"train.{key}": value for key, value in train_overrides.items()}
  return config_lib.freeze(config_lib.override(config_lib.load_file(CONFIGS[name]), overrides))


def load_task(config: config_lib.Config) -> tuple[tasks.Task, tasks.Data]:
  """The config's task and its data (splits and codec), generated from config.seed."""
  task = tasks.make(config.data)
  return task, task.load(config.seed)


def cpu_name() -> str:
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
  versions = {}
  for package in ("jax", "jaxlib", "flax", "optax", "torch", "numpy"):
    try:
      versions[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      pass
  return dict(date=datetime.date.today().isoformat(), cpu=cpu_name(), cores=os.cpu_count(),
              device=jax.devices()[0].device_kind, python=platform.python_version(),
              GLIBC_TUNABLES=os.environ.get("GLIBC_TUNABLES", ""), malloc=allocator.name(),
              **versions)


def launch(*args: str) -> None:
  """`launch.py` with `args`, in its own process (its progress on stderr)."""
  subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], check=True,
                 stdout=subprocess.DEVNULL)


def training_seconds(workdir: pathlib.Path | str) -> float:
  """A finished run's training time from its metrics.jsonl: from before its data is read to
  the end of its last validation (what the PyTorch twin's clock also measures)."""
  logged = [json.loads(line) for line in pathlib.Path(workdir, "metrics.jsonl").open()]
  return max(r["seconds"] for r in logged if "val_loss" in r)


def emit(row: dict[str, Any]) -> dict[str, Any]:
  print(json.dumps(row), flush=True)
  return row


def table(rows: list[dict[str, Any]], columns: dict[str, str]) -> None:
  """A markdown table of `rows`: columns maps a row key to its header; floats get 3 figures."""
  env = environment()
  print(f"\n{env['date']}, {env['cpu']} ({env['cores']} cores), {env['device']}; "
        + ", ".join(f"{k} {env[k]}" for k in ("python", "jax", "flax", "torch") if k in env)
        + (f"; GLIBC_TUNABLES={env['GLIBC_TUNABLES']}" if env["GLIBC_TUNABLES"] else ""))
  print("| " + " | ".join(columns.values()) + " |")
  print("|" + "---|" * len(columns))
  for row in rows:
    print("| " + " | ".join(_cell(row.get(k)) for k in columns) + " |")


def _cell(value) -> str:
  if isinstance(value, float):
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
  if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
    return ", ".join(_cell(v) for v in value)  # e.g. a (min, max) pair, steps per seed
  return "" if value is None else str(value)


def interleave(contenders: dict[str, Callable[[], Any]], windows: int,
               calls: dict[str, int]) -> dict[str, list[float]]:
  """Seconds per call of each contender, one list entry per window; windows taken in turn.

  Each contender runs `calls[name]` times a window and is waited for (jax.block_until_ready)
  at the window's end, so asynchronous dispatch cannot leak work into the next window.
  """
  seconds: dict[str, list[float]] = {name: [] for name in contenders}
  for _ in range(windows):
    for name, fn in contenders.items():
      start = time.perf_counter()
      for _ in range(calls[name]):
        out = fn()
      jax.block_until_ready(out)
      seconds[name].append((time.perf_counter() - start) / calls[name])
  return seconds


def timed_windows(contenders: dict[str, Callable[[], Any]], windows: int,
                  seconds_per_window: float = 1.5,
                  least_calls: int = 2) -> tuple[dict[str, int], dict[str, list[float]]]:
  """(calls a window, seconds per call in each window) of each contender: one warm-up window
  of `least_calls` calls sizes the windows to about `seconds_per_window` each, then `windows`
  windows are taken in turn (`interleave`)."""
  warm = interleave(contenders, 1, {name: least_calls for name in contenders})
  calls = {name: max(least_calls, round(seconds_per_window / s[0])) for name, s in warm.items()}
  return calls, interleave(contenders, windows, calls)


def page_faults_per_call(fn: Callable[[], Any], calls: int = 3) -> float:
  """Minor page faults of the process per call of `fn` (first touches of fresh memory).

  On this project's VM a fault costs ≈ 4.5 µs; XLA allocates an executable's temporary buffer
  afresh at every run, so a step with a large one pays for it at every step (BUILD_NOTES.md).
  """
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  for _ in range(calls):
    out = fn()
  jax.block_until_ready(out)
  return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
  """Median over rounds of numerator/denominator (paired windows)."""
  return statistics.median(a / b for a, b in zip(numerators, denominators))


def ratios_over_peers(seconds: dict[str, list[float]], base: str = "jax") -> dict[str, Any]:
  """For each contender but `base`: its seconds over base's per round of windows, the median
  (ratio_<base>_over_<peer>; > 1: base is faster) and the (min, max) over rounds."""
  row: dict[str, Any] = {}
  for peer in (name for name in seconds if name != base):
    pairs = [p / b for p, b in zip(seconds[peer], seconds[base])]
    row[f"ratio_{base}_over_{peer}"] = median_ratio(seconds[peer], seconds[base])
    row[f"ratio_{base}_over_{peer}_min_max"] = [min(pairs), max(pairs)]
  return row


# The table columns of ratios_over_peers(jax, torch eager, torch.compile) rows.
PEER_RATIO_COLUMNS = dict(ratio_jax_over_torch="JAX / eager (median of pairs)",
                          ratio_jax_over_torch_min_max="(min, max)",
                          ratio_jax_over_torch_compile="JAX / compiled (median of pairs)",
                          ratio_jax_over_torch_compile_min_max="(min, max)",
                          torch_compile_error="torch.compile error")


class JaxTrainer:
  """The project's own train step (seqattn.training.step.train_step) on `task`, compiled ahead."""

  def __init__(self, config: config_lib.Config, task: tasks.Task, data: tasks.Data,
               seed: int = 0):
    self.config = config
    self.model = build_model(config, task, data.codec)
    self.static = step.StepConfig(self.model, config.train, total_steps=10_000)
    self.state = step.create_state(init_params(self.model, jax.random.key(seed)), self.static)
    self.key = step.on_device(jax.random.key(seed))
    self._steps = {}  # one compiled step per batch shape (length buckets)

  def compile(self, *batches) -> float:
    """Seconds to trace, lower and compile the train step for each shape among `batches`."""
    start = time.perf_counter()
    for batch in batches:
      if shapes(batch) not in self._steps:
        self._steps[shapes(batch)] = step.train_step.lower(self.state, batch, self.key,
                                                           self.static).compile()
    return time.perf_counter() - start

  def step(self, batch):
    self.state, loss = self._steps[shapes(batch)](self.state, batch, self.key)
    return loss


def shapes(batch) -> tuple:
  """The array shapes of a batch: what a compiled step is specialised to."""
  return tuple(sorted((k, v.shape) for k, v in batch.items()))


def one_per_shape(batches) -> list:
  """One batch of each shape among `batches` (length buckets), in order of first appearance:
  what compiles each shape once."""
  return list({shapes(b): b for b in batches}.values())


def batch_stream(split, batch_size: int, seed: int = 0, buckets: int = 1):
  """Endless shuffled training batches, epoch after epoch (the same for every framework); with
  `buckets` > 1, from that many length buckets (train.buckets), one padded shape each."""
  rng = np.random.default_rng(seed)
  plan = batching.Plan(split, batch_size, batching.make_buckets(split, buckets, batch_size, 0)
                       if buckets > 1 else ())
  while True:
    yield from plan.epoch(rng)

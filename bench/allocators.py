"""JAX's and PyTorch eager's train step under other malloc implementations (issue 16, item 2).

  python bench/allocators.py                          # 3 rounds of the 4 configurations
  python bench/allocators.py --rounds 5 --models course1000 --windows 5

Why: XLA:CPU allocates an executable's temporary buffer afresh at every run; glibc serves a
buffer that large with mmap and unmaps it at free, so every step first-touches fresh pages
(≈ 50,000 minor page faults a step at course b1000, ≈ 274,000 at nmt b64: BUILD_NOTES.md, "What
bounds the step"). An allocator that keeps freed memory mapped serves the next step's buffer
from pages already touched. The allocator is the process's, chosen before Python starts:

  glibc     the default
  jemalloc  LD_PRELOAD=libjemalloc.so.2 (Debian's libjemalloc2)
  tcmalloc  LD_PRELOAD=libtcmalloc_minimal.so.4 (libtcmalloc-minimal4)
  hugetlb   GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc's malloc on transparent huge pages)

So each configuration is a process of its own (this script with --child), and the processes
alternate, A B C D A B C D ..., for --rounds rounds, so that drift in a shared machine's load
falls on all alike. Each child times its models as bench/train.py does (train.throughput,
without torch.compile: JAX and PyTorch eager interleaved in windows, page faults a step), and
checks that its allocator is loaded (/proc/self/maps). The allocator is process-wide, so
PyTorch runs under it too: both are reported. Reported per configuration and model: medians
over rounds of each one's ms a step and faults a step, of the in-process JAX / eager ratio, and
each step's speed against glibc's process of the same round (glibc's ms / this one's; > 1:
faster), median and (min, max) over rounds. `--summarise LOG` redoes the summary from a saved
output.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

from common import emit, environment, table

LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                "/usr/lib")
PRELOADS = {"jemalloc": "libjemalloc.so.2", "tcmalloc": "libtcmalloc_minimal.so.4"}
TUNABLES = {"hugetlb": "glibc.malloc.hugetlb=1"}
CONFIGURATIONS = ("glibc", "jemalloc", "tcmalloc", "hugetlb")
MODELS = {"course100": ("course", 100), "course1000": ("course", 1000), "nmt64": ("nmt", 64)}


def library(name: str) -> str | None:
  """The system's `name` (a shared object) by full path, or None where it is not installed."""
  found = [pathlib.Path(d) / name for d in LIBRARY_DIRS if (pathlib.Path(d) / name).exists()]
  return str(found[0]) if found else None


def child_environment(configuration: str) -> dict[str, str] | None:
  """The environment of a child running under `configuration`; None where its library is
  missing. The parent's own LD_PRELOAD and GLIBC_TUNABLES are dropped, so glibc is plain."""
  env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
  if configuration in PRELOADS:
    path = library(PRELOADS[configuration])
    if path is None:
      return None
    env["LD_PRELOAD"] = path
  if configuration in TUNABLES:
    env["GLIBC_TUNABLES"] = TUNABLES[configuration]
  return env


def loaded_allocator() -> str:
  """Which preloaded allocator this process maps, from /proc/self/maps ("glibc" if none)."""
  maps = pathlib.Path("/proc/self/maps").read_text()
  return next((name for name, so in PRELOADS.items() if so in maps), "glibc")


def child(models: list[str], windows: int, seconds_per_window: float, torch_threads: int):
  """One configuration's process: each model timed as bench/train.py does, one JSON line each."""
  import train  # jax and torch start only in the children
  emit(dict(allocator_loaded=loaded_allocator(),
            GLIBC_TUNABLES=os.environ.get("GLIBC_TUNABLES", "")))
  for name in models:
    train.throughput(*MODELS[name], windows, seconds_per_window, with_compile=False,
                     torch_threads=torch_threads or None)


def run_child(configuration: str, round_: int, args) -> list[dict]:
  """Runs one child under `configuration`; its JSON lines, tagged with configuration and round."""
  tags = dict(configuration=configuration, round=round_)
  env = child_environment(configuration)
  if env is None:
    return [emit(dict(tags, skipped="library not installed"))]
  command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--child", "--models", *args.models, "--windows",
             str(args.windows), "--seconds-per-window", str(args.seconds_per_window),
             "--torch-threads", str(args.torch_threads)]
  done = subprocess.run(command, env=env, capture_output=True, text=True,
                        timeout=args.child_timeout)
  rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
  if done.returncode != 0:
    rows.append(dict(error=done.stderr[-2000:]))
  return [emit(dict(row, **tags)) for row in rows]


def summary(runs: list[dict]) -> list[dict]:
  """Medians over rounds per (configuration, model), and each round's speed against glibc's
  process of the same round (glibc's ms / this one's; > 1: faster), median over rounds: the
  load of a shared machine drifts between rounds more than between neighbouring processes."""
  steps = [r for r in runs if "jax_ms_per_step" in r]
  rows = []
  for configuration in CONFIGURATIONS:
    loaded = {r["allocator_loaded"] for r in runs
              if r["configuration"] == configuration and "allocator_loaded" in r}
    for model, batch in MODELS.values():
      mine = [r for r in steps if r["configuration"] == configuration
              and (r["model"], r["batch"]) == (model, batch)]
      if not mine:
        continue
      row = dict(configuration=configuration, loaded=",".join(sorted(loaded)), model=model,
                 batch=batch, processes=len(mine))
      for key in ("jax_ms_per_step", "torch_ms_per_step", "jax_page_faults_per_step",
                  "torch_page_faults_per_step", "ratio_jax_over_torch"):
        row[key] = statistics.median(r[key] for r in mine)
      row["jax_ms_min_max"] = [min(r["jax_ms_per_step"] for r in mine),
                               max(r["jax_ms_per_step"] for r in mine)]
      for lib in ("jax", "torch"):
        speeds = [base[f"{lib}_ms_per_step"] / r[f"{lib}_ms_per_step"] for r in mine
                  for base in steps if base["configuration"] == "glibc"
                  and (base["model"], base["batch"], base["round"])
                  == (model, batch, r["round"])]
        if speeds:
          row[f"{lib}_speed_vs_glibc"] = statistics.median(speeds)
          row[f"{lib}_speed_vs_glibc_min_max"] = [min(speeds), max(speeds)]
      rows.append(row)
  return rows


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
  parser.add_argument("--configurations", nargs="+", default=list(CONFIGURATIONS),
                      choices=list(CONFIGURATIONS))
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--windows", type=int, default=3)
  parser.add_argument("--seconds-per-window", type=float, default=1.0)
  parser.add_argument("--torch-threads", type=int, default=1,
                      help="fixed, so that every process runs PyTorch alike (0: each picks the "
                           "faster of 1 and all cores, as bench/train.py does)")
  parser.add_argument("--child-timeout", type=float, default=1200)
  parser.add_argument("--summarise", metavar="LOG",
                      help="only the summary, from the JSON lines of an earlier run's output")
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    return child(args.models, args.windows, args.seconds_per_window, args.torch_threads)
  if args.summarise:
    lines = pathlib.Path(args.summarise).read_text().splitlines()
    return report([json.loads(line) for line in lines
                   if line.startswith("{") and '"configuration"' in line and '"round"' in line])
  if "glibc" not in args.configurations:
    parser.error("glibc is the baseline the others are compared with")
  emit(dict(environment=environment(), libraries={k: library(v) for k, v in PRELOADS.items()}))
  runs = []
  for round_ in range(args.rounds):
    for configuration in args.configurations:
      runs += run_child(configuration, round_, args)
  report(runs)


def report(runs: list[dict]):
  rows = [emit(row) for row in summary(runs)]
  table(rows, dict(configuration="allocator", model="model", batch="batch",
                   processes="processes", jax_ms_per_step="JAX ms a step (median)",
                   jax_ms_min_max="(min, max)", jax_page_faults_per_step="JAX faults a step",
                   torch_ms_per_step="eager ms a step", torch_page_faults_per_step="eager faults",
                   ratio_jax_over_torch="JAX / eager", jax_speed_vs_glibc="JAX vs glibc",
                   jax_speed_vs_glibc_min_max="(min, max)",
                   torch_speed_vs_glibc="eager vs glibc",
                   torch_speed_vs_glibc_min_max="(min, max)"))


if __name__ == "__main__":
  main()

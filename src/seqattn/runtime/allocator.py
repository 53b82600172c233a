"""The process's malloc: tcmalloc where the system has it, chosen before Python starts.

XLA:CPU allocates every temporary buffer of a step afresh. glibc's malloc maps the large ones
anew and unmaps them when they are freed, so every step faults their pages in again: 49,726
page faults a step on the course model at batch 1000, 274,359 on configs/nmt.py. tcmalloc keeps
freed pages for reuse: no faults, and steps 1.31-1.34x (course b1000) and 1.11-1.12x (nmt b64)
faster; nothing changes at batch 100, which has no faults to remove (BUILD_NOTES.md, "The
allocator"). jemalloc hands pages back on timers and does not help.

A process cannot change its allocator once it runs, so `use_tcmalloc` runs the same command
again with LD_PRELOAD naming the library. Install it with the system's package manager
(Debian/Ubuntu: `apt install libtcmalloc-minimal4`); without it, nothing changes.
SEQATTN_MALLOC=system keeps glibc's malloc; unset or 'tcmalloc', tcmalloc where installed.
"""

from __future__ import annotations

import ctypes.util
import os
import pathlib
import sys
from typing import Mapping

ENV = "SEQATTN_MALLOC"
CHOICES = ("tcmalloc", "system")  # tcmalloc where installed (the default) | glibc's malloc
LIBRARIES = ("tcmalloc_minimal", "tcmalloc")  # gperftools' sonames, lightest first


def find_tcmalloc() -> str | None:
  """The soname of an installed tcmalloc (e.g. 'libtcmalloc_minimal.so.4'), or None."""
  if not sys.platform.startswith("linux"):
    return None
  return next(filter(None, map(ctypes.util.find_library, LIBRARIES)), None)


def preloaded_env(env: Mapping[str, str], library: str | None) -> dict[str, str] | None:
  """The environment to run the command again with `library` preloaded; None when it should
  run as it is: no library, tcmalloc already preloaded (as in the re-run process), or the user
  chose the system's malloc. Raises ValueError on a SEQATTN_MALLOC other than CHOICES."""
  choice = env.get(ENV) or CHOICES[0]
  if choice not in CHOICES:
    raise ValueError(f"{ENV}={choice!r} is not valid; use one of {', '.join(CHOICES)} "
                     f"(or leave it unset: tcmalloc where installed)")
  if library is None or choice == "system" or "tcmalloc" in env.get("LD_PRELOAD", ""):
    return None
  return dict(env, LD_PRELOAD=" ".join(filter(None, [env.get("LD_PRELOAD", ""), library])))


def use_tcmalloc() -> None:
  """Re-runs this process's command under tcmalloc when the system has it (same PID, same
  interpreter options and arguments); returns when it runs as it is. Call before any work."""
  try:
    env = preloaded_env(os.environ, find_tcmalloc())
  except ValueError as e:
    sys.exit(str(e))
  if env is not None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def name() -> str:
  """'tcmalloc' when this process has it loaded (not merely named in LD_PRELOAD, which the
  loader skips with a warning when it cannot load it), else 'system'."""
  try:
    maps = pathlib.Path("/proc/self/maps").read_text()
  except OSError:  # not Linux
    return "system"
  return "tcmalloc" if "libtcmalloc" in maps else "system"

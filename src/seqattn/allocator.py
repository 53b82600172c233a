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
SEQATTN_MALLOC=system keeps glibc's malloc.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from typing import Mapping

ENV = "SEQATTN_MALLOC"  # 'system': glibc's malloc; set to 'tcmalloc' in the re-run process
LIBRARIES = ("tcmalloc_minimal", "tcmalloc")  # gperftools' sonames, lightest first


def find_tcmalloc() -> str | None:
  """The soname of an installed tcmalloc (e.g. 'libtcmalloc_minimal.so.4'), or None."""
  if not sys.platform.startswith("linux"):
    return None
  return next(filter(None, map(ctypes.util.find_library, LIBRARIES)), None)


def preloaded_env(env: Mapping[str, str], library: str | None) -> dict[str, str] | None:
  """The environment to run the command again with `library` preloaded; None when it should
  run as it is: no library, already re-run or preloaded, or the user chose the system's malloc."""
  if (library is None or env.get(ENV) in ("system", "tcmalloc")
      or "tcmalloc" in env.get("LD_PRELOAD", "")):
    return None
  preload = " ".join(filter(None, [env.get("LD_PRELOAD", ""), library]))
  return dict(env, LD_PRELOAD=preload, **{ENV: "tcmalloc"})


def use_tcmalloc() -> None:
  """Re-runs this process's command under tcmalloc when the system has it (same PID, same
  interpreter options and arguments); returns when it runs as it is. Call before any work."""
  env = preloaded_env(os.environ, find_tcmalloc())
  if env is not None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def name() -> str:
  """'tcmalloc' when this process runs under it, else 'system'."""
  return "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "system"

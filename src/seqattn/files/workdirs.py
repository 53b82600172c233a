"""Guards on a run's workdir: one run at a time owns it, it must be writable, and it must hold
no other config's run (unless forced).

The checks run before anything is written, so a refused run leaves the workdir as it was.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import pathlib
import tempfile
from typing import IO, Any, Iterator, Mapping



class WorkdirError(ValueError):
  """A workdir this run cannot use; the message says why and what to do."""


class WorkdirBusy(WorkdirError):
  """Another process owns the workdir."""


def check_writable(workdir: pathlib.Path) -> None:
  """Creates `workdir` if needed and proves that files can be written in it (none is kept)."""
  try:
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=workdir):
      pass
  except FileExistsError as e:
    raise WorkdirError(f"workdir {workdir} is a file, not a directory; choose another "
                       f"--workdir.") from e
  except OSError as e:
    raise WorkdirError(f"cannot write in workdir {workdir} ({e.strerror}); choose another "
                       f"--workdir or make it writable.") from e


LOCK_FILE = ".lock"
_held: dict[pathlib.Path, int] = {}  # workdirs this process owns, with their nesting depth


@contextlib.contextmanager
def owned(workdir: pathlib.Path, wait: bool = False) -> Iterator[None]:
  """Holds `workdir`'s exclusive lock for the block; refuses (WorkdirBusy) at once when another
  process holds it, naming that process (`wait`: waits for it instead). Re-entrant within a
  process (a sweep claims a point, then trains it).

  The lock is the operating system's (flock): it goes with the process, so a run killed with
  SIGKILL never leaves a stale lock. Readers (`predict`, `evaluate`) take no lock.
  """
  check_writable(workdir)
  key = workdir.resolve()
  if key in _held:
    _held[key] += 1
    try:
      yield
    finally:
      _held[key] -= 1
    return
  fd = os.open(workdir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
      holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
      raise WorkdirBusy(f"workdir {workdir} is in use by a run that is still going ({holder}). "
                        f"Wait for it to end, stop it, or choose another --workdir.") from None
    os.ftruncate(fd, 0)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    os.pwrite(fd, f"pid {os.getpid()}, started {started}\n".encode(), 0)
    _held[key] = 1
    try:
      yield
    finally:
      del _held[key]
  finally:
    os.close(fd)  # releases the lock


@contextlib.contextmanager
def replaced(path: pathlib.Path) -> Iterator[IO[bytes]]:
  """A file whose bytes replace `path` whole when the block ends (written beside it, then
  renamed over it): a reader, or a run killed while writing, never sees part of a file."""
  temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  try:
    with open(temporary, "wb") as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(temporary, path)
  finally:
    temporary.unlink(missing_ok=True)


def write_text(path: pathlib.Path, text: str) -> None:
  """`text` as the whole of `path` (UTF-8), written by `replaced`."""
  with replaced(path) as f:
    f.write(text.encode())


def finished(workdir: pathlib.Path) -> bool:
  """Whether the run in `workdir` has ended: its results.json is there and whole."""
  try:
    json.loads((workdir / "results.json").read_text())
  except (OSError, ValueError):
    return False
  return True


def stored_config(workdir: pathlib.Path) -> dict[str, Any] | None:
  """The config.json of an earlier run in `workdir`, or None when there is none."""
  path = workdir / "config.json"
  if not path.exists():
    return None
  try:
    return json.loads(path.read_text())
  except (ValueError, UnicodeDecodeError) as e:
    raise WorkdirError(f"{path} is not valid JSON ({e}); restore it, or use a new "
                       f"--workdir.") from e


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
  """'path: old -> new' for each setting that differs between two nested config dicts."""
  out = []
  for key in sorted(old.keys() | new.keys()):
    a, b = old.get(key, "(absent)"), new.get(key, "(absent)")
    if isinstance(a, Mapping) and isinstance(b, Mapping):
      out += differences(a, b, f"{prefix}{key}.")
    elif a != b:
      out.append(f"{prefix}{key}: {a!r} -> {b!r}")
  return out


# Where and how a run computes (the mesh and this process's id; the backward pass recomputing
# its time steps) do not change what it computes, so runs resume across them (but for length
# buckets, which training.run.resume checks against the devices they were cut for); nor do
# the sample paths its test draws, nor the time budget (only where training stops: a run it
# stopped goes on under a larger one). train.remat and decode.samples are also absent from
# configs written before they existed.
NOT_COMPARED = ("mesh", "train.remat", "decode.samples", "train.time_budget_minutes")


def _what(values: Mapping[str, Any]) -> dict[str, Any]:
  """A config dict without the NOT_COMPARED settings."""
  out = json.loads(json.dumps(values))
  for path in NOT_COMPARED:
    *groups, key = path.split(".")
    node = out
    for group in groups:
      node = node.get(group, {})
    node.pop(key, None)
  return out


def check_config(config: Mapping[str, Any], stored: Mapping[str, Any] | None, where: str,
                 force: bool) -> list[str]:
  """The differences between `config` (a config's dict) and the `stored` config of `where`'s
  run.

  Raises WorkdirError when there are some and `force` is not set.
  """
  if stored is None:
    return []
  diffs = differences(_what(stored), _what(config))
  if diffs and not force:
    shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
    raise WorkdirError(
        f"{where} holds a run of another config ({shown}). Use a new --workdir, or pass "
        f"--force to continue that run from its latest checkpoint under this config.")
  return diffs

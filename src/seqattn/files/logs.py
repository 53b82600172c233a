"""Run logs: `metrics.jsonl` (one JSON record per evaluation) and TensorBoard event files.

TensorBoard files are written with tensorboardX when it is installed
(`pip install -e ".[tensorboard]"`) and skipped otherwise.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from absl import logging


class LogError(ValueError):
  """A log file that cannot be continued; the message says which line and what to do."""


def records_up_to(path: pathlib.Path, step: int) -> list[str]:
  """The lines of `path` whose record has step <= `step`: the log a resume from `step` continues.

  A last line without its newline is what a killed process left half-written and is dropped;
  any other line that is not a JSON record is refused.
  """
  if not path.exists():
    return []
  text = path.read_text()
  lines = text.splitlines(keepends=True)
  if lines and not lines[-1].endswith("\n"):
    lines.pop()
  kept = []
  for number, line in enumerate(lines, 1):
    try:
      record_step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError) as e:
      raise LogError(f"{path} line {number} is not a JSON record with a step ({e}); fix or "
                     f"remove that line, then rerun.") from e
    if record_step <= step:
      kept.append(line)
  return kept


def _tensorboard_writer(logdir: pathlib.Path, resume_step: int):
  try:
    import tensorboardX
  except ImportError:
    logging.info("tensorboardX is not installed: no TensorBoard event files.")
    return None
  # TensorBoard hides the events of earlier sessions from the steps this one writes again.
  return tensorboardX.SummaryWriter(str(logdir), purge_step=resume_step + 1)


class Logs:
  """Appends records to `<workdir>/metrics.jsonl` and to TensorBoard (`<workdir>/tensorboard`).

  Opening cuts `metrics.jsonl` back to `resume_step` (atomically), so a resumed run neither
  repeats nor loses a record. Refuses (LogError) a log it cannot read, before writing anything.
  """

  def __init__(self, workdir: pathlib.Path, resume_step: int, enabled: bool = True):
    """`enabled=False`: a process of a multi-host run other than process 0; it writes nothing."""
    self.path = workdir / "metrics.jsonl"
    self.enabled, self.tensorboard = enabled, None
    if not enabled:
      return
    kept = records_up_to(self.path, resume_step)
    partial = self.path.with_suffix(".jsonl.tmp")
    partial.write_text("".join(kept))
    os.replace(partial, self.path)
    self.tensorboard = _tensorboard_writer(workdir / "tensorboard", resume_step)

  def write(self, record: dict[str, Any]) -> None:
    """One line of `metrics.jsonl` (flushed at once) and its numbers as TensorBoard scalars."""
    if not self.enabled:
      return
    with self.path.open("a") as f:
      f.write(json.dumps(record) + "\n")
    self.scalars(record)
    if self.tensorboard is not None:
      self.tensorboard.flush()  # TensorBoard then shows a run as it goes

  def scalars(self, record: dict[str, Any]) -> None:
    """The numbers of `record` as TensorBoard scalars at `record['step']` (and lists of
    strings, such as example outputs, as its text)."""
    if self.tensorboard is None:
      return
    for key, value in record.items():
      if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
        self.tensorboard.add_scalar(key, value, record["step"])
      elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        self.tensorboard.add_text(key, "\n\n".join(value), record["step"])

  def images(self, make, step: int) -> None:
    """TensorBoard images of the named [H, W, 3] uint8 arrays `make()` returns (made only when
    TensorBoard files are written)."""
    if self.tensorboard is None:
      return
    for tag, image in make().items():
      self.tensorboard.add_image(tag, image, step, dataformats="HWC")
    self.tensorboard.flush()

  def close(self) -> None:
    if self.tensorboard is not None:
      self.tensorboard.close()

  def __enter__(self) -> "Logs":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

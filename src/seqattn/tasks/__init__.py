"""Tasks by config name (`data.task`): one registry line each. See tasks/base.py."""

from __future__ import annotations

from seqattn.tasks.base import Data, Output, Source, Task
from seqattn.tasks.dates import Dates
from seqattn.tasks.generated import Generated
from seqattn.tasks.series import Series
from seqattn.tasks.text import Text

REGISTRY: dict[str, type[Task]] = {
    "dates": Dates,
    "copy": Generated,
    "reverse": Generated,
    "sort": Generated,
    "addition": Generated,
    "series": Series,
    "text": Text,
}


def make(cfg) -> Task:
  """The task of a frozen `data` config group."""
  return REGISTRY[cfg.task](cfg)


__all__ = ["Data", "Output", "REGISTRY", "Source", "Task", "make"]

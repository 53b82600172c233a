"""The course's task: human-readable dates ("tuesday june 5 2018") -> ISO dates (2018-06-05)."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Literal

from seqattn.schema import ConfigError, refuse
from seqattn.data import dates
from seqattn.tasks.base import Output
from seqattn.tasks.characters import CharConfig, CharTask


def _iso_date(text: str, name: str) -> datetime.date:
  try:
    return datetime.date.fromisoformat(text)
  except ValueError:
    raise ConfigError(f"{name}={text!r} is not a date; use YYYY-MM-DD, e.g. '1950-01-01'.")


@dataclasses.dataclass(frozen=True)
class DatesConfig(CharConfig):
  date_start: str
  date_end: str
  year_pattern: Literal["calendar", "week_based"]

  def __post_init__(self):
    start = _iso_date(self.date_start, "data.date_start")
    end = _iso_date(self.date_end, "data.date_end")
    refuse([(start >= end, "data.date_start must be before data.date_end")])


class Dates(CharTask):
  Config = DatesConfig
  append_eos = False  # ISO dates are always 10 characters

  def examples(self, seed: int):
    """Consecutive slices of one stream of distinct dates: no input is in two splits."""
    cfg = self.cfg
    examples = dates.generate(cfg.n_train + cfg.n_val + cfg.n_test, seed, cfg.date_start,
                              cfg.date_end, cfg.year_pattern)
    n_train, n_val = cfg.n_train, cfg.n_val
    return examples[:n_train], examples[n_train:n_train + n_val], examples[n_train + n_val:]

  def normalise(self, text: str) -> str:
    return dates.normalise(text)

  def write(self, codec, output, source=None) -> Output:
    out = super().write(codec, output, source)
    try:
      datetime.date.fromisoformat(out.text)
    except ValueError:
      return dataclasses.replace(out, warnings=[
          f"{out.text!r} is not a calendar date: the input may not be a date the model knows "
          f"(formats like '3 may 1979', 'tuesday june 5 2018', '5/3/79'; years "
          f"{self.cfg.date_start[:4]}-{self.cfg.date_end[:4]})"])
    return out

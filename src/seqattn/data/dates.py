"""The course's date task: human-readable dates -> ISO 8601 (YYYY-MM-DD).

Dates are drawn uniformly from a fixed range (not "up to today", so a seed gives the same data
in any year) with Faker, rendered with babel in en_US in the course's formats, lowercased and
stripped of commas. The default range spans exactly 100 years so that two-digit years
("3 05 79") name one date only.
"""

from __future__ import annotations

import datetime

from babel.dates import format_date
from faker import Faker

LOCALE = "en_US"

# babel's named formats plus the course's explicit patterns, with the calendar year `y`.
# (The course wrote `YYY`/`YY`: babel's `Y` is the week-based year, wrong for late December.)
FORMATS = (
    "short", "medium", "long", "full",
    "d MMM y", "d MMMM y", "dd MMM y", "d MMM, y", "d MMMM, y", "dd, MMM y",
    "d MM yy", "MMMM d y", "MMMM d, y", "dd.MM.yy",
)
NAMED_FORMATS = ("short", "medium", "long", "full")


def normalise(text: str) -> str:
  """The course's input normalisation: lowercase, commas removed, outer spaces stripped."""
  return text.lower().replace(",", "").strip()


def render(date: datetime.date, fmt: str, year_pattern: str = "calendar") -> str:
  """One human-readable rendering of `date`; `year_pattern='week_based'` reproduces the course bug."""
  if year_pattern == "week_based" and fmt not in NAMED_FORMATS:
    fmt = fmt.replace("y", "Y")
  return normalise(format_date(date, fmt, locale=LOCALE))


def generate(n: int, seed: int, start: str, end: str,
             year_pattern: str = "calendar") -> list[tuple[str, str]]:
  """`n` distinct (human date, ISO date) pairs, deterministic in `seed`.

  Pairs are distinct by their human text, so no input can land in two splits.
  """
  fake = Faker()
  fake.seed_instance(seed)
  first, last = datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)
  capacity = ((last - first).days + 1) * len(FORMATS)
  if n > capacity // 2:
    raise ValueError(f"asked for {n} distinct dates, but {start}..{end} holds about "
                     f"{capacity} renderings; widen the range or ask for fewer.")
  pairs: dict[str, str] = {}
  while len(pairs) < n:
    date = fake.date_between_dates(first, last)
    text = render(date, fake.random.choice(FORMATS), year_pattern)
    pairs.setdefault(text, date.isoformat())
  return list(pairs.items())

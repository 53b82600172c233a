"""The course's date task: human-readable dates -> ISO 8601 (YYYY-MM-DD).

Dates are drawn uniformly from a fixed range (not "up to today", so a seed gives the same data
in any year) with Faker, rendered with babel in en_US in the course's formats, lowercased and
stripped of commas. The default range spans exactly 100 years so that two-digit years
("3 05 79") name one date only.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from babel import Locale
from babel.dates import format_date
from faker import Faker

from seqattn.data.examples import NO_LINK, Example, Link, distinct, possible, sure

# Parsed once: babel would parse a locale name again on every date.
LOCALE = Locale.parse("en_US")

# babel's named formats plus the course's explicit patterns, with the calendar year `y`.
# (The course wrote `YYY`/`YY`: babel's `Y` is the week-based year, wrong for late December.)
FORMATS = (
    "short", "medium", "long", "full",
    "d MMM y", "d MMMM y", "dd MMM y", "d MMM, y", "d MMMM, y", "dd, MMM y",
    "d MM yy", "MMMM d y", "MMMM d, y", "dd.MM.yy",
)
NAMED_FORMATS = ("short", "medium", "long", "full")


def normalise(text: str) -> str:
  """The course's input normalisation (lowercase, commas removed, outer spaces stripped) after
  Unicode's NFKC, which makes full-width digits ('３') and other compatibility forms plain."""
  return unicodedata.normalize("NFKC", text).lower().replace(",", "").strip()


def render(date: datetime.date, fmt: str, year_pattern: str = "calendar") -> str:
  """One human-readable rendering of `date`; `year_pattern='week_based'` reproduces the course bug."""
  if year_pattern == "week_based" and fmt not in NAMED_FORMATS:
    fmt = fmt.replace("y", "Y")
  return normalise(format_date(date, fmt, locale=LOCALE))


# Formats whose month is a number, with the order of their numeric fields.
NUMERIC_FIELDS = {"short": ("month", "day", "year"), "d MM yy": ("day", "month", "year"),
                  "dd.MM.yy": ("day", "month", "year")}


def _digit_links(out: str, token: str, start: int) -> list[Link]:
  """Links of the output digits `out` to a numeric source token, aligned from the right:
  '1979' <- '79' gives possible links to the whole token for '1' and '9', sure ones for '7', '9'."""
  links = []
  for i in range(len(out)):
    from_right = len(out) - 1 - i
    if from_right < len(token):
      links.append(sure(start + len(token) - 1 - from_right))
    else:
      links.append(possible(range(start, start + len(token))))
  return links


def align(text: str, fmt: str, iso: str) -> tuple[Link, ...]:
  """Which characters of the rendered `text` produce each character of `iso` (YYYY-MM-DD).

  Digits copied from the source get sure links; a month name, a century and a missing
  leading zero get possible links to the whole field; the dashes get none.
  """
  tokens = [(m.group(), m.start()) for m in re.finditer(r"[a-z]+|[0-9]+", text)]
  numbers = [t for t in tokens if t[0].isdigit()]
  if fmt in NUMERIC_FIELDS:
    fields = dict(zip(NUMERIC_FIELDS[fmt], numbers))
  else:  # a month name (after the weekday, if any); the day precedes the year
    words = [t for t in tokens if not t[0].isdigit()]
    fields = {"month": words[-1], "day": numbers[0], "year": numbers[-1]}

  def field_links(out: str, field: str) -> list[Link]:
    token, start = fields[field]
    if token.isdigit():
      return _digit_links(out, token, start)
    return [possible(range(start, start + len(token)))] * len(out)

  year, month, day = iso.split("-")
  return tuple(field_links(year, "year") + [NO_LINK] + field_links(month, "month") + [NO_LINK]
               + field_links(day, "day"))


def generate(n: int, seed: int, start: str, end: str,
             year_pattern: str = "calendar") -> list[Example]:
  """`n` distinct (human date, ISO date, alignment) examples, deterministic in `seed`.

  Examples are distinct by their human text, so no input can land in two splits.
  """
  fake = Faker()
  fake.seed_instance(seed)
  first, last = datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)
  capacity = ((last - first).days + 1) * len(FORMATS)
  if n > capacity // 2:
    raise ValueError(f"asked for {n} distinct dates, but {start}..{end} holds about "
                     f"{capacity} renderings; widen the range or ask for fewer.")

  def draw() -> Example:
    date, fmt = fake.date_between_dates(first, last), fake.random.choice(FORMATS)
    text = render(date, fmt, year_pattern)
    return Example(text, date.isoformat(), align(text, fmt, date.isoformat()))

  return distinct(draw, n, "date", attempts_per_example=2)

"""Examples with their gold alignments: which source characters produce each target character."""

from __future__ import annotations

import functools
from typing import NamedTuple


class Link(NamedTuple):
  """Where one target character comes from (Och & Ney's sure and possible links)."""

  sure: int | None  # the single source position that produces it, when there is one
  possible: frozenset[int]  # every source position it may come from; holds `sure`


class Example(NamedTuple):
  source: str
  target: str
  alignment: tuple[Link, ...]  # one Link per target character


NO_LINK = Link(None, frozenset())


@functools.cache  # links are immutable, and a dataset makes hundreds of thousands of them
def sure(position: int) -> Link:
  return Link(position, frozenset([position]))


def possible(positions) -> Link:
  return Link(None, frozenset(positions))


def distinct(draw, n: int, what: str, attempts_per_example: int = 50) -> list[Example]:
  """`n` examples from `draw()` that differ in their source text, in order of drawing."""
  found: dict[str, Example] = {}
  for _ in range(n * attempts_per_example):
    if len(found) == n:
      break
    example = draw()
    found.setdefault(example.source, example)
  if len(found) < n:
    raise ValueError(f"asked for {n} distinct {what} examples but found only {len(found)}; "
                     f"widen the length range or alphabet, or ask for fewer.")
  return list(found.values())

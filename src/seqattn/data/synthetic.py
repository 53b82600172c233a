"""Generated tasks with known alignments: copy, reverse, sort and addition.

Each example's `alignment` says which source characters produce each target character, so
evaluation can measure how well attention finds them. Sources differ within a split.
"""

from __future__ import annotations

import string

import numpy as np

from seqattn.data.examples import Example, distinct, possible, sure

ALPHABET = string.ascii_lowercase
TASKS = ("copy", "reverse", "sort", "addition")


def copy(source: str) -> Example:
  return Example(source, source, tuple(sure(j) for j in range(len(source))))


def reverse(source: str) -> Example:
  n = len(source)
  return Example(source, source[::-1], tuple(sure(n - 1 - t) for t in range(n)))


def sort(source: str) -> Example:
  """Target characters in order; each comes from its position in a stable sort (sure) and may
  come from any equal character (possible)."""
  order = sorted(range(len(source)), key=lambda j: source[j])
  links = tuple(sure(j)._replace(possible=frozenset(
      i for i, c in enumerate(source) if c == source[j])) for j in order)
  return Example(source, "".join(source[j] for j in order), links)


def addition(a: str, b: str) -> Example:
  """`a+b` -> the decimal sum; a sum digit may come from the operand digits of its place."""
  source, total = f"{a}+{b}", str(int(a) + int(b))
  b_start = len(a) + 1

  def place(p):  # source positions of the operand digits of place p (0: units)
    return [start + len(x) - 1 - p for x, start in ((a, 0), (b, b_start)) if p < len(x)]

  links = tuple(possible(place(len(total) - 1 - t)) for t in range(len(total)))
  return Example(source, total, links)


def generate(task: str, n: int, seed: int, min_len: int, max_len: int,
             symbols: int) -> list[Example]:
  """`n` distinct examples whose length (of the sequence, or of each operand for addition) is
  uniform in [min_len, max_len], deterministic in `seed`."""
  rng = np.random.default_rng(seed)
  alphabet = ALPHABET[:symbols]

  def string_of_length(chars):
    return "".join(rng.choice(list(chars), rng.integers(min_len, max_len + 1)))

  def draw():
    if task == "addition":
      a, b = string_of_length(string.digits), string_of_length(string.digits)
      return addition(a.lstrip("0") or "0", b.lstrip("0") or "0")
    return {"copy": copy, "reverse": reverse, "sort": sort}[task](string_of_length(alphabet))

  return distinct(draw, n, task)

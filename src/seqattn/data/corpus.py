"""Parallel corpora from a user's files: one tab-separated file of pairs, or two aligned files.

  tsv      one pair a line, fields separated by tabs (Tatoeba / manythings format); the config
           names the language of each column, extra columns are ignored.
  aligned  `<stem>.<source language>` and `<stem>.<target language>`, line i of one the
           translation of line i of the other (the Moses convention).

UTF-8 with or without a byte-order mark, LF or CRLF line ends. A bad line (not UTF-8, too few
columns, an empty side) is refused with its file and line number, or, when the caller allows it,
skipped and counted by reason: nothing is dropped silently. Aligned files of different lengths
are always refused: every pair after the first missing line would be misaligned.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
from typing import Iterator, Sequence

BOM = b"\xef\xbb\xbf"


class CorpusError(ValueError):
  """A corpus that cannot be read as it is; the message names file, line and what to do."""


@dataclasses.dataclass(frozen=True)
class Corpus:
  pairs: list[tuple[str, str]]  # (source, target), stripped, both non-empty
  lines: int  # lines read (per file for aligned files)
  skipped: dict[str, int]  # reason -> lines skipped for it


def _raw_lines(path: pathlib.Path) -> list[bytes]:
  """The file's lines without line ends (LF or CRLF) and without a leading byte-order mark."""
  if not path.is_file():
    raise CorpusError(f"no corpus file at {path}; check data.path (and data.format).")
  data = path.read_bytes().removeprefix(BOM)
  lines = data.split(b"\n")
  if lines and lines[-1] == b"":  # the file ends with a line end
    lines.pop()
  return [line.removesuffix(b"\r") for line in lines]


def _decode(line: bytes) -> str | None:
  try:
    return line.decode("utf-8")
  except UnicodeDecodeError:
    return None


def _not_utf8(line: bytes) -> str:
  try:
    line.decode("utf-8")
  except UnicodeDecodeError as e:
    return f"is not UTF-8 (byte 0x{line[e.start]:02x} at column {e.start + 1})"
  return ""


class _Reader:
  """Collects pairs; a bad line raises CorpusError or, with `skip`, is counted."""

  def __init__(self, skip: bool):
    self.skip = skip
    self.pairs: list[tuple[str, str]] = []
    self.skipped: collections.Counter[str] = collections.Counter()

  def bad(self, where: str, reason: str, kind: str) -> None:
    if not self.skip:
      raise CorpusError(f"{where}: the line {reason}. Fix it, or set data.skip_bad_lines=True "
                        f"to skip such lines (they are counted and reported).")
    self.skipped[kind] += 1

  def add(self, where: str, source: str, target: str) -> None:
    source, target = source.strip(), target.strip()
    if not source or not target:
      side = "source" if not source else "target"
      self.bad(where, f"has an empty {side} side", f"empty {side}")
    else:
      self.pairs.append((source, target))

  def corpus(self, lines: int) -> Corpus:
    return Corpus(self.pairs, lines, dict(sorted(self.skipped.items())))


def read_tsv(path: str | pathlib.Path, source_column: int, target_column: int,
             skip_bad_lines: bool = False) -> Corpus:
  """Pairs from the two given (0-based) columns of a tab-separated file."""
  path = pathlib.Path(path)
  reader = _Reader(skip_bad_lines)
  lines = _raw_lines(path)
  needed = max(source_column, target_column) + 1
  for number, raw in enumerate(lines, 1):
    where = f"{path}:{number}"
    line = _decode(raw)
    if line is None:
      reader.bad(where, _not_utf8(raw), "not UTF-8")
      continue
    fields = line.split("\t")
    if len(fields) < needed:
      reason = ("has no tab" if len(fields) == 1 else
                f"has {len(fields)} tab-separated columns; data.columns needs {needed}")
      reader.bad(where, reason, "too few columns")
      continue
    reader.add(where, fields[source_column], fields[target_column])
  return reader.corpus(len(lines))


def read_aligned(source_path: str | pathlib.Path, target_path: str | pathlib.Path,
                 skip_bad_lines: bool = False) -> Corpus:
  """Pairs of line i of `source_path` and line i of `target_path`."""
  paths = [pathlib.Path(source_path), pathlib.Path(target_path)]
  source_lines, target_lines = (_raw_lines(p) for p in paths)
  if len(source_lines) != len(target_lines):
    longer = paths[len(target_lines) > len(source_lines)]
    first = min(len(source_lines), len(target_lines)) + 1
    raise CorpusError(
        f"{paths[0]} has {len(source_lines)} lines and {paths[1]} has {len(target_lines)}: "
        f"{longer}:{first} has no partner. Aligned files need one line per pair; this cannot be "
        f"skipped (every pair after a missing line would be misaligned), so find and fix it.")
  reader = _Reader(skip_bad_lines)
  for number, (raw_s, raw_t) in enumerate(zip(source_lines, target_lines), 1):
    source, target = _decode(raw_s), _decode(raw_t)
    if source is None or target is None:
      path, raw = (paths[0], raw_s) if source is None else (paths[1], raw_t)
      reader.bad(f"{path}:{number}", _not_utf8(raw), "not UTF-8")
      continue
    reader.add(f"{paths[0]}:{number} / {paths[1]}:{number}", source, target)
  return reader.corpus(len(source_lines))


def read_lines(path: str | pathlib.Path | None, stream: Iterator[str] | None = None) -> list[str]:
  """Inputs one a line from a file (or a text stream such as standard input), line ends and a
  byte-order mark removed; blank lines are kept (the caller decides)."""
  if stream is not None:
    return [line.rstrip("\r\n").removeprefix("\ufeff") for line in stream]
  path = pathlib.Path(path)
  lines = []
  for number, raw in enumerate(_raw_lines(path), 1):
    line = _decode(raw)
    if line is None:
      raise CorpusError(f"{path}:{number}: the line {_not_utf8(raw)}; give UTF-8 text.")
    lines.append(line)
  return lines


def columns_of(columns: Sequence[str], source: str, target: str) -> tuple[int, int]:
  """(source column, target column) of the languages `source` and `target` in `columns`."""
  for language in (source, target):
    if list(columns).count(language) != 1:
      raise CorpusError(f"data.columns={','.join(columns)!r} must name the language "
                        f"{language!r} exactly once (the language of each TSV column, in order).")
  return list(columns).index(source), list(columns).index(target)

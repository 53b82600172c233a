"""Character vocabularies with reserved padding and unknown symbols."""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable, Sequence

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)


@dataclasses.dataclass(frozen=True)
class Vocab:
  """Maps characters to ids; ids 0-3 are `<pad>`, `<unk>`, `<bos>` (y_0) and `<eos>`."""

  tokens: tuple[str, ...]

  def __post_init__(self):
    if self.tokens[:len(SPECIALS)] != SPECIALS:
      raise ValueError(f"a vocabulary must start with {SPECIALS}, got {self.tokens[:4]}")
    object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

  @classmethod
  def from_texts(cls, texts: Iterable[str]) -> "Vocab":
    chars = sorted({c for text in texts for c in text})
    return cls(SPECIALS + tuple(chars))

  def __len__(self) -> int:
    return len(self.tokens)

  def unknown_chars(self, text: str) -> list[str]:
    """The characters of `text` this vocabulary does not hold, in order of appearance."""
    return list(dict.fromkeys(c for c in text if c not in self._index))

  def encode(self, text: str) -> list[int]:
    return [self._index.get(c, UNK_ID) for c in text]

  def decode(self, ids: Sequence[int]) -> str:
    """The text of `ids`, skipping padding; unknowns are shown as `<unk>`."""
    return "".join(self.tokens[i] for i in ids if i != PAD_ID)

  def to_json(self) -> str:
    return json.dumps(list(self.tokens), ensure_ascii=False)

  @classmethod
  def from_json(cls, text: str) -> "Vocab":
    return cls(tuple(json.loads(text)))

"""Tasks on short strings read character by character: the shared half of `dates` and the
generated tasks (copy, reverse, sort, addition).

Vocabularies of the training split's characters, saved in the workdir as src_vocab.json and
tgt_vocab.json; inputs one-hot or embedded (model.embed_dim), outputs by softmax.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Sequence

import numpy as np

from seqattn.files import workdirs
from seqattn.data.batching import Split, pad
from seqattn.data.examples import Example
from seqattn.data.vocab import EOS, EOS_ID, PAD_ID, Vocab
from seqattn.models import ends
from seqattn.schema import POSITIVE
from seqattn.tasks.base import Data, Output, Source, Task


@dataclasses.dataclass(frozen=True)
class CharCodec:
  src_vocab: Vocab
  tgt_vocab: Vocab

  @property
  def source(self) -> ends.Tokens:
    return ends.Tokens(len(self.src_vocab))

  @property
  def target(self) -> ends.Tokens:
    return ends.Tokens(len(self.tgt_vocab))

  def save(self, workdir: pathlib.Path) -> None:
    workdirs.write_text(workdir / "src_vocab.json", self.src_vocab.to_json())
    workdirs.write_text(workdir / "tgt_vocab.json", self.tgt_vocab.to_json())

  @classmethod
  def restore(cls, workdir: pathlib.Path) -> "CharCodec":
    return cls(Vocab.from_json((workdir / "src_vocab.json").read_text()),
               Vocab.from_json((workdir / "tgt_vocab.json").read_text()))


def check_length(text: str, max_len: int, what: str) -> None:
  """Raises a ValueError that says what to do when `text` cannot be encoded in `max_len` steps."""
  if not text:
    raise ValueError(f"empty {what}: give at least one character.")
  if len(text) > max_len:
    raise ValueError(f"{what} {text!r} has {len(text)} characters; the model reads at most "
                     f"{max_len} (data.max_input_len / data.max_target_len). Shorten it or "
                     f"train a model with a larger limit.")


def encode(pairs: Sequence[tuple[str, str]], codec: CharCodec, max_input_len: int,
           max_target_len: int, append_eos: bool) -> Split:
  """Ids of (source, target) texts; with `append_eos` each target ends with <eos>."""
  for src, tgt in pairs:
    check_length(src, max_input_len, "input")
    check_length(tgt, max_target_len - append_eos, "target")
  srcs = [codec.src_vocab.encode(s) for s, _ in pairs]
  tgts = [codec.tgt_vocab.encode(t) + [EOS_ID] * append_eos for _, t in pairs]
  return Split(pad(srcs, max_input_len), np.array([len(s) for s in srcs], np.int32),
               pad(tgts, max_target_len))


@dataclasses.dataclass(frozen=True)
class CharConfig:
  """The `data` fields every character task has; a task's Config adds its own."""

  task: str
  n_train: int = dataclasses.field(metadata=POSITIVE)  # distinct training examples
  n_val: int = dataclasses.field(metadata=POSITIVE)
  n_test: int = dataclasses.field(metadata=POSITIVE)
  max_input_len: int = dataclasses.field(metadata=POSITIVE)  # Tx
  max_target_len: int = dataclasses.field(metadata=POSITIVE)  # Ty (<eos> included)


class CharTask(Task):
  """A subclass supplies `examples(seed)`, and `normalise` when inputs need it."""

  append_eos = True  # variable-length targets end with <eos>
  METRICS = {"loss": "min", "exact_match": "max", "token_accuracy": "max"}

  def examples(self, seed: int) -> tuple[list[Example], list[Example], list[Example]]:
    raise NotImplementedError

  def normalise(self, text: str) -> str:
    """An input as the task's generator writes it."""
    return text

  def load(self, seed: int) -> Data:
    train, val, test = self.examples(seed)
    codec = CharCodec(Vocab.from_texts(e.source for e in train),
                      Vocab.from_texts(e.target for e in train))
    enc = lambda examples: encode([(e.source, e.target) for e in examples], codec,
                                  self.cfg.max_input_len, self.cfg.max_target_len,
                                  self.append_eos)
    return Data(enc(train), enc(val), enc(test), codec, test)

  def restore(self, workdir: pathlib.Path) -> CharCodec:
    return CharCodec.restore(workdir)

  def read(self, codec: CharCodec, text: str) -> Source:
    source = self.normalise(text)
    check_length(source, self.cfg.max_input_len,
                 f"input {text!r} (normalised)" if source != text else "input")
    unknown = codec.src_vocab.unknown_chars(source)
    warnings = ([f"{source!r}: characters not in the vocabulary, read as <unk>: "
                 f"{' '.join(repr(c) for c in unknown)}"] if unknown else [])
    return Source(np.array(codec.src_vocab.encode(source), np.int32), list(source), source,
                  warnings)

  def write(self, codec: CharCodec, output: np.ndarray,
            source: Source | None = None) -> Output:
    del source  # outputs are absolute
    tokens = [codec.tgt_vocab.tokens[j] for j in output if j != PAD_ID]
    return Output("".join(t for t in tokens if t != EOS), tokens)

"""Sentencepiece models: subword (unigram, BPE), word- or character-level tokens of one language.

Trained on the training split alone, saved in the workdir (`<side>.model`) and read back by
`predict` and `evaluate`, so every mode cuts text the same way. Ids 0-3 are the project's
<pad>, <unk>, <bos>, <eos> (seqattn.data.vocab). Text is not normalised (sentencepiece's
`identity` rule): decoded output then matches the references character for character, which
BLEU and chrF compare; whitespace is still squeezed.
"""

from __future__ import annotations

import io
import pathlib
from typing import Iterable, Literal

import sentencepiece as spm

from seqattn.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

Kind = Literal["unigram", "bpe", "word", "char"]


def train(texts: Iterable[str], kind: Kind, vocab_size: int) -> bytes:
  """A serialised sentencepiece model of at most `vocab_size` pieces fitted on `texts`.

  Deterministic: one thread, the input in order, no sampling of sentences.
  """
  model = io.BytesIO()
  try:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, model_type=kind,
        vocab_size=vocab_size, hard_vocab_limit=False,  # a limit: small corpora get fewer
        pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
        normalization_rule_name="identity", num_threads=1, input_sentence_size=0,
        shuffle_input_sentence=False, minloglevel=2)
  except RuntimeError as e:
    raise ValueError(f"sentencepiece could not train a {kind} model of {vocab_size} pieces "
                     f"({e}). For text with many distinct characters (Chinese, Japanese) raise "
                     f"data.source_vocab_size / data.target_vocab_size above the number of "
                     f"characters, or use data.tokenizer='char'.") from e
  return model.getvalue()


def seed_sampling(seed: int) -> None:
  """Seeds sentencepiece's generator (one for the process) for the draws that follow."""
  spm.set_random_generator_seed(seed)


class Subwords:
  """One language's sentencepiece model."""

  def __init__(self, proto: bytes):
    self.proto = proto
    self.sp = spm.SentencePieceProcessor(model_proto=proto)

  def __len__(self) -> int:
    return self.sp.get_piece_size()

  def encode(self, text: str) -> list[int]:
    return self.sp.encode(text)

  def sample(self, text: str, alpha: float) -> list[int]:
    """One segmentation of `text` drawn at random (subword regularisation): unigram: from every
    segmentation, with probability ∝ P(x)^α (Kudo 2018); bpe: each merge dropped with
    probability α (BPE-dropout, Provilkov et al. 2020). Seeded by `seed_sampling`."""
    return self.sp.encode(text, enable_sampling=True, alpha=alpha, nbest_size=-1)

  def pieces(self, ids: Iterable[int]) -> list[str]:
    return [self.sp.id_to_piece(int(i)) for i in ids]

  def decode(self, ids: Iterable[int]) -> str:
    """Detokenised text of `ids` (specials dropped)."""
    return self.sp.decode([int(i) for i in ids])

  def unknown(self, text: str) -> list[str]:
    """The pieces of `text` the model reads as <unk>, in order of appearance."""
    pieces = self.sp.encode(text, out_type=str)
    ids = self.sp.encode(text)
    return list(dict.fromkeys(p for p, i in zip(pieces, ids) if i == UNK_ID))

  def save(self, path: pathlib.Path) -> None:
    path.write_bytes(self.proto)

  @classmethod
  def restore(cls, path: pathlib.Path) -> "Subwords":
    if not path.is_file():
      raise FileNotFoundError(f"no sentencepiece model at {path}; the workdir was not written "
                              f"by a text run.")
    return cls(path.read_bytes())

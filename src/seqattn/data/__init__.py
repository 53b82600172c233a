"""Task data: generation, vocabularies and batches."""

from __future__ import annotations

import dataclasses

from seqattn.config import DataConfig
from seqattn.data import dates
from seqattn.data.batching import Split, encode
from seqattn.data.vocab import Vocab


@dataclasses.dataclass(frozen=True)
class TaskData:
  train: Split
  val: Split
  test: Split
  src_vocab: Vocab
  tgt_vocab: Vocab
  test_pairs: list[tuple[str, str]]


def split_pairs(pairs, n_train: int, n_val: int):
  """Consecutive slices of distinct pairs: no pair is in two splits."""
  return pairs[:n_train], pairs[n_train:n_train + n_val], pairs[n_train + n_val:]


def load(cfg: DataConfig, seed: int) -> TaskData:
  """Generates the task's pairs from `seed` and encodes the three splits."""
  pairs = dates.generate(cfg.n_train + cfg.n_val + cfg.n_test, seed, cfg.date_start,
                         cfg.date_end, cfg.year_pattern)
  train, val, test = split_pairs(pairs, cfg.n_train, cfg.n_val)
  src_vocab = Vocab.from_texts(s for s, _ in train)
  tgt_vocab = Vocab.from_texts(t for _, t in train)
  enc = lambda p: encode(p, src_vocab, tgt_vocab, cfg.max_input_len, cfg.max_target_len)
  return TaskData(enc(train), enc(val), enc(test), src_vocab, tgt_vocab, test)

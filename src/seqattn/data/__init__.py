"""Task data: generation, vocabularies and batches."""

from __future__ import annotations

import dataclasses

from seqattn.config import DataConfig
from seqattn.data import dates, synthetic
from seqattn.data.batching import Split, encode
from seqattn.data.examples import Example
from seqattn.data.vocab import Vocab


@dataclasses.dataclass(frozen=True)
class TaskData:
  train: Split
  val: Split
  test: Split
  src_vocab: Vocab
  tgt_vocab: Vocab
  test_examples: list[Example]  # the test split's texts and gold alignments


def split_examples(examples, n_train: int, n_val: int):
  """Consecutive slices of distinct examples: no source is in two splits."""
  return examples[:n_train], examples[n_train:n_train + n_val], examples[n_train + n_val:]


def appends_eos(task: str) -> bool:
  """Variable-length targets end with <eos>; the date task's ISO dates are always 10 long."""
  return task != "dates"


def normalise(task: str, text: str) -> str:
  """An input as the task's generator writes it (dates: lowercase, no commas)."""
  return dates.normalise(text) if task == "dates" else text


def generate(cfg: DataConfig, seed: int) -> tuple[list[Example], list[Example], list[Example]]:
  """The train, validation and test examples of the configured task."""
  if cfg.task == "dates":
    examples = dates.generate(cfg.n_train + cfg.n_val + cfg.n_test, seed, cfg.date_start,
                              cfg.date_end, cfg.year_pattern)
    return split_examples(examples, cfg.n_train, cfg.n_val)
  make = lambda n, seed, lo, hi: synthetic.generate(cfg.task, n, seed, lo, hi, cfg.symbols)
  train_val = make(cfg.n_train + cfg.n_val, seed, cfg.min_len, cfg.max_len)
  seen = {e.source for e in train_val}
  # The test lengths may differ (a longer range tests generalisation); sources stay unseen.
  pool = make(cfg.n_test + len(seen), seed + 1, cfg.test_min_len, cfg.test_max_len)
  test = [e for e in pool if e.source not in seen][:cfg.n_test]
  if len(test) < cfg.n_test:
    raise ValueError(f"found only {len(test)} test examples unseen in training; widen "
                     f"data.test_min_len..data.test_max_len or lower data.n_test.")
  return train_val[:cfg.n_train], train_val[cfg.n_train:], test


def load(cfg: DataConfig, seed: int) -> TaskData:
  """Generates the task's examples from `seed` and encodes the three splits."""
  train, val, test = generate(cfg, seed)
  src_vocab = Vocab.from_texts(e.source for e in train)
  tgt_vocab = Vocab.from_texts(e.target for e in train)
  eos = appends_eos(cfg.task)
  enc = lambda examples: encode([(e.source, e.target) for e in examples], src_vocab, tgt_vocab,
                                cfg.max_input_len, cfg.max_target_len, eos)
  return TaskData(enc(train), enc(val), enc(test), src_vocab, tgt_vocab, test)

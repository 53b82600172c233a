"""Generated tasks with gold alignments: copy, reverse, sort and addition of random strings."""

from __future__ import annotations

import dataclasses

from seqattn.schema import POSITIVE, refuse
from seqattn.data import synthetic
from seqattn.tasks.characters import CharConfig, CharTask


@dataclasses.dataclass(frozen=True)
class GeneratedConfig(CharConfig):
  # Lengths of the training and validation sequences (of each operand for addition), of the
  # test ones (a longer range tests generalisation), and the alphabet's size.
  min_len: int = dataclasses.field(metadata=POSITIVE)
  max_len: int = dataclasses.field(metadata=POSITIVE)
  test_min_len: int = dataclasses.field(metadata=POSITIVE)
  test_max_len: int = dataclasses.field(metadata=POSITIVE)
  symbols: int = dataclasses.field(metadata=POSITIVE)

  def __post_init__(self):
    refuse([
        (self.min_len > self.max_len or self.test_min_len > self.test_max_len,
         "data.min_len/test_min_len must not exceed data.max_len/test_max_len"),
        (self.symbols > len(synthetic.ALPHABET),
         f"data.symbols is at most {len(synthetic.ALPHABET)} (lowercase letters)"),
    ])


class Generated(CharTask):
  """One class for the four generators: `data.task` names the generator."""

  Config = GeneratedConfig

  def examples(self, seed: int):
    cfg = self.cfg
    make = lambda n, seed, lo, hi: synthetic.generate(cfg.task, n, seed, lo, hi, cfg.symbols)
    train_val = make(cfg.n_train + cfg.n_val, seed, cfg.min_len, cfg.max_len)
    seen = {e.source for e in train_val}
    # The test lengths may differ; test sources stay unseen in training and validation.
    pool = make(cfg.n_test + len(seen), seed + 1, cfg.test_min_len, cfg.test_max_len)
    test = [e for e in pool if e.source not in seen][:cfg.n_test]
    if len(test) < cfg.n_test:
      raise ValueError(f"found only {len(test)} test examples unseen in training; widen "
                       f"data.test_min_len..data.test_max_len or lower data.n_test.")
    return train_val[:cfg.n_train], train_val[cfg.n_train:], test

"""Padded, fixed-shape batches: one compiled step serves every batch of a split."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

from seqattn.data.vocab import PAD_ID

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Split:
  """Encoded examples of one split.

  inputs: [N, Tx] int32 source ids right-padded with PAD_ID, or [N, Tx, n] float32 features.
  input_lengths: [N] int32 true source lengths (>= 1).
  targets: [N, Ty] int32 target ids right-padded with PAD_ID, or [N, Ty, n] float32 values.
  """

  inputs: np.ndarray
  input_lengths: np.ndarray
  targets: np.ndarray

  def __len__(self) -> int:
    return len(self.inputs)


def pad(seqs: Sequence[Sequence[int]], length: int) -> np.ndarray:
  """[N, length] int32 array of `seqs`, right-padded with PAD_ID."""
  out = np.full((len(seqs), length), PAD_ID, np.int32)
  for i, s in enumerate(seqs):
    out[i, :len(s)] = s
  return out


def _take(split: Split, idx: np.ndarray, weights: np.ndarray) -> Batch:
  return dict(inputs=split.inputs[idx], input_lengths=split.input_lengths[idx],
              targets=split.targets[idx], weights=weights)


def train_batches(split: Split, batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
  """One epoch of shuffled full batches; the remainder (< batch_size) is dropped."""
  order = rng.permutation(len(split))
  ones = np.ones(batch_size, np.float32)
  for start in range(0, len(split) - batch_size + 1, batch_size):
    yield _take(split, order[start:start + batch_size], ones)


def eval_batches(split: Split, batch_size: int) -> Iterator[Batch]:
  """Every example once, in order; the last batch is filled with weight-0 copies of row 0."""
  for start in range(0, len(split), batch_size):
    idx = np.arange(start, start + batch_size)
    weights = (idx < len(split)).astype(np.float32)
    yield _take(split, np.where(idx < len(split), idx, 0), weights)

"""Padded, fixed-shape batches: one compiled step serves every batch of a split, or of a bucket.

Without buckets every batch has the split's full width. With buckets (real sentences, whose
lengths vary a lot) examples are grouped by length into a few buckets, each with its own padded
shape (batch, Tx_k, Ty_k): a few compiled steps, much less padding. An epoch's batches are a
pure function of the epoch's random generator, so a data position (epoch, index) is all that
resuming needs."""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Sequence

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


# (this process's index, the number of processes): every process draws the same global batches
# and builds only its own rows of each, rows [i·B/n, (i+1)·B/n) of a batch of B.
Part = tuple[int, int]
WHOLE: Part = (0, 1)


def _rows(idx: np.ndarray, part: Part) -> np.ndarray:
  """`part`'s rows of a global batch's example indices `idx` [B]."""
  i, n = part
  return idx[i * len(idx) // n:(i + 1) * len(idx) // n]


def _take(split: Split, idx: np.ndarray, weights: np.ndarray, input_len: int | None = None,
          target_len: int | None = None) -> Batch:
  """Examples `idx` (weighted), cut to the bucket's lengths when given."""
  return dict(inputs=split.inputs[idx, :input_len], input_lengths=split.input_lengths[idx],
              targets=split.targets[idx, :target_len], weights=weights)


def train_batches(split: Split, batch_size: int, rng: np.random.Generator,
                  part: Part = WHOLE) -> Iterator[Batch]:
  """One epoch of shuffled full batches (`part`'s rows of each); the remainder (< batch_size)
  is dropped."""
  order = rng.permutation(len(split))
  for start in range(0, len(split) - batch_size + 1, batch_size):
    idx = _rows(order[start:start + batch_size], part)
    yield _take(split, idx, np.ones(len(idx), np.float32))


@dataclasses.dataclass(frozen=True)
class Bucket:
  batch_size: int
  input_len: int  # Tx_k: the longest source of its members
  target_len: int  # Ty_k
  members: np.ndarray  # [n_k] example indices


def lengths(split: Split) -> tuple[np.ndarray, np.ndarray]:
  """([N] source lengths, [N] target lengths); real-valued targets have no padding."""
  targets = split.targets
  target_lengths = ((targets != PAD_ID).sum(1) if targets.ndim == 2
                    else np.full(len(split), targets.shape[1]))
  return split.input_lengths, target_lengths


GRID = 64  # fullness is rounded up to 1/GRID before cutting buckets


def _cuts(cost, groups: int, count: int) -> list[tuple[int, int]]:
  """The cut of groups 0..groups-1 into at most `count` runs [i, j] with the least total
  cost(i, j) (dynamic programming over run ends)."""
  best = {(0, -1): (0.0, [])}  # (runs used, last group covered) -> (cost, runs)
  for k in range(1, count + 1):
    for j in range(groups):
      options = [(best[k - 1, i - 1][0] + cost(i, j), best[k - 1, i - 1][1] + [(i, j)])
                 for i in range(j + 1) if (k - 1, i - 1) in best]
      if options:
        best[k, j] = min(options, key=lambda o: o[0])
  ends = [best[k, groups - 1] for k in range(1, count + 1) if (k, groups - 1) in best]
  return min(ends, key=lambda o: o[0])[1]  # fewer runs than `count` when there are fewer groups


def make_buckets(split: Split, count: int, batch_size: int, token_budget: int,
                 multiple: int = 1) -> tuple[Bucket, ...]:
  """At most `count` buckets of examples by fullness max(Tx_i/Tx, Ty_i/Ty) over the sides whose
  lengths vary, cut where they waste the fewest padded positions: a bucket costs (members) x
  (longest source + longest target).

  Each bucket is padded to its longest source and target. With a `token_budget` a bucket's
  batch holds token_budget // max(Tx_k, Ty_k) examples (so the readout's [B, Ty, V] stays
  bounded), else `batch_size`; never more than the bucket has, and a multiple of `multiple`
  (the devices a batch is split over). Every bucket holds at least `multiple` members, so each
  example is in some batch of every epoch but its bucket's remainder.
  """
  src_N, tgt_N = lengths(split)
  # A side of one length for all (the dates' targets, all Ty long) would put every example in
  # one group: only the sides that vary order the examples.
  sides = [n / width for n, width in ((src_N, split.inputs.shape[1]),
                                      (tgt_N, split.targets.shape[1])) if n.min() < n.max()]
  fullness_N = np.max(sides, axis=0) if sides else np.ones(len(split))
  values, group_N = np.unique(np.ceil(fullness_N * GRID), return_inverse=True)
  n_G = np.bincount(group_N, minlength=len(values))
  src_G, tgt_G = np.zeros(len(values), int), np.zeros(len(values), int)
  np.maximum.at(src_G, group_N, src_N)
  np.maximum.at(tgt_G, group_N, tgt_N)

  def cost(i: int, j: int) -> float:
    members = n_G[i:j + 1].sum()
    if members < multiple:  # too few for one batch: never trained on; cut elsewhere
      return np.inf
    return members * (src_G[i:j + 1].max() + tgt_G[i:j + 1].max())

  out = []
  for i, j in _cuts(cost, len(values), count):
    members = np.flatnonzero((group_N >= i) & (group_N <= j))
    tx, ty = int(src_G[i:j + 1].max()), int(tgt_G[i:j + 1].max())
    rows = min(token_budget // max(tx, ty) if token_budget else batch_size, len(members))
    out.append(Bucket(max(multiple, rows // multiple * multiple), tx, ty, members))
  return tuple(out)


def padding_share(split: Split, buckets: Sequence[Bucket]) -> float:
  """The share of padded source and target positions an epoch computes on (0: none)."""
  src_N, tgt_N = lengths(split)
  if not buckets:
    return 1.0 - (src_N.sum() + tgt_N.sum()) / (len(split) * (split.inputs.shape[1]
                                                            + split.targets.shape[1]))
  real = sum(src_N[b.members].sum() + tgt_N[b.members].sum() for b in buckets)
  slots = sum(len(b.members) * (b.input_len + b.target_len) for b in buckets)
  return float(1.0 - real / slots)


# (epoch, [N] longest source, [N] longest target of each example) -> the epoch's split: the
# same examples in the same order, each drawn anew within its widths (subword sampling).
Resample = Callable[[int, np.ndarray, np.ndarray], Split]


@dataclasses.dataclass(frozen=True)
class Plan:
  """How each training epoch of a split is cut into batches: one shape, or one per bucket."""

  split: Split
  batch_size: int
  buckets: tuple[Bucket, ...] = ()
  resample: Resample | None = None  # where the examples are drawn anew at each epoch

  def for_epoch(self, epoch: int) -> "Plan":
    """The plan of one epoch: its split drawn anew by `resample` where there is one, each
    example within the widths of its bucket, so that every batch keeps its compiled shape."""
    if self.resample is None:
      return self
    src_N = np.full(len(self.split), self.split.inputs.shape[1])
    tgt_N = np.full(len(self.split), self.split.targets.shape[1])
    for b in self.buckets:
      src_N[b.members], tgt_N[b.members] = b.input_len, b.target_len
    return dataclasses.replace(self, split=self.resample(epoch, src_N, tgt_N))

  @property
  def steps_per_epoch(self) -> int:
    if not self.buckets:
      return len(self.split) // self.batch_size
    return sum(len(b.members) // b.batch_size for b in self.buckets)

  @property
  def shapes(self) -> list[tuple[int, int, int]]:
    """(batch, Tx, Ty) of each compiled step."""
    if not self.buckets:
      return [(self.batch_size, self.split.inputs.shape[1], self.split.targets.shape[1])]
    return [(b.batch_size, b.input_len, b.target_len) for b in self.buckets]

  def epoch(self, rng: np.random.Generator, part: Part = WHOLE) -> Iterator[Batch]:
    """One epoch (`part`'s rows of each batch): within each bucket shuffled full batches (the
    remainder left for this epoch), the batches of all buckets in shuffled order."""
    if not self.buckets:
      yield from train_batches(self.split, self.batch_size, rng, part)
      return
    batches = []
    for k, b in enumerate(self.buckets):
      order = rng.permutation(b.members)
      batches += [(k, order[i:i + b.batch_size])
                  for i in range(0, len(order) - b.batch_size + 1, b.batch_size)]
    for i in rng.permutation(len(batches)):
      k, idx = batches[i]
      idx = _rows(idx, part)
      yield _take(self.split, idx, np.ones(len(idx), np.float32), self.buckets[k].input_len,
                  self.buckets[k].target_len)


WIDTH_STEP = 8  # evaluation buckets' widths are rounded up to a multiple of this


def eval_buckets(split: Split, batch_size: int, by_length: bool = False,
                 widths: tuple[int, int] | None = None, multiple: int = 1) -> tuple[Bucket, ...]:
  """Every example of `split` in exactly one bucket, for evaluation: runs of `batch_size`
  examples, each bucket's batch `batch_size` rows (the last filled by `eval_batches`).

  widths: the task's (Tx, Ty), by default the split's. A bucket's targets are Ty wide (or
  their longest, where longer): teacher forcing and the searches stop at each sentence's end
  (seqattn.inference.decode), so a wide target costs memory, not time, and the buckets of a
  run's splits differ in their sources' width alone. by_length: the examples sorted by source
  length (then target length), each bucket padded to its own longest source rounded up to a
  multiple of WIDTH_STEP, so that a batch of short sentences computes short while few shapes
  compile; sources longer than Tx come last like any other. Else in split order, every source
  Tx wide (one compiled shape), and the sources longer than Tx (never dropped) in buckets of
  their own at their own widths, each holding its members rounded up to `multiple` rows (the
  devices a batch is split over).
  """
  src_N, tgt_N = lengths(split)
  tx_max, ty_max = split.inputs.shape[1], split.targets.shape[1]
  long_from, target_len = widths or (tx_max, ty_max)
  if by_length:
    runs = [(np.lexsort((tgt_N, src_N)), False)]
  else:
    long_N = src_N > min(long_from, tx_max)
    runs = [(np.flatnonzero(~long_N), False), (np.flatnonzero(long_N), True)]
  out = []
  for run, long in runs:
    for start in range(0, len(run), batch_size):
      members = run[start:start + batch_size]
      longest = round_up(tgt_N[members].max())
      tx = min(round_up(src_N[members].max()), tx_max) if by_length or long else long_from
      ty = min(longest if long else max(longest, target_len), ty_max)
      rows = round_up(len(members), multiple) if long else batch_size
      out.append(Bucket(rows, tx, ty, members))
  return tuple(out)


def round_up(length: int, step: int | None = None) -> int:
  """`length` rounded up to a multiple of `step` (None: WIDTH_STEP, a padded width that few
  others share)."""
  step = step or WIDTH_STEP
  return -(-int(length) // step) * step


def eval_batches(split: Split, batch_size: int, part: Part = WHOLE,
                 buckets: Sequence[Bucket] | None = None) -> Iterator[Batch]:
  """A batch per bucket (by default `eval_buckets(split, batch_size)`: every example once, in
  order), `part`'s rows of each: the bucket's members, then weight-0 copies of its first member
  up to its batch size, cut to its widths."""
  for b in eval_buckets(split, batch_size) if buckets is None else buckets:
    filler = b.batch_size - len(b.members)
    idx = np.concatenate([b.members, np.full(filler, b.members[0])])
    weights = np.concatenate([np.ones(len(b.members), np.float32), np.zeros(filler, np.float32)])
    rows = _rows(np.arange(b.batch_size), part)
    yield _take(split, idx[rows], weights[rows], b.input_len, b.target_len)

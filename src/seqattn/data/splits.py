"""Train/validation/test splits of one parallel corpus in which no sentence is in two splits.

Tatoeba holds many translations of one sentence and many sentences with one translation: split
pairs one by one (or by source alone) and test references reappear in training as targets. So
pairs are grouped into the connected components of the graph whose nodes are sentences and whose
edges are pairs (two pairs are linked when they share their source or their target), and whole
components are dealt to the splits in an order drawn from the seed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def components(pairs: Sequence[tuple[str, str]]) -> list[list[int]]:
  """Indices of the pairs of each connected component of shared sources or targets, each list
  in corpus order, the lists ordered by their first pair."""
  parent: dict[tuple[int, str], tuple[int, str]] = {}

  def find(node):
    root = node
    while parent.setdefault(root, root) != root:
      root = parent[root]
    while parent[node] != root:  # path compression
      parent[node], node = root, parent[node]
    return root

  for source, target in pairs:
    a, b = find((0, source)), find((1, target))
    if a != b:
      parent[a] = b
  groups: dict[tuple[int, str], list[int]] = {}
  for i, (source, _) in enumerate(pairs):
    groups.setdefault(find((0, source)), []).append(i)
  return list(groups.values())


def split(pairs: Sequence[tuple[str, str]], n_val: int, n_test: int,
          seed: int) -> tuple[list[int], list[int], list[int]]:
  """(train, val, test) pair indices: components in a seeded random order, the first ones to
  test until it holds at least `n_test` pairs, the next ones to validation (`n_val`), the rest
  to training. Each list is in corpus order."""
  groups = components(pairs)
  order = np.random.default_rng(seed).permutation(len(groups))
  test: list[int] = []
  val: list[int] = []
  train: list[int] = []
  for g in order:
    into = test if len(test) < n_test else val if len(val) < n_val else train
    into.extend(groups[g])
  if not train:
    raise ValueError(f"data.n_val={n_val} and data.n_test={n_test} leave no training pairs "
                     f"of the {len(pairs)}; lower them.")
  return sorted(train), sorted(val), sorted(test)


def shared_sentences(a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]) -> int:
  """How many distinct sentences of `b` also occur in `a` on the same side (source or target)."""
  nodes = lambda pairs: {(side, s) for pair in pairs for side, s in enumerate(pair)}
  return len(nodes(a) & nodes(b))

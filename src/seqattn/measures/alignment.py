"""How well attention finds the gold alignment (Och & Ney 2003: sure links S ⊆ possible P).

A = the attention's argmax links: at each real target step t, the one source position j with
the largest α_tj; a step whose largest weight is shared (a tie, as in a uniform row) links
nothing. Over the real target steps:
  aer       1 - (|A∩S| + |A∩P|) / (|A| + |S|): a link at a step without gold links counts
            against precision (it is in A, in neither S nor P);
and over the steps with at least one gold link:
  mass      Σ_{j∈P_t} α_tj, the attention on the gold positions, averaged over steps;
  argmax    the share of steps whose argmax link is in P_t (a tie is a miss);
  entropy   -Σ_j α_tj log α_tj, averaged over steps (0: one position; log N: uniform).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seqattn.data.examples import Example


def gold(examples: Sequence[Example], num_steps: int,
         max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(sure, possible, steps): [N, num_steps, max_len] bool link arrays of the examples and
  [N, num_steps] bool, True at their real target steps (one per target character)."""
  sure = np.zeros((len(examples), num_steps, max_len), bool)
  possible = np.zeros_like(sure)
  steps = np.zeros((len(examples), num_steps), bool)
  for i, example in enumerate(examples):
    steps[i, :len(example.alignment)] = True
    for t, link in enumerate(example.alignment[:num_steps]):
      possible[i, t, list(link.possible)] = True
      if link.sure is not None:
        sure[i, t, link.sure] = True
  return sure, possible, steps


def argmax_links(alpha_NxTxS: np.ndarray, steps_NxT: np.ndarray) -> np.ndarray:
  """[N, T, S] bool: A, one link per real step at its unique largest weight (none on a tie)."""
  top_NxTxS = alpha_NxTxS == alpha_NxTxS.max(-1, keepdims=True)
  unique_NxT = top_NxTxS.sum(-1) == 1
  return top_NxTxS & (unique_NxT & steps_NxT)[..., None]


def scores(alpha_NxTxS: np.ndarray, sure_NxTxS: np.ndarray, possible_NxTxS: np.ndarray,
           steps_NxT: np.ndarray) -> dict[str, float]:
  """The four measures above."""
  links = argmax_links(alpha_NxTxS, steps_NxT)
  a_and_s, a_and_p = np.sum(links & sure_NxTxS), np.sum(links & possible_NxTxS)
  rows = possible_NxTxS.any(-1) & steps_NxT
  alpha, possible = alpha_NxTxS[rows], possible_NxTxS[rows]
  with np.errstate(divide="ignore", invalid="ignore"):
    entropy = -np.sum(np.where(alpha > 0, alpha * np.log(alpha), 0.0), -1)
  return dict(mass=float(np.mean(np.sum(alpha * possible, -1))),
              argmax=float(np.mean(np.any(links[rows] & possible, -1))),
              aer=float(1.0 - (a_and_s + a_and_p) / (np.sum(links) + np.sum(sure_NxTxS))),
              entropy=float(np.mean(entropy)))

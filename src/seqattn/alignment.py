"""How well attention finds the gold alignment.

Over the output steps that have gold links (Och & Ney 2003 sure S ⊆ possible P), with
teacher-forced attention α_tj:
  mass      Σ_{j∈P_t} α_tj, the attention on the gold positions, averaged over steps;
  argmax    the share of steps whose argmax_j α_tj is in P_t;
  aer       1 - (|A∩S| + |A∩P|) / (|A| + |S|), A = the argmax links (Luong et al. 2015 §5.4);
  entropy   -Σ_j α_tj log α_tj, averaged over steps (0: one position; log N: uniform).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seqattn.data.examples import Example


def gold(examples: Sequence[Example], num_steps: int,
         max_len: int) -> tuple[np.ndarray, np.ndarray]:
  """(sure, possible): [N, num_steps, max_len] bool link arrays of the examples."""
  sure = np.zeros((len(examples), num_steps, max_len), bool)
  possible = np.zeros_like(sure)
  for i, example in enumerate(examples):
    for t, link in enumerate(example.alignment[:num_steps]):
      possible[i, t, list(link.possible)] = True
      if link.sure is not None:
        sure[i, t, link.sure] = True
  return sure, possible


def scores(alpha_NxTxS: np.ndarray, sure_NxTxS: np.ndarray,
           possible_NxTxS: np.ndarray) -> dict[str, float]:
  """The four measures above over the steps with at least one possible link."""
  rows = possible_NxTxS.any(-1)
  alpha, sure, possible = alpha_NxTxS[rows], sure_NxTxS[rows], possible_NxTxS[rows]
  argmax = np.zeros_like(possible)
  argmax[np.arange(len(alpha)), alpha.argmax(-1)] = True
  a_and_s = np.sum(argmax & sure)
  a_and_p = np.sum(argmax & possible)
  with np.errstate(divide="ignore", invalid="ignore"):
    entropy = -np.sum(np.where(alpha > 0, alpha * np.log(alpha), 0.0), -1)
  return dict(mass=float(np.mean(np.sum(alpha * possible, -1))),
              argmax=float(np.mean(np.any(argmax & possible, -1))),
              aer=float(1.0 - (a_and_s + a_and_p) / (len(alpha) + np.sum(sure))),
              entropy=float(np.mean(entropy)))

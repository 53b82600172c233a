"""Is the attention alive? Measures of α that show a dead attention, whatever the task.

A dead attention gives every output step the same weights over the input: with the course's
relu energies e_tj = relu(·) this happens once every energy is ≤ 0 (all e_tj = 0, so α_t is
uniform and no gradient reaches the attention's parameters), and the context is then the mean
of the encoder states. Over the real target steps of sources longer than one step:
  attention_entropy_ratio  H(α_t) / log N, averaged: 1 is uniform, 0 one position;
  attention_uniform_rows   the share of steps whose weights over the N real inputs are equal.
"""

from __future__ import annotations

import numpy as np

UNIFORM_ATOL = 1e-6  # weights this close are equal: float noise of a softmax of equal energies
DEAD_UNIFORM_ROWS = 0.5
DEAD_ENTROPY_RATIO = 0.95
ADVICE = ("the context is (nearly) the mean of the encoder states, whatever the output step. "
          "Try a positive energy bias for the course's relu score (model.energy_bias=5, the "
          "default), a warmup (train.warmup_steps), a lower train.learning_rate, or a score "
          "without a relu (model.attention='additive').")


def _rows(alpha_NxTxS: np.ndarray, lengths_N: np.ndarray, steps_NxT: np.ndarray):
  """(α of the scored steps [M, S], their real-input masks [M, S], their lengths [M])."""
  scored_NxT = steps_NxT & (lengths_N[:, None] > 1)
  real_NxS = np.arange(alpha_NxTxS.shape[-1])[None, :] < lengths_N[:, None]
  index_N = np.nonzero(scored_NxT)[0]
  return alpha_NxTxS[scored_NxT], real_NxS[index_N], lengths_N[index_N]


def measures(alpha_NxTxS: np.ndarray, lengths_N: np.ndarray,
             steps_NxT: np.ndarray) -> dict[str, float]:
  """The two measures above (0 when no step is scored)."""
  alpha, real, lengths = _rows(alpha_NxTxS, lengths_N, steps_NxT)
  if not len(alpha):
    return dict(attention_entropy_ratio=0.0, attention_uniform_rows=0.0)
  with np.errstate(divide="ignore", invalid="ignore"):
    entropy = -np.sum(np.where(alpha > 0, alpha * np.log(alpha), 0.0), -1)
  spread = np.where(real, alpha, -np.inf).max(-1) - np.where(real, alpha, np.inf).min(-1)
  return dict(attention_entropy_ratio=float(np.mean(entropy / np.log(lengths))),
              attention_uniform_rows=float(np.mean(spread <= UNIFORM_ATOL)))


def is_dead(m: dict[str, float]) -> bool:
  """Whether measures `m` (with or without a split's prefix) say the attention is dead."""
  get = lambda name: next(v for k, v in m.items() if k.endswith(name))
  return (get("attention_uniform_rows") >= DEAD_UNIFORM_ROWS
          or get("attention_entropy_ratio") >= DEAD_ENTROPY_RATIO)


def describe(m: dict[str, float]) -> str:
  """A sentence on a dead attention, with what to try."""
  get = lambda name: next(v for k, v in m.items() if k.endswith(name))
  return (f"the attention is dead: {get('attention_uniform_rows'):.0%} of its rows are uniform "
          f"over the input, its entropy is {get('attention_entropy_ratio'):.0%} of uniform; "
          + ADVICE)

"""Alignment measures on hand-made alignments (Och & Ney's AER, with its precision term)."""

import numpy as np
import pytest

from seqattn.measures import alignment
from seqattn.data.examples import NO_LINK, Example, possible, sure

# Three target characters over four source positions: a sure link to 2, possible links to
# {0, 1}, and a character no source position produces (a date's dash); a fourth, padded step.
EXAMPLES = [Example("abcd", "xy-", (sure(2), possible([0, 1]), NO_LINK))]
SURE, POSSIBLE, STEPS = alignment.gold(EXAMPLES, num_steps=4, max_len=4)


def test_gold_arrays():
  assert SURE[0, 0].tolist() == [False, False, True, False] and not SURE[0, 1:].any()
  assert POSSIBLE[0, 1].tolist() == [True, True, False, False] and not POSSIBLE[0, 2].any()
  assert STEPS.tolist() == [[True, True, True, False]]


def _alpha(rows):
  alpha = np.zeros((1, 4, 4))
  for t, (j, w) in enumerate(rows):
    alpha[0, t, j] = w
  return alpha


def test_a_perfect_attention_has_aer_0():
  alpha = _alpha([([2], 1.0), ([0], 0.6), ([3], 1.0), ([3], 1.0)])
  alpha[0, 1, 1] = 0.4  # within the possible links
  alpha[0, 2] = 0.25  # the dash: a uniform row links nothing, so it costs no precision
  s = alignment.scores(alpha, SURE, POSSIBLE, STEPS)
  assert s == pytest.approx(dict(mass=1.0, argmax=1.0, aer=0.0,
                                 entropy=-(0.6 * np.log(0.6) + 0.4 * np.log(0.4)) / 2))


def test_a_link_where_no_gold_link_exists_counts_against_precision():
  alpha = _alpha([([2], 1.0), ([0], 1.0), ([3], 1.0), ([3], 1.0)])  # the dash links to 3
  s = alignment.scores(alpha, SURE, POSSIBLE, STEPS)
  # |A| = 3 (the padded step is not scored), |S| = 1, |A∩S| = 1, |A∩P| = 2.
  assert s["aer"] == pytest.approx(1 - 3 / 4) and s["argmax"] == 1.0


def test_a_uniform_attention_links_nothing():
  # Every row ties: no argmax links at all, so nothing is found: argmax 0, AER 1.
  s = alignment.scores(np.full((1, 4, 4), 0.25), SURE, POSSIBLE, STEPS)
  assert s == pytest.approx(dict(mass=(0.25 + 0.5) / 2, argmax=0.0, aer=1.0,
                                 entropy=np.log(4)))


def test_a_wrong_attention_has_aer_1():
  alpha = _alpha([([3], 1.0)] * 4)
  s = alignment.scores(alpha, SURE, POSSIBLE, STEPS)
  assert s["aer"] == 1.0 and s["mass"] == 0.0 and s["argmax"] == 0.0

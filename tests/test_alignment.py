"""Alignment measures on hand-made alignments."""

import numpy as np
import pytest

from seqattn import alignment
from seqattn.data.examples import Example, possible, sure

# Two target steps over four source positions: a sure link to 2, then possible links to {0, 1}.
EXAMPLES = [Example("abcd", "xy", (sure(2), possible([0, 1])))]
SURE, POSSIBLE = alignment.gold(EXAMPLES, num_steps=3, max_len=4)


def test_gold_arrays():
  assert SURE[0, 0].tolist() == [False, False, True, False] and not SURE[0, 1:].any()
  assert POSSIBLE[0, 1].tolist() == [True, True, False, False] and not POSSIBLE[0, 2].any()


def test_a_perfect_attention_has_aer_0():
  alpha = np.zeros((1, 3, 4))
  alpha[0, 0, 2] = 1.0
  alpha[0, 1, [0, 1]] = 0.5  # any split within the possible links is perfect
  alpha[0, 2, 3] = 1.0  # a step without gold links is not scored
  s = alignment.scores(alpha, SURE, POSSIBLE)
  assert s == pytest.approx(dict(mass=1.0, argmax=1.0, aer=0.0, entropy=np.log(2) / 2))


def test_a_uniform_attention_has_the_expected_values():
  # argmax of a uniform row is position 0 (the first maximum): it misses the sure link at
  # step 0 and hits a possible one at step 1. |A| = 2, |S| = 1, |A∩S| = 0, |A∩P| = 1.
  s = alignment.scores(np.full((1, 3, 4), 0.25), SURE, POSSIBLE)
  assert s == pytest.approx(dict(mass=(0.25 + 0.5) / 2, argmax=0.5, aer=1 - 1 / 3,
                                 entropy=np.log(4)))


def test_a_wrong_attention_has_aer_1():
  alpha = np.zeros((1, 3, 4))
  alpha[0, :, 3] = 1.0
  s = alignment.scores(alpha, SURE, POSSIBLE)
  assert s["aer"] == 1.0 and s["mass"] == 0.0 and s["argmax"] == 0.0

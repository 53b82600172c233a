"""BLEU and chrF of detokenised output with sacrebleu, overall and by source length.

sacrebleu tokenises the detokenised hypotheses and references itself, so scores compare across
tokenisers and papers; its signature (tokeniser, smoothing, version) goes with every score.
Chinese has no spaces between words: a Chinese target is scored with sacrebleu's 'zh'
tokeniser (each CJK character a token), any other with its default '13a'.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sacrebleu.metrics import BLEU, CHRF

# Target languages whose text needs a tokeniser of its own (ISO 639 codes, Tatoeba's included).
TOKENIZERS = {"zh": "zh", "cmn": "zh", "yue": "zh", "wuu": "zh"}


def metrics(language: str) -> tuple[BLEU, CHRF]:
  return BLEU(tokenize=TOKENIZERS.get(language, "13a")), CHRF()


def scores(hypotheses: Sequence[str], references: Sequence[str], language: str) -> dict[str, float]:
  """Corpus BLEU and chrF (0-100) of `hypotheses` against one reference each."""
  return {name: metric.corpus_score(list(hypotheses), [list(references)]).score
          for name, metric in zip(("bleu", "chrf"), metrics(language))}


def signatures(language: str) -> dict[str, str]:
  """sacrebleu's signature of each score (tokeniser, smoothing, version): how to reproduce it."""
  out = {}
  for name, metric in zip(("bleu", "chrf"), metrics(language)):
    metric.corpus_score([""], [[""]])  # a signature names the number of references: one
    out[name] = str(metric.get_signature())
  return out


def by_length(hypotheses: Sequence[str], references: Sequence[str], lengths: Sequence[int],
              language: str, width: int = 5, least: int = 30) -> list[dict[str, Any]]:
  """BLEU and chrF of the sentences whose source length (in model tokens) falls in each bucket
  [lo, hi], as Bahdanau et al. (2015, Fig. 2) plot BLEU against sentence length: buckets `width`
  tokens wide, the longest ones merged until the last holds at least `least` sentences (BLEU
  of a handful of sentences is noise)."""
  lengths_N = np.asarray(lengths)
  edges = [[lo, lo + width - 1] for lo in range(1, int(lengths_N.max()) + 1, width)]
  count = lambda lo, hi: int(((lengths_N >= lo) & (lengths_N <= hi)).sum())
  while len(edges) > 1 and count(*edges[-1]) < least:
    last = edges.pop()
    edges[-1][1] = last[1]
  rows = []
  for lo, hi in edges:
    idx = np.flatnonzero((lengths_N >= lo) & (lengths_N <= hi))
    if len(idx):
      rows.append(dict(lo=lo, hi=hi, sentences=len(idx),
                       **scores([hypotheses[i] for i in idx], [references[i] for i in idx],
                                language)))
  return rows

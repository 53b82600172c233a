"""BLEU and chrF of detokenised output with sacrebleu, overall and by source length.

sacrebleu tokenises the detokenised hypotheses and references itself, so scores compare across
tokenisers and papers; its signature (tokeniser, smoothing, version) goes with every score.
The tokeniser follows the target language (`tokenizer_for`), or the config names one.
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any, Sequence

import numpy as np
from sacrebleu.metrics import BLEU, CHRF

# sacrebleu's tokeniser for each target language that needs its own, by ISO 639-1 or 639-3 code
# (a region or script after '-' or '_' is ignored: zh-CN, zh_Hant). Chinese has no spaces
# between words ('zh': each CJK character a token); Japanese and Korean need a morphological
# analyser (sacrebleu's recommendation), scored on characters without one (FALLBACK).
LANGUAGE_TOKENIZERS = {
    **dict.fromkeys(("zh", "zho", "chi", "cmn", "yue", "wuu", "lzh", "hak", "nan"), "zh"),
    **dict.fromkeys(("ja", "jpn"), "ja-mecab"),
    **dict.fromkeys(("ko", "kor"), "ko-mecab"),
}
DEFAULT, FALLBACK = "13a", "char"
NAMES = tuple(BLEU.TOKENIZERS)  # what data.bleu_tokenize may name


@functools.cache
def _available(tokenize: str) -> bool:
  """Whether sacrebleu can load `tokenize` here (the mecab ones need extra packages)."""
  try:
    BLEU(tokenize=tokenize)
  except RuntimeError:
    return False
  return True


@functools.cache
def tokenizer_for(language: str, override: str = "") -> str:
  """sacrebleu's tokeniser for a target `language` (`override`, when given, instead)."""
  if override:
    return override
  chosen = LANGUAGE_TOKENIZERS.get(re.split("[-_]", language.lower())[0], DEFAULT)
  if not _available(chosen):
    print(f"warning: BLEU of target language {language!r} wants sacrebleu's {chosen!r} "
          f"tokeniser, which needs `pip install \"sacrebleu[{chosen[:2]}]\"`; scoring on "
          f"characters ({FALLBACK!r}) instead. Its signature says which was used.",
          file=sys.stderr)
    return FALLBACK
  return chosen


def metrics(tokenize: str, references: tuple[str, ...] | None = None) -> tuple[BLEU, CHRF]:
  """BLEU with sacrebleu's `tokenize` and chrF; with `references`, holding their n-grams."""
  held = None if references is None else [list(references)]
  return BLEU(tokenize=tokenize, references=held), CHRF(references=held)


# A run scores its validation split at every evaluation: counting the references' n-grams once
# (chrF's above all) halves the cost of scoring.
_holding = functools.lru_cache(maxsize=4)(metrics)


def scores(hypotheses: Sequence[str], references: Sequence[str],
           tokenize: str) -> dict[str, float]:
  """Corpus BLEU (sacrebleu's `tokenize`) and chrF (0-100) of `hypotheses` against one
  reference each."""
  return {name: metric.corpus_score(list(hypotheses), None).score
          for name, metric in zip(("bleu", "chrf"), _holding(tokenize, tuple(references)))}


def signatures(tokenize: str) -> dict[str, str]:
  """sacrebleu's signature of each score (tokeniser, smoothing, version): how to reproduce it."""
  out = {}
  for name, metric in zip(("bleu", "chrf"), metrics(tokenize)):
    metric.corpus_score([""], [[""]])  # a signature names the number of references: one
    out[name] = str(metric.get_signature())
  return out


def by_length(hypotheses: Sequence[str], references: Sequence[str], lengths: Sequence[int],
              tokenize: str, width: int = 5, least: int = 30) -> list[dict[str, Any]]:
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
                                tokenize)))
  return rows

"""Translation of real sentences: a user's parallel corpus, sentencepiece tokens, BLEU and chrF.

The corpus is one TSV file (or two aligned files) split into train/val/test by connected
components of shared sentences (data/splits.py), or three files given as the splits. Source
and target tokenisers (data/subwords.py) are trained on the training split only and saved in the
workdir as source.model and target.model; a training pair longer than Tx source or Ty target
tokens (<eos> included) is dropped and counted, a validation or test pair is kept (every one is
scored: the long ones in evaluation batches of their own) and counted. Every count is written to
data.json in the workdir and printed when the data is loaded. Predictions are detokenised and
scored against the raw references with sacrebleu (seqattn/bleu.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import sys
from typing import Any, Literal, Sequence

import numpy as np

from seqattn.files import workdirs
from seqattn.measures import bleu
from seqattn.data import corpus, splits, subwords
from seqattn.data.batching import Resample, Split, pad
from seqattn.data.vocab import EOS, EOS_ID, PAD_ID
from seqattn.models import ends
from seqattn.schema import NON_NEGATIVE, POSITIVE, PROBABILITY, refuse, registered
from seqattn.tasks.base import Data, Output, Source, Task


@dataclasses.dataclass(frozen=True)
class TextConfig:
  task: str
  path: str  # tsv: the file of pairs; aligned: the stem of <stem>.<language> files
  format: Literal["tsv", "aligned"]
  columns: str  # tsv: the language of each column in order, e.g. "en,zh"; others are ignored
  source_language: str  # a language of `columns` (tsv) or a file suffix (aligned)
  target_language: str  # also picks sacrebleu's tokeniser (measures.bleu.tokenizer_for)
  # sacrebleu's tokeniser by name; "": the one the target language calls for
  bleu_tokenize: str = dataclasses.field(metadata=dict(
      registered(("",) + bleu.NAMES, "sacrebleu's tokenisers"), before=""))
  val_path: str  # explicit validation and test files in the same format; "": split `path`
  test_path: str
  split_seed: int = dataclasses.field(metadata=NON_NEGATIVE)  # the split's own seed
  n_val: int = dataclasses.field(metadata=POSITIVE)  # pairs held out when splitting `path`
  n_test: int = dataclasses.field(metadata=POSITIVE)
  skip_bad_lines: bool  # False: a bad line is an error naming it; True: skipped and counted
  tokenizer: subwords.Kind
  source_vocab_size: int = dataclasses.field(metadata=POSITIVE)  # limits: small corpora get fewer
  target_vocab_size: int = dataclasses.field(metadata=POSITIVE)
  # One tokeniser of source_vocab_size pieces trained on both sides (shared scripts, names and
  # numbers get the same pieces); target_vocab_size is then unused.
  joint_vocabulary: bool = dataclasses.field(metadata=dict(before=False))
  max_input_len: int = dataclasses.field(metadata=POSITIVE)  # Tx in tokens; longer pairs dropped
  max_target_len: int = dataclasses.field(metadata=POSITIVE)  # Ty in tokens, <eos> included
  # Training pairs whose token counts differ by more than this factor are dropped (noisy
  # corpora: misaligned lines); 0: none. Validation and test pairs are all kept.
  max_length_ratio: float = dataclasses.field(metadata=dict(NON_NEGATIVE, before=0.0))
  # Subword regularisation in training: each epoch cuts every training pair anew at random
  # (unigram: α of Kudo 2018; bpe: BPE-dropout's probability); 0: the one best cut always.
  subword_sampling: float = dataclasses.field(metadata=dict(PROBABILITY, before=0.0))

  def __post_init__(self):
    columns = self.columns.split(",")
    refuse([
        (bool(self.val_path) != bool(self.test_path),
         "give both data.val_path and data.test_path, or neither (then data.path is split)"),
        (self.subword_sampling > 0 and self.tokenizer not in ("unigram", "bpe"),
         f"data.subword_sampling samples subword cuts: it needs data.tokenizer='unigram' or "
         f"'bpe', not {self.tokenizer!r}"),
        (self.source_language == self.target_language,
         "data.source_language and data.target_language must differ"),
        (self.format == "tsv" and not {self.source_language, self.target_language} <= set(columns),
         f"data.columns={self.columns!r} must name data.source_language="
         f"{self.source_language!r} and data.target_language={self.target_language!r}"),
    ])


@dataclasses.dataclass(frozen=True)
class TextSplit(Split):
  """A split with its texts: BLEU compares detokenised output with the raw references."""

  sources: tuple[str, ...]
  references: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class TextCodec:
  src: subwords.Subwords
  tgt: subwords.Subwords
  report: dict = dataclasses.field(default_factory=dict)  # what loading counted

  @property
  def source(self) -> ends.Tokens:
    return ends.Tokens(len(self.src))

  @property
  def target(self) -> ends.Tokens:
    return ends.Tokens(len(self.tgt))

  def save(self, workdir: pathlib.Path) -> None:
    self.src.save(workdir / "source.model")
    self.tgt.save(workdir / "target.model")
    workdirs.write_text(workdir / "data.json",
                        json.dumps(self.report, indent=2, ensure_ascii=False))

  @classmethod
  def restore(cls, workdir: pathlib.Path) -> "TextCodec":
    report = workdir / "data.json"
    return cls(subwords.Subwords.restore(workdir / "source.model"),
               subwords.Subwords.restore(workdir / "target.model"),
               json.loads(report.read_text()) if report.exists() else {})


def encode(pairs: Sequence[tuple[str, str]], codec: TextCodec, max_input_len: int,
           max_target_len: int, keep_long: bool = False,
           max_ratio: float = 0.0) -> tuple[TextSplit, int, int]:
  """(the pairs as a split, how many are longer than Tx or Ty, how many were dropped for their
  length ratio). Long pairs are dropped from a training split; with `keep_long` (validation,
  test: every pair is scored) they are kept and the split is as wide as its longest pair. With
  `max_ratio` > 0 (a filter for noisy training corpora), pairs whose source and target token
  counts differ by more than that factor are dropped first. A source that encodes to no token
  is dropped."""
  kept, long, off_ratio = [], 0, 0
  for source, target in pairs:
    src, tgt = codec.src.encode(source), codec.tgt.encode(target)
    if max_ratio and max(len(src), len(tgt)) > max_ratio * max(min(len(src), len(tgt)), 1):
      off_ratio += 1
      continue
    tgt = tgt + [EOS_ID]
    fits = len(src) <= max_input_len and len(tgt) <= max_target_len
    long += not fits
    if src and (fits or keep_long):
      kept.append((src, tgt, source, target))
  srcs, tgts = [k[0] for k in kept], [k[1] for k in kept]
  split = TextSplit(pad(srcs, max([max_input_len] + [len(s) for s in srcs])),
                    np.array([len(s) for s in srcs], np.int32),
                    pad(tgts, max([max_target_len] + [len(t) for t in tgts])),
                    tuple(k[2] for k in kept), tuple(k[3] for k in kept))
  return split, long, off_ratio


class Text(Task):
  Config = TextConfig
  METRICS = {"loss": "min", "exact_match": "max", "token_accuracy": "max", "bleu": "max",
             "chrf": "max"}

  def read_corpus(self, path: str) -> corpus.Corpus:
    """The pairs of one file (tsv) or stem (aligned) in the configured format and direction."""
    cfg = self.cfg
    if cfg.format == "tsv":
      columns = corpus.columns_of(cfg.columns.split(","), cfg.source_language,
                                    cfg.target_language)
      return corpus.read_tsv(path, *columns, skip_bad_lines=cfg.skip_bad_lines)
    return corpus.read_aligned(f"{path}.{cfg.source_language}",
                                 f"{path}.{cfg.target_language}", cfg.skip_bad_lines)

  def _pairs(self) -> tuple[list, list, list, dict[str, Any]]:
    """(train, val, test) pairs and what reading them counted."""
    cfg = self.cfg
    if cfg.val_path:
      corpora = {name: self.read_corpus(p) for name, p in
                 (("train", cfg.path), ("val", cfg.val_path), ("test", cfg.test_path))}
      parts = [c.pairs for c in corpora.values()]
    else:
      whole = self.read_corpus(cfg.path)
      corpora = {"all": whole}
      parts = [[whole.pairs[i] for i in idx] for idx in
               splits.split(whole.pairs, cfg.n_val, cfg.n_test, cfg.split_seed)]
    report = {name: dict(lines=c.lines, pairs=len(c.pairs), skipped=c.skipped)
              for name, c in corpora.items()}
    report["files"] = self._digests()
    report["test_sentences_also_in_train"] = splits.shared_sentences(parts[0], parts[2])
    return (*parts, report)

  def _files(self) -> list[str]:
    """The files the pairs are read from."""
    cfg = self.cfg
    stems = [cfg.path, cfg.val_path, cfg.test_path] if cfg.val_path else [cfg.path]
    if cfg.format == "tsv":
      return stems
    return [f"{s}.{lang}" for s in stems for lang in (cfg.source_language, cfg.target_language)]

  def _digests(self) -> dict[str, str]:
    return {f: hashlib.sha256(pathlib.Path(f).read_bytes()).hexdigest() for f in self._files()}

  def load(self, seed: int) -> Data:
    """The splits (from data.split_seed, so every run seed sees one test set) and tokenisers
    trained on the training split; `seed` seeds subword sampling."""
    cfg = self.cfg
    train, val, test, report = self._pairs()
    fit = lambda texts, size: subwords.Subwords(subwords.train(texts, cfg.tokenizer, size))
    sources, targets = [s for s, _ in train], [t for _, t in train]
    if cfg.joint_vocabulary:
      joint = fit(sources + targets, cfg.source_vocab_size)
      codec = TextCodec(joint, joint, report)
    else:
      codec = TextCodec(fit(sources, cfg.source_vocab_size), fit(targets, cfg.target_vocab_size),
                        report)
    return self._encode(codec, train, val, test, report, seed)

  def load_saved(self, codec: TextCodec, seed: int) -> Data:
    """The run's split (data.split_seed) encoded with its saved tokenisers; a data file that
    changed since the run (its sha256 in data.json) is refused, naming it."""
    train, val, test, report = self._pairs()  # report["files"]: their sha256 now
    for path, digest in codec.report.get("files", {}).items():
      if report["files"].get(path) != digest:
        raise ValueError(f"{path} changed since the run was trained (its sha256 is not the one "
                         f"in data.json), so its test split is not the one the run held out. "
                         f"Restore the file, or score a file of pairs with --test_file.")
    return self._encode(codec, train, val, test, report, seed)

  def _encode(self, codec: TextCodec, train, val, test, report: dict[str, Any],
              seed: int) -> Data:
    cfg = self.cfg
    encoded = {}
    for name, pairs in (("train", train), ("val", val), ("test", test)):
      keep_long = name != "train"  # and the length ratio filters training pairs alone
      encoded[name], long, off_ratio = encode(pairs, codec, cfg.max_input_len,
                                              cfg.max_target_len, keep_long,
                                              0.0 if keep_long else cfg.max_length_ratio)
      report[f"{name}_split"] = dict(pairs=len(pairs), kept=len(encoded[name]), **(
          dict(kept_longer_than_max_len=long) if keep_long else
          dict(dropped_longer_than_max_len=long, dropped_length_ratio=off_ratio)))
    report["vocabulary"] = dict(source=len(codec.src), target=len(codec.tgt))
    print(f"data: {json.dumps(report, ensure_ascii=False)}", file=sys.stderr)
    return Data(encoded["train"], encoded["val"], encoded["test"], codec,
                resample_train=self._sampler(codec, encoded["train"], seed))

  def _sampler(self, codec: TextCodec, split: TextSplit, seed: int) -> Resample | None:
    """Draws the training split's subword cuts anew for each epoch (data.subword_sampling),
    from (seed, epoch) alone: a resumed run draws the same. A pair whose draw is longer than
    its bucket's widths (or empty) keeps its best cut; how many did is printed each epoch."""
    alpha = self.cfg.subword_sampling
    if not alpha:
      return None

    def resample(epoch: int, max_src_N: np.ndarray, max_tgt_N: np.ndarray) -> TextSplit:
      subwords.seed_sampling(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
      inputs, lengths, targets = split.inputs.copy(), split.input_lengths.copy(), \
          split.targets.copy()
      kept = 0
      for i, (source, target) in enumerate(zip(split.sources, split.references)):
        src, tgt = codec.src.sample(source, alpha), codec.tgt.sample(target, alpha) + [EOS_ID]
        if 0 < len(src) <= max_src_N[i] and len(tgt) <= max_tgt_N[i]:
          inputs[i], targets[i] = PAD_ID, PAD_ID
          inputs[i, :len(src)], targets[i, :len(tgt)], lengths[i] = src, tgt, len(src)
        else:
          kept += 1
      print(f"subword sampling, epoch {epoch + 1}: {kept} of {len(split)} training pairs kept "
            f"their best cut (the drawn one outgrew their length bucket)", file=sys.stderr)
      return dataclasses.replace(split, inputs=inputs, input_lengths=lengths, targets=targets)

    return resample

  def test_data(self, codec: TextCodec, path: str) -> Data:
    """A user's own test file, in the configured format, as the test split (every pair, those
    longer than the model's Tx or Ty too)."""
    test, *_ = encode(self.read_corpus(path).pairs, codec, self.cfg.max_input_len,
                     self.cfg.max_target_len, keep_long=True)
    empty, *_ = encode([], codec, self.cfg.max_input_len, self.cfg.max_target_len)
    return Data(empty, empty, test, codec)

  def restore(self, workdir: pathlib.Path) -> TextCodec:
    return TextCodec.restore(workdir)

  def read(self, codec: TextCodec, text: str) -> Source:
    text = text.strip()
    ids = codec.src.encode(text)
    if not ids:
      raise ValueError("empty input: give a sentence to translate.")
    unknown = codec.src.unknown(text)
    warnings = ([f"{text!r}: not in the source vocabulary, read as <unk>: {' '.join(unknown)}"]
                if unknown else [])
    if len(ids) > self.cfg.max_input_len:  # read whole: the RNN has no length limit
      warnings.append(f"{text!r} has {len(ids)} tokens, more than any training sentence "
                      f"(data.max_input_len={self.cfg.max_input_len}): expect a weaker "
                      f"translation, or split it.")
    return Source(np.array(ids, np.int32), codec.src.pieces(ids), text, warnings)

  def write(self, codec: TextCodec, output: np.ndarray, source: Source | None = None) -> Output:
    del source  # a translation does not refer to its source
    ids = [int(i) for i in output if i != PAD_ID]
    words = ids[:ids.index(EOS_ID)] if EOS_ID in ids else ids
    return Output(codec.tgt.decode(words),
                  codec.tgt.pieces(words) + [EOS] * (len(ids) > len(words)))

  def hypotheses(self, codec: TextCodec, predictions: np.ndarray) -> list[str]:
    return [self.write(codec, p).text for p in predictions]

  def score(self, data: Data, split: TextSplit, predictions: np.ndarray) -> dict[str, float]:
    return bleu.scores(self.hypotheses(data.codec, predictions), split.references,
                       self.bleu_tokenize)

  @property
  def bleu_tokenize(self) -> str:
    """sacrebleu's tokeniser of this target language (or the config's)."""
    return bleu.tokenizer_for(self.cfg.target_language, self.cfg.bleu_tokenize)

  def report(self, data: Data, predictions: np.ndarray, attention: dict[str, np.ndarray],
             workdir: pathlib.Path | None) -> dict[str, Any]:
    """sacrebleu's signatures and BLEU by source length on the test split."""
    del attention, workdir
    split = data.test
    hypotheses = self.hypotheses(data.codec, predictions)
    return dict(sacrebleu=bleu.signatures(self.bleu_tokenize),
                median_source_length=float(np.median(split.input_lengths)),
                bleu_by_source_length=bleu.by_length(hypotheses, split.references,
                                                      split.input_lengths, self.bleu_tokenize))

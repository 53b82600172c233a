"""Translation of real sentences: reading a user's corpus (bad lines refused or counted), splits
with no sentence in two of them, sentencepiece, length buckets, BLEU, and a whole run: load ->
tokenise -> train -> beam search -> sacrebleu, then predict and evaluate on a user's file."""

import dataclasses
import json
import re

import chex
import jax
import numpy as np
import pytest
import sacrebleu

import seqattn
from conftest import CONFIGS
from seqattn import cli, config as config_lib, corpora, tasks
from seqattn.tasks import text
from seqattn.inference import evaluation
from seqattn.measures import bleu, metrics
from seqattn.data import batching, corpus, splits, subwords
from seqattn.data.vocab import EOS_ID
from seqattn.training import run, step


# A tiny "language pair": target words are the source words' translations, in reverse order.
WORDS = {"red": "rouge", "cat": "chat", "dog": "chien", "big": "grand", "sees": "voit",
         "the": "le", "small": "petit", "eats": "mange"}


def sentence_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    words = list(rng.choice(list(WORDS), rng.integers(2, 7)))
    out.append((" ".join(words), " ".join(WORDS[w] for w in reversed(words))))
  return out


BAD = [b"no tab on this line", b"lonely source\t", b"caf\xe9 au lait\tcoffee"]


def write_corpus(path, pairs, bad=()):
  """A TSV with a byte-order mark, CRLF line ends, a third (ignored) column and `bad` lines
  after lines 10, 20, ..."""
  lines = [f"{s}\t{t}\tattribution #{i}".encode() for i, (s, t) in enumerate(pairs)]
  for k, line in enumerate(bad):
    lines.insert(10 * (k + 1) + k, line)
  path.write_bytes(corpus.BOM + b"\r\n".join(lines) + b"\r\n")
  return path


@pytest.fixture(scope="module")
def corpus_tsv(tmp_path_factory):
  return write_corpus(tmp_path_factory.mktemp("corpus") / "pairs.tsv", sentence_pairs(600), BAD)


def text_config(path, **overrides):
  c = config_lib.load_file(CONFIGS / "text.py")
  c.data.path, c.data.columns = str(path), "src,tgt,-"
  c.data.source_language, c.data.target_language = "src", "tgt"
  c.data.n_val, c.data.n_test = 40, 60
  c.data.skip_bad_lines = True
  c.data.source_vocab_size = c.data.target_vocab_size = 60
  c.data.max_input_len = c.data.max_target_len = 24
  c.model.embed_dim, c.model.encoder_units, c.model.attention_units = 16, 24, 24
  c.model.decoder_units, c.model.dropout = 48, 0.0
  c.train.batch_size, c.train.buckets, c.train.num_epochs = 32, 2, 6
  c.train.learning_rate, c.train.warmup_steps = 0.01, 20
  c.train.eval_every_steps = c.train.checkpoint_every_steps = 40
  c.train.eval_batch_size = 64
  return config_lib.override(c, overrides)


def test_each_bad_line_is_refused_naming_file_and_line(corpus_tsv):
  expected = [(11, "has no tab"), (22, "has an empty target side"),
              (33, "is not UTF-8 (byte 0xe9 at column 4)")]
  for line, reason in expected:
    good = [(s, t) for s, t in sentence_pairs(40)]
    path = write_corpus(corpus_tsv.parent / f"bad{line}.tsv", good, [BAD[(line - 11) // 11]])
    with pytest.raises(corpus.CorpusError, match=re.escape(f"{path}:11: the line {reason}")
                       + ".*data.skip_bad_lines=True"):
      corpus.read_tsv(path, 0, 1)


def test_skipped_bad_lines_are_counted_and_bom_crlf_and_extra_columns_are_read(corpus_tsv):
  read = corpus.read_tsv(corpus_tsv, 0, 1, skip_bad_lines=True)
  assert read.skipped == {"empty target": 1, "not UTF-8": 1, "too few columns": 1}
  assert read.lines == 603 and len(read.pairs) == 600
  assert read.pairs[:2] == sentence_pairs(2)  # no BOM, no "\r", no third column


def test_aligned_files_of_different_lengths_are_refused(tmp_path):
  (tmp_path / "c.de").write_text("a\nb\nc\n")
  (tmp_path / "c.en").write_text("A\r\nB\r\n")
  with pytest.raises(corpus.CorpusError, match=r"c\.de:3 has no partner"):
    corpus.read_aligned(tmp_path / "c.de", tmp_path / "c.en")
  (tmp_path / "c.en").write_text("A\r\nB\r\nC")
  assert corpus.read_aligned(tmp_path / "c.de", tmp_path / "c.en").pairs[2] == ("c", "C")


def test_paraphrases_stay_in_one_split():
  # Two sources sharing a target and a chain of shared sources/targets form one component.
  pairs = [("hi", "salut"), ("hello", "salut"), ("hello", "bonjour"), ("bye", "ciao")] + [
      (f"s{i}", f"t{i}") for i in range(40)]
  assert sorted(map(sorted, splits.components(pairs)))[0] == [0, 1, 2]
  for seed in range(5):
    train, val, test = splits.split(pairs, 8, 8, seed)
    assert sorted(train + val + test) == list(range(len(pairs)))
    take = lambda idx: [pairs[i] for i in idx]
    assert splits.shared_sentences(take(train), take(test)) == 0
    assert splits.shared_sentences(take(train), take(val)) == 0
    assert {0, 1, 2} <= set(train) or {0, 1, 2} <= set(val) or {0, 1, 2} <= set(test)
  assert splits.split(pairs, 8, 8, 3) == splits.split(pairs, 8, 8, 3)


def test_the_shipped_corpus_splits_with_no_shared_sentence():
  pairs = corpus.read_tsv(corpora.TATOEBA_ENG_CMN, 0, 1).pairs
  assert len(pairs) == 20_133
  train, _, test = splits.split(pairs, 1000, 2000, 0)
  take = lambda idx: [pairs[i] for i in idx]
  assert splits.shared_sentences(take(train), take(test)) == 0
  assert 2000 <= len(test) < 2010


@pytest.mark.parametrize("kind", ["unigram", "bpe", "word", "char"])
def test_every_tokeniser_detokenises_what_it_reads(kind):
  texts = [s for pair in sentence_pairs(200) for s in pair]
  model = subwords.Subwords(subwords.train(texts, kind, 40))
  ids = model.encode("the big cat eats")
  assert model.decode(ids) == "the big cat eats" and min(ids) > EOS_ID
  # char: a piece a character, spaces and the start of the sentence as "▁"
  assert (len(ids) == len(" the big cat eats")) == (kind == "char")
  assert model.unknown("the zebra") == (["z"] if kind != "word" else ["▁zebra"])


def test_both_shipped_directions_are_valid_configs():
  for arg, target in (("zh-en", "en"), ("en-zh", "zh")):
    config = config_lib.freeze(config_lib.load_file(f"{CONFIGS / 'text.py'}:{arg}"))
    assert config.data.target_language == target and config.data.path == str(
        corpora.TATOEBA_ENG_CMN)
  with pytest.raises(config_lib.ConfigError, match="must name data.source_language"):
    config_lib.freeze(config_lib.override(config_lib.load_file(CONFIGS / "text.py"),
                                          {"data.columns": "de,en"}))


def test_chinese_targets_are_scored_with_sacrebleus_chinese_tokeniser():
  hyp, ref = ["我们明天去公园。"], ["我们明天去学校。"]
  assert bleu.scores(hyp, ref, "zh")["bleu"] == pytest.approx(
      sacrebleu.corpus_bleu(hyp, [ref], tokenize="zh").score)
  assert bleu.scores(hyp, ref, "13a")["bleu"] == 0.0  # one "word" without spaces
  assert "tok:zh" in bleu.signatures("zh")["bleu"]


@pytest.mark.parametrize("language, override, expected", [
    ("zh", "", "zh"), ("zho", "", "zh"), ("zh-CN", "", "zh"), ("zh_Hant", "", "zh"),
    ("cmn", "", "zh"), ("en", "", "13a"), ("de", "", "13a"), ("en", "intl", "intl"),
    ("zh", "char", "char")])
def test_the_bleu_tokeniser_follows_the_target_language_or_the_config(language, override,
                                                                       expected):
  assert bleu.tokenizer_for(language, override) == expected


@pytest.mark.parametrize("language", ["ja", "jpn", "ko", "ko-KR"])
def test_japanese_and_korean_use_mecab_where_installed_else_characters(language, monkeypatch,
                                                                       capsys):
  wanted = "ja-mecab" if language.startswith("j") else "ko-mecab"
  for installed in (True, False):
    monkeypatch.setattr(bleu, "_available", lambda name: installed or name != wanted)
    bleu.tokenizer_for.cache_clear()
    assert bleu.tokenizer_for(language) == (wanted if installed else "char")
  assert f'pip install "sacrebleu[{wanted[:2]}]"' in capsys.readouterr().err
  bleu.tokenizer_for.cache_clear()


def test_a_bleu_tokeniser_sacrebleu_lacks_is_refused_with_the_valid_ones():
  with pytest.raises(config_lib.ConfigError, match="'13a', 'intl', 'char'"):
    config_lib.freeze(config_lib.override(config_lib.load_file(CONFIGS / "text.py"),
                                          {"data.bleu_tokenize": "moses"}))


def test_bleu_by_length_merges_the_sparse_longest_buckets():
  lengths = [2] * 40 + [7] * 40 + [12] * 20 + [17] * 20 + [23] * 5
  hyps = [f"w{i} x y z" for i in range(len(lengths))]
  rows = bleu.by_length(hyps, hyps, lengths, "13a", width=5, least=30)
  assert [(r["lo"], r["hi"], r["sentences"]) for r in rows] == [(1, 5, 40), (6, 10, 40),
                                                               (11, 25, 45)]
  assert all(r["bleu"] == pytest.approx(100) for r in rows)


def test_buckets_cover_every_example_within_the_token_budget(corpus_tsv):
  config = config_lib.freeze(text_config(corpus_tsv, **{"train.buckets": 3,
                                                    "train.token_budget": 256}))
  task = tasks.make(config.data)
  data = task.load(config.seed)
  plan = batching.Plan(data.train, 32, batching.make_buckets(data.train, 3, 32, 256))
  assert len(plan.shapes) == 3
  assert all(b * max(tx, ty) <= 256 for b, tx, ty in plan.shapes)
  assert batching.padding_share(data.train, plan.buckets) < batching.padding_share(data.train, ())
  members = np.concatenate([b.members for b in plan.buckets])
  assert sorted(members) == list(range(len(data.train)))
  seen = [batch["inputs"].shape for batch in plan.epoch(np.random.default_rng(0))]
  assert len(seen) == plan.steps_per_epoch
  # An epoch is a pure function of its generator: the data position is enough to resume.
  again = list(plan.epoch(np.random.default_rng(0)))
  assert all(np.array_equal(a["inputs"], b["inputs"]) for a, b in
             zip(again, plan.epoch(np.random.default_rng(0))))
  # Over a mesh of 8 devices along `data`, every bucket's batch splits evenly.
  eight = batching.make_buckets(data.train, 3, 32, 256, multiple=8)
  assert [b.batch_size % 8 for b in eight] == [0, 0, 0]
  assert all(b8.batch_size <= b.batch_size for b8, b in zip(eight, plan.buckets))



def test_a_users_corpus_trains_beam_decodes_scores_predicts_and_evaluates(corpus_tsv, tmp_path,
                                                                          capsys, monkeypatch):
  workdir = tmp_path / "run"
  # Each of the 2 length buckets compiles the train step once, over all 6 epochs.
  counted = jax.jit(chex.assert_max_traces(step.update, n=2), static_argnames="static",
                    donate_argnums=0)
  monkeypatch.setattr(run, "train_step", counted)
  results = seqattn.train(text_config(corpus_tsv, **{"decode.method": "beam"}), workdir)
  assert len(results["batch_shapes"]) == 2
  report = json.loads((workdir / "data.json").read_text())
  assert report["all"]["skipped"] == {"empty target": 1, "not UTF-8": 1, "too few columns": 1}
  assert report["test_sentences_also_in_train"] == 0
  assert (workdir / "source.model").exists() and (workdir / "target.model").exists()
  assert "tok:13a" in results["sacrebleu"]["bleu"]
  assert results["test_bleu"] > 20, results  # an untrained model scores about 0
  assert sum(r["sentences"] for r in results["bleu_by_source_length"]) == results[
      "test_examples"]
  assert results["tested_step"] == results["best_step"] and results["padding_share"] < 0.5

  # evaluate scores the run's own test split with its saved tokenisers (none is trained
  # again): the run's BLEU; and refuses once the data file has changed, naming it.
  def no_training(*args, **kwargs):
    raise AssertionError("evaluate trained a tokeniser")

  monkeypatch.setattr(subwords, "train", no_training)
  name, again = seqattn.load(workdir).evaluate()
  assert name == "beam5" and again["bleu"] == pytest.approx(results["test_bleu"])
  original = corpus_tsv.read_bytes()
  try:
    corpus_tsv.write_bytes(original + "one more\tline\tx\n".encode())
    with pytest.raises(ValueError, match=f"{re.escape(str(corpus_tsv))} changed since"):
      seqattn.load(workdir).evaluate()
  finally:
    corpus_tsv.write_bytes(original)

  # predict on a file, one output a line, equals what evaluation decoded and scored
  test_pairs = [tuple(line.split("\t")[:2]) for line in
                corpus_tsv.read_bytes().decode("utf-8", "replace").splitlines()[-30:]]
  inputs, user_test = tmp_path / "inputs.txt", tmp_path / "mine.tsv"
  inputs.write_text("\n".join(s for s, _ in test_pairs) + "\n")
  user_test.write_text("".join(f"{s}\t{t}\n" for s, t in test_pairs))
  capsys.readouterr()
  cli.run("predict", workdir, None, None, [], input_path=str(inputs))
  outputs = capsys.readouterr().out.splitlines()
  assert len(outputs) == 30
  _, mine = seqattn.load(workdir).evaluate(user_test)
  assert mine["bleu"] == pytest.approx(
      sacrebleu.corpus_bleu(outputs, [[t for _, t in test_pairs]]).score)
  assert (workdir / "results_beam5_mine.tsv.json").exists()
  # The hypotheses evaluate scored, written beside the run's files, in the file's order.
  assert (workdir / "test_beam5_mine.tsv.hyp.txt").read_text().splitlines() == outputs
  # Length buckets decode and score the test split as full-width batches do.
  trained = seqattn.load(workdir).trained
  data = trained.task.load_saved(trained.codec, trained.config.seed)
  greedy = dataclasses.replace(trained.config.decode, method="greedy")
  plain, by_length = (evaluation.evaluate(trained.model, trained.params, data.test, 32, greedy,
                                          trained.task, data, by_length=b) for b in (False, True))
  np.testing.assert_array_equal(*metrics.same_width(plain.predictions, by_length.predictions))
  assert plain.metrics["bleu"] == by_length.metrics["bleu"]
  assert plain.metrics["loss"] == pytest.approx(by_length.metrics["loss"], rel=1e-5)
  steps = np.asarray(trained.model.target.mask(data.test.targets))  # real target steps
  np.testing.assert_allclose(plain.alpha_NxTxS[steps], by_length.alpha_NxTxS[steps], atol=1e-5)
  # A pair longer than the model's Tx and Ty (24 tokens) is scored, in a batch of its own.
  longest = (" ".join(["the big cat"] * 10), " ".join(["le grand chat"] * 10))
  user_test.write_text("".join(f"{s}\t{t}\n" for s, t in test_pairs[:5] + [longest]))
  _, with_long = seqattn.load(workdir).evaluate(user_test)
  assert with_long["examples"] == 6
  # predict translates it too, and says it is longer than any training sentence.
  [found] = seqattn.load(workdir).decode(longest[0])
  assert found.best.output and "more than any training sentence" in found.source.warnings[-1]
  assert found.best.alpha_TyxTx.shape[1] == len(found.source.labels) > 24
  assert len((workdir / "test_beam5_mine.tsv.hyp.txt").read_text().splitlines()) == 6

  # A few decoded validation examples at each evaluation, in the log.
  logged = [json.loads(line) for line in (workdir / "metrics.jsonl").open()]
  assert all(len(r["val_shown"]) == 3 and " -> " in r["val_shown"][0]
             and "(reference: " in r["val_shown"][0] for r in logged if "val_loss" in r)

  # The run's own test hypotheses: the best a line, the n-best with scores, the attention.
  hyps = (workdir / "test.hyp.txt").read_text().splitlines()
  assert len(hyps) == results["test_examples"]
  nbest = [line.split("\t") for line in (workdir / "test.nbest.tsv").read_text().splitlines()]
  assert nbest[0] == ["sentence", "rank", "score", "output"]
  assert [r[3] for r in nbest[1:] if r[1] == "1"] == hyps
  saved = np.load(workdir / "test.attention.npz")
  assert saved["alpha"].shape[0] == len(hyps) == len(saved["source_lengths"])
  for alpha, tx, ty in zip(saved["alpha"], saved["source_lengths"], saved["output_lengths"]):
    np.testing.assert_allclose(alpha[:ty, :tx].sum(-1), 1.0, rtol=1e-5)
    assert not alpha[:ty, tx:].any()  # exactly 0 on padding

  capsys.readouterr()
  cli.run("predict", workdir, None, None, ["the big cat sees the dog"])
  line = capsys.readouterr().out
  assert line.startswith("the big cat sees the dog -> ")
  assert (workdir / "attention_the_big_cat_sees_the_dog.png").exists()

  # A run saved before data.bleu_tokenize, max_length_ratio and joint_vocabulary existed still
  # loads (each takes the value that reproduces such a run) and decodes the same.
  before = json.loads((workdir / "config.json").read_text())
  for key in ("bleu_tokenize", "max_length_ratio", "joint_vocabulary"):
    del before["data"][key]
  (workdir / "config.json").write_text(json.dumps(before))
  assert seqattn.load(workdir).predict("the big cat sees the dog")[0] == line.split(" -> ")[1] \
      .split("    (")[0]


def test_the_length_ratio_filter_drops_training_pairs_far_apart_and_counts_them(tmp_path):
  words = type("Words", (), {"encode": staticmethod(lambda s: [4] * len(s.split()))})
  codec = type("Codec", (), {"src": words, "tgt": words})
  pairs = [("a b c", "x y z"), ("a", "x y z w"), ("a b c d e f", "x"), ("a b", "x y z w v y u")]
  kept = lambda ratio: (lambda split, long, off: (split.sources, long, off))(
      *text.encode(pairs, codec, 6, 6, max_ratio=ratio))
  assert kept(3.0) == (("a b c",), 0, 3)
  assert kept(0.0) == (("a b c", "a", "a b c d e f"), 1, 0)  # off; the 8-token target too long
  assert kept(4.0) == (("a b c", "a"), 1, 1)
  # In a run: the training split only, counted in data.json's report. Misaligned lines: a
  # short source beside the next lines' targets run together.
  good = sentence_pairs(600)
  noisy = [(s, " ".join(t for _, t in good[i:i + 6])) for i, (s, _) in enumerate(good[:60])]
  path = write_corpus(tmp_path / "noisy.tsv", good + noisy)
  report = {}
  for ratio in (0.0, 3.0):
    config = config_lib.freeze(text_config(path, **{"data.max_length_ratio": ratio}))
    report[ratio] = tasks.make(config.data).load(0).codec.report
  off, on = report[0.0], report[3.0]
  assert off["train_split"]["dropped_length_ratio"] == 0
  assert on["train_split"]["dropped_length_ratio"] >= 40  # most of the noisy ones in train
  assert on["train_split"]["pairs"] == off["train_split"]["pairs"]
  train = on["train_split"]  # every pair accounted for, once
  assert train["kept"] + train["dropped_length_ratio"] + train["dropped_longer_than_max_len"] \
      == train["pairs"]
  assert train["kept"] < off["train_split"]["kept"]
  assert on["test_split"] == off["test_split"]  # validation and test pairs are all kept


def test_subword_sampling_cuts_each_epoch_anew_within_its_buckets_and_resumes_the_same(corpus_tsv,
                                                                                        capsys):
  config = config_lib.freeze(text_config(corpus_tsv, **{"data.subword_sampling": 0.1}))
  data = tasks.make(config.data).load(config.seed)
  bucketed = run.batch_plan(config, data, 1)
  capsys.readouterr()
  src, tgt = batching.lengths(bucketed.for_epoch(1).split)
  assert re.search(r"epoch 2: \d+ of 500 training pairs kept their best cut",
                   capsys.readouterr().err)
  for b in bucketed.buckets:  # every batch keeps its compiled shape
    assert src[b.members].max() <= b.input_len and tgt[b.members].max() <= b.target_len
  plan = run.batch_plan(dataclasses.replace(config, train=dataclasses.replace(
      config.train, buckets=1)), data, 1)  # room for longer cuts
  one, two = plan.for_epoch(1).split, plan.for_epoch(2).split
  for a, b in zip(dataclasses.astuple(one), dataclasses.astuple(plan.for_epoch(1).split)):
    np.testing.assert_array_equal(a, b)  # a function of (seed, epoch): a resumed run's cuts
  assert (one.inputs != two.inputs).any() and (one.inputs != data.train.inputs).any()
  src, tgt = batching.lengths(one)
  codec = data.codec
  for i in range(len(one)):  # another cut of the same text
    assert codec.src.decode(one.inputs[i, :src[i]]) == codec.src.decode(
        data.train.inputs[i, :data.train.input_lengths[i]])
    assert codec.tgt.decode(one.targets[i, :tgt[i] - 1]) == codec.tgt.decode(
        data.train.targets[i, :(data.train.targets[i] != 0).sum() - 1])
  with pytest.raises(config_lib.ConfigError, match="data.subword_sampling"):
    config_lib.freeze(text_config(corpus_tsv, **{"data.subword_sampling": 0.5,
                                                 "data.tokenizer": "word"}))


def test_a_joint_vocabulary_is_one_tokeniser_for_both_sides(corpus_tsv, tmp_path):
  config = config_lib.freeze(text_config(corpus_tsv, **{"data.joint_vocabulary": True}))
  codec = tasks.make(config.data).load(0).codec
  assert codec.src is codec.tgt and codec.source.size == codec.target.size
  codec.save(tmp_path)  # saved and read back as two files, as any codec
  again = text.TextCodec.restore(tmp_path)
  sentence = "the big cat sees the dog"
  assert again.src.encode(sentence) == again.tgt.encode(sentence) == codec.src.encode(sentence)
  apart = tasks.make(config_lib.freeze(text_config(corpus_tsv)).data).load(0).codec
  assert apart.src is not apart.tgt

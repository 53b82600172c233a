"""Date data: determinism, disjoint splits, calendar years, vocabularies and batches."""

import datetime
import re

import numpy as np
import pytest

from seqattn import config as config_lib, tasks
from seqattn.data import batching, dates, synthetic
from seqattn.tasks import characters
from seqattn.data.vocab import EOS_ID, PAD_ID, UNK_ID, Vocab


def test_generation_is_deterministic_in_the_seed():
  a = dates.generate(300, seed=3, start="1950-01-01", end="2049-12-31")
  b = dates.generate(300, seed=3, start="1950-01-01", end="2049-12-31")
  c = dates.generate(300, seed=4, start="1950-01-01", end="2049-12-31")
  assert a == b
  assert a != c


def test_pairs_are_distinct_and_targets_are_the_iso_dates_in_range():
  examples = dates.generate(2000, seed=0, start="1990-01-01", end="1999-12-31")
  sources = [e.source for e in examples]
  assert len(set(sources)) == len(sources)
  for source, target, _ in examples:
    day = datetime.date.fromisoformat(target)
    assert datetime.date(1990, 1, 1) <= day <= datetime.date(1999, 12, 31)
    assert source == source.lower() and "," not in source
    assert 0 < len(source) <= 30


def test_every_format_renders_its_own_date():
  day = datetime.date(1979, 5, 3)
  rendered = {f: dates.render(day, f) for f in dates.FORMATS}
  assert rendered["full"] == "thursday may 3 1979"
  assert rendered["short"] == "5/3/79"
  assert rendered["dd.MM.yy"] == "03.05.79"
  assert rendered["d MMMM y"] == "3 may 1979"


TWO_DIGIT_YEAR_FORMATS = {"short", "d MM yy", "dd.MM.yy"}


@pytest.mark.parametrize("day", ["2018-12-31", "2019-12-30", "2024-12-30", "2021-01-01"])
def test_late_december_and_early_january_get_the_calendar_year(day):
  date = datetime.date.fromisoformat(day)
  for fmt in dates.FORMATS:
    year = re.split(r"[ ./]", dates.render(date, fmt))[-1]  # every format ends with the year
    assert year == (str(date.year)[2:] if fmt in TWO_DIGIT_YEAR_FORMATS else str(date.year)), fmt


def test_week_based_option_reproduces_the_course_bug():
  # 2018-12-31 is a Monday of ISO week 1 of 2019.
  date = datetime.date(2018, 12, 31)
  assert dates.render(date, "d MMM y") == "31 dec 2018"
  assert dates.render(date, "d MMM y", year_pattern="week_based") == "31 dec 2019"


def test_splits_are_disjoint_and_deterministic(tiny_config):
  examples = dates.generate(600, seed=0, start="1950-01-01", end="2049-12-31")
  assert len({e.source for e in examples}) == 600
  task = tasks.make(tiny_config.data)
  train, val, test = task.examples(0)
  assert (len(train), len(val), len(test)) == (400, 100, 100)
  sets = [{e.source for e in split} for split in (train, val, test)]
  assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
  first, again = task.load(0), task.load(0)
  np.testing.assert_array_equal(first.test.inputs, again.test.inputs)
  train_rows = {r.tobytes() for r in first.train.inputs}
  assert not any(r.tobytes() in train_rows for r in first.test.inputs)


def test_vocab_round_trip_and_unknown_characters():
  vocab = Vocab.from_texts(["abc", "cab "])
  assert vocab.tokens[:2] == ("<pad>", "<unk>")
  assert vocab.decode(vocab.encode("a cb")) == "a cb"
  assert vocab.encode("axb") == [vocab.encode("a")[0], UNK_ID, vocab.encode("b")[0]]
  assert vocab.unknown_chars("xaxy") == ["x", "y"]
  assert Vocab.from_json(vocab.to_json()) == vocab


def test_encode_pads_and_records_lengths():
  vocab = Vocab.from_texts(["abc"])
  codec = characters.CharCodec(vocab, vocab)
  split = characters.encode([("ab", "c"), ("abc", "cc")], codec, 4, 3, append_eos=False)
  np.testing.assert_array_equal(split.input_lengths, [2, 3])
  assert split.inputs[0, 2:].tolist() == [PAD_ID, PAD_ID]
  assert split.targets.shape == (2, 3)


@pytest.mark.parametrize("pair, message", [(("", "x"), "empty"), (("abcde", "x"), "at most 4")])
def test_encode_rejects_empty_and_overlong_inputs(pair, message):
  vocab = Vocab.from_texts(["abcdex"])
  with pytest.raises(ValueError, match=message):
    characters.encode([pair], characters.CharCodec(vocab, vocab), 4, 3, append_eos=False)


def test_train_batches_shuffle_full_batches_and_eval_batches_cover_each_example_once():
  vocab = Vocab.from_texts(["abc"])
  split = characters.encode([("a" * (i % 3 + 1), "b") for i in range(7)],
                            characters.CharCodec(vocab, vocab), 3, 1, append_eos=False)
  batches = list(batching.train_batches(split, 3, np.random.default_rng(0)))
  assert len(batches) == 2 and all(b["inputs"].shape == (3, 3) for b in batches)
  evals = list(batching.eval_batches(split, 3))
  assert len(evals) == 3
  weights = np.concatenate([b["weights"] for b in evals])
  assert weights.tolist() == [1] * 7 + [0] * 2


def test_evaluation_buckets_hold_every_example_once_sorted_by_length(monkeypatch):
  split = _split([5, 2, 9, 3, 2, 7, 4, 1, 6, 3], [1, 2, 3, 4, 1, 2, 3, 1, 1, 2], max_source=9)
  # Widths rounded up to multiples of 8, within the split's (9 x 4): few shapes to compile.
  rounded = batching.eval_buckets(split, 4, by_length=True, widths=(6, 3), multiple=2)
  assert [(b.input_len, b.target_len) for b in rounded] == [(8, 4), (8, 4), (9, 4)]
  monkeypatch.setattr(batching, "WIDTH_STEP", 1)  # each bucket's own longest, exactly
  buckets = batching.eval_buckets(split, 4, by_length=True, widths=(6, 3), multiple=2)
  assert sorted(np.concatenate([b.members for b in buckets]).tolist()) == list(range(10))
  src, tgt = batching.lengths(split)
  # Sorted by source length, those longer than Tx = 6 last like the rest (never dropped).
  assert [src[b.members].tolist() for b in buckets] == [[1, 2, 2, 3], [3, 4, 5, 6], [7, 9]]
  # Each padded to its own longest source; targets Ty = 3 wide, or their longest where longer
  # (the second bucket's 4).
  assert [tgt[b.members].max() for b in buckets] == [2, 4, 3]
  assert [(b.input_len, b.target_len) for b in buckets] == [(3, 3), (6, 4), (9, 3)]
  batches = list(batching.eval_batches(split, 4, buckets=buckets))
  assert [b["inputs"].shape for b in batches] == [(4, 3), (4, 6), (4, 9)]
  # In split order with the full widths when not by length; the long sources apart, at their
  # own widths, in as few rows as the devices allow.
  plain = batching.eval_buckets(split, 4, widths=(6, 3), multiple=2)
  assert [b.members.tolist() for b in plain] == [[0, 1, 3, 4], [6, 7, 8, 9], [2, 5]]
  assert [(b.input_len, b.target_len) for b in plain] == [(6, 4), (6, 3), (9, 3)]
  assert [b.batch_size for b in plain] == [4, 4, 2]


def test_each_process_builds_its_rows_of_the_global_batches_and_together_they_are_whole():
  """Two processes' parts of every train, bucketed and eval batch, stacked, are the single
  process's batch: the same global batches on any number of hosts, half of each built per
  host."""
  split = _split([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] * 2, [4] * 24)
  plan = batching.Plan(split, 4, batching.make_buckets(split, 2, 4, 0, multiple=2))
  producers = [lambda part: batching.train_batches(split, 4, np.random.default_rng(0), part),
               lambda part: plan.epoch(np.random.default_rng(0), part),
               lambda part: batching.eval_batches(split, 10, part)]
  for batches in producers:
    whole = list(batches(batching.WHOLE))
    halves = zip(batches((0, 2)), batches((1, 2)))
    for batch, (first, second) in zip(whole, halves, strict=True):
      assert len(first["inputs"]) == len(batch["inputs"]) // 2
      for key in batch:
        np.testing.assert_array_equal(np.concatenate([first[key], second[key]]), batch[key])


def _split(source_lengths, target_lengths, max_source: int = 12, max_target: int = 4):
  """Examples of the given lengths, encoded and padded to (max_source, max_target)."""
  vocab = Vocab.from_texts(["ab"])
  pairs = [("a" * s, "b" * t) for s, t in zip(source_lengths, target_lengths)]
  return characters.encode(pairs, characters.CharCodec(vocab, vocab), max_source, max_target,
                           append_eos=False)


def test_buckets_split_sources_when_every_target_has_the_full_length():
  # Dates: every target is Ty long, so only the sources can tell the buckets apart.
  split = _split([2, 3] * 20 + [6, 7] * 20 + [11, 12] * 20, [4] * 120)
  buckets = batching.make_buckets(split, 3, 8, 0)
  assert [b.input_len for b in buckets] == [3, 7, 12]
  assert all(b.target_len == 4 for b in buckets)
  assert sorted(np.concatenate([b.members for b in buckets])) == list(range(120))
  assert batching.padding_share(split, buckets) < batching.padding_share(split, ())


def test_no_bucket_is_too_small_for_a_batch_split_over_the_devices():
  # Three outliers would make a bucket of 3 whose batch of 4 (one row a device) never fills.
  split = _split([2] * 3 + [12] * 40, [4] * 43)
  buckets = batching.make_buckets(split, 2, 8, 0, multiple=4)
  assert all(len(b.members) >= b.batch_size for b in buckets)
  assert sorted(np.concatenate([b.members for b in buckets])) == list(range(43))


def test_more_buckets_than_lengths_gives_one_bucket_a_length():
  split = _split([5] * 30 + [9] * 30, [4] * 60)
  buckets = batching.make_buckets(split, 4, 8, 0)
  assert [(b.input_len, len(b.members)) for b in buckets] == [(5, 30), (9, 30)]


def test_date_alignments_point_at_the_fields():
  examples = dates.generate(500, seed=1, start="1950-01-01", end="2049-12-31")
  for source, target, alignment in examples:
    assert len(alignment) == len(target) == 10
    for char, link in zip(target, alignment):
      assert (link.sure is None) or link.sure in link.possible
      if char == "-":
        assert not link.possible
      if link.sure is not None:
        assert source[link.sure] == char  # a sure link copies its character
  source, target, alignment = next(e for e in examples if e.source.count("/") == 2)
  month, day, year = source.split("/")
  assert [l.possible for l in alignment[:2]] == [frozenset(range(len(source) - 2, len(source)))] * 2


@pytest.mark.parametrize("task", synthetic.TASKS)
def test_synthetic_tasks_are_distinct_correct_and_aligned(task):
  examples = synthetic.generate(task, 200, seed=0, min_len=3, max_len=8, symbols=6)
  assert len({e.source for e in examples}) == 200
  assert examples == synthetic.generate(task, 200, seed=0, min_len=3, max_len=8, symbols=6)
  for source, target, alignment in examples:
    assert len(alignment) == len(target)
    if task == "addition":
      a, b = source.split("+")
      assert int(target) == int(a) + int(b)
      assert all(source[j].isdigit() for link in alignment for j in link.possible)
    else:
      assert 3 <= len(source) <= 8 and set(source) <= set("abcdef")
      expected = {"copy": source, "reverse": source[::-1], "sort": "".join(sorted(source))}
      assert target == expected[task]
      assert all(source[link.sure] == char for char, link in zip(target, alignment))


def test_synthetic_test_split_uses_its_own_lengths_and_unseen_sources(tiny_config):
  data_group = dict(task="reverse", n_train=300, n_val=50, n_test=80, min_len=2, max_len=6,
                    test_min_len=7, test_max_len=12, max_input_len=12, max_target_len=13,
                    symbols=5)
  config = config_lib.freeze(dict(tiny_config.to_dict(), data=data_group))
  task = tasks.make(config.data)
  train, val, test = task.examples(0)
  assert all(2 <= len(e.source) <= 6 for e in train + val)
  assert all(7 <= len(e.source) <= 12 for e in test)
  data = task.load(0)
  assert data.test.targets.shape == (80, 13)
  lengths = (data.test.targets != PAD_ID).sum(1)
  np.testing.assert_array_equal(data.test.targets[np.arange(80), lengths - 1], EOS_ID)


def test_too_few_distinct_examples_is_a_clear_error():
  with pytest.raises(ValueError, match="found only 3"):
    synthetic.generate("copy", 10, seed=0, min_len=1, max_len=1, symbols=3)

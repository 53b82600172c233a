"""A 2 × 2 sweep end to end: points, resume, aggregate table and its confidence intervals."""

import csv
import json
import math
import re
import subprocess
import sys
import time

import pytest

from seqattn.experiments import report, sweep
from seqattn.files import workdirs
from conftest import CONFIGS, ROOT

SWEEP_FILE = f'''
import pathlib
from seqattn.config import load_file

TARGET_EXACT_MATCH = 0.0
HEATMAP_INPUTS = ("3 may 1979",)

def get_config(arg=None):
  c = load_file(pathlib.Path({str(CONFIGS / "test.py")!r}))
  c.train.num_epochs = 1
  return c

def sweep(add):
  for seed in (0, 1):
    add(**{{"model.attention": "additive", "seed": seed}})
'''


POINTS = ["attention=additive,seed=0", "attention=additive,seed=1"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
  """Two workers (processes, as a job array's tasks) on one sweep directory; then the sweep
  again in this process, which finds every point done and only aggregates."""
  root = tmp_path_factory.mktemp("sweep")
  config = root / "tiny_sweep.py"
  config.write_text(SWEEP_FILE)
  workers = [subprocess.Popen([sys.executable, "launch.py", "--mode", "sweep", "--config",
                               str(config), "--workdir", str(root / "work"),
                               f"--sweep_worker={i}/2"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
  outputs = [w.communicate(timeout=600) for w in workers]
  for w, (_, err) in zip(workers, outputs):
    assert w.returncode == 0, err[-3000:]
  trained = [re.findall(r"\] (\S+) \(worker", out) for out, _ in outputs]
  rows = sweep.run(str(config), root / "work", progress=False)
  return config, root / "work", rows, trained


def test_two_workers_train_every_point_exactly_once(swept):
  _, work, _, trained = swept
  assert sorted(trained[0] + trained[1]) == POINTS  # each point by one worker
  assert trained[0] and trained[1]  # both worked
  assert sorted(p.name for p in (work / "points").iterdir()) == POINTS
  for name in POINTS:
    steps = [json.loads(l)["step"] for l in (work / "points" / name / "metrics.jsonl").open()]
    assert steps == [8]  # one run, logged once


HOLD_LOCK = """
import pathlib, sys, time
from seqattn.files import workdirs
point = pathlib.Path(sys.argv[1])
with workdirs.owned(point):  # another worker, training this point
  print("locked", flush=True)
  time.sleep(1.0)
  (point / "results.json").write_text("{}")
"""


def test_a_worker_waits_for_the_point_another_worker_trains(tmp_path):
  todo = [{"seed": 0}]
  point = tmp_path / "points" / sweep.point_name(todo[0])
  point.mkdir(parents=True)
  holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(point)], stdout=subprocess.PIPE,
                            text=True)
  assert holder.stdout.readline().strip() == "locked"
  start = time.monotonic()
  # A config of None would fail if this worker tried to train the point itself.
  sweep.train_points(todo, [None], tmp_path, progress=False, poll_seconds=0.05)
  assert time.monotonic() - start > 0.5  # it waited for the other worker's results
  assert holder.wait(timeout=60) == 0


def test_aggregate_is_mean_and_t_interval_over_seeds(swept):
  _, work, rows, _ = swept
  [row] = rows
  assert row["group"] == "attention=additive" and row["seeds"] == 2
  loss = [json.loads((work / "points" / name / "results.json").read_text())["test_loss"]
          for name in POINTS]
  # Two seeds: mean ± t(0.975, 1) · s / √2 with t = 12.706 and s = |a - b| / √2.
  assert row["final_loss"] == pytest.approx((loss[0] + loss[1]) / 2)
  assert row["final_loss_ci95"] == pytest.approx(12.7062 * abs(loss[0] - loss[1]) / 2, rel=1e-4)
  assert row["final_loss_ci95"] > 0  # the seeds differ
  with (work / "results.csv").open() as f:
    table = list(csv.DictReader(f))
  assert float(table[0]["exact_match"]) == pytest.approx(rows[0]["exact_match"])
  markdown = (work / "results.md").read_text()
  assert "| attention=additive | 2 |" in markdown and "±" in markdown


def _write_point(work, overrides, exact, aer, reached_at):
  point = work / "points" / sweep.point_name(overrides)
  point.mkdir(parents=True)
  results = dict(test_exact_match=exact, test_token_accuracy=exact, test_loss=1.0 - exact,
                 dead_attention=aer > 0.5,
                 alignment=dict(mass=0.5, argmax=0.5, aer=aer, entropy=1.0), seconds=10.0,
                 parameters=100)
  (point / "results.json").write_text(json.dumps(results))
  log = [dict(step=step, val_exact_match=0.9 if step >= reached_at else 0.1)
         for step in (100, 200, 300)]
  (point / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))


def test_aggregate_of_known_points_is_their_mean_and_t_interval(tmp_path):
  todo = [{"model.attention": "dot", "seed": s} for s in (0, 1, 2)]
  for overrides, exact, aer, reached in zip(todo, (0.5, 0.7, 0.9), (0.1, 0.2, 0.6),
                                            (100, 200, 300)):
    _write_point(tmp_path, overrides, exact, aer, reached)
  [row] = report.aggregate(tmp_path, todo, target=0.9)
  t = 4.302653  # t(0.975, 2): three seeds
  assert row["group"] == "attention=dot" and row["seeds"] == 3
  assert row["exact_match"] == pytest.approx(0.7)
  assert row["exact_match_ci95"] == pytest.approx(t * 0.2 / math.sqrt(3), rel=1e-6)
  assert row["aer"] == pytest.approx(0.3)
  assert row["aer_ci95"] == pytest.approx(t * math.sqrt(0.07) / math.sqrt(3), rel=1e-6)
  assert row["steps_to_0.9"] == pytest.approx(200.0)
  assert row["parameters_ci95"] == 0.0
  assert row["dead_attention"] == pytest.approx(1 / 3)


def test_bleu_by_length_is_mean_and_interval_per_bucket_even_when_runs_cut_differently(tmp_path):
  todo = [{"seed": s} for s in (0, 1, 2)]
  cuts = [[(1, 5, 30.0), (6, 30, 10.0)], [(1, 5, 32.0), (6, 30, 12.0)],
          [(1, 5, 34.0), (6, 20, 14.0), (21, 30, 2.0)]]  # the last from another version
  for overrides, buckets in zip(todo, cuts):
    _write_point(tmp_path, overrides, 0.5, 0.1, 100)
    results_path = tmp_path / "points" / sweep.point_name(overrides) / "results.json"
    results = json.loads(results_path.read_text())
    results["bleu_by_source_length"] = [dict(lo=lo, hi=hi, bleu=b, sentences=10)
                                        for lo, hi, b in buckets]
    results_path.write_text(json.dumps(results))
  report.write_bleu_by_length(tmp_path, todo)
  header, _, row, sentences = (tmp_path / "bleu_by_length.md").read_text().splitlines()
  assert header == "| group | 1-5 | 6-20 | 6-30 | 21-30 |"
  half = 4.302653 * 2.0 / math.sqrt(3)  # three seeds 30, 32, 34: s = 2
  assert row == f"| all | 32.00 ± {half:.2f} | 14.00 ± 0.00 | 11.00 ± {12.7062:.2f} | 2.00 ± 0.00 |"
  assert sentences == "| sentences | 10 | 10 | 10 | 10 |"


def test_length_study_and_plots_are_written(swept):
  _, work, _, _ = swept
  study = (work / "length_study.md").read_text()
  assert study.splitlines()[0].startswith("| group | 1-10 | 11-20 |")
  for png in ("accuracy_by_length.png", "learning_curves.png", "attention_by_variant.png"):
    assert (work / png).stat().st_size > 0


def test_a_rerun_skips_finished_points(swept):
  config, work, rows, _ = swept
  stamps = {p: p.stat().st_mtime_ns for p in (work / "points").glob("*/results.json")}
  assert sweep.run(str(config), work, progress=False) == rows
  assert stamps == {p: p.stat().st_mtime_ns for p in (work / "points").glob("*/results.json")}


def test_mean_ci_of_one_value_and_of_known_values():
  assert report.mean_ci([0.5]) == (0.5, 0.0)
  assert report.mean_ci([100.0, math.inf]) == (math.inf, math.inf)  # a seed never reached it
  mean, half = report.mean_ci([1.0, 2.0, 3.0])
  assert mean == 2.0 and half == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-6)


def test_a_typo_in_a_sweep_override_fails_before_training(tmp_path):
  bad = tmp_path / "bad.py"
  bad.write_text(SWEEP_FILE.replace('"model.attention"', '"model.atention"'))
  with pytest.raises(sweep.config_lib.ConfigError,
                     match="unknown config key config.model.atention .*: attention, "):
    sweep.run(str(bad), tmp_path / "work", progress=False)
  assert not (tmp_path / "work").exists()


def test_a_point_whose_results_json_was_cut_short_is_trained_again(tmp_path, monkeypatch):
  """A point counts as done only with a whole results.json: one cut short (a crash while an
  older version wrote it) is trained again; a finished one is not."""
  todo = [{"seed": 0}, {"seed": 1}]
  for overrides, text in zip(todo, ['{"test_loss": 0.5}', '{"test_lo']):
    point = tmp_path / "points" / report.point_name(overrides)
    point.mkdir(parents=True)
    (point / "results.json").write_text(text)
  trained = []

  def train(config, point_dir, progress):
    trained.append(point_dir.name)
    workdirs.write_text(point_dir / "results.json", "{}")

  monkeypatch.setattr(sweep.training_run, "train_and_evaluate", train)
  sweep.train_points(todo, [None, None], tmp_path, progress=False)
  assert trained == ["seed=1"]


def test_a_replaced_file_is_whole_or_untouched(tmp_path):
  path = tmp_path / "results.json"
  workdirs.write_text(path, '{"a": 1}')
  with pytest.raises(RuntimeError):
    with workdirs.replaced(path) as f:
      f.write(b'{"a": 2, "b"')
      raise RuntimeError("killed mid-write")
  assert json.loads(path.read_text()) == {"a": 1}
  assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left


def test_a_point_that_raises_is_recorded_and_skipped_the_others_finish(tmp_path, monkeypatch):
  """The failing point's error goes to its failed.json; the other points train; no worker
  (nor a rerun) tries it again until the file is removed; the tables leave it out."""
  todo = [{"seed": 0}, {"seed": 1}, {"seed": 2}]
  calls = []

  def train(config, point_dir, progress):
    calls.append(point_dir.name)
    if point_dir.name == "seed=1":
      raise RuntimeError("out of memory on this point")
    workdirs.write_text(point_dir / "results.json", "{}")

  monkeypatch.setattr(sweep.training_run, "train_and_evaluate", train)
  sweep.train_points(todo, [None] * 3, tmp_path, progress=False)
  sweep.train_points(todo, [None] * 3, tmp_path, progress=False)  # a rerun
  assert calls == ["seed=0", "seed=1", "seed=2"]
  failure = json.loads((tmp_path / "points" / "seed=1" / "failed.json").read_text())
  assert failure["error"] == "RuntimeError: out of memory on this point"
  assert "Traceback" in failure["traceback"]
  assert sweep.finished_points(todo, tmp_path) == [{"seed": 0}, {"seed": 2}]

"""Checkpoints and resume: a run killed (SIGKILL) or stopped (SIGTERM) mid-way and resumed ends
bit for bit where an uninterrupted run ends; what is kept; the guards on non-finite steps."""

import dataclasses
import itertools
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from conftest import CONFIGS, task_and_model
from seqattn.files import checkpoint, workdirs
from seqattn.config import freeze, load_file
from seqattn.data.batching import train_batches
from seqattn.models.interface import init_params
from seqattn.training import progress, run, step

ROOT = pathlib.Path(__file__).resolve().parents[1]
# 64 steps, evaluated every 8, checkpointed every 16: a kill after the log of step 24 usually
# lands before checkpoint 32, so the resume also has to cut metrics.jsonl back to step 16.
LONG_RUN_TRAIN = dict(num_epochs=8, checkpoint_every_steps=16)
LONG_RUN = ("--config", "configs/test.py",
            *(f"--config.train.{key}={value}" for key, value in LONG_RUN_TRAIN.items()))
TOTAL_STEPS = 64


def start(workdir: pathlib.Path) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "launch.py", *LONG_RUN, "--workdir", str(workdir)],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_to_end(workdir: pathlib.Path) -> str:
  proc = start(workdir)
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  return out


def logged_steps(workdir: pathlib.Path) -> list[int]:
  path = workdir / "metrics.jsonl"
  lines = path.read_text().splitlines(keepends=True) if path.exists() else []
  return [json.loads(l)["step"] for l in lines if l.endswith("\n")]


def wait_for_log(workdir: pathlib.Path, step: int, proc: subprocess.Popen) -> None:
  """Returns as soon as `step` is in the run's metrics.jsonl (the run still going)."""
  deadline = time.monotonic() + 300
  while step not in logged_steps(workdir):
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    assert time.monotonic() < deadline
    time.sleep(0.005)


def saved_arrays(workdir: pathlib.Path) -> dict[str, bytes]:
  """The bytes of every array of the latest checkpoint (train state and PRNG keys), by name."""
  step_dir = checkpoint.directory(workdir) / str(checkpoint.latest_step(workdir))
  with ocp.StandardCheckpointer() as ckptr:
    trees = {item: ckptr.restore(step_dir / item) for item in checkpoint.ARRAY_ITEMS}
  return {"/".join(k): np.asarray(v).tobytes() for k, v in ocp.tree.to_flat_dict(trees).items()}


def without_seconds(records: list[dict]) -> list[dict]:
  """The records less how the run went (wall seconds; the malloc: launch.py's runs take
  tcmalloc where installed, the in-process reference does not)."""
  return [{k: v for k, v in r.items() if k not in ("seconds", "malloc")} for r in records]


def assert_same_run(a: pathlib.Path, b: pathlib.Path) -> None:
  assert checkpoint.latest_step(a) == checkpoint.latest_step(b) == TOTAL_STEPS
  arrays_a, arrays_b = saved_arrays(a), saved_arrays(b)
  assert arrays_a.keys() == arrays_b.keys()
  assert [k for k in arrays_a if arrays_a[k] != arrays_b[k]] == []
  read = lambda p: [json.loads(l) for l in p.read_text().splitlines()]
  assert without_seconds(read(a / "metrics.jsonl")) == without_seconds(read(b / "metrics.jsonl"))
  assert logged_steps(b) == list(range(8, TOTAL_STEPS + 1, 8))
  results = [json.loads((p / "results.json").read_text()) for p in (a, b)]
  assert without_seconds(results[:1]) == without_seconds(results[1:])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> pathlib.Path:
  """LONG_RUN trained in this process: the killed and resumed launch.py runs must end on it."""
  workdir = tmp_path_factory.mktemp("uninterrupted")
  _run(freeze(load_file(CONFIGS / "test.py")), workdir, **LONG_RUN_TRAIN)
  return workdir


def test_sigkill_mid_run_then_resume_ends_bit_identical(uninterrupted, tmp_path):
  proc = start(tmp_path)
  wait_for_log(tmp_path, 24, proc)
  proc.kill()
  proc.communicate()
  killed_at = checkpoint.latest_step(tmp_path)
  assert killed_at in (16, 32)
  assert f"resuming from step {killed_at}" in run_to_end(tmp_path)
  assert_same_run(uninterrupted, tmp_path)


def test_sigterm_saves_where_it_stopped_then_resume_ends_bit_identical(uninterrupted, tmp_path):
  proc = start(tmp_path)
  wait_for_log(tmp_path, 8, proc)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
  stopped = int(re.search(r"stopped by SIGTERM at step (\d+); checkpoint saved", err)[1])
  assert 8 <= stopped < TOTAL_STEPS
  assert checkpoint.latest_step(tmp_path) == stopped
  assert max(logged_steps(tmp_path)) <= stopped
  run_to_end(tmp_path)
  assert_same_run(uninterrupted, tmp_path)


def _run(config, workdir, force=False, **train_overrides):
  cfg = dataclasses.replace(config.train, **train_overrides)
  return run.train_and_evaluate(dataclasses.replace(config, train=cfg), workdir,
                                  progress=False, force=force)


def saved_steps(workdir: pathlib.Path) -> set[int]:
  return {int(p.name) for p in checkpoint.directory(workdir).iterdir()}


def test_keeps_the_latest_checkpoints_and_the_best(tiny_config, tmp_path):
  # In this tiny run val exact match stays 0, so the first evaluation (step 8) stays the best;
  # val loss falls at every evaluation, so its best is the latest.
  results = _run(tiny_config, tmp_path, keep_checkpoints=2)
  assert results["best_step"] == 8 and results["best_val_exact_match"] == 0.0
  assert saved_steps(tmp_path) == {8, 24, 32}
  _run(tiny_config, tmp_path / "loss", keep_checkpoints=2, best_metric="val_loss")
  assert saved_steps(tmp_path / "loss") == {24, 32}


def test_early_stopping_after_patience_evaluations_without_a_better_value(tiny_config, tmp_path):
  results = _run(tiny_config, tmp_path, early_stopping_patience=2, keep_checkpoints=1)
  assert results["stopped_early"] and results["step"] == 24 and results["best_step"] == 8
  assert saved_steps(tmp_path) == {8, 24}
  assert logged_steps(tmp_path) == [8, 16, 24]
  again = _run(tiny_config, tmp_path, early_stopping_patience=2, keep_checkpoints=1)
  assert without_seconds([again]) == without_seconds([results])  # resumed: no more steps
  assert logged_steps(tmp_path) == [8, 16, 24]


def test_a_bucketed_run_resumes_only_on_the_devices_its_batches_were_cut_for(tiny_config,
                                                                             tmp_path):
  """Length buckets are cut so that each batch splits over the devices along mesh.data: on
  another count the batches would differ. Refused, with the count to use, unless forced
  (then planned again, and said)."""
  config = dataclasses.replace(tiny_config,
                               train=dataclasses.replace(tiny_config.train, buckets=2))
  _run(config, tmp_path, num_epochs=1)
  config = dataclasses.replace(config, train=dataclasses.replace(config.train, num_epochs=1))
  assert checkpoint.read_meta(tmp_path, checkpoint.latest_step(tmp_path))["progress"][
      "plan_devices"] == 1
  two = type("Mesh", (), {"shape": {"data": 2}})()  # what a 2-device mesh reports
  with pytest.raises(workdirs.WorkdirError, match=r"cut for 1 devices .* has 2\b.*mesh\.data=1"):
    run.resume(tmp_path, config, None, two, force=False)  # refused before anything is read


def test_leftovers_of_a_save_killed_mid_way_are_ignored_and_cleaned(tiny_config, tmp_path):
  _run(tiny_config, tmp_path, num_epochs=2)
  leftover = checkpoint.directory(tmp_path) / "24.orbax-checkpoint-tmp-1234"
  (leftover / "state").mkdir(parents=True)
  (leftover / "state" / "_METADATA").write_text("{")
  assert checkpoint.latest_step(tmp_path) == 16
  _run(tiny_config, tmp_path, force=True)  # more epochs
  assert not leftover.exists()
  assert checkpoint.latest_step(tmp_path) == 32


def _nonfinite_after_16_steps(tiny_config, tmp_path, skip: bool):
  """16 good steps, then (--force) a learning rate so large that step 18's loss overflows."""
  _run(tiny_config, tmp_path, num_epochs=2)
  return lambda: _run(tiny_config, tmp_path, force=True, learning_rate=1e37,
                      skip_nonfinite_updates=skip)


def test_a_nonfinite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(
    tiny_config, tmp_path):
  run = _nonfinite_after_16_steps(tiny_config, tmp_path, skip=False)
  good = saved_arrays(tmp_path)
  with pytest.raises(progress.NonFiniteError, match=r"not finite at step 18 \(7 such step\(s\) up "
                                                 r"to step 24.*checkpoints/16, is kept"):
    run()
  assert checkpoint.latest_step(tmp_path) == 16 and saved_arrays(tmp_path) == good
  assert logged_steps(tmp_path) == [8, 16]


def test_skip_nonfinite_updates_goes_on_and_counts_them(tiny_config, tmp_path):
  _nonfinite_after_16_steps(tiny_config, tmp_path, skip=True)()
  log = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["skipped_updates"] for r in log] == [0, 0, 7, 8]
  assert log[-1]["train_loss"] is None  # no finite step since the last log
  assert all(np.isfinite(np.frombuffer(v, np.float32)).all()
             for k, v in saved_arrays(tmp_path).items() if "params" in k)


def test_the_jitted_step_skips_a_nonfinite_update_without_a_host_sync(tiny_config):
  _, data, model = task_and_model(tiny_config)
  static = step.StepConfig(model, tiny_config.train, total_steps=10)
  params = init_params(model, jax.random.key(0))
  params = jax.tree.map(lambda p: p.at[(0,) * p.ndim].set(np.inf), params)
  state = step.create_state(params, static)
  before = jax.device_get((state.params, state.opt_state))
  batches = [jax.device_put(b) for b in itertools.islice(
      train_batches(data.train, 50, np.random.default_rng(0)), 3)]
  key = jax.device_put(jax.random.key(0))
  state, _ = step.train_step(state, batches[0], key, static)  # compiles
  with jax.transfer_guard("disallow"):  # steady state: any host transfer raises
    for batch in batches[1:]:
      state, loss = step.train_step(state, batch, key, static)
  assert not np.isfinite(loss)
  after = jax.device_get((state.params, state.opt_state))
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), before, after)
  assert int(state.step) == 3
  assert {k: int(v) for k, v in state.sums.items()} == dict(
      loss=0, attention_grad_norm=0, finite=0, nonfinite=3, first_nonfinite=1)


def test_sigint_and_sigterm_only_set_a_flag_inside_the_training_block():
  before = signal.getsignal(signal.SIGINT)
  with progress.stop_signals() as received:
    os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt outside the block
    os.kill(os.getpid(), signal.SIGTERM)  # would end the process outside the block
    time.sleep(0.01)  # Python runs handlers between bytecodes of the main thread
  assert received == [signal.SIGINT, signal.SIGTERM]
  assert signal.getsignal(signal.SIGINT) is before


def test_runs_resume_across_settings_that_do_not_change_what_they_compute(tiny_config):
  stored = json.loads(tiny_config.to_json())
  del stored["train"]["remat"]  # a run written before train.remat existed
  stored["mesh"]["data"] = 8
  assert workdirs.check_config(tiny_config.to_dict(), stored, "runs/old", force=False) == []
  stored["train"]["num_epochs"] += 1
  with pytest.raises(workdirs.WorkdirError, match=r"runs/old holds a run of another config "
                                                  r"\(train.num_epochs: 5 -> 4\)"):
    workdirs.check_config(tiny_config.to_dict(), stored, "runs/old", force=False)

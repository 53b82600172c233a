"""launch.py end to end: train, predict with heatmaps, and clear errors for bad input."""

import contextlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from unittest import mock

import pytest
from absl import flags

from seqattn import cli, config
from seqattn.files import workdirs
from seqattn.inference import predict
from seqattn.runtime import allocator

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import launch as launch_py  # noqa: E402


def launch(*args, check=True, stdin=None) -> subprocess.CompletedProcess:
  """`python launch.py *args`, run in this process: the flags parsed afresh, stdin, stdout and
  stderr redirected, the exit code caught. The programs it compiles stay for the next call, so
  a predict after a train traces nothing again. (Separate processes are tested below, in
  test_checkpoint.py, test_parallel.py and test_sweep.py.)"""
  argv = ["launch.py", *args]
  out, err = io.StringIO(), io.StringIO()
  flags.FLAGS.unparse_flags()  # no value of an earlier call carries over ...
  for name in [n for n in flags.FLAGS if n.startswith("config.")]:
    delattr(flags.FLAGS, name)  # ... nor its --config.<field> overrides (defined as parsed)
  code = 0
  with (contextlib.redirect_stdout(out), contextlib.redirect_stderr(err),
        mock.patch.object(sys, "argv", argv),
        mock.patch.object(sys, "stdin", io.StringIO(stdin or ""))):
    try:
      launch_py.main(cli.parse_flags(argv))
    except SystemExit as e:
      code = e.code
  result = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
  if check and code != 0:
    raise AssertionError(f"launch.py {args} failed:\n{result.stderr[-3000:]}")
  return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny run with the course's energy bias 0: its attention dies within the first steps."""
  workdir = tmp_path_factory.mktemp("run")
  out = launch("--config", "configs/test.py", "--workdir", str(workdir),
               "--config.model.energy_bias=0")
  assert "test exact match" in out.stdout
  return workdir, out


@pytest.fixture(scope="module")
def trained_workdir(trained):
  return trained[0]


def test_a_run_whose_attention_dies_says_so_and_what_to_try(trained):
  workdir, out = trained
  assert "warning: the attention is dead: " in out.stderr and "model.energy_bias" in out.stderr
  results = json.loads((workdir / "results.json").read_text())
  assert results["dead_attention"] and results["test_attention_uniform_rows"] > 0.5
  log = [json.loads(l) for l in (workdir / "metrics.jsonl").open()]
  assert all(r["val_attention_entropy_ratio"] > 0.95 for r in log[1:])


def test_predict_prints_outputs_writes_heatmaps_and_reports_unknown_characters(trained_workdir):
  out = launch("--config", "configs/test.py", "--workdir", str(trained_workdir), "--mode",
               "predict", "3 May, 1979", "tuesday june 5 2018", "3 may 1979 x")
  lines = [l for l in out.stdout.splitlines() if " -> " in l]
  assert [l.split(" -> ")[0] for l in lines] == ["3 may 1979", "tuesday june 5 2018",
                                                   "3 may 1979 x"]
  assert all(len(l.split(" -> ")[1].split()[0]) == 10 for l in lines)
  assert (trained_workdir / "attention_3_may_1979.png").stat().st_size > 0
  assert (trained_workdir / "attention_tuesday_june_5_2018.png").exists()
  assert "'x'" in out.stderr and "<unk>" in out.stderr
  assert "note: the attention is dead" in out.stdout  # beside each heatmap


def test_predict_reads_standard_input_in_batches_one_output_a_line(trained_workdir):
  inputs = ["3 may 1979", "", "tuesday june 5 2018"] + ["12/31/18"] * 600  # > eval_batch_size
  out = launch("--workdir", str(trained_workdir), "--mode", "predict", "--input", "-",
               stdin="\n".join(inputs) + "\n")
  lines = out.stdout.split("\n")[:-1]
  assert len(lines) == len(inputs) and lines[1] == ""
  one = launch("--workdir", str(trained_workdir), "--mode", "predict", "3 may 1979")
  assert one.stdout.split(" -> ")[1].split()[0] == lines[0]
  assert len(set(lines[3:])) == 1


@pytest.mark.parametrize("text, message", [("", "empty input"),
                                           ("monday " * 6, "at most 30"),
                                           (" , ", "empty input")])
def test_predict_rejects_empty_and_overlong_inputs(trained_workdir, text, message):
  trained = predict.load(trained_workdir, "train first")
  with pytest.raises(ValueError, match=message):
    predict.predict(trained, [text])


def test_a_workdir_from_an_older_version_loads_with_its_config_file(trained_workdir, tmp_path):
  old = shutil.copytree(trained_workdir, tmp_path / "old")
  stored = json.loads((old / "config.json").read_text())
  del stored["mesh"], stored["train"]["test_checkpoint"]  # settings added after it was written
  (old / "config.json").write_text(json.dumps(stored))
  with pytest.raises(config.ConfigError, match="older version of seqattn: give --config"):
    predict.load(old, "")
  defaults = config.load_file(ROOT / "configs" / "test.py").to_dict()
  loaded = predict.load(old, "", defaults=defaults)
  assert loaded.config.mesh == config.freeze(defaults).mesh
  assert loaded.config.model == predict.load(trained_workdir, "").config.model


def test_predict_without_a_trained_model_says_how_to_train(tmp_path):
  out = launch("--config", "configs/dates.py", "--workdir", str(tmp_path), "--mode", "predict",
               "3 may 1979", check=False)
  assert out.returncode == 1
  assert "train one first" in out.stderr
  assert f"python launch.py --config configs/dates.py --workdir {tmp_path}" in out.stderr


def test_a_workdir_that_cannot_be_written_is_named_with_what_to_do(trained_workdir,
                                                                     monkeypatch):
  """evaluate writes results_<search>.json beside the run: a read-only workdir gets a message
  (root, as tests often run, may write anywhere, so the refusal is the file system's, faked)."""
  from seqattn.files import workdirs

  def read_only(path, text):
    raise PermissionError(13, "Permission denied", str(path))

  monkeypatch.setattr(workdirs, "write_text", read_only)
  out = launch("--workdir", str(trained_workdir), "--mode", "evaluate", check=False)
  assert out.returncode == 1 and "Traceback" not in out.stderr
  assert "cannot write" in out.stderr and "results_greedy.json" in out.stderr
  assert "cp -r" in out.stderr


def test_a_sweep_worker_stopped_by_sigterm_exits_with_its_status(tmp_path, monkeypatch):
  """A worker whose point's run was stopped (it saved a checkpoint) exits 143, no traceback."""
  from seqattn.experiments import sweep
  from seqattn.training.progress import Interrupted
  sweep_file = tmp_path / "sweep.py"
  sweep_file.write_text(f"""
import pathlib
from seqattn.config import load_file
def get_config(arg=None):
  return load_file(pathlib.Path({str(ROOT / "configs/test.py")!r}))
def sweep(add):
  add(seed=0)
""")

  def stopped(config, point_dir, progress=True):
    raise Interrupted(15, 5, point_dir / "checkpoints" / "5")

  monkeypatch.setattr(sweep.training_run, "train_and_evaluate", stopped)
  out = launch("--config", str(sweep_file), "--workdir", str(tmp_path / "sweep"), "--mode",
               "sweep", check=False)
  assert out.returncode == 143 and "stopped by SIGTERM at step 5" in out.stderr
  assert "Traceback" not in out.stderr


def test_unknown_config_key_names_the_valid_keys(tmp_path):
  out = launch("--config", "configs/dates.py", "--workdir", str(tmp_path),
               "--config.model.decoder_unit=128", check=False)
  assert out.returncode == 2
  assert "config.model.decoder_unit" in out.stderr and "decoder_units" in out.stderr
  assert not any(tmp_path.iterdir())


def test_invalid_config_value_names_the_valid_ones(tmp_path):
  out = launch("--config", "configs/dates.py", "--workdir", str(tmp_path),
               "--config.model.attention=dott", check=False)
  assert out.returncode == 1
  assert "course_mlp" in out.stderr
  assert not any(tmp_path.iterdir())


def test_another_config_is_refused_then_continued_with_force(trained_workdir, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(trained_workdir, workdir)
  args = ("--config", "configs/test.py", "--workdir", str(workdir),
          "--config.model.energy_bias=0", "--config.train.num_epochs=5")
  out = launch(*args, check=False)
  assert out.returncode == 1
  assert "holds a run of another config (train.num_epochs: 4 -> 5)" in out.stderr
  out = launch(*args, "--force")
  assert f"resuming from step 32 in {workdir / 'checkpoints'} under a changed config: " \
         f"train.num_epochs: 4 -> 5" in out.stdout
  assert json.loads((workdir / "results.json").read_text())["step"] == 40


def test_a_second_run_on_a_busy_workdir_is_refused_and_the_first_finishes_clean(tmp_path):
  args = ("--config", "configs/test.py", "--workdir", str(tmp_path))
  # Whatever malloc the caller chose, launch.py picks its own: the default.
  env = {k: v for k, v in os.environ.items() if k not in (allocator.ENV, "LD_PRELOAD")}
  first = subprocess.Popen([sys.executable, "launch.py", *args], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  lock = tmp_path / workdirs.LOCK_FILE
  deadline = time.monotonic() + 300
  while not (lock.exists() and f"pid {first.pid}," in lock.read_text()):  # it owns the workdir
    assert first.poll() is None, first.communicate()[1][-3000:]
    assert time.monotonic() < deadline
    time.sleep(0.01)
  second = launch(*args, check=False)
  assert second.returncode == 1
  assert f"is in use by a run that is still going (pid {first.pid}" in second.stderr
  out, err = first.communicate(timeout=600)
  assert first.returncode == 0, err[-3000:]
  steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()]
  assert steps == list(range(8, 33, 8))
  # launch.py runs itself again under tcmalloc where the system has it (seqattn.runtime.allocator).
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["malloc"] == ("tcmalloc" if allocator.find_tcmalloc() else "system")
  # The lock goes with its process, even after kill -9: tests/test_checkpoint.py resumes one.


def test_predict_and_evaluate_import_nothing_from_training():
  code = ("import sys, launch, seqattn.inference.predict, seqattn.inference.evaluation, "
          "seqattn.files.plots; "
          "print([m for m in sys.modules if m.startswith('seqattn.training')])")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
  assert out.stdout.strip() == "[]", out.stderr

"""Data parallelism on JAX's runtime: 8 simulated devices against 1, and 2 processes (hosts)
training together on localhost, killed and resumed."""

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import ROOT
from seqattn import config as config_lib
from seqattn.runtime import parallel

EIGHT_DEVICES = """
import json, os
os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
import jax, numpy as np
STEPS = 40
from seqattn import config as config_lib, tasks
from seqattn.runtime import parallel
from seqattn.data.batching import train_batches
from seqattn.models.interface import init_params
from seqattn.training import run, step

config = config_lib.freeze(config_lib.override(config_lib.load_file("configs/test.py"), {
    "train.batch_size": 40, "model.encoder_units": 8, "model.decoder_units": 16}))
task = tasks.make(config.data)
data = task.load(0)
static = step.StepConfig(run.build_model(config, task, data.codec), config.train, STEPS)
params = init_params(static.model, jax.random.key(0))
batches = [b for _, b in zip(range(STEPS), (b for e in range(20)
           for b in train_batches(data.train, 40, np.random.default_rng(e))))]
mesh_of = lambda data, model: parallel.mesh(config_lib.MeshConfig(data, model, "", 0, -1, 10))
grad_fn = jax.jit(jax.value_and_grad(step.loss_fn), static_argnums=1)

def loss_and_grads(mesh):
  batch = batches[0] if mesh is None else parallel.shard_batch(mesh, batches[0])
  placed = params if mesh is None else parallel.place_state(mesh, params)
  return jax.device_get(grad_fn(placed, static.model, batch))

def curve(mesh):
  state = step.create_state(jax.tree.map(jax.numpy.copy, params), static)  # it is donated
  if mesh is not None:
    state = parallel.place_state(mesh, state)
  losses = []
  for batch in batches:
    batch = batch if mesh is None else parallel.shard_batch(mesh, batch)
    state, loss = step.train_step(state, batch, jax.random.key(1), static)
    losses.append(float(loss))
  return losses

close = lambda a, b: all(np.allclose(x, y, rtol=1e-4, atol=1e-7)
                         for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
one = loss_and_grads(None)
eight = loss_and_grads(mesh_of(-1, 1))
parallel.MODEL_SHARDED_MIN_SIZE = 0  # split every kernel it can along the model axis
split = loss_and_grads(mesh_of(4, 2))
placed = parallel.place_state(mesh_of(4, 2), params)
kernels = [leaf for leaf in jax.tree.leaves(placed) if leaf.ndim >= 2]
split_along_model = [tuple(leaf.sharding.spec)[-1:] == ("model",)
                     and leaf.addressable_data(0).shape[-1] == leaf.shape[-1] // 2
                     for leaf in kernels]
print(json.dumps(dict(devices=len(jax.devices()), eight_equal=close(eight, one),
                      split_equal=close(split, one), one_curve=curve(None),
                      eight_curve=curve(mesh_of(-1, 1)),
                      split_kernels=sum(split_along_model), kernels=len(kernels),
                      digest_whole=parallel.digest(placed) == parallel.digest(params))))
"""


def test_eight_devices_compute_what_one_does():
  out = subprocess.run([sys.executable, "-c", EIGHT_DEVICES], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  r = json.loads(out.stdout.strip().splitlines()[-1])
  assert r["devices"] == 8
  # The loss and gradients of one step, data ×8 or data ×4 with kernels split ×2, equal the
  # single device's (float sums in another order only).
  assert r["eight_equal"] and r["split_equal"]
  # Kernels really are split along `model` (each device holds half of the last dimension),
  # and the parameters' digest is of whole arrays: the split copy's equals the original's.
  assert 0 < r["split_kernels"] <= r["kernels"] and r["digest_whole"], r
  # A 40-step run follows the single-device loss curve: Adam amplifies the rounding
  # differences slowly (≈ 1e-6 at first, a few % by the end).
  one, eight = np.array(r["one_curve"]), np.array(r["eight_curve"])
  np.testing.assert_allclose(eight[:30], one[:30], rtol=1e-3)
  np.testing.assert_allclose(eight, one, rtol=0.05)
  assert one[-10:].mean() < 0.9 * one[:10].mean()  # a training curve: the loss falls


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


RUN_OVERRIDES = {"train.num_epochs": 2, "train.batch_size": 40}  # 20 steps, logs at 8, 16, 20
RUN = ("--config", "configs/test.py", *(f"--config.{k}={v}" for k, v in RUN_OVERRIDES.items()))


def _devices(n: int) -> dict[str, str]:
  """The environment of a process with n simulated CPU devices. Not the suite's cheaper code
  generation (conftest): these runs' steps exchange gradients between the processes, and at
  XLA's -O0 a two-process run took 34 s against 15 s."""
  return dict(os.environ, XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=false "
                                    f"--xla_force_host_platform_device_count={n}")


TWO_PROCESS_ENV = _devices(2)  # two processes of two devices: a global mesh of four


def _start(workdir: pathlib.Path, port: int, *extra: str) -> list[subprocess.Popen]:
  """RUN (and `extra` flags) in two processes joined through localhost:port."""
  mesh = [f"--config.mesh.coordinator_address=localhost:{port}", "--config.mesh.num_processes=2",
          *extra]
  return [subprocess.Popen([sys.executable, "launch.py", *RUN, "--workdir", str(workdir), *mesh,
                            f"--config.mesh.process_id={i}"], cwd=ROOT, env=TWO_PROCESS_ENV,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in range(2)]


def _finish(procs: list[subprocess.Popen]) -> list[str]:
  """The parameter digest each process printed (each process keeps what it printed as
  `printed`)."""
  digests = []
  for p in procs:
    p.printed, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    digests.append(p.printed.split("parameters sha256 ")[1].split(";")[0])
  return digests


def _params(workdir: pathlib.Path) -> list[np.ndarray]:
  """The final parameters, read back by one process as `predict` reads them."""
  from seqattn.inference import predict
  return [np.asarray(x) for x in jax.tree.leaves(predict.load(workdir, "").params)]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("two")
  return workdir, _finish(_start(workdir, _free_port()))


@pytest.mark.slow  # the SIGTERM test runs the same two-process run by default
def test_two_processes_of_two_devices_train_as_one_process_of_four(two_process_run, tmp_path):
  workdir, digests = two_process_run
  assert digests[0] == digests[1]  # each process holds the same parameters
  two = [json.loads(l) for l in (workdir / "metrics.jsonl").open()]
  assert [r["step"] for r in two if "val_loss" in r] == [8, 16, 20]  # process 0 alone logs
  one = subprocess.run([sys.executable, "launch.py", *RUN, "--workdir", str(tmp_path)], cwd=ROOT,
                       env=_devices(4), capture_output=True, text=True, timeout=600)
  assert one.returncode == 0, one.stderr[-3000:]
  four = [json.loads(l) for l in (tmp_path / "metrics.jsonl").open()]
  assert [r["val_loss"] for r in two if "val_loss" in r] == pytest.approx(
      [r["val_loss"] for r in four if "val_loss" in r], rel=1e-5)  # float sums in another order
  for two, four in zip(_params(workdir), _params(tmp_path)):
    np.testing.assert_allclose(two, four, rtol=1e-3, atol=1e-5)


@pytest.mark.slow  # multi-process: the SIGTERM test stands for them in the default run
def test_two_processes_killed_mid_run_resume_to_the_same_parameters(two_process_run, tmp_path):
  """SIGKILL after the first checkpoint (step 8, committed: orbax renames its directory into
  place when every process has written): the rerun resumes from it, to the same digest."""
  _, digests = two_process_run
  procs = _start(tmp_path, _free_port())
  deadline = time.monotonic() + 300
  while not (tmp_path / "checkpoints" / "8").is_dir():
    assert all(p.poll() is None for p in procs), procs[0].communicate()[1][-3000:]
    assert time.monotonic() < deadline
    time.sleep(0.01)
  procs[1].send_signal(signal.SIGKILL)  # a host is lost ...
  procs[0].send_signal(signal.SIGKILL)  # ... and the job with it
  for p in procs:
    p.communicate()
  again = _start(tmp_path, _free_port())
  assert _finish(again) == digests
  assert "resuming from step 8 " in again[0].printed, again[0].printed[-2000:]


def test_sigterm_to_one_process_stops_both_at_one_step_and_a_rerun_resumes(two_process_run,
                                                                            tmp_path):
  """A preempted host: SIGTERM to process 1 alone, after the first checkpoint. Both processes
  agree to stop at the same step, save once together and exit 143 (128 + SIGTERM); the rerun
  says it resumed from that step and ends with the uninterrupted run's parameters."""
  _, digests = two_process_run
  agree = "--config.mesh.stop_check_steps=1"
  procs = _start(tmp_path, _free_port(), agree)
  deadline = time.monotonic() + 300
  log = tmp_path / "metrics.jsonl"
  while not (log.exists() and '"step": 8' in log.read_text()):
    assert all(p.poll() is None for p in procs), procs[0].communicate()[1][-3000:]
    assert time.monotonic() < deadline
    time.sleep(0.01)
  procs[1].send_signal(signal.SIGTERM)
  ended = [p.communicate(timeout=300) for p in procs]
  assert [p.returncode for p in procs] == [143, 143], [err[-2000:] for _, err in ended]
  steps = {re.search(r"stopped by SIGTERM at step (\d+)", err).group(1) for _, err in ended}
  assert len(steps) == 1 and 8 <= int(next(iter(steps))) < 20, steps
  again = _start(tmp_path, _free_port(), agree)
  assert _finish(again) == digests
  stopped = next(iter(steps))
  assert f"resuming from step {stopped} " in again[0].printed, again[0].printed[-2000:]


@pytest.mark.slow  # multi-process: the SIGTERM test stands for them in the default run
def test_a_time_budget_stops_both_processes_at_one_step_and_a_larger_one_goes_on(
    two_process_run, tmp_path):
  """A budget that runs out in the first step (its compilation alone takes longer): the
  processes agree on it at their first agreement (mesh.stop_check_steps, 10), stop there
  together, test that step's parameters, say so in results.json and exit 0. Run again with no
  budget, the run goes on from that step to the uninterrupted run's parameters."""
  _, digests = two_process_run
  _finish(_start(tmp_path, _free_port(), "--config.train.time_budget_minutes=0.0001"))
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["stopped_by_time_budget"] and results["step"] == 10, results
  again = _start(tmp_path, _free_port())
  assert _finish(again) == digests
  assert "resuming from step 10 " in again[0].printed, again[0].printed[-2000:]


@pytest.mark.parametrize("environment, config, expected", [
    ({}, {}, None),
    ({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}, {},
     ("explicit", dict(coordinator_address="h:1", num_processes=2, process_id=1))),
    ({}, {"coordinator_address": "h:2", "num_processes": 3, "process_id": 2},
     ("explicit", dict(coordinator_address="h:2", num_processes=3, process_id=2))),
    ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, {}, ("SLURM", {})),
    ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}, {}, None),  # one task: nothing to join
    ({"OMPI_COMM_WORLD_SIZE": "2"}, {}, ("Open MPI", {})),
    ({"TPU_WORKER_HOSTNAMES": "w0,w1,w2,w3"}, {}, ("Cloud TPU", {})),
])
def test_how_a_process_joins_a_run(monkeypatch, environment, config, expected):
  """Explicit values (config, then environment) first; else a cluster job's own environment,
  for jax.distributed.initialize() to read; else a single process."""
  for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_NTASKS",
               "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES", "JOB_COMPLETION_INDEX"):
    monkeypatch.delenv(name, raising=False)
  for name, value in environment.items():
    monkeypatch.setenv(name, value)
  mesh = config_lib.MeshConfig(-1, 1, config.get("coordinator_address", ""),
                               config.get("num_processes", 0), config.get("process_id", -1), 10)
  assert parallel.joining(mesh) == expected


def test_a_process_without_its_index_or_with_one_out_of_range_is_refused(monkeypatch):
  monkeypatch.delenv("JAX_PROCESS_ID", raising=False)
  with pytest.raises(ValueError, match="JAX_PROCESS_ID=0..1"):
    parallel.joining(config_lib.MeshConfig(-1, 1, "h:1", 2, -1, 10))
  with pytest.raises(config_lib.ConfigError, match="mesh.process_id=2 .* use 0..1"):
    config_lib.MeshConfig(-1, 1, "h:1", 2, 2, 10)


CLUSTER_SWEEP = f'''
import pathlib
from seqattn.config import load_file

def get_config(arg=None):
  c = load_file(pathlib.Path({str(ROOT / "configs" / "test.py")!r}))
  c.train.num_epochs = 1
  c.train.batch_size = 40  # splits over the 4 devices
  return c

def sweep(add):
  add(seed=0)
  add(**{{"train.batch_size": 1000, "seed": 0}})  # more than the 400 examples: it raises
  add(seed=1)
'''


@pytest.mark.slow  # multi-process: the SIGTERM test stands for them in the default run
def test_a_sweep_of_two_workers_of_two_processes_trains_each_point_once(tmp_path):
  """Two workers (two jobs of a job array), each of two processes training every point
  together: process 0 of each claims points and tells its other process which. Each point is
  trained by one worker; the one that raises is recorded in failed.json and the others finish;
  every process exits 0 and process 0s write the tables."""
  config = tmp_path / "cluster_sweep.py"
  config.write_text(CLUSTER_SWEEP)
  procs = []
  for worker in range(2):
    port = _free_port()
    procs += [subprocess.Popen(
        [sys.executable, "launch.py", "--mode", "sweep", "--config", str(config), "--workdir",
         str(tmp_path / "work"), f"--sweep_worker={worker}/2",
         f"--config.mesh.coordinator_address=localhost:{port}", "--config.mesh.num_processes=2",
         f"--config.mesh.process_id={i}"], cwd=ROOT, env=TWO_PROCESS_ENV,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  ended = [p.communicate(timeout=600) for p in procs]
  assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in ended]
  trained = [name for out, _ in ended for name in re.findall(r"\] (\S+) \(worker", out)]
  points = tmp_path / "work" / "points"
  assert sorted(trained) == sorted(p.name for p in points.iterdir())  # each once, by a process 0
  failed = [p.name for p in points.iterdir() if (p / "failed.json").exists()]
  assert len(failed) == 1 and "batch_size=1000" in failed[0], failed
  assert "exceeds the 400 training examples" in (points / failed[0] / "failed.json").read_text()
  done = [p.name for p in points.iterdir() if (p / "results.json").exists()]
  assert sorted(done) == ["seed=0", "seed=1"], done
  assert "\n| all | 2 |" in (tmp_path / "work" / "results.md").read_text()  # both seeds

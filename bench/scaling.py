"""Data-parallel scaling: train-step time of one global batch over 1, 2, 4, 8 devices.

  python bench/scaling.py                      # the course model, batch 1000, simulated CPU devices
  python bench/scaling.py --devices 1 2 --models nmt --batch 64

Each device count runs in its own process (XLA_FLAGS must be set before JAX starts). On a CPU
the "devices" are simulated and share the machine's cores, so this measures the overhead of
splitting (collectives, smaller matmuls), not a speed-up; on a machine with several GPUs it
uses the real ones (leave --simulate off).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import ROOT, emit, table

ONE_COUNT = """
import json, statistics, sys, time
sys.path.insert(0, {bench!r})
import jax
from common import JaxTrainer, batch_stream, load_config, load_task
from seqattn import config as config_lib
from seqattn.runtime import parallel

config = load_config({model!r}, batch_size={batch})
task, data = load_task(config)
trainer = JaxTrainer(config, task, data)
mesh = parallel.mesh(config_lib.MeshConfig(-1, 1, "", 0, -1, 10))
trainer.state = parallel.place_state(mesh, trainer.state)
trainer.key = parallel.place_state(mesh, trainer.key)
stream = batch_stream(data.train, {batch})
batches = [parallel.shard_batch(mesh, next(stream)) for _ in range(4)]
compile_s = trainer.compile(batches[0])
seconds = []
for window in range({windows}):
  start = time.perf_counter()
  for i in range({steps}):
    loss = trainer.step(batches[i % 4])
  jax.block_until_ready(loss)
  seconds.append((time.perf_counter() - start) / {steps})
print(json.dumps(dict(devices=len(jax.devices()), compile_s=compile_s,
                      step_ms=1e3 * statistics.median(seconds))))
"""


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
  parser.add_argument("--models", nargs="+", default=["course"])
  parser.add_argument("--batch", type=int, default=1000)
  parser.add_argument("--windows", type=int, default=5)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--simulate", action=argparse.BooleanOptionalAction, default=True,
                      help="simulated CPU devices (XLA_FLAGS); --no-simulate: the real ones")
  args = parser.parse_args()
  rows = []
  for model in args.models:
    base = None
    for devices in args.devices:
      env = dict(os.environ)
      if args.simulate:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
      code = ONE_COUNT.format(bench=str(ROOT / "bench"), model=model, batch=args.batch,
                              windows=args.windows, steps=args.steps)
      out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True)
      row = dict(model=model, batch=args.batch, **json.loads(out.stdout.strip().splitlines()[-1]))
      base = base or row["step_ms"]
      rows.append(emit(dict(row, relative_to_one=row["step_ms"] / base)))
  table(rows, dict(model="model", batch="global batch", devices="devices",
                   step_ms="step (ms, median)", relative_to_one="× one device's step time",
                   compile_s="compile (s)"))


if __name__ == "__main__":
  main()

"""How many operations the compiled train step runs: what bounds a small-batch step on a CPU.

  python bench/hlo_ops.py                     # the course model, batch 100, train.remat on
  python bench/hlo_ops.py --batch 1000 --no-remat

XLA:CPU runs each operation of the optimised HLO (a fusion, a matmul, a copy, a slice) as
one thunk with a fixed cost of about 2 µs here (BUILD_NOTES.md), so at batch 100, where the
arithmetic is small, their number sets the step time. Counted from the compiled program's
text: the top-level operations, each while loop's body times its trip count (the time
loops), and a conditional's larger branch; parameters, tuples, constants and bitcasts cost
nothing and are left out.
"""

from __future__ import annotations

import argparse
import re

from common import JaxTrainer, batch_stream, emit, load_config, load_task
from seqattn.training import step

FREE = ("parameter", "get-tuple-element", "tuple", "constant", "bitcast")
COMPUTATION = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$")
OPCODE = re.compile(r"[\]})] ([a-z][\w\-]*)\(")  # after the result's shape or tuple of shapes


def computations(hlo: str) -> tuple[dict[str, list[str]], str]:
  """Each computation's instruction lines, and the entry computation's name."""
  bodies, name, entry = {}, None, None
  for line in hlo.splitlines():
    header = COMPUTATION.match(line)
    if header:
      name = header.group(1)
      bodies[name] = []
      entry = name if line.startswith("ENTRY") else entry
    elif line.startswith("}"):
      name = None
    elif name and " = " in line:
      bodies[name].append(line.strip())
  return bodies, entry


def count(bodies: dict[str, list[str]], name: str, rows: list[dict], depth: int = 0) -> int:
  """Operations one run of computation `name` executes; loops are added to `rows`."""
  total = 0
  for line in bodies[name]:
    opcode = OPCODE.search(line)
    if opcode is None or opcode.group(1) in FREE:
      continue
    total += 1
    if opcode.group(1) == "while":
      body = re.search(r"body=%?([\w.\-]+)", line).group(1)
      trips = int(re.search(r'"known_trip_count":\{"n":"(\d+)"', line).group(1))
      per_trip = count(bodies, body, rows, depth + 1)
      rows.append(dict(loop=body, depth=depth, trips=trips, ops_per_trip=per_trip,
                       ops=trips * per_trip))
      total += trips * per_trip
    elif opcode.group(1) == "conditional":
      branches = re.search(r"branch_computations=\{([^}]*)\}|true_computation=%?([\w.\-]+), "
                           r"false_computation=%?([\w.\-]+)", line)
      names = [b.strip().lstrip("%") for g in branches.groups() if g for b in g.split(",")]
      total += max(count(bodies, b, rows, depth + 1) for b in names)
  return total


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--model", default="course")
  parser.add_argument("--batch", type=int, default=100)
  parser.add_argument("--remat", action=argparse.BooleanOptionalAction, default=True)
  args = parser.parse_args()
  config = load_config(args.model, batch_size=args.batch, remat=args.remat)
  task, data = load_task(config)
  trainer = JaxTrainer(config, task, data)
  batch = next(batch_stream(data.train, args.batch))
  hlo = step.train_step.lower(trainer.state, batch, trainer.key, trainer.static).compile().as_text()
  bodies, entry = computations(hlo)
  loops: list[dict] = []
  total = count(bodies, entry, loops)
  for row in loops:
    print(f"  loop {row['loop']}: {row['trips']} trips x {row['ops_per_trip']} ops = {row['ops']}")
  emit(dict(model=args.model, batch=args.batch, remat=args.remat, ops_per_step=total,
            in_loops=sum(r["ops"] for r in loops if r["depth"] == 0)))


if __name__ == "__main__":
  main()

"""Full test-set evaluation of a trained text model, before and after length-bucketed evaluation:
the same parameters scored by two versions of seqattn, each in its own process, one after the
other on this machine.

  before  the code at `--before` (default f621ece, the last commit without it): every batch
          500 x Tx x Ty (40 x 40), teacher forcing over all 40 steps, every search 40 steps,
          test pairs longer than Tx dropped;
  after   this tree: batches sorted by source length, each padded to its own longest source
          (train.eval_buckets); one encoder pass read by teacher forcing and the search, each
          stepping until its batch has ended and going on with the rows still decoding once
          few are left (decode.forced, decode.SHRINK); each sentence bounded by ⌊a·|x| + b⌋
          (decode.max_len_a / max_len_b); every test pair scored.

Each side evaluates the test split once cold (compilation included) and `--repeats` times warm,
with greedy search and with beam 5. BLEU is reported on each side's test split and on the
sentences both score (`before` drops the pairs longer than Tx).

  python bench/eval_speed.py --workdir runs/twin/jax_0     # a finished configs/text.py run
"""

from __future__ import annotations

import argparse
import inspect
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def child(args) -> None:
  """One side: load the workdir's tested parameters with the `--src` tree's code and time it."""
  sys.path.insert(0, args.src)
  from seqattn import config as config_lib, tasks
  from seqattn.files import checkpoint
  from seqattn.inference import evaluation
  from seqattn.models import architectures
  from seqattn.models.interface import abstract_params

  workdir = pathlib.Path(args.workdir)
  saved = json.loads((workdir / "config.json").read_text())
  configs = pathlib.Path(args.src).parent / "configs"
  config = config_lib.freeze(config_lib.override(
      config_lib.load_file(configs / "text.py"),
      {"seed": saved["seed"], "decode.method": args.search,
       "data.path": saved["data"]["path"]}))  # the file the run read (its sha256 is checked)
  task = tasks.make(config.data)
  codec = task.restore(workdir)
  data = task.load_saved(codec, config.seed)
  model = architectures.build(config.model, codec.source, codec.target, task.max_input_len,
                              task.max_target_len)
  step = json.loads((workdir / "results.json").read_text())["tested_step"]
  params = checkpoint.restore_params(workdir, step, abstract_params(model))
  batch_size = args.eval_batch_size or config.train.eval_batch_size
  by_length = ({"by_length": config.train.eval_buckets}
               if "by_length" in inspect.signature(evaluation.evaluate).parameters else {})
  seconds = []
  if args.run_like:  # as in a training run: the validation split first, then the test split
    start = time.perf_counter()
    evaluation.evaluate(model, params, data.val, batch_size, config.decode, task, data,
                        **by_length)
    seconds.append(time.perf_counter() - start)
  for _ in range(1 + args.repeats):
    start = time.perf_counter()
    ev = evaluation.evaluate(model, params, data.test, batch_size, config.decode, task, data,
                             **by_length)
    seconds.append(time.perf_counter() - start)
  hypotheses = task.hypotheses(data.codec, ev.predictions)
  if args.run_like:
    print(json.dumps(dict(validation_cold=seconds[0], test_after_validation=seconds[1])))
    return
  print(json.dumps(dict(cold=seconds[0], warm=seconds[1:], bleu=ev.metrics["bleu"],
                        examples=len(data.test), tokenize=task.bleu_tokenize,
                        outputs=list(zip(data.test.sources, hypotheses,
                                         data.test.references)))))


def run_side(src: str, search: str, args, batch_size: int = 0) -> dict:
  """One side's timings: a fresh process's test evaluations (cold, then warm), and another's
  validation then test, as a training run does them."""
  command = [sys.executable, __file__, "--child", "--src", src, "--search", search, "--workdir",
             args.workdir, "--repeats", str(args.repeats), "--eval_batch_size", str(batch_size)]
  out = [json.loads(subprocess.run(command + extra, check=True, capture_output=True,
                                   text=True).stdout.strip().splitlines()[-1])
         for extra in ([], ["--run_like", "--repeats", "0"])]
  return dict(out[0], **out[1])


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--before", default="f621ece")
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--child", action="store_true")
  parser.add_argument("--src")
  parser.add_argument("--search", default="greedy")
  # after only: evaluation batches of this many rows instead of the config's (0)
  parser.add_argument("--eval_batch_size", type=int, default=0)
  parser.add_argument("--run_like", action="store_true")
  args = parser.parse_args()
  if args.child:
    return child(args)
  sys.path.insert(0, str(ROOT / "bench"))
  from common import emit, environment
  from seqattn.measures import bleu
  emit(dict(environment=environment()))
  with tempfile.TemporaryDirectory() as old:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "src", "configs"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
    rows = []
    for search in ("greedy", "beam"):
      sides = {"before": run_side(f"{old}/src", search, args),
               "after": run_side(str(ROOT / "src"), search, args, args.eval_batch_size)}
      common = {s for s, _, _ in sides["before"]["outputs"]}
      on_common = {}
      for name, side in sides.items():
        kept = [(h, r) for s, h, r in side["outputs"] if s in common]
        on_common[name] = bleu.scores([h for h, _ in kept], [r for _, r in kept],
                                      side["tokenize"])["bleu"]
        on_common["sentences"] = len(kept)
      row = dict(search=search, **{f"{name}_{k}": v for name, side in sides.items()
                                   for k, v in side.items() if k != "outputs"},
                 before_bleu_common=on_common["before"], after_bleu_common=on_common["after"],
                 common=on_common["sentences"])
      row["warm_speedup"] = (statistics.median(row["before_warm"])
                             / statistics.median(row["after_warm"]))
      row["cold_speedup"] = row["before_cold"] / row["after_cold"]
      rows.append(emit(row))
  print("\n| search | before s (warm, cold; a run's val + test) | after s (the same) | "
        "speed-up warm, cold, run | BLEU before, after (all) | BLEU on the common sentences |")
  print("|---|---|---|---|---|---|")
  run = lambda r, side: r[f"{side}_validation_cold"] + r[f"{side}_test_after_validation"]
  for r in rows:
    print(f"| {r['search']} | {statistics.median(r['before_warm']):.2f}, {r['before_cold']:.1f}; "
          f"{run(r, 'before'):.1f} | {statistics.median(r['after_warm']):.2f}, "
          f"{r['after_cold']:.1f}; {run(r, 'after'):.1f} | {r['warm_speedup']:.2f}x, "
          f"{r['cold_speedup']:.2f}x, {run(r, 'before') / run(r, 'after'):.2f}x | "
          f"{r['before_bleu']:.2f} ({r['before_examples']}), {r['after_bleu']:.2f} "
          f"({r['after_examples']}) | {r['before_bleu_common']:.2f}, {r['after_bleu_common']:.2f}"
          f" ({r['common']}) |")


if __name__ == "__main__":
  main()

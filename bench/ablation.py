"""Ablation throughput: 8 seeds of the course model in one vmapped step, or one after another.

  python bench/ablation.py                 # 8 seeds, batch 100
  python bench/ablation.py --seeds 4 --batch 1000

Examples/s are summed over the seeds. "together" is seqattn.training.seeds.train_step on the
stacked states (one compiled program); "one after another" is seqattn.training.step.train_step
on each seed's own state in turn, which is what training the seeds as separate runs costs once
compiled.
Windows alternate; the ratio is taken per pair of windows. tests/test_seeds.py checks that
each seed's losses together equal its solo run's.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax

from common import batch_stream, emit, load_config, load_task, median_ratio, table, timed_windows
from seqattn.training import seeds, step
from seqattn.training.run import build_model


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--seeds", type=int, default=8)
  parser.add_argument("--batch", type=int, default=100)
  parser.add_argument("--windows", type=int, default=7)
  args = parser.parse_args()
  config = load_config("course", batch_size=args.batch)
  task, data = load_task(config)
  static = step.StepConfig(build_model(config, task, data.codec), config.train,
                           total_steps=10_000)
  seed_list = list(range(args.seeds))
  keys = seeds.keys(seed_list)
  streams = [batch_stream(data.train, args.batch, seed) for seed in seed_list]
  rounds = [[next(stream) for stream in streams] for _ in range(4)]  # [round][seed] batches

  stacked = seeds.init_states(static, seed_list)
  start = time.perf_counter()
  together_step = seeds.train_step.lower(stacked, seeds.stack(rounds[0]), keys["dropout"],
                                         static).compile()
  compile_together = time.perf_counter() - start
  solo = [seeds.unstack(step.on_device(stacked), i) for i in range(args.seeds)]
  solo = [step.on_device(jax.tree.map(lambda x: x.copy(), s)) for s in solo]
  start = time.perf_counter()
  solo_step = step.train_step.lower(solo[0], rounds[0][0], keys["dropout"][0], static).compile()
  compile_solo = time.perf_counter() - start
  stacked_rounds = [seeds.stack(r) for r in rounds]
  counter = iter(range(10**9))

  def together():
    nonlocal stacked
    stacked, losses = together_step(stacked, stacked_rounds[next(counter) % 4], keys["dropout"])
    return losses

  def one_after_another():
    r = next(counter) % 4
    for i in range(args.seeds):
      solo[i], loss = solo_step(solo[i], rounds[r][i], keys["dropout"][i])
    return loss

  contenders = dict(together=together, one_after_another=one_after_another)
  calls, seconds = timed_windows(contenders, args.windows)
  examples = args.seeds * args.batch
  row = emit(dict(model="course", batch=args.batch, seeds=args.seeds,
                  compile_together_s=compile_together, compile_solo_s=compile_solo,
                  together_examples_per_s=examples / statistics.median(seconds["together"]),
                  one_after_another_examples_per_s=examples / statistics.median(
                      seconds["one_after_another"]),
                  ratio_together_over_sequential=median_ratio(seconds["one_after_another"],
                                                              seconds["together"])))
  table([row], dict(seeds="seeds", batch="batch", together_examples_per_s="together ex/s",
                    one_after_another_examples_per_s="one after another ex/s",
                    ratio_together_over_sequential="together / one after another",
                    compile_together_s="compile together s", compile_solo_s="compile solo s"))


if __name__ == "__main__":
  main()

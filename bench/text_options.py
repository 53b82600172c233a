"""What each translation option does to the default text model on the shipped zh-en corpus: one
run of configs/text.py per option, seed 0, the same wall-clock budget as the baseline run (a
finished `bench/text_twin.py` run of seed 0), one after the other on this machine.

One seed each: compare a difference with the spread of the baseline's seeds (text_twin.py's
interval), not with zero.

  python bench/text_options.py --baseline runs/twin/jax_0 --minutes 6 --out runs/options
"""

from __future__ import annotations

import argparse
import json
import pathlib

from common import ROOT, emit, environment, launch, training_seconds

OPTIONS = {
    "tied target embeddings": {"model.tied_embeddings": True},
    # One tokeniser for both sides needs room for the Chinese characters and the English pieces.
    "joint vocabulary (6,000)": {"data.joint_vocabulary": True, "data.source_vocab_size": 6000},
    "length-ratio filter 2.5": {"data.max_length_ratio": 2.5},
    "subword sampling α=0.2": {"data.subword_sampling": 0.2},
}


def summary(results: dict, workdir: pathlib.Path) -> dict:
  data = json.loads((workdir / "data.json").read_text())
  return dict(test_bleu=results["test_bleu"], test_chrf=results["test_chrf"],
              best_val_bleu=results.get("best_val_bleu"), steps=results.get("step"),
              train_seconds=training_seconds(workdir),
              train_pairs=data["train_split"]["kept"],
              vocabulary=[data["vocabulary"]["source"], data["vocabulary"]["target"]])


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--baseline", required=True)
  parser.add_argument("--minutes", type=float, default=6.0)
  parser.add_argument("--out", default="runs/options")
  parser.add_argument("--average", type=int, default=2)
  args = parser.parse_args()
  emit(dict(environment=environment()))
  base = pathlib.Path(args.baseline)
  rows = {"default (baseline)": summary(json.loads((base / "results.json").read_text()), base)}
  launch("--workdir", str(base), "--mode", "evaluate", "--average_checkpoints", str(args.average))
  averaged = json.loads((base / f"results_greedy_avg{args.average}.json").read_text())
  rows[f"average of the last {args.average} checkpoints"] = dict(
      rows["default (baseline)"], test_bleu=averaged["bleu"], test_chrf=averaged["chrf"])
  for name, overrides in OPTIONS.items():
    workdir = pathlib.Path(args.out, name.split(" (")[0].replace(" ", "_").replace("=", ""))
    launch("--config", str(ROOT / "configs/text.py"), "--workdir", str(workdir),
           "--config.seed=0", f"--config.train.time_budget_minutes={args.minutes}",
           *(f"--config.{k}={v}" for k, v in overrides.items()))
    rows[name] = emit(dict(option=name, **summary(
        json.loads((workdir / "results.json").read_text()), workdir)))
  baseline = rows["default (baseline)"]["test_bleu"]
  print(f"\n{args.minutes:g} minutes a run, seed 0, {environment()['cpu']}\n")
  print("| option | test BLEU | Δ BLEU | test chrF | steps | training s | training pairs | "
        "vocabularies |")
  print("|---|---|---|---|---|---|---|---|")
  for name, r in rows.items():
    print(f"| {name} | {r['test_bleu']:.2f} | {r['test_bleu'] - baseline:+.2f} | "
          f"{r['test_chrf']:.1f} | {r['steps']} | {r['train_seconds']:.0f} | "
          f"{r['train_pairs']:,} | "
          f"{r['vocabulary'][0]:,} / {r['vocabulary'][1]:,} |")


if __name__ == "__main__":
  main()

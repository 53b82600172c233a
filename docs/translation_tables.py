"""The tables of docs/translation.md from a finished `configs/translation.py` sweep and its
`--mode evaluate` passes (results_greedy.json and results_beam5.json in each point):

  python3 docs/translation_tables.py runs/translation

Prints, per model (mean ± 95% CI over seeds): test BLEU and chrF greedy and with beam 5, BLEU by
source length, and how often attention beats no attention in the buckets above the median.
"""

import json
import pathlib
import sys

from seqattn.experiments.report import mean_ci

MODELS = {"cho2014": "attention=none", "rnnsearch": "attention=additive",
          "luong": "attention=local_p"}


def runs(workdir: pathlib.Path, name: str) -> dict[str, list[dict]]:
  """Each model's evaluation `name` (e.g. results_greedy.json), one per seed."""
  return {model: [json.loads((d / name).read_text()) for d in
                  sorted((workdir / "points").glob(f"{prefix},*seed=*")) if (d / name).exists()]
          for model, prefix in MODELS.items()}


def cell(values: list[float]) -> str:
  mean, ci = mean_ci(values)
  return f"{mean:.2f} ± {ci:.2f}"


def main(workdir: pathlib.Path) -> None:
  greedy, beam = runs(workdir, "results_greedy.json"), runs(workdir, "results_beam5.json")
  models = [m for m in MODELS if greedy[m]]  # those evaluated so far
  print("| model | seeds (greedy / beam) | BLEU greedy | BLEU beam 5 | chrF greedy | chrF beam 5 |")
  print("|---|---|---|---|---|---|")
  for model in models:
    g, b = greedy[model], beam[model]
    print(f"| {model} | {len(g)} / {len(b)} | {cell([r['bleu'] for r in g])} | "
          f"{cell([r['bleu'] for r in b])} | {cell([r['chrf'] for r in g])} | "
          f"{cell([r['chrf'] for r in b])} |")
  first = greedy["rnnsearch"][0]
  buckets = [(r["lo"], r["hi"], r["sentences"]) for r in first["bleu_by_source_length"]]
  median = first["median_source_length"]
  for search, results in (("greedy", greedy), ("beam 5", beam)):
    print(f"\nBLEU by source length (Chinese tokens), {search}; test median {median:g}")
    print("| model | " + " | ".join(f"{lo}–{hi} ({n})" for lo, hi, n in buckets) + " |")
    print("|---|" + "---|" * len(buckets))
    for model in models:
      if not results[model]:
        continue
      per = [[r["bleu_by_source_length"][k]["bleu"] for r in results[model]]
             for k in range(len(buckets))]
      print(f"| {model} | " + " | ".join(cell(v) for v in per) + " |")
    for model in [m for m in ("rnnsearch", "luong") if m in models]:
      above = [k for k, (lo, _, _) in enumerate(buckets) if lo > median]
      wins = [all(a["bleu_by_source_length"][k]["bleu"] > c["bleu_by_source_length"][k]["bleu"]
                  for a, c in zip(results[model], results["cho2014"])) for k in above]
      margins = [min(a["bleu_by_source_length"][k]["bleu"] - c["bleu_by_source_length"][k]["bleu"]
                     for a, c in zip(results[model], results["cho2014"])) for k in above]
      print(f"{model} beats cho2014, seed for seed, in {sum(wins)} of the {len(above)} buckets "
            f"above the median; smallest margin per bucket: "
            + ", ".join(f"{m:+.2f}" for m in margins))


if __name__ == "__main__":
  main(pathlib.Path(sys.argv[1]))

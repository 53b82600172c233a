"""What a sweep's points say together: mean ± 95% CI over seeds of each group of points that
differ only in their seed (results.csv, results.md), exact match by source length
(length_study.md), BLEU by source length (bleu_by_length.md), learning curves and attention heatmaps side by side (PNG)."""

from __future__ import annotations

import csv
import json
import math
import pathlib
import statistics
from typing import Any, Callable

from scipy import stats

from seqattn import tasks
from seqattn.files import plots, workdirs
from seqattn.inference import predict


def point_name(overrides: dict[str, Any]) -> str:
  """A readable directory name: 'attention=dot,placement=after_rnn,seed=1'."""
  return ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in overrides.items())


def group_name(overrides: dict[str, Any]) -> str:
  return point_name({k: v for k, v in overrides.items() if k != "seed"}) or "all"


# Columns of the aggregate table: (name, how to read it from a point's results and log). A
# measure the task does not report (no exact match for forecasts) is left out. First the test
# metrics that the tasks define (their METRICS; the loss last, as final_loss), then the
# attention's and the run's own.
_TEST_METRICS = list(dict.fromkeys(m for task in tasks.REGISTRY.values() for m in task.METRICS
                                   if m != "loss"))
MEASURES: dict[str, Callable[[dict, list[dict]], float | None]] = {
    **{m: (lambda m: lambda r, log: r[f"test_{m}"])(m) for m in _TEST_METRICS},
    "final_loss": lambda r, log: r["test_loss"],
    "attention_mass": lambda r, log: r["alignment"]["mass"],
    "argmax_alignment": lambda r, log: r["alignment"]["argmax"],
    "aer": lambda r, log: r["alignment"]["aer"],
    "attention_entropy": lambda r, log: r["alignment"]["entropy"],
    "dead_attention": lambda r, log: float(r["dead_attention"]),  # the share of dead seeds
    "train_seconds": lambda r, log: r["seconds"],
    "parameters": lambda r, log: r["parameters"],
}


def mean_ci(values: list[float]) -> tuple[float, float]:
  """Mean and the half-width of its 95% Student-t confidence interval (0 for one value).

  An infinite value (a target never reached) makes both infinite.
  """
  if not all(math.isfinite(v) for v in values):
    return math.inf, math.inf
  mean = statistics.fmean(values)
  if len(values) < 2:
    return mean, 0.0
  sem = statistics.stdev(values) / math.sqrt(len(values))
  return mean, float(stats.t.ppf(0.975, len(values) - 1) * sem)


def steps_to(log: list[dict], target: float | None) -> float | None:
  """The first logged step whose validation exact match reaches `target`."""
  if target is None:
    return None
  return next((r["step"] for r in log if r.get("val_exact_match", 0.0) >= target), math.inf)


def read_point(workdir: pathlib.Path, overrides: dict) -> tuple[dict, list[dict]]:
  point_dir = workdir / "points" / point_name(overrides)
  results = json.loads((point_dir / "results.json").read_text())
  log = [json.loads(line) for line in (point_dir / "metrics.jsonl").open()]
  return results, log


def _groups(todo: list[dict]) -> dict[str, list[dict]]:
  groups: dict[str, list[dict]] = {}
  for overrides in todo:
    groups.setdefault(group_name(overrides), []).append(overrides)
  return groups


def aggregate(workdir: pathlib.Path, todo: list[dict], target: float | None) -> list[dict]:
  """One row per group: mean and 95% CI half-width of each measure over its seeds."""
  rows = []
  for name, members in _groups(todo).items():
    row: dict[str, Any] = dict(group=name, seeds=len(members))
    runs = [read_point(workdir, o) for o in members]
    measures = dict(MEASURES)
    if target is not None:
      measures[f"steps_to_{target:g}"] = lambda r, log: steps_to(log, target)
    for measure, read in measures.items():
      try:
        values = [read(r, log) for r, log in runs]
      except KeyError:
        continue
      row[measure], row[f"{measure}_ci95"] = mean_ci(values)
    rows.append(row)
  return rows


def baseline_rows(workdir: pathlib.Path, todo: list[dict], like: dict) -> list[dict]:
  """The task's baselines (results' 'baselines': they do not train, so seeds do not move them)
  as rows of the table, the columns they lack left empty. One set when every group has the same
  (an ablation of the model); else one per group (a sweep over the data's settings)."""
  found = {name: read_point(workdir, members[0])[0].get("baselines", {})
           for name, members in _groups(todo).items()}
  shared = all(b == next(iter(found.values())) for b in found.values())
  rows = []
  for group, baselines in list(found.items())[:1] if shared else found.items():
    for name, errors in baselines.items():
      row = {k: None for k in like}
      row.update(group=f"baseline: {name}" + ("" if shared else f" ({group})"), seeds=1)
      for measure, value in errors.items():
        row[measure], row[f"{measure}_ci95"] = value, 0.0
      rows.append(row)
  return rows


def write_tables(workdir: pathlib.Path, rows: list[dict]) -> None:
  with (workdir / "results.csv").open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  measures = [k for k in rows[0] if k not in ("group", "seeds") and not k.endswith("_ci95")]
  lines = ["| group | seeds | " + " | ".join(measures) + " |",
           "|---|---|" + "---|" * len(measures)]
  for row in rows:
    cells = [_format(row[m], row[f"{m}_ci95"], m) for m in measures]
    lines.append(f"| {row['group']} | {row['seeds']} | " + " | ".join(cells) + " |")
  workdirs.write_text(workdir / "results.md", "\n".join(lines) + "\n")


def _format(mean: float | None, ci: float, measure: str) -> str:
  if mean is None:
    return ""
  if math.isinf(mean):
    return "not reached by every seed"
  if measure == "dead_attention":
    return f"{mean:.0%} of seeds"
  if measure in ("parameters",) or measure.startswith("steps_to"):
    return f"{mean:,.0f} ± {ci:,.0f}"
  if measure == "train_seconds":
    return f"{mean:.1f} ± {ci:.1f}"
  return f"{mean:.4f} ± {ci:.4f}"


def length_buckets(results: dict, width: int) -> dict[int, tuple[int, int]]:
  """(correct, total) per source-length bucket [lo, lo + width) from a point's results."""
  buckets: dict[int, list[int]] = {}
  for length, (correct, total) in results["exact_by_length"].items():
    lo = (int(length) - 1) // width * width + 1
    buckets.setdefault(lo, [0, 0])
    buckets[lo][0] += correct
    buckets[lo][1] += total
  return {lo: tuple(buckets[lo]) for lo in sorted(buckets)}


def write_length_study(workdir: pathlib.Path, todo: list[dict], width: int = 10) -> None:
  """Exact match by source-length bucket per group (seeds pooled): a table and a plot."""
  curves: dict[str, dict[int, float]] = {}
  for name, members in _groups(todo).items():
    pooled: dict[int, list[int]] = {}
    for overrides in members:
      for lo, (correct, total) in length_buckets(read_point(workdir, overrides)[0], width).items():
        pooled.setdefault(lo, [0, 0])
        pooled[lo][0] += correct
        pooled[lo][1] += total
    curves[name] = {lo: c / t for lo, (c, t) in sorted(pooled.items())}
  buckets = sorted({lo for curve in curves.values() for lo in curve})
  header = " | ".join(f"{lo}-{lo + width - 1}" for lo in buckets)
  lines = [f"| group | {header} |", "|---|" + "---|" * len(buckets)]
  for name, curve in curves.items():
    cells = [f"{curve[lo]:.3f}" if lo in curve else "" for lo in buckets]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  workdirs.write_text(workdir / "length_study.md", "\n".join(lines) + "\n")
  plots.lines({name: (list(c), list(c.values())) for name, c in curves.items()},
              workdir / "accuracy_by_length.png", xlabel="source length (bucket start)",
              ylabel="test exact match", title="Exact match by source length")


def write_bleu_by_length(workdir: pathlib.Path, todo: list[dict]) -> None:
  """BLEU by source-length bucket (Bahdanau et al. 2015, Fig. 2): mean ± 95% CI over seeds per
  group; a table and a plot."""
  scores: dict[str, dict[tuple[int, int], list[float]]] = {}
  sentences: dict[tuple[int, int], int] = {}
  for name, members in _groups(todo).items():
    scores[name] = {}
    for overrides in members:
      for b in read_point(workdir, overrides)[0]["bleu_by_source_length"]:
        scores[name].setdefault((b["lo"], b["hi"]), []).append(b["bleu"])
        sentences[b["lo"], b["hi"]] = b["sentences"]
  buckets = sorted(sentences)  # the same for every run of one test set
  lines = ["| group | " + " | ".join(f"{lo}-{hi}" for lo, hi in buckets) + " |",
           "|---|" + "---|" * len(buckets)]
  curves = {}
  for name, by_bucket in scores.items():
    cells = [("{:.2f} ± {:.2f}".format(*mean_ci(by_bucket[k])) if k in by_bucket else "")
             for k in buckets]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
    known = sorted(by_bucket)
    curves[name] = ([lo for lo, _ in known], [mean_ci(by_bucket[k])[0] for k in known])
  lines.append("| sentences | " + " | ".join(str(sentences[k]) for k in buckets) + " |")
  workdirs.write_text(workdir / "bleu_by_length.md", "\n".join(lines) + "\n")
  plots.lines(curves, workdir / "bleu_by_length.png", xlabel="source length in tokens (bucket start)",
              ylabel="test BLEU", title="BLEU by source length (mean over seeds)")


def write_plots(workdir: pathlib.Path, todo: list[dict], module,
                metric: str = "val_exact_match") -> None:
  """Learning curves of `metric` per group (first seed) and attention heatmaps side by side."""
  first = {name: members[0] for name, members in _groups(todo).items()}
  curves = {}
  for name, overrides in first.items():
    log = [r for r in read_point(workdir, overrides)[1] if metric in r]
    curves[name] = ([r["step"] for r in log], [r[metric] for r in log])
  plots.lines(curves, workdir / "learning_curves.png", xlabel="step",
              ylabel=metric.replace("_", " "), title="Learning curves (first seed)")
  inputs = getattr(module, "HEATMAP_INPUTS", None)
  if not inputs:
    return
  panels = {}
  for name, overrides in first.items():
    point_dir = workdir / "points" / point_name(overrides)
    trained = predict.load(point_dir, train_command=f"(sweep point {point_dir})")
    panels[name] = predict.predict(trained, list(inputs))
  plots.heatmap_grid(panels, workdir / "attention_by_variant.png")

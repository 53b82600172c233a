"""The command line's side of launch.py: parsing errors, each mode's call of the Python API
(seqattn.api) and what it prints; the exit status of every error a user can fix.

Exit status: 0 done (a time budget that ran out included), 1 an error the message explains,
2 a bad flag or config value, 128 + the signal for a run stopped by SIGINT or SIGTERM (it
saved a checkpoint: the same command resumes).
"""

from __future__ import annotations

import pathlib
import shlex
import sys
from typing import Sequence

import numpy as np
from absl import flags
from ml_collections import ConfigDict

from seqattn import config as config_lib


def config_path(argv: Sequence[str]) -> str | None:
  """The --config file argument as written (with its optional ':arg')."""
  path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
  if path is None and "--config" in argv[:-1]:
    path = argv[list(argv).index("--config") + 1]
  return path


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing of `argv`; a bad flag or config override exits 2 with a message that names
  the valid keys or values."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    message = str(e).strip("'\"")
    path = config_path(argv)
    if path is not None:  # name the override that went wrong, with the valid keys or values
      overrides = dict(a[len("--config."):].split("=", 1) for a in argv
                       if a.startswith("--config.") and "=" in a)
      try:
        config_lib.override(config_lib.load_file(path), overrides)
      except config_lib.ConfigError as error:
        message = str(error)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def show_training(results: dict, config: config_lib.Config, workdir: pathlib.Path) -> None:
  """A finished run's test metrics (the one it selects on first), how it stopped, and the
  task's own table."""
  from seqattn import tasks
  from seqattn.measures import liveness
  if results["dead_attention"]:
    print(f"warning: {liveness.describe(results)}", file=sys.stderr)
  if results["stopped_by_time_budget"]:
    print(f"stopped by the time budget (train.time_budget_minutes="
          f"{config.train.time_budget_minutes:g}) at step {results['step']}: the step count is "
          f"not reproducible; testing step {results['tested_step']}")
  if results["stopped_early"]:
    best = config.train.best_metric
    print(f"stopped early at step {results['step']}: the best {best} was "
          f"{results['best_' + best]:.4f} at step {results['best_step']}")
  headline = "test_" + config.train.best_metric.removeprefix("val_")
  shown = ", ".join(f"{k[len('test_'):].replace('_', ' ')} {results[k]:.4f}" for k in sorted(
      (k for k in results if k.startswith("test_") and k != "test_examples"),
      key=lambda k: k != headline))
  print(f"test {shown} on {int(results['test_examples'])} test examples, "
        f"{results['seconds']:.1f} s; parameters sha256 {results['params_sha256'][:16]}; "
        f"saved in {workdir}")
  table = tasks.make(config.data).summary(results)
  if table:
    print(table)


def show_prediction(p, workdir: pathlib.Path, attention_text: bool) -> None:
  """One decoded input: its output, attention heatmaps written to the workdir, a dead
  attention noted, the n-best list."""
  from seqattn.files import plots
  from seqattn.inference import predict
  from seqattn.measures import liveness
  for warning in p.source.warnings + p.best.warnings:
    print(f"warning: {warning}", file=sys.stderr)
  png = workdir / f"attention_{predict.file_name(p.source.shown)}.png"
  plots.attention_heatmap(p.best.alpha_TyxTx, p.source.labels, p.best.tokens, png,
                          title=f"{p.source.shown} -> {p.best.output}")
  if p.input_alpha_TxK is not None:
    input_png = workdir / f"input_attention_{predict.file_name(p.source.shown)}.png"
    plots.input_attention(p.input_alpha_TxK, p.source.features, p.source.labels, input_png,
                          f"input attention α^k_t: {p.source.shown}")
    png = f"{png}, {input_png}"
  print(f"{p.source.shown} -> {p.best.output}    ({png})")
  alive = liveness.measures(p.best.alpha_TyxTx[None], np.array([len(p.source.labels)]),
                            np.ones((1, len(p.best.tokens)), bool))
  if liveness.is_dead(alive):
    print(f"  note: {liveness.describe(alive)}")
  if attention_text:
    print(plots.attention_table(p.best.alpha_TyxTx, p.source.labels, p.best.tokens))
  if len(p.hypotheses) > 1:
    for rank, h in enumerate(p.hypotheses, 1):
      print(f"  {rank}. {h.output}  score {h.score:.4f}  log p {h.log_prob:.4f}")


def predict_lines(model, lines: list[str]) -> None:
  """Decodes lines of a file in batches; prints one output a line, in order (an empty line
  for an empty input line), warnings on stderr with their line numbers."""
  filled = [i for i, line in enumerate(lines) if line.strip()]
  outputs = dict(zip(filled, model.decode([lines[i] for i in filled]))) if filled else {}
  for i in range(len(lines)):
    found = outputs.get(i)
    for warning in found.source.warnings + found.best.warnings if found else ():
      print(f"warning: line {i + 1}: {warning}", file=sys.stderr)
    print(found.best.output if found else "")


def run(mode: str, workdir: pathlib.Path, config: ConfigDict | None, path: str | None,
        inputs: list[str], *, force: bool = False, sweep_worker: str = "0/1",
        attention_text: bool = False, input_path: str | None = None,
        ensemble: Sequence[str] = (), test_file: str | None = None,
        average_checkpoints: int = 1) -> None:
  """launch.py's one call: `mode` with its flags' values, errors as messages and exit codes."""
  from seqattn import api
  from seqattn.data import corpus
  from seqattn.training.progress import Interrupted
  load = lambda: api.load(workdir, config, ensemble, average_checkpoints, train_command=(
      f"python launch.py --config {path or 'configs/dates.py'} "
      f"--workdir {shlex.quote(str(workdir))}"))
  try:
    if mode in ("train", "sweep", "backtest") and config is None:
      raise ValueError(f"give a config file: --config configs/"
                       f"{dict(sweep='ablation_scores', backtest='series').get(mode, 'dates')}.py")
    if mode == "train":
      if inputs:
        raise ValueError(f"unexpected arguments {inputs}; did you mean --mode predict?")
      frozen = config_lib.freeze(config)
      show_training(api.train(frozen, workdir, force=force), frozen, workdir)
    elif mode == "predict" and input_path is not None:
      if inputs:
        raise ValueError("give the inputs either after the flags or with --input, not both")
      predict_lines(load(), corpus.read_lines(None, sys.stdin) if input_path == "-"
                    else corpus.read_lines(input_path))
    elif mode == "predict":
      if not inputs:
        raise ValueError('give the inputs to predict after the flags, e.g. --mode predict '
                         '"3 may 1979", or a file of inputs with --input FILE')
      for p in load().decode(inputs):
        show_prediction(p, workdir, attention_text)
    elif mode == "evaluate":
      name, metrics = load().evaluate(test_file)
      shown = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in metrics.items()
                        if k != "examples" and isinstance(v, float))
      print(f"{name}: test {shown} on {int(metrics['examples'])} test examples")
    else:
      worker, _, workers = sweep_worker.partition("/")
      if not (worker.isdigit() and workers.isdigit() and int(worker) < int(workers)):
        raise ValueError(f"--sweep_worker={sweep_worker!r}: use 'i/N' with 0 <= i < N")
      from seqattn.experiments import backtest, sweep
      done = (sweep if mode == "sweep" else backtest).run(
          path, workdir, base=config, worker=int(worker), workers=int(workers))
      if done is not None:  # process 0 wrote the tables
        print((workdir / ("results.md" if mode == "sweep" else "backtest.md")).read_text())
  except (ValueError, FileNotFoundError, FloatingPointError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  except Interrupted as e:  # a run, or a sweep's or backtest's worker, stopped by a signal
    print(e, file=sys.stderr)
    sys.exit(128 + e.signum)  # the shell's convention for a process ended by a signal
  except PermissionError as e:  # predict and evaluate write beside the run's files
    print(f"error: cannot write {e.filename} ({e.strerror}): --mode {mode} writes its "
          f"results and plots in the workdir; make {workdir} writable, or copy it "
          f"(cp -r {workdir} <copy>) and pass the copy as --workdir.", file=sys.stderr)
    sys.exit(1)

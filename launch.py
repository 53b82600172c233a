"""Runs an experiment from a config file.

  python launch.py --config configs/dates.py --workdir runs/dates
  python launch.py --config configs/dates.py --workdir runs/dates --config.model.decoder_units=128
  python launch.py --workdir runs/dates --mode predict "3 may 1979" "tuesday june 5 2018"
  python launch.py --workdir runs/dates --mode predict --input dates.txt   # or --input - (stdin)
  python launch.py --config configs/dates.py --workdir runs/dates --mode evaluate \
      --config.decode.method=beam --config.decode.beam_size=4
  python launch.py --config configs/ablation_scores.py --workdir runs/abl --mode sweep
  python launch.py --config configs/series.py --workdir runs/series
  python launch.py --workdir runs/series --mode predict my_series.csv   # the next H values
  python launch.py --config configs/series.py --workdir runs/series_bt --mode backtest

Training in a workdir that holds checkpoints resumes from the latest one; a workdir holding
another config's run is refused unless --force is given; a workdir another run is training in
is refused. SIGINT/SIGTERM save a checkpoint. Every default lives in the config file; override
any field with --config.<group>.<field>=value.
"""

from __future__ import annotations

import json
import pathlib
import shlex
import sys

import numpy as np
from absl import app, flags, logging
from ml_collections import ConfigDict, config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for config, logs, checkpoints, plots.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "predict", "evaluate", "sweep", "backtest"],
                          "train: train and evaluate. predict: decode the positional inputs. "
                          "evaluate: score the test split again (e.g. with another search). "
                          "sweep: train every point of the config's sweep(add) and aggregate. "
                          "backtest: a series config's rolling-origin backtest (data.folds x "
                          "data.seeds runs; of each sweep point, if the file defines a sweep).")
_FORCE = flags.DEFINE_bool("force", False,
                           "Go on from the latest checkpoint of a workdir holding another "
                           "config's run (that checkpoint must fit the new model).")
_SWEEP_WORKER = flags.DEFINE_string(
    "sweep_worker", "0/1", "sweep, backtest: this worker's index and the number of workers, "
    "'i/N' (e.g. a job array's task index); workers share the directory and claim points.")
_ATTENTION_TEXT = flags.DEFINE_bool("attention_text", False,
                                    "predict: also print each attention as a table of weights.")
_INPUT = flags.DEFINE_string("input", None,
                             "predict: a file of inputs, one a line ('-': standard input); "
                             "prints one output a line, in order, decoding in batches.")
_ENSEMBLE = flags.DEFINE_list("ensemble", [],
                               "predict, evaluate (forecasts): more workdirs of the same config "
                               "trained with other seeds; their forecasts are averaged with "
                               "--workdir's (their sample paths pooled).")
_TEST_FILE = flags.DEFINE_string("test_file", None,
                                 "evaluate: score this file of pairs (in the run's data format) "
                                 "instead of the run's test split.")
flags.mark_flag_as_required("workdir")


def _config_path(argv: list[str]) -> str | None:
  """The --config file argument as written (with its optional ':arg')."""
  path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
  if path is None and "--config" in argv[:-1]:
    path = argv[argv.index("--config") + 1]
  return path


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    message = str(e).strip("'\"")
    path = _config_path(argv)
    if path is not None:  # name the override that went wrong, with the valid keys or values
      from seqattn import config as config_lib
      overrides = dict(a[len("--config."):].split("=", 1) for a in argv
                       if a.startswith("--config.") and "=" in a)
      try:
        config_lib.override(config_lib.load_file(path), overrides)
      except config_lib.ConfigError as error:
        message = str(error)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def train(config: ConfigDict, workdir: pathlib.Path, force: bool = False) -> dict:
  """Trains and evaluates; prints the result."""
  from seqattn import config as config_lib
  from seqattn.training import run
  frozen = config_lib.freeze(config)
  results = run.train_and_evaluate(frozen, workdir, force=force)
  if results["dead_attention"]:
    from seqattn import liveness
    print(f"warning: {liveness.describe(results)}", file=sys.stderr)
  if results["stopped_by_time_budget"]:
    print(f"stopped by the time budget (train.time_budget_minutes="
          f"{frozen.train.time_budget_minutes:g}) at step {results['step']}: the step count is "
          f"not reproducible; testing step {results['tested_step']}")
  if results["stopped_early"]:
    best = frozen.train.best_metric
    print(f"stopped early at step {results['step']}: the best {best} was "
          f"{results['best_' + best]:.4f} at step {results['best_step']}")
  headline = "test_" + frozen.train.best_metric.removeprefix("val_")
  shown = ", ".join(f"{k[len('test_'):].replace('_', ' ')} {results[k]:.4f}" for k in sorted(
      (k for k in results if k.startswith("test_") and k != "test_examples"),
      key=lambda k: k != headline))  # the metric the run selects on first
  print(f"test {shown} on {int(results['test_examples'])} test examples, "
        f"{results['seconds']:.1f} s; parameters sha256 {results['params_sha256'][:16]}; "
        f"saved in {workdir}")
  from seqattn import tasks
  table = tasks.make(frozen.data).summary(results)
  if table:
    print(table)
  return results


def _load_trained(workdir: pathlib.Path, config: ConfigDict | None, config_path: str | None):
  """The trained model in `workdir`, decoding as `config`'s `decode` group says (if given)."""
  from seqattn import config as config_lib, predict
  train_command = (f"python launch.py --config {config_path or 'configs/dates.py'} "
                   f"--workdir {shlex.quote(str(workdir))}")
  if config is None:
    return predict.load(workdir, train_command)
  return predict.load(workdir, train_command, config_lib.freeze(config).decode, config.to_dict())


def _load_members(workdirs: list[str], config: ConfigDict | None, config_path: str | None,
                  trained) -> list:
  """The --ensemble workdirs' models, checked to be seeds of `trained`'s config."""
  from seqattn import predict
  if not workdirs:
    return []
  members = [_load_trained(pathlib.Path(w), config, config_path) for w in workdirs]
  return predict.ensemble([trained, *members])[1:]


def predict(workdir: pathlib.Path, texts: list[str], config: ConfigDict | None = None,
            config_path: str | None = None, attention_text: bool = False,
            input_path: str | None = None, ensemble: list[str] = ()) -> None:
  """Decodes `texts`: one line each, warnings on stderr, attention heatmaps in the workdir
  (and as tables with `attention_text`). With `input_path` (a file, or '-' for standard input),
  decodes its lines in batches and prints only the outputs, one a line (an empty line for an
  empty input line). `ensemble`: more workdirs whose forecasts are averaged with its."""
  from seqattn import liveness, plots, predict as predict_lib
  from seqattn.data import corpus
  if input_path is not None:
    if texts:
      raise ValueError("give the inputs either after the flags or with --input, not both")
    lines = corpus.read_lines(None, sys.stdin) if input_path == "-" else \
        corpus.read_lines(input_path)
    trained = _load_trained(workdir, config, config_path)
    members = _load_members(ensemble, config, config_path, trained)
    filled = [i for i, line in enumerate(lines) if line.strip()]
    predictions = predict_lib.predict(trained, [lines[i] for i in filled],
                                      trained.config.train.eval_batch_size, members)
    outputs = dict(zip(filled, predictions))
    for i in range(len(lines)):
      found = outputs.get(i)
      for warning in found.source.warnings + found.best.warnings if found else ():
        print(f"warning: line {i + 1}: {warning}", file=sys.stderr)
      print(found.best.output if found else "")
    return
  if not texts:
    raise ValueError('give the inputs to predict after the flags, e.g. --mode predict "3 may 1979", '
                     'or a file of inputs with --input FILE')
  trained = _load_trained(workdir, config, config_path)
  members = _load_members(ensemble, config, config_path, trained)
  for p in predict_lib.predict(trained, texts, trained.config.train.eval_batch_size, members):
    for warning in p.source.warnings + p.best.warnings:
      print(f"warning: {warning}", file=sys.stderr)
    png = workdir / f"attention_{predict_lib.file_name(p.source.shown)}.png"
    plots.attention_heatmap(p.best.alpha_TyxTx, p.source.labels, p.best.tokens, png,
                            title=f"{p.source.shown} -> {p.best.output}")
    if p.input_alpha_TxK is not None:
      input_png = workdir / f"input_attention_{predict_lib.file_name(p.source.shown)}.png"
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


def evaluate(workdir: pathlib.Path, config: ConfigDict | None = None,
             config_path: str | None = None, test_file: str | None = None,
             ensemble: list[str] = ()) -> dict:
  """Scores the test split (or `test_file`) again with the configured search; writes
  results_<search>.json (results_<search>_<file>.json for a test file; _ensemble<K> for the
  mean forecast of --workdir's model and the `ensemble` workdirs')."""
  from seqattn import evaluation, workdirs
  trained = _load_trained(workdir, config, config_path)
  members = [trained, *_load_members(ensemble, config, config_path, trained)]
  data = (trained.task.load(trained.config.seed) if test_file is None
          else trained.task.test_data(trained.codec, test_file))
  search = trained.config.decode
  finals = [evaluation.evaluate(m.model, m.params, data.test, m.config.train.eval_batch_size,
                                search, m.task, data,
                                sample_key=evaluation.paths_key(m.config.seed), spread=m.spread)
            for m in members]
  final = finals[0] if len(finals) == 1 else evaluation.ensemble(finals, data.test,
                                                                 trained.task, data)
  results = final.metrics
  name = "greedy" if search.method == "greedy" else f"beam{search.beam_size}"
  if len(members) > 1:
    name += f"_ensemble{len(members)}"
  if test_file is not None:
    name += "_" + pathlib.Path(test_file).name
  report = evaluation.report(trained.model, trained.task, data, final)
  workdirs.write_text(workdir / f"results_{name}.json",
                      json.dumps(dict(results, tested_step=trained.step, **report), indent=2,
                                 ensure_ascii=False))
  shown = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in results.items()
                    if k != "examples" and isinstance(v, float))
  print(f"{name}: test {shown} on {int(results['examples'])} test examples")
  return results


def main(argv: list[str]) -> None:
  logging.set_verbosity(logging.WARNING)  # keep library INFO chatter (orbax, fonts) off the console
  from seqattn.training.progress import Interrupted
  workdir = pathlib.Path(_WORKDIR.value)
  config, config_path = _CONFIG.value, _config_path(sys.argv)
  try:
    if _MODE.value == "train":
      if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]}; did you mean --mode predict?")
      if config is None:
        raise ValueError("give a config file: --config configs/dates.py")
      train(config, workdir, force=_FORCE.value)
    elif _MODE.value == "predict":
      predict(workdir, argv[1:], config, config_path, _ATTENTION_TEXT.value,
              _INPUT.value, _ENSEMBLE.value)
    elif _MODE.value == "evaluate":
      evaluate(workdir, config, config_path, _TEST_FILE.value, _ENSEMBLE.value)
    else:
      if config is None:
        raise ValueError(f"give the config file of the {_MODE.value}: --config "
                         f"configs/{'ablation_scores' if _MODE.value == 'sweep' else 'series'}.py")
      worker, _, workers = _SWEEP_WORKER.value.partition("/")
      if not (worker.isdigit() and workers.isdigit() and int(worker) < int(workers)):
        raise ValueError(f"--sweep_worker={_SWEEP_WORKER.value!r}: use 'i/N' with 0 <= i < N")
      if _MODE.value == "sweep":
        from seqattn import sweep
        if sweep.run(config_path, workdir, base=config, worker=int(worker),
                     workers=int(workers)) is not None:  # process 0 wrote the tables
          print((workdir / "results.md").read_text())
      else:
        from seqattn import backtest
        if backtest.run(config_path, workdir, base=config, worker=int(worker),
                        workers=int(workers)) is not None:  # process 0 wrote the tables
          print((workdir / "backtest.md").read_text())
  except (ValueError, FileNotFoundError, FloatingPointError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  except Interrupted as e:  # a run, or a sweep's or backtest's worker, stopped by a signal
    print(e, file=sys.stderr)
    sys.exit(128 + e.signum)  # the shell's convention for a process ended by a signal
  except PermissionError as e:  # predict and evaluate write beside the run's files
    print(f"error: cannot write {e.filename} ({e.strerror}): --mode {_MODE.value} writes its "
          f"results and plots in the workdir; make {workdir} writable, or copy it "
          f"(cp -r {workdir} <copy>) and pass the copy as --workdir.", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  from seqattn import allocator
  allocator.use_tcmalloc()  # first: the allocator is chosen at start-up (seqattn.allocator)
  app.run(main, flags_parser=_parse_flags)

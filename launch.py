"""Runs an experiment from a config file.

  python launch.py --config configs/dates.py --workdir runs/dates
  python launch.py --config configs/dates.py --workdir runs/dates --config.model.decoder_units=128
  python launch.py --workdir runs/dates --mode predict "3 may 1979" "tuesday june 5 2018"
  python launch.py --config configs/dates.py --workdir runs/dates --mode evaluate \
      --config.decode.method=beam --config.decode.beam_size=4
  python launch.py --config configs/ablation_scores.py --workdir runs/abl --mode sweep

Training in a workdir that holds checkpoints resumes from the latest one; a workdir holding
another config's run is refused unless --force is given. SIGINT/SIGTERM save a checkpoint.
Every default lives in the config file; override any field with --config.<group>.<field>=value.
"""

from __future__ import annotations

import pathlib
import shlex
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for config, logs, checkpoints, plots.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "predict", "evaluate", "sweep"],
                          "train: train and evaluate. predict: decode the positional inputs. "
                          "evaluate: score the test split again (e.g. with another search). "
                          "sweep: train every point of the config's sweep(add) and aggregate.")
_FORCE = flags.DEFINE_bool("force", False,
                           "Go on from the latest checkpoint of a workdir holding another "
                           "config's run (that checkpoint must fit the new model).")
flags.mark_flag_as_required("workdir")


def _config_path(argv: list[str]) -> str | None:
  """The --config file argument as written (with its optional ':arg')."""
  path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
  if path is None and "--config" in argv[:-1]:
    path = argv[argv.index("--config") + 1]
  return path


def _config_override_error(argv: list[str]) -> str | None:
  """Names the first --config.<path> override that does not exist, with the valid keys."""
  from seqattn.config import load_file
  path = _config_path(argv)
  if path is None:
    return None
  config = load_file(path)
  for arg in argv:
    if not arg.startswith("--config."):
      continue
    keys = arg[len("--config."):].split("=", 1)[0].split(".")
    node, where = config, "config"
    for key in keys:
      if not hasattr(node, "keys") or key not in node:
        valid = ", ".join(sorted(node.keys())) if hasattr(node, "keys") else "(none: a value)"
        return f"unknown config key {where}.{key} in {arg}; valid keys under {where}: {valid}."
      node, where = node[key], f"{where}.{key}"
  return None


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    message = _config_override_error(argv) or str(e).strip("'\"")
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _train(workdir: pathlib.Path) -> None:
  from seqattn import config as config_lib, train
  config = config_lib.freeze(_CONFIG.value)
  try:
    results = train.train_and_evaluate(config, workdir, force=_FORCE.value)
  except train.Interrupted as e:
    print(e, file=sys.stderr)
    sys.exit(128 + e.signum)  # the shell's convention for a process ended by a signal
  if results["stopped_early"]:
    print(f"stopped early at step {results['step']}: the best {config.train.best_metric} was "
          f"{results['best_' + config.train.best_metric]:.4f} at step {results['best_step']}")
  print(f"test exact match {results['test_exact_match']:.4f}, "
        f"token accuracy {results['test_token_accuracy']:.4f} "
        f"on {int(results['test_examples'])} test examples, {results['seconds']:.1f} s; "
        f"saved in {workdir}")


def _load_trained(workdir: pathlib.Path, argv: list[str]):
  """The trained model in `workdir`, decoding as --config's `decode` group says (if given)."""
  from seqattn import config as config_lib, predict
  config_arg = f"--config {_config_path(argv) or 'configs/dates.py'}"
  train_command = f"python launch.py {config_arg} --workdir {shlex.quote(str(workdir))}"
  search = None if _CONFIG.value is None else config_lib.freeze(_CONFIG.value).decode
  return predict.load(workdir, train_command, search)


def _predict(workdir: pathlib.Path, texts: list[str], argv: list[str]) -> None:
  from seqattn import plots, predict
  if not texts:
    raise ValueError('give the inputs to predict after the flags, e.g. --mode predict "3 may 1979"')
  trained = _load_trained(workdir, argv)
  for p in predict.predict(trained, texts):
    if p.unknown_chars:
      print(f"warning: {p.source!r}: characters not in the vocabulary, read as <unk>: "
            f"{' '.join(repr(c) for c in p.unknown_chars)}", file=sys.stderr)
    png = workdir / f"attention_{predict.file_name(p.source)}.png"
    plots.attention_heatmap(p.best.alpha_TyxTx, p.source, p.best.tokens, png,
                            title=f"{p.source} -> {p.best.output}")
    print(f"{p.source} -> {p.best.output}    ({png})")
    if len(p.hypotheses) > 1:
      for rank, h in enumerate(p.hypotheses, 1):
        print(f"  {rank}. {h.output}  score {h.score:.4f}  log p {h.log_prob:.4f}")


def _evaluate(workdir: pathlib.Path, argv: list[str]) -> None:
  import json
  from seqattn import data, train
  trained = _load_trained(workdir, argv)
  task = data.load(trained.config.data, trained.config.seed)
  search = trained.config.decode
  results = train.evaluate(trained.model, trained.state.params, task.test,
                           trained.config.train.eval_batch_size, search).metrics
  name = "greedy" if search.method == "greedy" else f"beam{search.beam_size}"
  (workdir / f"results_{name}.json").write_text(json.dumps(results, indent=2))
  print(f"{name}: test exact match {results['exact_match']:.4f}, token accuracy "
        f"{results['token_accuracy']:.4f} on {int(results['examples'])} test examples")


def main(argv: list[str]) -> None:
  logging.set_verbosity(logging.WARNING)  # keep library INFO chatter (orbax, fonts) off the console
  workdir = pathlib.Path(_WORKDIR.value)
  try:
    if _MODE.value == "train":
      if len(argv) > 1:
        raise ValueError(f"unexpected arguments {argv[1:]}; did you mean --mode predict?")
      if _CONFIG.value is None:
        raise ValueError("give a config file: --config configs/dates.py")
      _train(workdir)
    elif _MODE.value == "predict":
      _predict(workdir, argv[1:], sys.argv)
    elif _MODE.value == "evaluate":
      _evaluate(workdir, sys.argv)
    else:
      from seqattn import sweep
      if _CONFIG.value is None:
        raise ValueError("give the sweep's config file: --config configs/ablation_scores.py")
      sweep.run(_config_path(sys.argv), workdir, base=_CONFIG.value)
      print((workdir / "results.md").read_text())
  except (ValueError, FileNotFoundError, FloatingPointError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)

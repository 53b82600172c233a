"""Prediction with a trained model from its workdir: inputs in, outputs and attention out.

Reads the workdir's config, codec and latest parameters; imports nothing from training.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import sys
from typing import Any, Sequence

import jax
import numpy as np

from seqattn import config as config_lib, tasks
from seqattn.files import checkpoint
from seqattn.inference import decode, evaluation
from seqattn.data.batching import Split, pad, round_up
from seqattn.models import architectures, ends
from seqattn.models import interface
from seqattn.models.interface import abstract_params


class NotTrainedError(FileNotFoundError):
  """The workdir holds no trained model."""


@dataclasses.dataclass(frozen=True)
class Trained:
  config: config_lib.Config
  task: tasks.Task
  codec: tasks.base.Codec
  model: interface.Model
  params: dict
  step: int
  workdir: pathlib.Path
  spread: float = 1.0  # σ's calibration on validation (evaluation.spread_factor)
  averaged: int = 1  # the parameters are the mean of this many latest checkpoints


@dataclasses.dataclass(frozen=True)
class Hypothesis:
  output: str
  tokens: list[str]  # one per row of alpha_TyxTx
  warnings: list[str]  # what the task finds wrong with the output
  score: float  # the search's ranking score (log P with the configured penalties)
  log_prob: float  # log P(output | source)
  alpha_TyxTx: np.ndarray  # attention over the real input steps, one row per output step


@dataclasses.dataclass(frozen=True)
class Prediction:
  source: tasks.Source  # the input as the model read it
  hypotheses: list[Hypothesis]  # best first; decode.n_best of them
  input_alpha_TxK: np.ndarray | None = None  # attention over the input features (DA-RNN's α)

  @property
  def best(self) -> Hypothesis:
    return self.hypotheses[0]


def load(workdir: str | pathlib.Path, train_command: str,
         search: config_lib.DecodeConfig | None = None,
         defaults: dict[str, Any] | None = None, average: int = 1) -> Trained:
  """The config, codec and parameters saved in `workdir` (those the run tested, else the latest;
  with `average` > 1, the mean of the latest `average` checkpoints' parameters); `search`
  replaces the saved config's decoding settings; `defaults` (a config's dict) fills the shared
  settings a config.json from an older version lacks."""
  workdir = pathlib.Path(workdir)
  config_path = workdir / "config.json"
  step = checkpoint.latest_step(workdir) if config_path.exists() else None
  if step is None:
    raise NotTrainedError(f"no trained model in {workdir}; train one first:\n  {train_command}")
  values = json.loads(config_path.read_text())
  if defaults is not None:
    values, filled = config_lib.fill_missing(values, defaults)
    if filled:
      print(f"note: {config_path} predates {', '.join(filled)}: read from --config",
            file=sys.stderr)
  try:
    config = config_lib.freeze(values, saved=True)
  except config_lib.ConfigError as e:
    if defaults is not None or " lacks " not in str(e):
      raise
    raise config_lib.ConfigError(
        f"{config_path}: {e} It was written by an older version of seqattn: give --config "
        f"(the config file it was trained with) to fill the settings added since.") from e
  results = _results(workdir)
  step = tested_step(workdir, step, results)
  if search is not None:
    config = dataclasses.replace(config, decode=search)
  task = tasks.make(config.data)
  codec = task.restore(workdir)
  model = architectures.build(config.model, codec.source, codec.target, task.max_input_len,
                             task.max_target_len)
  if average > 1:  # the latest `average` checkpoints' mean
    steps = checkpoint.all_steps(workdir)[-average:]
    if len(steps) < average:
      raise ValueError(f"averaging {average} checkpoints needs {average}; {workdir} keeps "
                       f"{len(steps)} (steps {steps}): train with train.keep_checkpoints >= "
                       f"{average}, or average fewer.")
    params, step = checkpoint.average_params(workdir, steps, abstract_params(model)), steps[-1]
  else:
    params = checkpoint.restore_params(workdir, step, abstract_params(model))
  return Trained(config, task, codec, model, params, step, workdir,
                 results.get("interval_spread", 1.0), average)


def ensemble(members: list[Trained]) -> list[Trained]:
  """`members` checked to be one ensemble: real-valued forecasters trained under one config
  but for the seed, whose forecasts may be averaged; ValueError naming what differs."""
  first = members[0]
  if not isinstance(first.model.target, ends.Features):
    raise ValueError("an ensemble averages real-valued forecasts (data.task='series'); this "
                     "model emits tokens.")
  unseeded = lambda t: dict(t.config.to_dict(), seed=None, decode=None, mesh=None)
  for m in members[1:]:
    if unseeded(m) != unseeded(first):
      differ = [k for k in unseeded(first) if unseeded(first)[k] != unseeded(m)[k]]
      raise ValueError(f"the ensemble's models differ in {', '.join(differ)}, not only in "
                       f"their seed; train each member with the same config and its own seed.")
  return members


def _results(workdir: pathlib.Path) -> dict[str, Any]:
  """The finished run's results.json ({} while it runs)."""
  path = workdir / "results.json"
  return json.loads(path.read_text()) if path.exists() else {}


def tested_step(workdir: pathlib.Path, latest: int, results: dict[str, Any]) -> int:
  """The step whose parameters the finished run tested (the best one, with
  train.test_checkpoint='best'), while its checkpoint is there; else the latest step."""
  tested = results.get("tested_step")
  return tested if tested in checkpoint.all_steps(workdir) else latest


def batch_of(sources: list[tasks.Source], max_len: int) -> Split:
  """The sources padded to `max_len` steps (no targets)."""
  arrays = [s.array for s in sources]
  if arrays[0].ndim == 1:
    inputs = pad(arrays, max_len)
  else:
    inputs = np.zeros((len(arrays), max_len, arrays[0].shape[1]), np.float32)
    for i, a in enumerate(arrays):
      inputs[i, :len(a)] = a
  return Split(inputs, np.array([len(a) for a in arrays], np.int32), np.zeros((len(arrays), 0)))


# One compiled search per model, search and batch shape (predict may run it batch after batch).
_search = jax.jit(decode.search, static_argnums=(0, 4, 5))
# Made once, like _search: a jit of the bound model.apply would compile again at every batch.
_input_attention = jax.jit(interface.input_attention, static_argnums=0)


def read_all(trained: Trained, texts: list[str]) -> list[tasks.Source]:
  """Each text read as the task does; a ValueError names the first unreadable one's number."""
  sources = []
  for number, text in enumerate(texts, 1):
    try:
      sources.append(trained.task.read(trained.codec, text))
    except ValueError as e:
      raise ValueError(f"input {number}: {e}" if len(texts) > 1 else str(e)) from e
  return sources


def predict(trained: Trained, texts: list[str], batch_size: int | None = None,
            members: Sequence[Trained] = ()) -> list[Prediction]:
  """Reads every text (all errors come before any decoding), then decodes them with the
  config's search, `batch_size` at a time (None: all in one batch). Every batch has the same
  shape (the last is filled with copies), so the search compiles once. With `members` (more
  seeds of the config: `ensemble`), the forecasts and attention are their mean with
  `trained`'s."""
  sources = read_all(trained, texts)
  size = batch_size or len(sources)
  out = []
  for start in range(0, len(sources), size):
    chunk = sources[start:start + size]
    out += _decode([trained, *members], chunk, chunk + [chunk[0]] * (size - len(chunk)))
  return out


def _decode(ensemble: list[Trained], sources: list[tasks.Source],
            filled: list[tasks.Source]) -> list[Prediction]:
  trained = ensemble[0]
  tx, longest = trained.task.max_input_len, max(len(s.array) for s in filled)
  batch = batch_of(filled, tx if longest <= tx else round_up(longest))  # a text may be longer
  search = trained.config.decode
  width = decode.output_width(search, batch.inputs.shape[1], trained.task.max_target_len)
  found = [jax.device_get(_search(m.model, m.params, batch.inputs, batch.input_lengths, width,
                                  search)) for m in ensemble]
  if isinstance(found[0], decode.Forecast):  # one hypothesis, no score; an ensemble's mean
    found = decode.Forecast(*(np.mean(parts, 0) for parts in zip(*found)))
    found = decode.Beams(found.values_BxTxN[:, None], *(np.zeros((len(filled), 1)),) * 3,
                         found.alpha_BxTxS[:, None])
  else:
    found = found[0]
  input_alphas = [jax.device_get(_input_attention(m.model, m.params, batch.inputs,
                                                  batch.input_lengths)) for m in ensemble]
  input_alpha = None if input_alphas[0] is None else np.mean(input_alphas, 0)
  paths = None
  if trained.model.target.distributional:  # an ensemble's pooled
    paths = np.concatenate([jax.device_get(evaluation.sample_paths(
        m.model, m.params, batch.inputs, batch.input_lengths, trained.task.max_target_len,
        evaluation.paths_key(m.config.seed), search.samples, m.spread)) for m in ensemble], 1)
  out = []
  for i, source in enumerate(sources):
    hypotheses = []
    for k in range(min(search.n_best, found.tokens_BxKxT.shape[1])):
      output = trained.task.write(trained.codec, found.tokens_BxKxT[i, k], source)
      text = output.text
      if paths is not None:
        text += "   " + trained.task.intervals(trained.codec, paths[i], source)
      hypotheses.append(Hypothesis(
          text, output.labels, output.warnings, float(found.scores_BxK[i, k]),
          float(found.log_probs_BxK[i, k]),
          found.alpha_BxKxTxS[i, k][:len(output.labels), :len(source.labels)]))
    out.append(Prediction(source, hypotheses,
                          None if input_alpha is None else input_alpha[i, :len(source.labels)]))
  return out


def file_name(text: str) -> str:
  """A file-system-safe stem for `text` (letters of any script kept)."""
  return re.sub(r"[\W_]+", "_", text.lower()).strip("_")[:60] or "input"

"""The Python API: train a config, load a trained workdir, predict, look at the attention,
evaluate. launch.py is a command line over these calls; a notebook calls them directly:

  import seqattn
  config = seqattn.load_config("configs/test.py", **{"train.num_epochs": 2})
  results = seqattn.train(config, "runs/api")
  model = seqattn.load("runs/api")
  model.predict(["3 may 1979"])           # ['1979-05-03'] once trained enough
  a = model.attention("3 may 1979")[0]    # a.weights: α_tj [Ty, Tx]; a.source, a.output
  model.evaluate()                        # the test split's metrics again
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any, Sequence

import ml_collections
import numpy as np

from seqattn import config as config_lib
from seqattn.files import workdirs
from seqattn.inference import evaluation, predict as predict_lib

Inputs = str | Sequence[str]


def load_config(path: str | os.PathLike, **overrides: Any) -> ml_collections.ConfigDict:
  """The config of file `path` (optionally 'file.py:arg'), with dotted-name `overrides`
  ({"model.attention": "dot"}); a typo or a bad value raises ConfigError naming the valid ones."""
  return config_lib.override(config_lib.load_file(path), overrides)


def train(config: ml_collections.ConfigDict | config_lib.Config, workdir: str | os.PathLike,
          force: bool = False, progress: bool = True) -> dict[str, Any]:
  """Trains `config` in `workdir` (resuming its latest checkpoint) and tests it; returns the
  results (also in `<workdir>/results.json`). force: go on from a checkpoint of another
  config."""
  from seqattn.training import run  # only training imports the training code
  frozen = config if isinstance(config, config_lib.Config) else config_lib.freeze(config)
  return run.train_and_evaluate(frozen, workdir, progress=progress, force=force)


@dataclasses.dataclass(frozen=True)
class Attention:
  """Where each output step looked: α_tj over the input steps x_j."""

  source: list[str]  # the Tx input steps as the model read them
  output: list[str]  # the Ty output tokens
  weights: np.ndarray  # [Ty, Tx] α_tj; each row sums to 1
  input_weights: np.ndarray | None = None  # [Tx, K] the DA-RNN's attention over its features


class Model:
  """A trained run loaded from its workdir (with more seeds' workdirs as an ensemble)."""

  def __init__(self, trained: predict_lib.Trained, members: Sequence[predict_lib.Trained] = ()):
    self.trained, self.members = trained, list(members)

  @property
  def config(self) -> config_lib.Config:
    return self.trained.config

  def decode(self, inputs: Inputs, batch_size: int | None = None) -> list[predict_lib.Prediction]:
    """Everything the search found for each input: hypotheses (best first), scores,
    attention, warnings."""
    texts = [inputs] if isinstance(inputs, str) else list(inputs)
    if not texts:
      raise ValueError("no inputs to decode; give a string or a list of strings.")
    return predict_lib.predict(self.trained, texts,
                               batch_size or self.config.train.eval_batch_size, self.members)

  def predict(self, inputs: Inputs) -> list[str]:
    """The best output for each input (a forecast with its intervals, for a series)."""
    return [p.best.output for p in self.decode(inputs)]

  def attention(self, inputs: Inputs) -> list[Attention]:
    """The attention of the best output for each input."""
    return [Attention(p.source.labels, p.best.tokens, p.best.alpha_TyxTx, p.input_alpha_TxK)
            for p in self.decode(inputs)]

  def evaluate(self, path: str | os.PathLike | None = None) -> tuple[str, dict[str, Any]]:
    """Scores the test split (or the pairs in file `path`, in the run's data format) with the
    config's search; writes `results_<name>.json` in the workdir (and, for token outputs,
    test_<name>.hyp.txt, .nbest.tsv and .attention.npz: evaluation.write_hypotheses) and
    returns (name, metrics): name is the search (greedy, beam<k>), _ensemble<K> and the file's
    name when given."""
    trained, members = self.trained, [self.trained, *self.members]
    data = (trained.task.load_saved(trained.codec, trained.config.seed) if path is None
            else trained.task.test_data(trained.codec, str(path)))
    search = trained.config.decode
    finals = [evaluation.evaluate(m.model, m.params, data.test, m.config.train.eval_batch_size,
                                  search, m.task, data,
                                  sample_key=evaluation.paths_key(m.config.seed), spread=m.spread,
                                  by_length=m.config.train.eval_buckets)
              for m in members]
    final = finals[0] if len(finals) == 1 else evaluation.ensemble(finals, data.test,
                                                                   trained.task, data)
    name = "greedy" if search.method == "greedy" else f"beam{search.beam_size}"
    if len(members) > 1:
      name += f"_ensemble{len(members)}"
    if trained.averaged > 1:
      name += f"_avg{trained.averaged}"
    if path is not None:
      name += "_" + pathlib.Path(path).name
    report = evaluation.report(trained.model, trained.task, data, final)
    workdirs.write_text(trained.workdir / f"results_{name}.json",
                        json.dumps(dict(final.metrics, tested_step=trained.step, **report),
                                   indent=2, ensure_ascii=False))
    evaluation.write_hypotheses(trained.task, data, data.test, final, trained.workdir,
                                f"test_{name}")
    return name, final.metrics


def load(workdir: str | os.PathLike, config: ml_collections.ConfigDict | None = None,
         ensemble: Sequence[str | os.PathLike] = (), average: int = 1,
         train_command: str | None = None) -> Model:
  """The model trained in `workdir` (the parameters its run tested). `config`: decode as its
  `decode` group says, and fill settings an older workdir's config.json lacks. `ensemble`:
  more workdirs of the same config trained with other seeds, whose forecasts are averaged
  with `workdir`'s. `average`: decode with the mean of each workdir's latest `average`
  checkpoints (checkpoint averaging). `train_command`: what the error on an untrained workdir
  suggests."""
  command = train_command or f"seqattn.train(config, {str(workdir)!r})"
  search = None if config is None else config_lib.freeze(config).decode
  defaults = None if config is None else config.to_dict()
  trained, *members = [predict_lib.load(w, command, search, defaults, average)
                       for w in [workdir, *ensemble]]
  if members:
    predict_lib.ensemble([trained, *members])
  return Model(trained, members)

"""Prediction with a trained model from its workdir: inputs in, outputs and attention out."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re

import flax.linen as nn
import jax
import numpy as np

from seqattn import checkpoint, config as config_lib, decode, train
from seqattn import data
from seqattn.data.batching import check_length, pad
from seqattn.data.vocab import EOS, PAD_ID, Vocab


class NotTrainedError(FileNotFoundError):
  """The workdir holds no trained model."""


@dataclasses.dataclass(frozen=True)
class Trained:
  config: config_lib.Config
  model: nn.Module
  state: train.TrainState
  src_vocab: Vocab
  tgt_vocab: Vocab


@dataclasses.dataclass(frozen=True)
class Hypothesis:
  output: str
  tokens: list[str]  # one per row of alpha_TyxTx
  score: float  # the search's ranking score (log P with the configured penalties)
  log_prob: float  # log P(output | source)
  alpha_TyxTx: np.ndarray  # attention over the real input characters, one row per output step


@dataclasses.dataclass(frozen=True)
class Prediction:
  source: str  # the normalised input the model read
  hypotheses: list[Hypothesis]  # best first; decode.n_best of them
  unknown_chars: list[str]

  @property
  def best(self) -> Hypothesis:
    return self.hypotheses[0]


def load(workdir: str | pathlib.Path, train_command: str,
         search: config_lib.DecodeConfig | None = None) -> Trained:
  """The config, vocabularies and latest parameters saved in `workdir`; `search` replaces the
  saved config's decoding settings."""
  workdir = pathlib.Path(workdir)
  config_path = workdir / "config.json"
  if not config_path.exists() or not checkpoint.directory(workdir).is_dir():
    raise NotTrainedError(f"no trained model in {workdir}; train one first:\n  {train_command}")
  config = config_lib.freeze(json.loads(config_path.read_text()))
  if search is not None:
    config = dataclasses.replace(config, decode=search)
  src_vocab = Vocab.from_json((workdir / "src_vocab.json").read_text())
  tgt_vocab = Vocab.from_json((workdir / "tgt_vocab.json").read_text())
  model = train.build_model(config, len(src_vocab), len(tgt_vocab))
  step = checkpoint.latest_step(workdir)
  if step is None:
    raise NotTrainedError(f"no trained model in {workdir}; train one first:\n  {train_command}")
  abstract = train.abstract_state(model, config, total_steps=1)
  state = checkpoint.restore(workdir, step, dict(state=abstract))["state"]
  return Trained(config, model, state, src_vocab, tgt_vocab)


def predict(trained: Trained, texts: list[str]) -> list[Prediction]:
  """Reads each text (normalised as in training) and decodes it with the config's search."""
  max_len = trained.config.data.max_input_len
  sources = [data.normalise(trained.config.data.task, t) for t in texts]
  for text, source in zip(texts, sources):
    check_length(source, max_len, f"input {text!r} (normalised)" if source != text else "input")
  inputs = pad([trained.src_vocab.encode(s) for s in sources], max_len)
  lengths = np.array([len(s) for s in sources], np.int32)
  search = trained.config.decode
  beams = jax.device_get(jax.jit(decode.search, static_argnums=(0, 4, 5))(
      trained.model, trained.state.params, inputs, lengths, trained.config.data.max_target_len,
      search))
  out = []
  for i, source in enumerate(sources):
    hypotheses = []
    for k in range(min(search.n_best, beams.tokens_BxKxT.shape[1])):
      ids = beams.tokens_BxKxT[i, k]
      steps = np.flatnonzero(ids != PAD_ID)
      tokens = [trained.tgt_vocab.tokens[j] for j in ids[steps]]
      hypotheses.append(Hypothesis(
          "".join(t for t in tokens if t != EOS), tokens, float(beams.scores_BxK[i, k]),
          float(beams.log_probs_BxK[i, k]), beams.alpha_BxKxTxS[i, k][steps, :len(source)]))
    out.append(Prediction(source, hypotheses, trained.src_vocab.unknown_chars(source)))
  return out


def file_name(text: str) -> str:
  """A file-system-safe stem for `text`."""
  return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "input"

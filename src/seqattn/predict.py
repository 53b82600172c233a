"""Prediction with a trained model from its workdir: inputs in, outputs and attention out."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np

from seqattn import checkpoint, config as config_lib, train
from seqattn.data import dates
from seqattn.data.batching import check_length, pad
from seqattn.data.vocab import PAD_ID, Vocab


class NotTrainedError(FileNotFoundError):
  """The workdir holds no trained model."""


@dataclasses.dataclass(frozen=True)
class Trained:
  config: config_lib.Config
  state: train.TrainState
  src_vocab: Vocab
  tgt_vocab: Vocab


@dataclasses.dataclass(frozen=True)
class Prediction:
  source: str  # the normalised input the model read
  output: str
  output_tokens: list[str]  # one per row of alpha_TyxTx
  alpha_TyxTx: np.ndarray  # attention over the real input characters, one row per output step
  unknown_chars: list[str]


def load(workdir: str | pathlib.Path, train_command: str) -> Trained:
  """The config, vocabularies and latest parameters saved in `workdir`."""
  workdir = pathlib.Path(workdir)
  config_path = workdir / "config.json"
  if not config_path.exists() or not checkpoint.directory(workdir).is_dir():
    raise NotTrainedError(f"no trained model in {workdir}; train one first:\n  {train_command}")
  config = config_lib.freeze(json.loads(config_path.read_text()))
  src_vocab = Vocab.from_json((workdir / "src_vocab.json").read_text())
  tgt_vocab = Vocab.from_json((workdir / "tgt_vocab.json").read_text())
  model = train.build_model(config, len(src_vocab), len(tgt_vocab))
  step = checkpoint.latest_step(workdir)
  if step is None:
    raise NotTrainedError(f"no trained model in {workdir}; train one first:\n  {train_command}")
  abstract = train.abstract_state(model, config, total_steps=1)
  state = checkpoint.restore(workdir, step, dict(state=abstract))["state"]
  return Trained(config, state, src_vocab, tgt_vocab)


def predict(trained: Trained, texts: list[str]) -> list[Prediction]:
  """Reads each text (normalised as in training) and returns the model's output for it."""
  max_len = trained.config.data.max_input_len
  sources = [dates.normalise(t) for t in texts]
  for text, source in zip(texts, sources):
    check_length(source, max_len, f"input {text!r} (normalised)" if source != text else "input")
  inputs = pad([trained.src_vocab.encode(s) for s in sources], max_len)
  lengths = np.array([len(s) for s in sources], np.int32)
  logits, alpha = jax.jit(train.forward, static_argnums=1)(
      trained.state.params, trained.state.apply_fn,
      dict(inputs=inputs, input_lengths=lengths,
           targets=np.zeros((len(texts), trained.config.data.max_target_len), np.int32)))
  ids, alpha = np.asarray(jnp.argmax(logits, -1)), np.asarray(alpha)
  out = []
  for i, source in enumerate(sources):
    steps = np.flatnonzero(ids[i] != PAD_ID)
    tokens = [trained.tgt_vocab.tokens[j] for j in ids[i, steps]]
    out.append(Prediction(source, "".join(tokens), tokens, alpha[i, steps, :len(source)],
                          trained.src_vocab.unknown_chars(source)))
  return out


def file_name(text: str) -> str:
  """A file-system-safe stem for `text`."""
  return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "input"

"""Typed, validated view of an experiment config.

Config files (``configs/*.py``) return an ``ml_collections.ConfigDict``; it is the single place
where defaults live. ``freeze`` turns it into the frozen dataclasses below exactly once, and
every unknown key, missing key, wrong type or invalid value fails here, naming what is valid,
before any data is generated or anything is compiled.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import json
import os
import pathlib
import typing
from typing import Any, Literal, Mapping

import ml_collections


class ConfigError(ValueError):
  """A config that cannot be used; the message says what is valid."""


def _positive(x):
  return x > 0


def _non_negative(x):
  return x >= 0


def _probability(x):
  return 0.0 <= x < 1.0


def _check(predicate, description):
  return dict(check=predicate, description=description)


def _refuse(rules: list[tuple[bool, str]]) -> None:
  """Raises ConfigError with the message of the first broken rule (a (broken, message) pair)."""
  for broken, message in rules:
    if broken:
      raise ConfigError(message + ".")


def _iso_date(text: str, name: str) -> datetime.date:
  try:
    return datetime.date.fromisoformat(text)
  except ValueError:
    raise ConfigError(f"{name}={text!r} is not a date; use YYYY-MM-DD, e.g. '1950-01-01'.")


POSITIVE = _check(_positive, "a number > 0")
NON_NEGATIVE = _check(_non_negative, "a number >= 0")
PROBABILITY = _check(_probability, "a number in [0, 1)")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  task: Literal["dates", "copy", "reverse", "sort", "addition"]
  n_train: int = dataclasses.field(metadata=POSITIVE)
  n_val: int = dataclasses.field(metadata=POSITIVE)
  n_test: int = dataclasses.field(metadata=POSITIVE)
  max_input_len: int = dataclasses.field(metadata=POSITIVE)
  max_target_len: int = dataclasses.field(metadata=POSITIVE)
  date_start: str  # dates only
  date_end: str
  year_pattern: Literal["calendar", "week_based"]
  min_len: int = dataclasses.field(metadata=POSITIVE)  # generated tasks only
  max_len: int = dataclasses.field(metadata=POSITIVE)
  test_min_len: int = dataclasses.field(metadata=POSITIVE)
  test_max_len: int = dataclasses.field(metadata=POSITIVE)
  symbols: int = dataclasses.field(metadata=POSITIVE)

  def __post_init__(self):
    start = _iso_date(self.date_start, "data.date_start")
    end = _iso_date(self.date_end, "data.date_end")
    _refuse([
        (start >= end, "data.date_start must be before data.date_end"),
        (self.min_len > self.max_len or self.test_min_len > self.test_max_len,
         "data.min_len/test_min_len must not exceed data.max_len/test_max_len"),
        (self.symbols > 26, "data.symbols is at most 26 (lowercase letters)"),
    ])


Cell = Literal["lstm", "gru", "simple"]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  embed_dim: int = dataclasses.field(metadata=NON_NEGATIVE)
  encoder_cell: Cell
  encoder_units: int = dataclasses.field(metadata=POSITIVE)
  encoder_layers: int = dataclasses.field(metadata=POSITIVE)
  bidirectional: bool
  bridge: Literal["zeros", "copy", "linear", "bahdanau"]
  attention: str  # validated against the registry in models.attention
  attention_units: int = dataclasses.field(metadata=POSITIVE)
  attention_window: int = dataclasses.field(metadata=POSITIVE)
  coverage: bool
  placement: Literal["before_rnn", "after_rnn"]
  feed_previous_token: bool
  input_feeding: bool
  deep_output: bool
  decoder_cell: Cell
  decoder_units: int = dataclasses.field(metadata=POSITIVE)
  decoder_layers: int = dataclasses.field(metadata=POSITIVE)
  dropout: float = dataclasses.field(metadata=PROBABILITY)

  @property
  def encoder_output_size(self) -> int:
    return self.encoder_units * (2 if self.bidirectional else 1)

  def __post_init__(self):
    # Imported here: the registry lives with the models, this module stays import-light.
    from seqattn.models import attention
    size = self.encoder_output_size
    _refuse([
        (self.attention not in attention.REGISTRY,
         f"model.attention={self.attention!r} is not valid; "
         f"use one of {', '.join(attention.REGISTRY)}"),
        (self.coverage and self.attention not in attention.COVERAGE_SCORES,
         f"model.coverage needs an additive score ({', '.join(attention.COVERAGE_SCORES)})"),
        (self.attention in attention.DOT_SCORES and self.decoder_units != size,
         f"model.attention={self.attention!r} needs model.decoder_units == the encoder's "
         f"output size ({size}); or use 'general'"),
        (self.placement == "after_rnn" and not (self.feed_previous_token or self.input_feeding),
         "model.placement='after_rnn' needs an input for the RNN: set "
         "model.feed_previous_token or model.input_feeding"),
        (self.input_feeding and self.placement != "after_rnn",
         "model.input_feeding feeds h̃_{t-1} and needs model.placement='after_rnn'"),
        (self.deep_output and self.placement != "before_rnn",
         "model.deep_output is Bahdanau's readout and needs model.placement='before_rnn'"),
        (self.bridge == "copy" and (self.encoder_cell != self.decoder_cell
                                    or self.encoder_layers != self.decoder_layers
                                    or size != self.decoder_units),
         "model.bridge='copy' needs the same cell and number of layers in encoder and decoder "
         f"and model.decoder_units == the encoder's output size ({size}); or use 'linear'"),
    ])


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  batch_size: int = dataclasses.field(metadata=POSITIVE)
  num_epochs: int = dataclasses.field(metadata=POSITIVE)
  optimizer: Literal["adam", "adamw", "sgd"]
  learning_rate: float = dataclasses.field(metadata=POSITIVE)
  b1: float = dataclasses.field(metadata=PROBABILITY)
  b2: float = dataclasses.field(metadata=PROBABILITY)
  momentum: float = dataclasses.field(metadata=PROBABILITY)
  weight_decay: float = dataclasses.field(metadata=NON_NEGATIVE)
  schedule: Literal["constant", "cosine", "rsqrt", "exponential", "inverse_time"]
  warmup_steps: int = dataclasses.field(metadata=NON_NEGATIVE)
  decay_rate: float = dataclasses.field(metadata=NON_NEGATIVE)
  decay_steps: int = dataclasses.field(metadata=POSITIVE)
  grad_clip_norm: float = dataclasses.field(metadata=NON_NEGATIVE)
  label_smoothing: float = dataclasses.field(metadata=PROBABILITY)
  skip_nonfinite_updates: bool
  eval_every_steps: int = dataclasses.field(metadata=POSITIVE)
  eval_batch_size: int = dataclasses.field(metadata=POSITIVE)
  checkpoint_every_steps: int = dataclasses.field(metadata=POSITIVE)
  keep_checkpoints: int = dataclasses.field(metadata=POSITIVE)
  best_metric: Literal["val_loss", "val_token_accuracy", "val_exact_match"]
  early_stopping_patience: int = dataclasses.field(metadata=NON_NEGATIVE)
  scheduled_sampling: Literal["off", "linear", "exponential", "inverse_sigmoid"]
  sampling_k: float = dataclasses.field(metadata=POSITIVE)

  def __post_init__(self):
    _refuse([
        # Every periodic checkpoint then carries the validation metrics that rank it.
        (self.checkpoint_every_steps % self.eval_every_steps != 0,
         f"train.checkpoint_every_steps={self.checkpoint_every_steps} is not valid; use a "
         f"multiple of train.eval_every_steps={self.eval_every_steps}"),
        (self.weight_decay > 0 and self.optimizer == "adam",
         f"train.weight_decay={self.weight_decay!r} is not valid with train.optimizer='adam'; "
         f"use optimizer 'adamw' (decoupled decay) or 'sgd', or weight_decay=0"),
        (self.schedule == "rsqrt" and self.warmup_steps == 0,
         "train.schedule='rsqrt' decays as sqrt(warmup_steps / step); "
         "set train.warmup_steps > 0"),
        (self.schedule == "exponential" and not 0 < self.decay_rate <= 1,
         f"train.decay_rate={self.decay_rate!r} is not valid with "
         f"train.schedule='exponential'; use a number in (0, 1]"),
    ])

  @property
  def best_mode(self) -> Literal["min", "max"]:
    """Whether a smaller or a larger `best_metric` is better."""
    return "min" if self.best_metric.endswith("loss") else "max"


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
  method: Literal["greedy", "beam"]
  beam_size: int = dataclasses.field(metadata=POSITIVE)
  length_alpha: float = dataclasses.field(metadata=NON_NEGATIVE)
  coverage_beta: float = dataclasses.field(metadata=NON_NEGATIVE)
  n_best: int = dataclasses.field(metadata=POSITIVE)

  def __post_init__(self):
    _refuse([(self.method == "beam" and self.n_best > self.beam_size,
              "decode.n_best must be <= decode.beam_size")])


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int
  data: DataConfig
  model: ModelConfig
  train: TrainConfig
  decode: DecodeConfig

  def __post_init__(self):
    _refuse([(self.train.scheduled_sampling != "off" and not self.model.feed_previous_token,
              "train.scheduled_sampling replaces fed-back tokens and needs "
              "model.feed_previous_token")])

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _describe(tp) -> str:
  if typing.get_origin(tp) is Literal:
    return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
  return tp.__name__


def _coerce(value, tp, path: str):
  """Returns `value` as type `tp`, or raises ConfigError naming what `path` accepts."""
  if typing.get_origin(tp) is Literal:
    if value in typing.get_args(tp):
      return value
    raise ConfigError(f"{path}={value!r} is not valid; use {_describe(tp)}.")
  ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
  if tp is float and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  if not ok:
    raise ConfigError(f"{path}={value!r} has type {type(value).__name__}; expected {_describe(tp)}.")
  return value


def _freeze(cls, values: Mapping[str, Any], path: str):
  fields = {f.name: f for f in dataclasses.fields(cls)}
  hints = typing.get_type_hints(cls)
  unknown = sorted(set(values) - set(fields))
  if unknown:
    where = f" in {path}" if path else ""
    raise ConfigError(
        f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}{where}; "
        f"valid keys: {', '.join(sorted(fields))}.")
  missing = sorted(set(fields) - set(values))
  if missing:
    raise ConfigError(f"config{' ' + path if path else ''} lacks {', '.join(missing)}.")
  kwargs = {}
  for name, field in fields.items():
    sub_path = f"{path}.{name}" if path else name
    tp = hints[name]
    if dataclasses.is_dataclass(tp):
      sub = values[name]
      if not isinstance(sub, Mapping):
        raise ConfigError(f"{sub_path} must be a group of settings, got {sub!r}.")
      kwargs[name] = _freeze(tp, sub, sub_path)
      continue
    value = _coerce(values[name], tp, sub_path)
    check = field.metadata.get("check")
    if check is not None and not check(value):
      raise ConfigError(f"{sub_path}={value!r} is not valid; use {field.metadata['description']}.")
    kwargs[name] = value
  return cls(**kwargs)


def freeze(config: ml_collections.ConfigDict | Mapping[str, Any]) -> Config:
  """Validates a ConfigDict (or plain nested dict) and returns the typed, frozen Config."""
  values = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)
  return _freeze(Config, values, "")


def load_module(path: str | os.PathLike):
  """(the config file's module, its ':arg' suffix or None): `path` may end in ':arg'."""
  path, _, arg = str(path).partition(":")
  spec = importlib.util.spec_from_file_location(pathlib.Path(path).stem + "_config", path)
  if spec is None or not pathlib.Path(path).is_file():
    raise ConfigError(f"no config file at {path}; see configs/ for the shipped ones.")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module, arg or None


def load_file(path: str | os.PathLike) -> ml_collections.ConfigDict:
  """`get_config(arg)` of a config file; `path` may end in `:arg`, as with --config."""
  module, arg = load_module(path)
  return module.get_config(arg)

"""Typed, validated view of an experiment config.

Config files (``configs/*.py``) return an ``ml_collections.ConfigDict``; it is the single place
where defaults live. ``freeze`` turns it into the frozen dataclasses below exactly once, and
every unknown key, missing key, wrong type or invalid value fails here, naming what is valid,
before any data is generated or anything is compiled.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from typing import Any, Literal, Mapping

import ml_collections

from seqattn import tasks
from seqattn.config_files import load_file, load_module, override
from seqattn.models import architectures
from seqattn.models.seq2seq_config import ModelConfig
from seqattn.optimizers import OPTIMIZERS, SAMPLING, SCHEDULES
from seqattn.schema import (NON_NEGATIVE, POSITIVE, PROBABILITY, ConfigError, freeze_dataclass,
                            refuse, registered)

# Config files and callers read the file API from here too, beside the types.
__all__ = ["Config", "ConfigError", "DecodeConfig", "MeshConfig", "ModelConfig", "TrainConfig",
           "fill_missing", "freeze", "load_file", "load_module", "override"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  batch_size: int = dataclasses.field(metadata=POSITIVE)
  num_epochs: int = dataclasses.field(metadata=POSITIVE)
  optimizer: str = dataclasses.field(metadata=registered(OPTIMIZERS, "optimizers.OPTIMIZERS"))
  learning_rate: float = dataclasses.field(metadata=POSITIVE)
  b1: float = dataclasses.field(metadata=PROBABILITY)
  b2: float = dataclasses.field(metadata=PROBABILITY)
  momentum: float = dataclasses.field(metadata=PROBABILITY)
  weight_decay: float = dataclasses.field(metadata=NON_NEGATIVE)
  schedule: str = dataclasses.field(metadata=registered(SCHEDULES, "optimizers.SCHEDULES"))
  warmup_steps: int = dataclasses.field(metadata=NON_NEGATIVE)
  decay_rate: float = dataclasses.field(metadata=NON_NEGATIVE)
  decay_steps: int = dataclasses.field(metadata=POSITIVE)
  grad_clip_norm: float = dataclasses.field(metadata=NON_NEGATIVE)
  label_smoothing: float = dataclasses.field(metadata=PROBABILITY)
  skip_nonfinite_updates: bool
  eval_every_steps: int = dataclasses.field(metadata=POSITIVE)
  eval_batch_size: int = dataclasses.field(metadata=POSITIVE)
  # Evaluate in length buckets (data.batching.eval_buckets): sorted by source length, each batch
  # padded to its own longest source and decoded in the steps its sources allow; False: every
  # batch Tx wide (one compiled program). Either way every batch shrinks to the sentences still
  # decoding (decode.SHRINK).
  eval_buckets: bool = dataclasses.field(metadata=dict(before=False))
  checkpoint_every_steps: int = dataclasses.field(metadata=POSITIVE)
  keep_checkpoints: int = dataclasses.field(metadata=POSITIVE)
  best_metric: str  # 'val_' + a metric of the task (Task.METRICS); checked by Config
  early_stopping_patience: int = dataclasses.field(metadata=NON_NEGATIVE)
  scheduled_sampling: str = dataclasses.field(
      metadata=registered(SAMPLING, "optimizers.SAMPLING"))
  sampling_k: float = dataclasses.field(metadata=POSITIVE)
  sampling_floor: float = dataclasses.field(metadata=PROBABILITY)  # ε of the linear schedule
  buckets: int = dataclasses.field(metadata=POSITIVE)  # padded shapes (compiled steps); 1: one
  token_budget: int = dataclasses.field(metadata=NON_NEGATIVE)  # per batch; 0: batch_size rows
  time_budget_minutes: float = dataclasses.field(metadata=NON_NEGATIVE)  # 0: none
  test_checkpoint: Literal["last", "best"]  # which parameters the test split scores
  remat: bool  # recompute each time step's activations in the backward pass (cells.steps)

  def __post_init__(self):
    refuse([
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
        (self.token_budget > 0 and self.buckets == 1,
         "train.token_budget sizes the batches of each bucket; set train.buckets > 1"),
        (self.schedule == "exponential" and not 0 < self.decay_rate <= 1,
         f"train.decay_rate={self.decay_rate!r} is not valid with "
         f"train.schedule='exponential'; use a number in (0, 1]"),
        # Bengio et al. 2015: k^i decays only for k < 1; k / (k + exp(i/k)) starts near 1 only
        # for k >= 1 (at k = 1 it starts at 1/2).
        (self.scheduled_sampling == "exponential" and not self.sampling_k < 1,
         f"train.sampling_k={self.sampling_k!r} is not valid with "
         f"train.scheduled_sampling='exponential' (keep probability k^step); use 0 < k < 1, "
         f"e.g. 0.999"),
        (self.scheduled_sampling == "inverse_sigmoid" and self.sampling_k < 1,
         f"train.sampling_k={self.sampling_k!r} is not valid with "
         f"train.scheduled_sampling='inverse_sigmoid' (k / (k + exp(step/k))); use k >= 1, "
         f"e.g. 500"),
    ])


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
  method: Literal["greedy", "beam"]
  beam_size: int = dataclasses.field(metadata=POSITIVE)
  length_alpha: float = dataclasses.field(metadata=NON_NEGATIVE)
  coverage_beta: float = dataclasses.field(metadata=NON_NEGATIVE)
  n_best: int = dataclasses.field(metadata=POSITIVE)
  # A token search stops each sentence at ⌊a·|x| + b⌋ output steps (|x|: its source length),
  # so the bound follows the source; a = b = 0: at the task's Ty (data.max_target_len).
  max_len_a: float = dataclasses.field(metadata=dict(NON_NEGATIVE, before=0.0))
  max_len_b: int = dataclasses.field(metadata=dict(NON_NEGATIVE, before=0))
  # Paths drawn per window from a distributional forecast (data.loss='gaussian'), whose
  # quantiles are its prediction intervals (seqattn.inference.decode.sample_paths).
  samples: int = dataclasses.field(metadata=POSITIVE)

  def __post_init__(self):
    refuse([(self.method == "beam" and self.n_best > self.beam_size,
              "decode.n_best must be <= decode.beam_size")])


@dataclasses.dataclass(frozen=True)
class MeshConfig:
  """Where a run computes (seqattn.runtime.parallel); not what: runs differing here compute the
  same."""

  data: int  # devices along the batch axis; -1: every device of every process
  model: int = dataclasses.field(metadata=POSITIVE)  # devices splitting large kernels
  coordinator_address: str  # several processes: process 0's "host:port"; "": from environment
  num_processes: int = dataclasses.field(metadata=NON_NEGATIVE)  # 0: from the environment
  process_id: int  # -1: from the environment (JAX_PROCESS_ID)
  # Several processes agree whether to stop (a signal, the time budget) every this many steps:
  # each agreement waits for the devices, so not at every step (one process checks each step).
  stop_check_steps: int = dataclasses.field(metadata=POSITIVE)

  def __post_init__(self):
    refuse([(self.data == 0 or self.data < -1,
             f"mesh.data={self.data} is not valid; use -1 (every device) or a number > 0"),
            (self.num_processes > 0 and self.process_id >= self.num_processes,
             f"mesh.process_id={self.process_id} is not valid with mesh.num_processes="
             f"{self.num_processes}; use 0..{self.num_processes - 1} (or -1: JAX_PROCESS_ID)")])


@dataclasses.dataclass(frozen=True)
class Config:
  seed: int
  # The task's own dataclass (`Task.Config` of the task named by data.task), chosen at freeze.
  data: Any = dataclasses.field(metadata=dict(group=lambda values: _task_config(values)))
  # The architecture's dataclass (ModelConfig for the default seq2seq), chosen at freeze.
  model: Any = dataclasses.field(metadata=dict(group=lambda values: _model_config(values)))
  train: TrainConfig
  decode: DecodeConfig
  mesh: MeshConfig

  def __post_init__(self):
    metrics = tasks.REGISTRY[self.data.task].METRICS
    refuse([(self.train.scheduled_sampling != "off" and not self.model.feed_previous_token,
             "train.scheduled_sampling replaces fed-back tokens and needs "
             "model.feed_previous_token"),
            (self.train.best_metric.removeprefix("val_") not in metrics
             or not self.train.best_metric.startswith("val_"),
             f"train.best_metric={self.train.best_metric!r} is not valid for "
             f"data.task={self.data.task!r}; use one of "
             f"{', '.join(repr('val_' + m) for m in metrics)}")])

  @property
  def best_mode(self) -> Literal["min", "max"]:
    """Whether a smaller or a larger train.best_metric is better (the task says)."""
    return tasks.REGISTRY[self.data.task].METRICS[self.train.best_metric.removeprefix("val_")]

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _task_config(values: Mapping[str, Any]) -> type:
  """The data group's dataclass: the Config of the task its `task` key names."""
  task = values.get("task")
  if task not in tasks.REGISTRY:
    raise ConfigError(f"data.task={task!r} is not valid; use one of "
                      f"{', '.join(repr(n) for n in tasks.REGISTRY)} (seqattn.tasks.REGISTRY).")
  return tasks.REGISTRY[task].Config


def _model_config(values: Mapping[str, Any]) -> type:
  """The model group's dataclass: that of `architecture` (left out: seq2seq's ModelConfig)."""
  registry, default = architectures.REGISTRY, architectures.DEFAULT
  name = values.get("architecture", default)
  if name not in registry or (name == default and "architecture" in values):
    raise ConfigError(f"model.architecture={name!r} is not valid; use one of "
                      f"{', '.join(repr(n) for n in registry if n != 'seq2seq')}, or leave it "
                      f"out for the seq2seq model (seqattn.models.architectures).")
  return registry[name][0]


def freeze(config: ml_collections.ConfigDict | Mapping[str, Any], saved: bool = False) -> Config:
  """Validates a ConfigDict (or plain nested dict) and returns the typed, frozen Config.

  saved: `config` is a config.json an earlier run wrote (schema.freeze_dataclass).
  """
  values = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)
  return freeze_dataclass(Config, values, "", saved)


# The groups every run shares, whose keys do not depend on the task or architecture: those of
# a fixed dataclass (data and model are chosen by the task and the architecture).
SHARED_GROUPS = tuple(f.name for f in dataclasses.fields(Config)
                      if dataclasses.is_dataclass(typing.get_type_hints(Config)[f.name]))


def fill_missing(values: dict[str, Any], defaults: Mapping[str, Any]) -> tuple[dict, list[str]]:
  """`values` (a stored config.json) with the keys of the shared groups it lacks taken from
  `defaults`, and their dotted paths: a workdir written before a setting existed still loads.
  The data and model groups are never filled: they define the trained model."""
  values = copy.deepcopy(values)
  filled = []
  for group in SHARED_GROUPS:
    stored = values.setdefault(group, {})
    for key, value in defaults.get(group, {}).items():
      if key not in stored:
        stored[key] = copy.deepcopy(value)
        filled.append(f"{group}.{key}")
  return values, filled

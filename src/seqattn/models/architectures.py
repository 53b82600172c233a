"""Model architectures by config name: `model.architecture` picks the model and the dataclass
of the config's `model` group (left out: 'seq2seq', so the existing configs stay as they are).

Every architecture implements models.interface.Model, built from (its config, source end, target
end, Tx, Ty): `__call__` teacher-forced -> (outputs, α), `encode` and `step` for decoding
(seqattn.inference.decode), `input_attention`, `attention_params`.
"""

from __future__ import annotations

import flax.linen as nn

from seqattn.models import ends
from seqattn.models.darnn import DARNN, DARNNConfig
from seqattn.models.seq2seq import Seq2Seq
from seqattn.models.seq2seq_config import ModelConfig

DEFAULT = "seq2seq"
REGISTRY: dict[str, tuple[type, type[nn.Module]]] = {
    "seq2seq": (ModelConfig, Seq2Seq),
    "darnn": (DARNNConfig, DARNN),
}


def build(cfg, source: ends.Spec, target: ends.Spec, max_input_len: int,
          max_target_len: int, remat: bool = False) -> nn.Module:
  """The model of a frozen `model` config group between the task's two ends; `remat`
  (train.remat) recomputes each time step in the backward pass (cells.steps)."""
  module = next(m for c, m in REGISTRY.values() if isinstance(cfg, c))
  if module is DARNN and not (isinstance(source, ends.Features) and isinstance(
      target, ends.Features) and source.size >= target.features):
    raise ValueError("model.architecture='darnn' reads a real-valued series and its target "
                     "(data.task='series'); use the seq2seq model (leave model.architecture "
                     "out) for this task.")
  return module(cfg, source, target, max_input_len, max_target_len, remat)

"""The seq2seq model's config: the `model` group of a config file when `model.architecture` is
left out. Each value is checked against the registries of the models that use it.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from seqattn.models import attention, bridges, cells
from seqattn.schema import NON_NEGATIVE, POSITIVE, PROBABILITY, refuse, registered

CELL = registered(cells.CELLS, "models.cells.CELLS")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  embed_dim: int = dataclasses.field(metadata=NON_NEGATIVE)
  encoder_cell: str = dataclasses.field(metadata=CELL)
  encoder_units: int = dataclasses.field(metadata=POSITIVE)
  encoder_layers: int = dataclasses.field(metadata=POSITIVE)
  bidirectional: bool
  bridge: str = dataclasses.field(metadata=registered(bridges.BRIDGES, "models.bridges.BRIDGES"))
  attention: str = dataclasses.field(
      metadata=registered(attention.REGISTRY, "models.attention.REGISTRY"))
  attention_units: int = dataclasses.field(metadata=POSITIVE)
  attention_window: int = dataclasses.field(metadata=POSITIVE)
  energy_bias: float  # course_mlp: b_w's initial value (0: the course's, whose attention dies)
  coverage: bool
  placement: Literal["before_rnn", "after_rnn"]
  feed_previous_token: bool
  input_feeding: bool
  deep_output: bool
  decoder_cell: str = dataclasses.field(metadata=CELL)
  decoder_units: int = dataclasses.field(metadata=POSITIVE)
  decoder_layers: int = dataclasses.field(metadata=POSITIVE)
  dropout: float = dataclasses.field(metadata=PROBABILITY)
  # The readout's output matrix is the target embedding E (Press & Wolf 2017): logits =
  # E W_p o_t + b, W_p projecting the decoder's output o_t to the embedding size.
  tied_embeddings: bool = dataclasses.field(metadata=dict(before=False))

  @property
  def encoder_output_size(self) -> int:
    return self.encoder_units * (2 if self.bidirectional else 1)

  def __post_init__(self):
    size = self.encoder_output_size
    refuse([
        (self.coverage and self.attention not in attention.coverage_scores(),
         f"model.coverage needs an additive score ({', '.join(attention.coverage_scores())})"),
        (self.attention in attention.dot_scores() and self.decoder_units != size,
         f"model.attention={self.attention!r} needs model.decoder_units == the encoder's "
         f"output size ({size}); or use 'general'"),
        (self.placement == "after_rnn" and not (self.feed_previous_token or self.input_feeding),
         "model.placement='after_rnn' needs an input for the RNN: set "
         "model.feed_previous_token or model.input_feeding"),
        (self.input_feeding and self.placement != "after_rnn",
         "model.input_feeding feeds h̃_{t-1} and needs model.placement='after_rnn'"),
        (self.tied_embeddings and not (self.feed_previous_token and self.embed_dim),
         "model.tied_embeddings ties the readout to the embedding of y_{t-1}: set "
         "model.feed_previous_token=True and model.embed_dim > 0"),
        (self.deep_output and self.placement != "before_rnn",
         "model.deep_output is Bahdanau's readout and needs model.placement='before_rnn'"),
        (self.bridge == "copy" and (self.encoder_cell != self.decoder_cell
                                    or self.encoder_layers != self.decoder_layers
                                    or size != self.decoder_units),
         "model.bridge='copy' needs the same cell and number of layers in encoder and decoder "
         f"and model.decoder_units == the encoder's output size ({size}); or use 'linear'"),
    ])

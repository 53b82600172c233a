"""The encoder-decoder: encoder -> bridge -> attention decoder."""

from __future__ import annotations

import flax.linen as nn
import jax

from seqattn.models import ends
from seqattn.models.bridges import Bridge
from seqattn.models.decoders import Carry, Decoder, Memory, Sampling
from seqattn.models.encoders import Encoder, length_mask
from seqattn.models.seq2seq_config import ModelConfig


class Seq2Seq(nn.Module):
  cfg: ModelConfig
  source: ends.Spec  # the task's two ends (seqattn.models.ends)
  target: ends.Spec
  max_input_len: int
  max_target_len: int
  remat: bool = False  # train.remat: recompute each time step in the backward pass

  def setup(self):
    cfg = self.cfg
    self.encoder = Encoder(self.source, cfg.embed_dim, cfg.encoder_cell, cfg.encoder_units,
                           cfg.bidirectional, cfg.encoder_layers, cfg.dropout, self.remat)
    self.bridge = Bridge(cfg.bridge, cfg.decoder_cell, cfg.decoder_units, cfg.decoder_layers,
                         cfg.bidirectional)
    self.decoder = Decoder(cfg, self.target, self.max_input_len, self.remat)

  def encode(self, inputs_BxTx: jax.Array, lengths_B: jax.Array,
             deterministic: bool = True) -> tuple[Carry, Memory]:
    """The decoder's initial state and the memory every output step reads."""
    h_BxTxH, finals = self.encoder(inputs_BxTx, lengths_B, deterministic)
    memory = self.decoder.memory(h_BxTxH, lengths_B, length_mask(lengths_B, inputs_BxTx.shape[1]))
    rnn = self.bridge(finals, inputs_BxTx.shape[0])
    return self.decoder.initial_carry(rnn, memory), memory

  @staticmethod
  def attention_params(params) -> dict:
    """The attention score's part of a parameter tree (or of its gradient)."""
    return params["decoder"].get("score", {})

  def input_attention(self, inputs_BxTx: jax.Array, lengths_B: jax.Array) -> None:
    """None: the seq2seq model weighs no input features (interface.Model)."""
    return None

  def step(self, carry: Carry, y_prev_B: jax.Array, memory: Memory):
    """One output step (for decoding): (carry, (outputs_BxV, α_BxTx))."""
    return self.decoder.step(carry, y_prev_B, memory)

  def __call__(self, inputs_BxTx: jax.Array, lengths_B: jax.Array,
               decoder_inputs_BxTy: jax.Array, deterministic: bool = True,
               sampling: Sampling | None = None):
    """Teacher-forced (outputs_BxTyxV, α_BxTyxTx).

    decoder_inputs_BxTy: y_0, y_1, ..., y_{Ty-1} (ends.shift_right of the targets); read by
      decoders fed the previous token.
    deterministic: False turns dropout on (needs a 'dropout' rng).
    sampling: scheduled sampling of the decoder inputs (training only).
    """
    carry, memory = self.encode(inputs_BxTx, lengths_B, deterministic)
    return self.decoder(carry, decoder_inputs_BxTy, memory, deterministic, sampling)

"""The encoder-decoder: wires an encoder and an attention decoder."""

from __future__ import annotations

import flax.linen as nn
import jax

from seqattn.config import ModelConfig
from seqattn.models.decoders import AttentionDecoder
from seqattn.models.encoders import Encoder, length_mask


class Seq2Seq(nn.Module):
  cfg: ModelConfig
  src_vocab_size: int
  tgt_vocab_size: int
  max_target_len: int

  def setup(self):
    cfg = self.cfg
    self.encoder = Encoder(self.src_vocab_size, cfg.embed_dim, cfg.encoder_cell,
                           cfg.encoder_units, cfg.bidirectional)
    self.decoder = AttentionDecoder(self.tgt_vocab_size, cfg.decoder_cell, cfg.decoder_units,
                                    cfg.attention, cfg.attention_units)

  def __call__(self, inputs_BxTx: jax.Array, lengths_B: jax.Array,
               decoder_inputs_BxTy: jax.Array, deterministic: bool = True):
    """Teacher-forced (logits_BxTyxV, α_BxTyxTx).

    decoder_inputs_BxTy: y_0 = <bos>, y_1, ..., y_{Ty-1}; read by decoders fed the previous token.
    deterministic: False turns dropout on (needs a 'dropout' rng).
    """
    h_BxTxH, _ = self.encoder(inputs_BxTx, lengths_B)
    mask_BxTx = length_mask(lengths_B, inputs_BxTx.shape[1])
    return self.decoder(h_BxTxH, mask_BxTx, self.max_target_len)

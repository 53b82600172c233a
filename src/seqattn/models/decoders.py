"""Attention decoders: one named step function, scanned over the output steps."""

from __future__ import annotations

import flax.linen as nn
import jax

from seqattn.models import attention, cells


class AttentionDecoder(nn.Module):
  """Attention before the RNN, fed with the context only (the course's post-attention LSTM).

  At output step t:  e_tj = score(s_{t-1}, h_j),  α_t = softmax(e_t),  c_t = Σ_j α_tj h_j,
  s_t = RNN(s_{t-1}, c_t),  p(y_t) = softmax(W_o s_t + b_o).
  """

  vocab_size: int
  cell: str
  units: int
  attention: str
  attention_units: int

  def setup(self):
    self.score = attention.make(self.attention, self.attention_units)
    self.rnn = cells.make(self.cell, self.units)
    self.readout = nn.Dense(self.vocab_size)

  def step(self, carry, memory):
    """One output step.

    carry: the cell's state holding s_{t-1}.
    memory: (h_BxTxH, projected keys, mask_BxT), fixed over t.
    Returns (carry_t, (logits_BxV, α_BxT)).
    """
    h_BxTxH, projected, mask_BxT = memory
    e_BxT = self.score(cells.hidden(carry), projected)
    c_BxH, alpha_BxT = attention.attend(e_BxT, mask_BxT, h_BxTxH)
    carry, s_BxS = self.rnn(carry, c_BxH)
    return carry, (self.readout(s_BxS), alpha_BxT)

  def __call__(self, h_BxTxH: jax.Array, mask_BxT: jax.Array, num_steps: int):
    """Returns (logits_BxTyxV, α_BxTyxTx) for `num_steps` output steps."""
    memory = (h_BxTxH, self.score.project_keys(h_BxTxH), mask_BxT)
    carry = self.initial_carry(h_BxTxH.shape[0])
    scan = nn.scan(lambda module, carry, memory: module.step(carry, memory),
                   variable_broadcast="params", split_rngs={"params": False},
                   in_axes=nn.broadcast, length=num_steps)
    _, (logits_TyxBxV, alpha_TyxBxTx) = scan(self, carry, memory)
    return logits_TyxBxV.swapaxes(0, 1), alpha_TyxBxTx.swapaxes(0, 1)

  def initial_carry(self, batch: int):
    """s_0 = 0 (and c_0 = 0 for an LSTM), as in the course."""
    return cells.zeros_carry(self.cell, batch, self.units)

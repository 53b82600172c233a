"""The attention decoder: one named step function, scanned over the output steps.

Two placements of attention (Bahdanau et al. 2015 vs Luong et al. 2015), crossed with every
score in `attention.REGISTRY`:

  before_rnn  e_tj = score(s_{t-1}, h_j);  c_t = Σ_j α_tj h_j;  s_t = RNN(s_{t-1}, [E y_{t-1}; c_t])
              p(y_t) = softmax(W_o s_t)  (the course, which feeds c_t alone), or with a deep
              output, softmax(W_o maxout(U_o s_{t-1} + V_o E y_{t-1} + C_o c_t))  (Bahdanau)
  after_rnn   h_t = RNN(h_{t-1}, [E y_{t-1}; h̃_{t-1}]) (h̃_{t-1} only with input feeding);
              e_tj = score(h_t, h_j);  c_t = Σ_j α_tj h_j;  h̃_t = tanh(W_c [c_t; h_t]);
              p(y_t) = softmax(W_s h̃_t)
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqattn.models import attention, cells, ends, scores
from seqattn.models.seq2seq_config import ModelConfig

MAXOUT_POOL = 2  # Bahdanau et al. 2015, App. A: maxout units of two pieces


class Memory(NamedTuple):
  """What every output step reads, fixed over t."""

  values_BxTxH: jax.Array  # h_j
  projected: jax.Array  # the score's projection of the keys, computed once
  mask_BxT: jax.Array  # True at real source positions
  lengths_B: jax.Array


class Carry(NamedTuple):
  """The decoder's state between output steps."""

  rnn: tuple  # one cell carry per layer; the top layer's hidden state is s_t (or h_t)
  attentional_BxD: jax.Array  # h̃_{t-1}, fed back with input feeding; [B, 0] when unused
  coverage_BxT: jax.Array  # Σ_{t'<t} α_t'j
  t: jax.Array  # [] the index of the next output step


class Sampling(NamedTuple):
  """Scheduled sampling at one training step."""

  probability: jax.Array  # [] of feeding the model's own sample instead of the gold token
  key: jax.Array  # drives the coins and the samples; folded with t at each output step


def scheduled_input(target: ends.Spec, sampling: Sampling, t: jax.Array, y_gold_B: jax.Array,
                    outputs_prev_BxV: jax.Array, first: jax.Array) -> jax.Array:
  """y_{t-1} under scheduled sampling: with probability `sampling.probability` a draw from the
  model's own previous output instead of the gold value; never at the `first` step (there is
  no previous output). The coin and the draw come from `sampling.key` folded with t."""
  coin_key, sample_key = jax.random.split(jax.random.fold_in(sampling.key, t))
  sampled_B = target.sample(sample_key, outputs_prev_BxV)
  use_B = jax.random.bernoulli(coin_key, sampling.probability, y_gold_B.shape[:1])
  use_B = use_B.reshape(use_B.shape + (1,) * (y_gold_B.ndim - 1))
  return jnp.where(use_B & ~first, sampled_B, y_gold_B)


class Decoder(nn.Module):
  cfg: ModelConfig
  target: ends.Spec  # what it emits: logits over a vocabulary, or real values
  max_input_len: int
  remat: bool = False  # recompute each output step in the backward pass (cells.steps)

  def setup(self):
    cfg = self.cfg
    self.score = attention.make(
        cfg.attention, units=cfg.attention_units, query_size=cfg.decoder_units,
        max_len=self.max_input_len, window=cfg.attention_window, coverage=cfg.coverage,
        bidirectional=cfg.bidirectional, energy_bias=cfg.energy_bias)
    self.cells = [cells.Weights(cfg.decoder_cell, cfg.decoder_units)
                  for _ in range(cfg.decoder_layers)]
    self.dropout = nn.Dropout(cfg.dropout)
    if cfg.placement == "after_rnn":
      self.W_c = nn.Dense(cfg.decoder_units, use_bias=False)
    if cfg.deep_output:
      self.maxout = nn.Dense(cfg.decoder_units * MAXOUT_POOL)
    if cfg.feed_previous_token:
      self.embed = self.target.embedder(cfg.embed_dim)
    if cfg.tied_embeddings:
      if not isinstance(self.target, ends.Tokens):
        raise ValueError("model.tied_embeddings needs token outputs (a vocabulary to embed); "
                         "a real-valued target has none.")
      self.project = nn.Dense(cfg.embed_dim, use_bias=False)  # W_p
      self.readout_bias = self.param("readout_bias", nn.initializers.zeros, (self.target.size,))
    else:
      self.readout = nn.Dense(self.target.size)

  def memory(self, h_BxTxH: jax.Array, lengths_B: jax.Array, mask_BxT: jax.Array) -> Memory:
    values = getattr(self.score, "values", lambda h, lengths: h)(h_BxTxH, lengths_B)
    return Memory(values, self.score.project_keys(h_BxTxH), mask_BxT, lengths_B)

  def initial_carry(self, rnn: tuple, memory: Memory) -> Carry:
    batch, max_len = memory.mask_BxT.shape
    width = self.cfg.decoder_units if self.cfg.input_feeding else 0
    return Carry(rnn, jnp.zeros((batch, width)), jnp.zeros((batch, max_len)),
                 jnp.zeros((), jnp.int32))

  def cell_weights(self, memory: Memory) -> tuple[cells.Fused, ...]:
    """Each layer's fused cell weights. Gathered once before the loop over t, they make its
    backward pass accumulate one gradient per weight matrix instead of one per gate."""
    cfg = self.cfg  # the first layer reads what `step` concatenates
    first_input = (cfg.embed_dim or self.target.size) if cfg.feed_previous_token else 0
    if cfg.placement == "before_rnn":
      first_input += memory.values_BxTxH.shape[-1]  # c_t
    elif cfg.input_feeding:
      first_input += cfg.decoder_units  # h̃_{t-1}
    return tuple(cell(first_input if layer == 0 else cfg.decoder_units)
                 for layer, cell in enumerate(self.cells))

  def _rnn(self, carries: tuple, x_BxI: jax.Array, deterministic: bool,
           weights: tuple[cells.Fused, ...] | None):
    """The stacked cells, dropout between layers; returns (new carries, top output)."""
    new = []
    for layer, carry in enumerate(carries):
      if layer > 0:
        x_BxI = self.dropout(x_BxI, deterministic=deterministic)
      w = self.cells[layer](x_BxI.shape[-1]) if weights is None else weights[layer]
      carry, x_BxI = cells.CELLS[self.cfg.decoder_cell].step(w, carry, x_BxI)
      new.append(carry)
    return tuple(new), x_BxI

  def _attend(self, query_BxQ: jax.Array, memory: Memory, carry: Carry):
    step = scores.Step(carry.t, memory.lengths_B, carry.coverage_BxT)
    e_BxT = self.score(query_BxQ, memory.projected, step)
    return attention.attend(e_BxT, memory.mask_BxT, memory.values_BxTxH)

  def step(self, carry: Carry, y_prev_B: jax.Array, memory: Memory, deterministic: bool = True,
           weights: tuple[cells.Fused, ...] | None = None
           ) -> tuple[Carry, tuple[jax.Array, jax.Array]]:
    """Output step t: y_{t-1} and the state after step t-1 -> (state, (outputs_BxV, α_BxT));
    the outputs are logits over V symbols, or V real values (`target`). weights: the cells'
    (`cell_weights`), when gathered before a loop; read from the parameters otherwise."""
    cfg = self.cfg
    inputs = [self.target.read(self.embed, y_prev_B)] if cfg.feed_previous_token else []
    if cfg.placement == "before_rnn":
      s_prev_BxS = cells.hidden(carry.rnn[-1])
      c_BxH, alpha_BxT = self._attend(s_prev_BxS, memory, carry)
      rnn, s_BxS = self._rnn(carry.rnn, jnp.concatenate(inputs + [c_BxH], -1), deterministic,
                             weights)
      if cfg.deep_output:
        pre_BxSP = self.maxout(jnp.concatenate([s_prev_BxS, c_BxH] + inputs, -1))
        out_BxS = pre_BxSP.reshape(*pre_BxSP.shape[:-1], -1, MAXOUT_POOL).max(-1)
      else:
        out_BxS = s_BxS
      attentional_BxD = carry.attentional_BxD
    else:
      if cfg.input_feeding:
        inputs.append(carry.attentional_BxD)
      rnn, h_BxS = self._rnn(carry.rnn, jnp.concatenate(inputs, -1), deterministic, weights)
      c_BxH, alpha_BxT = self._attend(h_BxS, memory, carry)
      out_BxS = jnp.tanh(self.W_c(jnp.concatenate([c_BxH, h_BxS], -1)))  # h̃_t
      attentional_BxD = out_BxS if cfg.input_feeding else carry.attentional_BxD
    logits_BxV = self.logits(self.dropout(out_BxS, deterministic=deterministic))
    new = Carry(rnn, attentional_BxD, carry.coverage_BxT + alpha_BxT, carry.t + 1)
    return new, (logits_BxV, alpha_BxT)

  def logits(self, out_BxD: jax.Array) -> jax.Array:
    """[B, V]: W_o o_t + b, or E W_p o_t + b with tied embeddings (E: [V, embed_dim])."""
    if self.cfg.tied_embeddings:
      return self.embed.attend(self.project(out_BxD)) + self.readout_bias[None, :]
    return self.readout(out_BxD)

  def __call__(self, carry: Carry, decoder_inputs_BxTy: jax.Array, memory: Memory,
               deterministic: bool = True, sampling: Sampling | None = None):
    """Teacher forcing over Ty steps; returns (outputs_BxTyxV, α_BxTyxTx).

    With `sampling` (scheduled sampling, Bengio et al. 2015), each y_{t-1} (t > 1) is replaced,
    with probability `sampling.probability`, by a sample from the model's own p(y_{t-1}).
    """
    def body(module, state, y_gold_B, memory, weights):
      carry, logits_prev_BxV = state
      y_prev_B = y_gold_B
      if sampling is not None:
        y_prev_B = scheduled_input(self.target, sampling, carry.t, y_gold_B, logits_prev_BxV,
                                   carry.t == 0)
      carry, (logits_BxV, alpha_BxT) = module.step(carry, y_prev_B, memory, deterministic,
                                                   weights)
      return (carry, logits_BxV), (logits_BxV, alpha_BxT)

    scan = cells.steps(body, self.remat, split_rngs={"params": False, "dropout": True},
                       in_axes=(0, nn.broadcast, nn.broadcast))
    batch = decoder_inputs_BxTy.shape[0]
    start = (carry, jnp.zeros((batch, self.target.size)))
    _, (logits_TyxBxV, alpha_TyxBxTx) = scan(self, start, decoder_inputs_BxTy.swapaxes(0, 1),
                                             memory, self.cell_weights(memory))
    return logits_TyxBxV.swapaxes(0, 1), alpha_TyxBxTx.swapaxes(0, 1)

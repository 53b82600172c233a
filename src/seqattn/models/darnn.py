"""The dual-stage attention RNN (DA-RNN, Qin et al. 2017) and its ablations.

Notation of the paper: n driving series x^k = (x^k_1..x^k_T), the target y; encoder states
h_t (hidden) and s_t (cell) of size m; decoder states d_t (hidden) and s'_t (cell) of size p.

  input attention  e^k_t = v_eᵀ tanh(W_e [h_{t-1}; s_{t-1}] + U_e x^k),  α^k_t = softmax_k(e^k_t)
                   x̃_t = (α^1_t x^1_t, ..., α^n_t x^n_t);  h_t = LSTM(h_{t-1}, x̃_t)
  temporal attn.   l^i_t = score([d_{t-1}; s'_{t-1}], h_i) (the paper's: v_dᵀ tanh(W_d [d; s'] +
                   U_d h_i), any score of attention.REGISTRY),  β^i_t = softmax_i(l^i_t),
                   c_t = Σ_i β^i_t h_i
  decoder          ỹ_{t-1} = w̃ᵀ [y_{t-1}; c_{t-1}] + b̃;  d_t = LSTM(d_{t-1}, ỹ_{t-1})
  output           ŷ_t = v_yᵀ (W_y [d_t; c_t] + b_w) + b_v
  highway (option) ŷ_{T+h} += a_hᵀ z + b_h, z = (y_0..y_{T-1}) or vec(x_1..x_T, y_0..y_{T-1})
                   (Lai et al. 2018)

The decoder starts with d_1 = s'_1 = 0, c_1 = 0 (the paper leaves step 1 open), reads
y_1..y_{T-1} and emits ŷ_T; for H > 1 it goes on, reading y_T, y_{T+1}, ... (the truth in
training, its own forecasts when forecasting). Ablations (the paper's baselines): no input
attention (x̃_t = x_t), no temporal attention (attention='none': c_t = h_T), neither (the plain
encoder–decoder). A univariate series (no driving series) has no input attention: the encoder
reads the target's own history y_1..y_T, and the temporal attention runs over it.

The source is the series task's layout: step t holds x^1_t..x^n_t, then y_{t-1}.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqattn.models import attention, cells, ends, scores
from seqattn.models.decoders import Sampling, scheduled_input
from seqattn.schema import POSITIVE, refuse, registered


@dataclasses.dataclass(frozen=True)
class DARNNConfig:
  architecture: str  # 'darnn'
  encoder_units: int = dataclasses.field(metadata=POSITIVE)  # m
  decoder_units: int = dataclasses.field(metadata=POSITIVE)  # p
  input_attention: bool  # False: x̃_t = x_t
  # The temporal score over h_1..h_T ('additive' is the paper's); 'none': c_t = h_T.
  attention: str = dataclasses.field(
      metadata=registered(attention.REGISTRY, "models.attention.REGISTRY"))
  attention_units: int = dataclasses.field(metadata=POSITIVE)
  attention_window: int = dataclasses.field(metadata=POSITIVE)  # D of local_m / local_p
  energy_bias: float  # course_mlp: b_w's initial value (scores.CourseMLP)
  # The linear highway of LSTNet (Lai et al. 2018), trained jointly: ŷ_{T+h} = the network's
  # + a_hᵀ z + b_h, a direct linear autoregression on z, the target's own history in the window
  # ('target', LSTNet's) or every input of the window ('window'); 'none': the network alone.
  highway: Literal["none", "target", "window"]

  feed_previous_token = True  # the decoder always reads y_{t-1} (scheduled sampling applies)

  def __post_init__(self):
    refuse([(self.attention in attention.dot_scores()
             and 2 * self.decoder_units != self.encoder_units,
             f"model.attention={self.attention!r} compares [d; s'] with h_i: it needs "
             f"model.encoder_units == 2 * model.decoder_units; or use 'general'")])


class Memory(NamedTuple):
  """What every decoder step reads, fixed over t."""

  values_BxTxM: jax.Array  # h_1..h_T
  projected: jax.Array  # the temporal score's projection of the h_i, computed once
  mask_BxT: jax.Array
  lengths_B: jax.Array
  y_last_BxY: jax.Array  # y_{T-1}: what the first forecast step reads
  highway_BxHxY: jax.Array | None  # the highway's term of each forecast step (None: no highway)


class Carry(NamedTuple):
  lstm: tuple  # (s'_{t-1}, d_{t-1}): Flax's LSTM carry is (cell, hidden)
  c_prev_BxM: jax.Array  # c_{t-1}
  t: jax.Array  # [] the 0-based index t-1 of the step to compute (its encoder position)


class InputAttention(nn.Module):
  """α^k_t over the n driving series; the hidden size is T, as in the paper."""

  window: int

  def setup(self):
    self.W_e = nn.Dense(self.window, use_bias=False)
    self.U_e = nn.Dense(self.window)
    self.v_e = nn.Dense(1, use_bias=False)

  def project(self, x_BxTxN: jax.Array) -> jax.Array:
    """U_e x^k for every series k, once per window: [B, N, T]."""
    return self.U_e(x_BxTxN.swapaxes(1, 2))

  def __call__(self, hs_Bx2M: jax.Array, projected_BxNxT: jax.Array) -> jax.Array:
    """α_t [B, N] from [h_{t-1}; s_{t-1}]."""
    e_BxN = self.v_e(jnp.tanh(self.W_e(hs_Bx2M)[:, None, :] + projected_BxNxT))[..., 0]
    return jax.nn.softmax(e_BxN, -1)


class DARNN(nn.Module):
  cfg: DARNNConfig
  source: ends.Features  # n driving series + the target's previous value a step
  target: ends.Features
  max_input_len: int  # T
  max_target_len: int  # H
  remat: bool = False  # train.remat: recompute each time step in the backward pass

  def setup(self):
    cfg = self.cfg
    if self.weighs_inputs:
      self.input_attn = InputAttention(self.max_input_len)
    self.encoder_cell = cells.make("lstm", cfg.encoder_units)
    self.score = attention.make(cfg.attention, units=cfg.attention_units,
                                query_size=2 * cfg.decoder_units, max_len=self.max_input_len,
                                window=cfg.attention_window, coverage=False,
                                energy_bias=cfg.energy_bias)
    self.w_tilde = nn.Dense(1)  # ỹ_{t-1} = w̃ᵀ[y_{t-1}; c_{t-1}] + b̃
    self.decoder_cell = cells.make("lstm", cfg.decoder_units)
    self.W_y = nn.Dense(cfg.decoder_units)  # W_y [d_t; c_t] + b_w
    self.v_y = nn.Dense(self.target.size)  # v_yᵀ(...) + b_v (with σ's, for a distribution)
    if cfg.highway != "none":  # zeros: the forecast starts as the network's
      self.ar = nn.Dense(self.max_target_len * self.target.features,
                         kernel_init=nn.initializers.zeros)

  @property
  def n_driving(self) -> int:
    return self.source.size - self.target.features

  @property
  def weighs_inputs(self) -> bool:
    """Whether α^k_t weighs driving series (there are none in a univariate series)."""
    return self.cfg.input_attention and self.n_driving > 0

  def encoder_inputs(self, inputs_BxTxK: jax.Array) -> jax.Array:
    """What the encoder reads: the driving series, or the target's own history where there
    are none (a univariate series)."""
    return inputs_BxTxK[..., :self.n_driving] if self.n_driving else inputs_BxTxK

  @staticmethod
  def attention_params(params) -> dict:
    """The two attentions' part of a parameter tree (or of its gradient)."""
    return {k: params[k] for k in ("input_attn", "score") if k in params}

  def encoder_step(self, carry, x_t_BxN: jax.Array, projected_BxNxT: jax.Array | None):
    """Encoder step t: (s_{t-1}, h_{t-1}), x_t -> (s_t, h_t), (h_t, α_t)."""
    if self.weighs_inputs:
      s_prev, h_prev = carry
      alpha_BxN = self.input_attn(jnp.concatenate([h_prev, s_prev], -1), projected_BxNxT)
      x_tilde_BxN = alpha_BxN * x_t_BxN
    else:  # x̃_t = x_t; α is reported as uniform
      alpha_BxN = jnp.full_like(x_t_BxN, 1.0 / x_t_BxN.shape[-1])
      x_tilde_BxN = x_t_BxN
    carry, h_t = self.encoder_cell(carry, x_tilde_BxN)
    return carry, (h_t, alpha_BxN)

  def _encoder(self, x_BxTxN: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(h_BxTxM, α_BxTxN): the encoder scanned over the window."""
    projected = self.input_attn.project(x_BxTxN) if self.weighs_inputs else None
    scan = cells.steps(lambda m, c, x, p: m.encoder_step(c, x, p), self.remat,
                       split_rngs={"params": False}, in_axes=(0, nn.broadcast))
    start = cells.zeros_carry("lstm", x_BxTxN.shape[0], self.cfg.encoder_units)
    _, (h_TxBxM, alpha_TxBxN) = scan(self, start, x_BxTxN.swapaxes(0, 1), projected)
    return h_TxBxM.swapaxes(0, 1), alpha_TxBxN.swapaxes(0, 1)

  def input_attention(self, inputs_BxTxK: jax.Array, lengths_B: jax.Array) -> jax.Array | None:
    """α^k_t of every window, [B, T, n]; None without input attention (or driving series)."""
    del lengths_B  # every window has T steps
    if not self.weighs_inputs:
      return None
    return self._encoder(self.encoder_inputs(inputs_BxTxK))[1]

  def decoder_step(self, carry: Carry, y_prev_BxY: jax.Array, memory: Memory):
    """Decoder step t: y_{t-1} -> (carry, (ŷ_t, β_t))."""
    s_prev, d_prev = carry.lstm
    step = scores.Step(carry.t, memory.lengths_B, jnp.zeros_like(memory.mask_BxT, jnp.float32))
    l_BxT = self.score(jnp.concatenate([d_prev, s_prev], -1), memory.projected, step)
    c_BxM, beta_BxT = attention.attend(l_BxT, memory.mask_BxT, memory.values_BxTxM)
    y_tilde_Bx1 = self.w_tilde(jnp.concatenate([y_prev_BxY, carry.c_prev_BxM], -1))
    lstm, d_BxP = self.decoder_cell(carry.lstm, y_tilde_Bx1)
    y_hat_BxY = self.v_y(self.W_y(jnp.concatenate([d_BxP, c_BxM], -1)))
    return Carry(lstm, c_BxM, carry.t + 1), (y_hat_BxY, beta_BxT)

  def step(self, carry: Carry, y_prev_BxY: jax.Array, memory: Memory):
    """A forecast step (also for decoding): the first reads the known y_{T-1} from the memory
    in place of the start value that generic decoders pass; the highway adds its term for
    this step h to the forecast (to the mean, for a distribution)."""
    h = carry.t - (self.max_input_len - 1)
    carry, (y_hat_BxV, beta_BxT) = self.decoder_step(
        carry, jnp.where(h == 0, memory.y_last_BxY, y_prev_BxY), memory)
    if memory.highway_BxHxY is not None:
      ar_BxY = jax.lax.dynamic_index_in_dim(memory.highway_BxHxY, h, 1, keepdims=False)
      y_hat_BxV = y_hat_BxV.at[:, :self.target.features].add(ar_BxY)
    return carry, (y_hat_BxV, beta_BxT)

  def encode(self, inputs_BxTxK: jax.Array, lengths_B: jax.Array,
             deterministic: bool = True) -> tuple[Carry, Memory]:
    """Input attention and encoder over the window, then the decoder over y_1..y_{T-2}: the
    state from which step T forecasts."""
    del deterministic  # no dropout
    batch, window, _ = inputs_BxTxK.shape
    h_BxTxM, _ = self._encoder(self.encoder_inputs(inputs_BxTxK))
    y_BxTxY = inputs_BxTxK[..., self.n_driving:]  # y_0..y_{T-1}; y_0 is not read
    mask_BxT = jnp.ones((batch, window), bool)
    highway = None
    if self.cfg.highway != "none":
      z_BxTxZ = y_BxTxY if self.cfg.highway == "target" else inputs_BxTxK
      highway = self.ar(z_BxTxZ.reshape(batch, -1)).reshape(batch, self.max_target_len, -1)
    memory = Memory(h_BxTxM, self.score.project_keys(h_BxTxM), mask_BxT, lengths_B,
                    y_BxTxY[:, -1], highway)
    start = Carry(cells.zeros_carry("lstm", batch, self.cfg.decoder_units),
                  jnp.zeros((batch, self.cfg.encoder_units)), jnp.ones((), jnp.int32))
    scan = cells.steps(lambda m, c, y, mem: m.decoder_step(c, y, mem), self.remat,
                       split_rngs={"params": False}, in_axes=(0, nn.broadcast))
    carry, _ = scan(self, start, y_BxTxY[:, 1:-1].swapaxes(0, 1), memory)
    return carry, memory

  def __call__(self, inputs_BxTxK: jax.Array, lengths_B: jax.Array,
               decoder_inputs_BxHxY: jax.Array, deterministic: bool = True,
               sampling: Sampling | None = None):
    """Teacher-forced (ŷ_BxHxY, β_BxHxT): ŷ_T..ŷ_{T+H-1}, reading y_{T-1} (from the window),
    then the gold y_T..y_{T+H-2} (decoder_inputs[:, 1:]; [:, 0] is the start value)."""
    carry, memory = self.encode(inputs_BxTxK, lengths_B, deterministic)
    batch = inputs_BxTxK.shape[0]

    def body(module, state, y_gold_BxY, memory):
      carry, y_hat_prev_BxY = state
      y_prev_BxY = y_gold_BxY
      if sampling is not None:
        y_prev_BxY = scheduled_input(module.target, sampling, carry.t, y_gold_BxY,
                                     y_hat_prev_BxY, carry.t == module.max_input_len - 1)
      carry, (y_hat_BxY, beta_BxT) = module.step(carry, y_prev_BxY, memory)
      return (carry, y_hat_BxY), (y_hat_BxY, beta_BxT)

    scan = cells.steps(body, self.remat, split_rngs={"params": False},
                       in_axes=(0, nn.broadcast))
    start = (carry, jnp.zeros((batch, self.target.size)))
    _, (y_HxBxY, beta_HxBxT) = scan(self, start, decoder_inputs_BxHxY.swapaxes(0, 1), memory)
    return y_HxBxY.swapaxes(0, 1), beta_HxBxT.swapaxes(0, 1)

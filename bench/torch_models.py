"""The two benchmark models written plainly in PyTorch eager: the baseline of bench/train.py.

What a PyTorch user would write: `nn.LSTM` over a packed batch (so the backward direction starts
at each sequence's last real token, as in seqattn), a Python loop over the output steps with
`nn.LSTMCell`, masked softmax attention, `torch.optim.Adam`. The key projection is computed
once per sequence, as in seqattn, so both sides do the same arithmetic. PyTorch's own
initialisation is kept (a user would not copy Flax's).

  course: one-hot characters -> bi-LSTM -> e_tj = relu(w·tanh(W_s s_{t-1} + W_h h_j + b) + b_w)
          -> c_t -> LSTM(c_t) -> W_o s_t                          (configs/dates.py)
  nmt:    embeddings -> bi-LSTM -> s_0 = tanh(W h←_1), c_0 = W_c c←_1
          -> e_tj = vᵀ tanh(W s_{t-1} + U h_j + b) -> LSTM([E y_{t-1}; c_t]) -> W_o s_t
                                                                  (configs/nmt.py)
  text:   `Bahdanau`, the GRU RNNsearch of configs/text.py
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqattn.config import Config
from seqattn.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID


class Seq2Seq(nn.Module):
  """Either benchmark model, chosen by the seqattn config it mirrors."""

  def __init__(self, config: Config, src_vocab: int, tgt_vocab: int):
    super().__init__()
    m = config.model
    supported = (m.encoder_cell == m.decoder_cell == "lstm" and m.bidirectional
                 and m.encoder_layers == m.decoder_layers == 1 and m.placement == "before_rnn"
                 and m.attention in ("course_mlp", "additive") and m.bridge in ("zeros", "bahdanau")
                 and not (m.coverage or m.deep_output or m.dropout))
    if not supported:
      raise ValueError(f"no PyTorch twin for this model config: {m}")
    self.cfg, self.src_vocab, self.tgt_vocab = m, src_vocab, tgt_vocab
    h2 = 2 * m.encoder_units
    self.src_embed = nn.Embedding(src_vocab, m.embed_dim) if m.embed_dim else None
    self.encoder = nn.LSTM(m.embed_dim or src_vocab, m.encoder_units, batch_first=True,
                           bidirectional=True)
    if m.bridge == "bahdanau":
      self.bridge_h = nn.Linear(m.encoder_units, m.decoder_units)
      self.bridge_c = nn.Linear(m.encoder_units, m.decoder_units)
    self.W_s = nn.Linear(m.decoder_units, m.attention_units, bias=False)
    self.W_h = nn.Linear(h2, m.attention_units)
    self.energy = nn.Linear(m.attention_units, 1, bias=m.attention == "course_mlp")
    self.tgt_embed = nn.Embedding(tgt_vocab, m.embed_dim) if m.feed_previous_token else None
    self.cell = nn.LSTMCell(h2 + (m.embed_dim if m.feed_previous_token else 0), m.decoder_units)
    self.readout = nn.Linear(m.decoder_units, tgt_vocab)

  def forward(self, inputs_BxS: torch.Tensor, lengths_B: torch.Tensor,
              targets_BxT: torch.Tensor) -> torch.Tensor:
    """Teacher-forced logits [B, T, V]."""
    batch, src_len = inputs_BxS.shape
    x = (self.src_embed(inputs_BxS) if self.src_embed is not None
         else F.one_hot(inputs_BxS, self.src_vocab).float())
    packed = pack_padded_sequence(x, lengths_B, batch_first=True, enforce_sorted=False)
    h_packed, (h_n, c_n) = self.encoder(packed)
    h_BxSxH, _ = pad_packed_sequence(h_packed, batch_first=True, total_length=src_len)
    keys_BxSxA = self.W_h(h_BxSxH)  # once per sequence
    mask_BxS = torch.arange(src_len)[None, :] < lengths_B[:, None]
    if self.cfg.bridge == "bahdanau":  # h_n[1], c_n[1]: the backward direction's final state
      s, c = torch.tanh(self.bridge_h(h_n[1])), self.bridge_c(c_n[1])
    else:
      s = c = h_BxSxH.new_zeros(batch, self.cfg.decoder_units)
    y_prev_BxT = torch.cat([torch.full_like(targets_BxT[:, :1], BOS_ID), targets_BxT[:, :-1]], 1)
    logits = []
    for t in range(targets_BxT.shape[1]):
      e_BxS = self.energy(torch.tanh(self.W_s(s)[:, None, :] + keys_BxSxA)).squeeze(-1)
      if self.cfg.attention == "course_mlp":
        e_BxS = F.relu(e_BxS)
      alpha_BxS = torch.softmax(e_BxS.masked_fill(~mask_BxS, float("-inf")), -1)
      context_BxH = torch.bmm(alpha_BxS[:, None, :], h_BxSxH)[:, 0]
      cell_in = context_BxH
      if self.tgt_embed is not None:
        cell_in = torch.cat([self.tgt_embed(y_prev_BxT[:, t]), context_BxH], -1)
      s, c = self.cell(cell_in, (s, c))
      logits.append(self.readout(s))
    return torch.stack(logits, 1)


class Bahdanau(nn.Module):
  """RNNsearch without the deep output: the PyTorch twin of configs/text.py (bench/text_twin.py,
  bench/text_speed.py). A bidirectional GRU over a packed batch, s_0 = tanh(W h<-_1), additive
  attention with query s_{t-1}, a GRUCell reading [E y_{t-1}; c_t], logits W_o dropout(s_t)."""

  def __init__(self, v_src: int, v_tgt: int, emb: int = 256, hidden: int = 256,
               decoder: int | None = None, attention: int | None = None, dropout: float = 0.0):
    super().__init__()
    decoder, attention = decoder or hidden, attention or hidden
    self.dropout = nn.Dropout(dropout)
    self.src_embed = nn.Embedding(v_src, emb, padding_idx=PAD_ID)
    self.tgt_embed = nn.Embedding(v_tgt, emb, padding_idx=PAD_ID)
    self.encoder = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
    self.bridge = nn.Linear(hidden, decoder)
    self.W_s = nn.Linear(decoder, attention, bias=False)
    self.U_h = nn.Linear(2 * hidden, attention)
    self.v = nn.Linear(attention, 1, bias=False)
    self.cell = nn.GRUCell(emb + 2 * hidden, decoder)
    self.readout = nn.Linear(decoder, v_tgt)

  def encode(self, x_BxS, lengths_B):
    packed = pack_padded_sequence(self.src_embed(x_BxS), lengths_B, batch_first=True,
                                  enforce_sorted=False)
    h_packed, h_n = self.encoder(packed)
    h_BxSxH, _ = pad_packed_sequence(h_packed, batch_first=True, total_length=x_BxS.shape[1])
    mask_BxS = torch.arange(x_BxS.shape[1])[None, :] < lengths_B[:, None]
    return h_BxSxH, self.U_h(h_BxSxH), mask_BxS, torch.tanh(self.bridge(h_n[1]))

  def step(self, y_prev_B, s_BxH, memory):
    h_BxSxH, keys_BxSxA, mask_BxS = memory
    e_BxS = self.v(torch.tanh(self.W_s(s_BxH)[:, None] + keys_BxSxA)).squeeze(-1)
    alpha_BxS = torch.softmax(e_BxS.masked_fill(~mask_BxS, float("-inf")), -1)
    c_BxH = torch.bmm(alpha_BxS[:, None], h_BxSxH)[:, 0]
    s_BxH = self.cell(torch.cat([self.tgt_embed(y_prev_B), c_BxH], -1), s_BxH)
    return s_BxH, self.readout(self.dropout(s_BxH))

  def forward(self, x_BxS, lengths_B, y_BxT):
    h, keys, mask, s = self.encode(x_BxS, lengths_B)
    y_prev = torch.cat([torch.full_like(y_BxT[:, :1], BOS_ID), y_BxT[:, :-1]], 1)
    logits = []
    for t in range(y_BxT.shape[1]):
      s, out = self.step(y_prev[:, t], s, (h, keys, mask))
      logits.append(out)
    return torch.stack(logits, 1)

  @torch.no_grad()
  def greedy(self, x_BxS, lengths_B, limits_B):
    """Each sentence's argmax tokens until its EOS or its limit (then PAD); the loop stops when
    all have ended. PAD, BOS and UNK are never chosen (as decode.allowed)."""
    h, keys, mask, s = self.encode(x_BxS, lengths_B)
    y = torch.full((x_BxS.shape[0],), BOS_ID, dtype=torch.long)
    done = torch.zeros_like(y, dtype=torch.bool)
    out = []
    for t in range(int(limits_B.max())):
      s, logits = self.step(y, s, (h, keys, mask))
      logits[:, [PAD_ID, BOS_ID, UNK_ID]] = float("-inf")
      y = torch.where(done, torch.full_like(y, PAD_ID), logits.argmax(-1))
      out.append(y)
      done |= (y == EOS_ID) | (t + 1 >= limits_B)
      if done.all():
        break
    return torch.stack(out, 1).numpy()


@torch.no_grad()
def flax_init(model: nn.Module) -> nn.Module:
  """`model` re-initialised as Flax initialises seqattn's: embeddings N(0, 1/E) (nn.Embed's
  default), kernels LeCun-normal (truncated, std 1/√fan_in), each GRU gate's recurrent kernel
  orthogonal, biases 0. For measuring what PyTorch's own initialisation costs."""
  def lecun(w):  # jax's variance_scaling(1, fan_in, truncated_normal): cut at 2 std
    std = 1.0 / 0.87962566103423978 / w.shape[1] ** 0.5
    nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)

  for module in model.modules():
    if isinstance(module, nn.Embedding):
      nn.init.normal_(module.weight, std=module.embedding_dim ** -0.5)
    elif isinstance(module, nn.Linear):
      lecun(module.weight)
    if isinstance(module, (nn.Linear, nn.GRU, nn.GRUCell)):
      for name, w in module.named_parameters(recurse=False):
        if name.startswith("bias"):
          nn.init.zeros_(w)
        elif name.startswith("weight_ih"):
          for gate in w.chunk(3):
            lecun(gate)
        elif name.startswith("weight_hh"):
          for gate in w.chunk(3):
            nn.init.orthogonal_(gate)
  return model


def to_torch(batch: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
  return (torch.from_numpy(batch["inputs"]).long(),
          torch.from_numpy(batch["input_lengths"]).long(),
          torch.from_numpy(batch["targets"]).long())


class Trainer:
  """Adam with the config's rate and betas; `step(batch)` is one update, as in seqattn."""

  def __init__(self, config: Config, src_vocab: int, tgt_vocab: int, seed: int = 0):
    torch.manual_seed(seed)
    self.model = Seq2Seq(config, src_vocab, tgt_vocab)
    t = config.train
    self.opt = torch.optim.Adam(self.model.parameters(), lr=t.learning_rate, betas=(t.b1, t.b2))

  def step(self, batch: dict[str, np.ndarray]) -> torch.Tensor:
    inputs, lengths, targets = to_torch(batch)
    logits = self.model(inputs, lengths, targets)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD_ID)
    self.opt.zero_grad(set_to_none=True)
    loss.backward()
    self.opt.step()
    return loss.detach()

  @torch.no_grad()
  def exact_match(self, split, batch_size: int) -> float:
    """Validation exact match. The course decoder never reads its own outputs, so the argmax of
    the teacher-forced logits is its greedy decoding."""
    if self.model.tgt_embed is not None:
      raise NotImplementedError("exact match needs greedy decoding for decoders fed y_{t-1}")
    exact = 0
    for start in range(0, len(split), batch_size):
      inputs, lengths, targets = to_torch(dict(
          inputs=split.inputs[start:start + batch_size],
          input_lengths=split.input_lengths[start:start + batch_size],
          targets=split.targets[start:start + batch_size]))
      predictions = self.model(inputs, lengths, targets).argmax(-1)
      exact += int((predictions == targets).all(-1).sum())
    return exact / len(split)


def fastest_threads(step: Callable[[], object], calls: int = 3) -> int:
  """Sets and returns torch's faster intra-op thread count, 1 or all cores, timing `step`.

  On a shared 2-core machine two OpenMP threads can be ~100x slower than one (a thread that
  waits at every barrier for one that is descheduled), on a quiet one they are faster.
  The `2 * calls` steps are real training steps.
  """
  timings = {}
  for threads in sorted({1, os.cpu_count() or 1}):
    torch.set_num_threads(threads)
    start = time.perf_counter()
    for _ in range(calls):
      step()
    timings[threads] = time.perf_counter() - start
  best = min(timings, key=timings.get)
  torch.set_num_threads(best)
  return best

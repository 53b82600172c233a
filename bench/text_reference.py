"""The outside reference for quality per minute: a plain PyTorch Bahdanau model trained for a fixed
wall-clock time on the shipped Tatoeba corpus, then greedy-decoded and scored with sacrebleu.

What a PyTorch user would write: sentencepiece unigram with 8,000 pieces a side (at most: the
English side of 17k sentences holds ~4,100), embeddings 256, a bidirectional GRU of 256 a
direction over a packed batch, s_0 = tanh(W h<-_1), additive attention with query s_{t-1}, a
GRUCell of 256 reading [E y_{t-1}; c_t], logits W_o s_t; Adam (lr 1e-3), batch 64 (shuffled,
padded to the batch's longest), gradient clipping at 1; no validation, the final parameters
tested. The split (train/val/test) and the test references are the project's (configs/text.py).

  python bench/text_reference.py --minutes 8              # zh -> en
  python bench/text_reference.py --minutes 8 --direction en-zh
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from common import ROOT, emit, environment
from seqattn import config as config_lib, tasks
from seqattn.measures import bleu
from seqattn.data.vocab import BOS_ID, EOS_ID, PAD_ID
import torch_models


class Bahdanau(nn.Module):
  """RNNsearch without the deep output; also the PyTorch twin of configs/text.py (bench/text_speed.py)."""

  def __init__(self, v_src: int, v_tgt: int, emb: int = 256, hidden: int = 256,
               decoder: int | None = None, attention: int | None = None):
    super().__init__()
    decoder, attention = decoder or hidden, attention or hidden
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
    return s_BxH, self.readout(s_BxH)

  def forward(self, x_BxS, lengths_B, y_BxT):
    h, keys, mask, s = self.encode(x_BxS, lengths_B)
    y_prev = torch.cat([torch.full_like(y_BxT[:, :1], BOS_ID), y_BxT[:, :-1]], 1)
    logits = []
    for t in range(y_BxT.shape[1]):
      s, out = self.step(y_prev[:, t], s, (h, keys, mask))
      logits.append(out)
    return torch.stack(logits, 1)

  @torch.no_grad()
  def greedy(self, x_BxS, lengths_B, max_len: int):
    h, keys, mask, s = self.encode(x_BxS, lengths_B)
    y = torch.full((x_BxS.shape[0],), BOS_ID, dtype=torch.long)
    done = torch.zeros_like(y, dtype=torch.bool)
    out = []
    for _ in range(max_len):
      s, logits = self.step(y, s, (h, keys, mask))
      y = torch.where(done, torch.full_like(y, PAD_ID), logits.argmax(-1))
      out.append(y)
      done |= y == EOS_ID
      if done.all():
        break
    return torch.stack(out, 1).numpy()


def batches(split, batch_size: int, rng: np.random.Generator):
  """Endless shuffled batches, each cut to its own longest source and target."""
  while True:
    order = rng.permutation(len(split))
    for start in range(0, len(order) - batch_size + 1, batch_size):
      idx = order[start:start + batch_size]
      lengths = split.input_lengths[idx]
      tgt = split.targets[idx]
      ty = int((tgt != PAD_ID).sum(1).max())
      yield (torch.from_numpy(split.inputs[idx, :lengths.max()]).long(),
             torch.from_numpy(lengths).long(), torch.from_numpy(tgt[:, :ty]).long())


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--minutes", type=float, default=8.0)
  parser.add_argument("--direction", default="zh-en")
  parser.add_argument("--vocab", type=int, default=8000)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  emit(dict(environment=environment()))
  config = config_lib.freeze(config_lib.override(
      config_lib.load_file(f"{ROOT / 'configs/text.py'}:{args.direction}"),
      {"data.source_vocab_size": args.vocab, "data.target_vocab_size": args.vocab}))
  task = tasks.make(config.data)
  start = time.perf_counter()  # the clock starts with the data, as a launch.py run's does
  data = task.load(config.seed)
  torch.manual_seed(args.seed)
  model = Bahdanau(len(data.codec.src), len(data.codec.tgt))
  opt = torch.optim.Adam(model.parameters(), lr=1e-3)
  stream = batches(data.train, 64, np.random.default_rng(args.seed))

  def train_step():
    x, lengths, y = next(stream)
    logits = model(x, lengths, y)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=PAD_ID)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss

  threads = torch_models.fastest_threads(train_step)
  steps, loss = 6, None
  while time.perf_counter() - start < 60 * args.minutes:
    loss = float(train_step())
    steps += 1
    if steps % 200 == 0:
      emit(dict(step=steps, loss=loss, seconds=time.perf_counter() - start))
  train_seconds = time.perf_counter() - start
  model.eval()
  test = data.test
  outputs = []
  for i in range(0, len(test), 500):
    lengths = torch.from_numpy(test.input_lengths[i:i + 500]).long()
    x = torch.from_numpy(test.inputs[i:i + 500, :int(lengths.max())]).long()
    outputs += [task.write(data.codec, row)[0] for row in
                model.greedy(x, lengths, config.data.max_target_len)]
  tokenize = bleu.tokenizer_for(config.data.target_language, config.data.bleu_tokenize)
  scores = bleu.scores(outputs, test.references, tokenize)
  emit(dict(direction=args.direction, minutes=args.minutes, steps=steps, epochs=steps * 64 /
            len(data.train), train_seconds=train_seconds, final_loss=loss, torch_threads=threads,
            vocab=[len(data.codec.src), len(data.codec.tgt)], test_sentences=len(test),
            test_bleu=scores["bleu"], test_chrf=scores["chrf"],
            sacrebleu=bleu.signatures(tokenize)["bleu"]))


if __name__ == "__main__":
  main()

"""Luong et al. 2015 global/local attention on the date task.

Stacked 2-layer LSTM encoder and decoder; the decoder starts from the encoder's final states;
attention after the RNN with query h_t; h̃_t = tanh(W_c [c_t; h_t]) feeds the softmax and,
with input feeding, the next step's input [E y_{t-1}; h̃_{t-1}].

The argument picks the score: dot, general (default), concat, location, local_m or local_p.

  python launch.py --config configs/luong.py:general --workdir runs/luong_general
  python launch.py --config configs/luong.py:local_p --workdir runs/luong_local_p

Expected result (seed 0): test exact match 100.00% with each of general, dot, concat,
location and local_p (BUILD_NOTES.md).
"""

import pathlib

from seqattn.config import load_file


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("dates.py"))
  c.train.num_epochs = 4  # 1,200 steps, as the results above were measured
  m = c.model
  m.embed_dim = 16
  m.encoder_cell = m.decoder_cell = "lstm"
  m.encoder_layers = m.decoder_layers = 2
  m.encoder_units = m.decoder_units = 64
  m.bidirectional = False
  m.bridge = "copy"
  m.attention = arg or "general"
  m.attention_units = 64
  m.attention_window = 8  # D of local attention: p_t ± 8 characters
  m.placement = "after_rnn"
  m.feed_previous_token = True
  m.input_feeding = True
  return c

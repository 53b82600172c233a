"""Bahdanau et al. 2015 (RNNsearch) on the date task.

Bidirectional GRU encoder; s_0 = tanh(W_s h←_1); additive attention before the RNN with query
s_{t-1}; the GRU reads [E y_{t-1}; c_t]; maxout deep output on (s_{t-1}, c_t, E y_{t-1}).

  python launch.py --config configs/bahdanau.py --workdir runs/bahdanau

Expected result (seed 0): test exact match 100.00% on 2,000 test dates (BUILD_NOTES.md).
"""

import pathlib

from seqattn.config import load_file


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("dates.py"))
  c.train.num_epochs = 4  # 1,200 steps, as the results above were measured
  m = c.model
  m.embed_dim = 16
  m.encoder_cell = m.decoder_cell = "gru"
  m.encoder_units = 32
  m.bidirectional = True
  m.bridge = "bahdanau"
  m.attention = "additive"
  m.attention_units = 32
  m.placement = "before_rnn"
  m.feed_previous_token = True
  m.deep_output = True
  m.decoder_units = 64
  return c

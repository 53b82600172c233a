"""Cho et al. 2014 RNN encoder-decoder on the date task: no attention, one fixed context c.

Unidirectional GRU encoder; c = h_N (attention 'none': α is one-hot on the last real token);
s_0 = tanh(W h_N); the GRU reads [E y_{t-1}; c]; maxout output on (s_{t-1}, c, E y_{t-1}).

  python launch.py --config configs/cho2014.py --workdir runs/cho2014

Expected result (seed 0): test exact match 99.55% after 3,600 steps (96.35% after the 1,200
steps that suffice with attention); BUILD_NOTES.md.
"""

import pathlib

from seqattn.config import load_file


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("dates.py"))
  m = c.model
  m.embed_dim = 16
  m.encoder_cell = m.decoder_cell = "gru"
  m.encoder_units = 128
  m.bidirectional = False
  m.bridge = "bahdanau"  # with a unidirectional encoder: tanh(W h_N), Cho's initial state
  m.attention = "none"
  m.placement = "before_rnn"
  m.feed_previous_token = True
  m.deep_output = True
  m.decoder_units = 128
  c.train.num_epochs = 12  # one fixed context learns more slowly than attention: 3,600 steps
  return c

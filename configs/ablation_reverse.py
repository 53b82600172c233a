"""The length study (Bahdanau et al. 2015, Fig. 2 in miniature) on string reversal.

Reverse strings of 1..60 letters (10 symbols); test on 1..60 too, bucketed by length. `none`
(Cho 2014: one fixed context) against three attention scores after the RNN (Luong, with input
feeding), and additive attention before the RNN (Bahdanau); 3 seeds each. Small model and
1,000 steps: on a 2-core CPU each point takes minutes.

  python launch.py --config configs/ablation_reverse.py --workdir runs/ablation_reverse --mode sweep

Expected result: docs/ablations.md (length_study.md and accuracy_by_length.png in the workdir).
"""

import pathlib

import ml_collections

from seqattn.config import load_file

TARGET_EXACT_MATCH = 0.5
HEATMAP_INPUTS = ("abcdefghij", "jihgfedcbajihgfedcba")
SCORES = ("none", "additive", "general", "dot")  # after the RNN
SEEDS = (0, 1, 2)


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("dates.py"))
  c.data = ml_collections.ConfigDict(dict(
      task="reverse", n_train=10_000, n_val=300, n_test=600,
      min_len=1, max_len=60, test_min_len=1, test_max_len=60,  # lengths: training, test
      symbols=10,  # the alphabet: the first 10 lowercase letters
      max_input_len=60, max_target_len=61))  # + <eos>
  m = c.model
  m.embed_dim = 8
  m.encoder_units, m.decoder_units = 32, 64
  m.attention_units = 32
  m.attention_window = 8
  m.bridge = "linear"
  m.placement = "after_rnn"
  m.feed_previous_token = True
  m.input_feeding = True
  c.train.num_epochs = 10  # 1,000 steps
  c.train.eval_every_steps = 250
  return c


def sweep(add):
  for score in SCORES:
    for seed in SEEDS:
      add(**{"model.attention": score, "seed": seed})
  # Bahdanau's placement: the query is s_{t-1}, nothing to feed back; at this rate it diverges
  # without gradient clipping (docs/ablations.md), so it is run both ways.
  bahdanau = {"model.attention": "additive", "model.placement": "before_rnn",
              "model.input_feeding": False}
  for clip in ({}, {"train.grad_clip_norm": 1.0}):
    for seed in SEEDS:
      add(**bahdanau, **clip, seed=seed)

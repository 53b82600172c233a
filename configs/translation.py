"""No attention against attention on real sentences (Tatoeba Chinese -> English, 3 seeds each):
Cho et al.'s RNN encoder-decoder, Bahdanau et al.'s RNNsearch and Luong et al.'s best set-up.

  cho2014    a unidirectional GRU of 256; c = h_N for every output step (attention 'none'),
             s_0 = tanh(W h_N), the GRU decoder reads [E y_{t-1}; c]
  rnnsearch  configs/text.py: a bidirectional GRU of 128 a direction, additive attention
             before the RNN, query s_{t-1}
  luong      the same encoder; local-p attention with the general score after the RNN, query
             h_t, h~_t = tanh(W_c [c_t; h_t]) fed back (input feeding)

Each point trains configs/text.py's schedule for a fixed number of epochs (not a time budget),
so every number is reproducible; the test uses the best checkpoint on validation BLEU.

  python launch.py --config configs/translation.py --workdir runs/translation --mode sweep

Expected result: the tables in docs/translation.md (sentences from Tatoeba, CC BY 2.0 FR).
"""

import pathlib

from seqattn.config import load_file

SEEDS = (0, 1, 2)
HEATMAP_INPUTS = ("我们明天去公园。", "他每天早上六点起床。")
MODELS = {
    "cho2014": {"model.attention": "none", "model.bidirectional": False,
                "model.encoder_units": 256},
    "rnnsearch": {"model.attention": "additive"},
    "luong": {"model.attention": "local_p", "model.placement": "after_rnn",
              "model.input_feeding": True, "model.attention_window": 5},
}


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("text.py"))
  c.train.num_epochs = 4  # ≈ 1,100 steps: 9 runs in about an hour on the shared 2-core CPU
  c.train.time_budget_minutes = 0.0  # no time limit: every point reproducible
  return c


def sweep(add):
  for name, overrides in MODELS.items():
    for seed in SEEDS:
      add(**overrides, seed=seed)

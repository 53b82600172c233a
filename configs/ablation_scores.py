"""Every attention score × both placements on the date task, 3 seeds each (66 runs).

The course-sized model (bidirectional LSTM 32 a direction, LSTM decoder 64) with the previous
character fed back, so that both placements see the same inputs; only the score and the
placement change between points. Each point trains 2 epochs of 30,000 dates (600 steps).

  python launch.py --config configs/ablation_scores.py --workdir runs/ablation_scores --mode sweep

Expected result: the table in docs/ablations.md (results.md in the workdir).
"""

import pathlib

from seqattn.config import load_file
from seqattn.models.attention import REGISTRY

TARGET_EXACT_MATCH = 0.9  # the "steps to" column: first evaluation reaching this
HEATMAP_INPUTS = ("3 may 1979", "tuesday june 5 2018", "12/31/18")
SEEDS = (0, 1, 2)


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("dates.py"))
  c.model.feed_previous_token = True
  c.model.attention_window = 8
  c.train.num_epochs = 2
  return c


def sweep(add):
  for score in REGISTRY:
    for placement in ("before_rnn", "after_rnn"):
      for seed in SEEDS:
        add(**{"model.attention": score, "model.placement": placement, "seed": seed})

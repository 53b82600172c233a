"""A tiny CPU config of the date model for the end-to-end tests (seconds of training).

  python launch.py --config configs/test.py --workdir /tmp/seqattn_test

Expected result: the loss falls; accuracy stays far below the default config's.
"""

import pathlib

from seqattn.config import load_file


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("dates.py"))
  c.data.n_train = 400
  c.data.n_val = 100
  c.data.n_test = 100
  c.train.batch_size = 50
  c.train.num_epochs = 4
  c.train.eval_every_steps = 8
  c.train.checkpoint_every_steps = 8
  c.train.eval_batch_size = 100
  return c

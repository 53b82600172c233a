"""An NMT-sized model for speed measurements (bench/): Bahdanau-style attention at real sizes.

Embeddings 256; a bidirectional LSTM encoder, 512 units a direction; s_0 = tanh(W_s h←_1);
additive attention (512 units) before the RNN, query s_{t-1}; a 512-unit LSTM decoder reading
[E y_{t-1}; c_t]; Tx = Ty = 50; batch 64. The data is the generated `reverse` task at lengths
40..49 (+ <eos>), so that most of every batch is real tokens.

  python launch.py --config configs/nmt.py --workdir runs/nmt
  python bench/train.py --models nmt

Expected result: see BUILD_NOTES.md ("Performance"); it is a speed config, not a tuned one.
"""

import pathlib

from seqattn.config import load_file


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("dates.py"))
  c.data.task = "reverse"
  c.data.n_train = 6_400
  c.data.n_val = 320
  c.data.n_test = 320
  c.data.min_len = c.data.test_min_len = 40
  c.data.max_len = c.data.test_max_len = 49
  c.data.symbols = 26
  c.data.max_input_len = c.data.max_target_len = 50
  m = c.model
  m.embed_dim = 256
  m.encoder_cell = m.decoder_cell = "lstm"
  m.encoder_units = 512
  m.bidirectional = True
  m.bridge = "bahdanau"
  m.attention = "additive"
  m.attention_units = 512
  m.placement = "before_rnn"
  m.feed_previous_token = True
  m.decoder_units = 512
  c.train.batch_size = 64
  c.train.learning_rate = 0.001
  c.train.eval_every_steps = 100
  c.train.checkpoint_every_steps = 500
  c.train.eval_batch_size = 64
  return c

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

import ml_collections

from seqattn.config import load_file


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("bahdanau.py"))
  c.data = ml_collections.ConfigDict(dict(
      task="reverse", n_train=6_400, n_val=320, n_test=320,
      min_len=40, max_len=49, test_min_len=40, test_max_len=49, symbols=26,
      max_input_len=50, max_target_len=50))
  m = c.model
  m.encoder_cell = m.decoder_cell = "lstm"
  m.embed_dim = 256
  m.encoder_units = m.attention_units = m.decoder_units = 512
  m.deep_output = False  # as the PyTorch twin in bench/torch_models.py
  t = c.train
  t.batch_size = t.eval_batch_size = 64
  t.learning_rate = 0.001
  t.eval_every_steps = 100
  t.checkpoint_every_steps = 500
  return c

"""Translation of real sentences: Chinese -> English (default) or English -> Chinese on the
Tatoeba pairs shipped in the package (seqattn/corpora: 20,133 pairs by Tatoeba's contributors,
CC BY 2.0 FR), or on a user's own corpus.

RNNsearch (Bahdanau et al. 2015) at CPU size: sentencepiece unigram tokens (at most 4,000
Chinese and 2,000 English pieces), embeddings 128, a bidirectional GRU of 128 a direction, s_0 = tanh(W h<-_1), additive
attention, a GRU decoder of 256 reading [E y_{t-1}; c_t] and p(y_t) = softmax(W_o s_t) (the
maxout deep output left out: on this CPU it costs steps that BLEU needs more). Four length
buckets, Adam with warmup and an rsqrt decay, clipping, dropout, validation BLEU (greedy) for
early stopping and for the checkpoint tested.

  python launch.py --config configs/text.py --workdir runs/zh-en
  python launch.py --config configs/text.py:en-zh --workdir runs/en-zh
  python launch.py --workdir runs/zh-en --mode predict "我们明天去公园。"
  # a user's own TSV: columns German, English, an attribution column; German -> English
  python launch.py --config configs/text.py --workdir runs/de-en --config.data.path=deu.txt \\
      --config.data.columns=en,de,- --config.data.source_language=de \\
      --config.data.target_language=en

Expected result (zh-en): test BLEU 19.51 ± 0.64 over seeds 0, 1, 2 (sacrebleu, all 2,000 Tatoeba
test sentences), the 6 epochs (1,644 steps) in about 140 s of training on the quiet 2-core CPU
(bench/text_twin.py; docs/translation.md has the tables, its PyTorch twin among them). Credit
Tatoeba wherever results are shown.
"""

import pathlib

from seqattn import corpora
from seqattn.config import load_file

# (source, target, target vocabulary): a small English readout is fast on a CPU; Chinese needs a
# piece per character of its ~3,000 first.
DIRECTIONS = {"zh-en": ("zh", "en", 2_000), "en-zh": ("en", "zh", 4_000)}


def get_config(arg=None):
  c = load_file(pathlib.Path(__file__).with_name("bahdanau.py"))  # RNNsearch, scaled below
  source, target, target_vocab = DIRECTIONS[arg or "zh-en"]
  c.data = dict(
      task="text",
      path=str(corpora.TATOEBA_ENG_CMN),
      format="tsv",  # tsv | aligned (<path>.<source_language>, <path>.<target_language>)
      columns="en,zh",  # the language of each TSV column; further columns are ignored
      source_language=source,
      target_language=target,
      bleu_tokenize="",  # sacrebleu's tokeniser; "": the target language's (zh: 'zh', en: '13a')
      val_path="",  # "" splits `path`; else explicit validation and test files
      test_path="",
      split_seed=0,  # components of shared sentences dealt to test, val, train from this seed
      n_val=500,  # validation BLEU decodes these at every evaluation: kept small for speed
      n_test=2_000,
      skip_bad_lines=False,  # True: skip and count lines that cannot be read
      tokenizer="unigram",  # unigram | bpe | word | char (sentencepiece)
      source_vocab_size=4_000,  # at most; sentencepiece may find fewer pieces
      target_vocab_size=target_vocab,
      joint_vocabulary=False,  # True: one tokeniser of source_vocab_size pieces for both sides
      max_input_len=40,  # Tx in tokens: longer pairs are dropped and counted
      max_target_len=40,  # Ty in tokens, <eos> included
      max_length_ratio=0.0,  # > 0: drop training pairs whose token counts differ more; 0: none
      subword_sampling=0.0,  # > 0: each epoch cuts training pairs anew (unigram α, bpe dropout)
  )
  m = c.model
  m.embed_dim = m.encoder_units = m.attention_units = 128
  m.decoder_units = 256
  m.deep_output = False
  m.dropout = 0.2
  t = c.train
  t.batch_size = 64
  t.buckets = 4  # each a compiled step (≈ 5-15 s to compile here)
  t.token_budget = 0
  t.num_epochs = 6  # ≈ 1,650 steps, ≈ 8-10 minutes on the shared 2-core CPU
  t.learning_rate = 0.003
  t.schedule = "rsqrt"
  t.warmup_steps = 200
  t.grad_clip_norm = 1.0
  t.eval_every_steps = 400
  t.checkpoint_every_steps = 800
  t.eval_batch_size = 250  # sorted into length buckets: each batch stops at its longest output
  t.eval_buckets = True
  t.best_metric = "val_bleu"
  t.early_stopping_patience = 4
  t.test_checkpoint = "best"
  c.decode.method = "greedy"  # validation and test; compare beam with --mode evaluate
  c.decode.beam_size = 5
  # A search stops a sentence at ⌊2·|x| + 10⌋ tokens: 99.99% of the zh-en training targets fit
  # (1.5·|x| + 10 cut a test output that ran to 18 tokens from 5).
  c.decode.max_len_a, c.decode.max_len_b = 2.0, 10
  return c

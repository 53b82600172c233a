"""Every architecture the config can describe builds and trains.

score × placement × cell × direction: all 132 combinations trace the whole train step here;
every score × placement pair (each with a cell and direction from a cycle) compiles and trains;
`pytest -m slow tests/test_variants.py` trains all 132.
"""

import itertools

import jax
import numpy as np
import pytest

from seqattn import config as config_lib, data, train
from seqattn.config import freeze, load_file
from seqattn.models import attention, cells
from conftest import CONFIGS

SCORES = list(attention.REGISTRY)
PLACEMENTS = ["before_rnn", "after_rnn"]
CELL_DIRECTIONS = list(itertools.product(sorted(cells.CELLS), [True, False]))
EVERY = list(itertools.product(SCORES, PLACEMENTS, CELL_DIRECTIONS))
# One cell × direction per score × placement, cycling so that each pair appears.
COVERING = [(s, p, CELL_DIRECTIONS[i % len(CELL_DIRECTIONS)])
            for i, (s, p) in enumerate(itertools.product(SCORES, PLACEMENTS))]


def _ids(combos):
  return [f"{s}-{p}-{c}-{'bi' if b else 'uni'}" for s, p, (c, b) in combos]


def variant_config(score, placement, cell, bidirectional):
  c = load_file(CONFIGS / "test.py")
  m = c.model
  m.attention, m.placement, m.bidirectional = score, placement, bidirectional
  m.encoder_cell = m.decoder_cell = cell
  m.encoder_units, m.decoder_units, m.attention_units, m.embed_dim = 8, 16, 8, 6
  m.attention_window = 3
  m.coverage = score in attention.COVERAGE_SCORES
  m.feed_previous_token = True
  m.input_feeding = placement == "after_rnn"
  m.deep_output = placement == "before_rnn"
  m.bridge = "copy" if bidirectional else "bahdanau"
  if score in attention.DOT_SCORES or m.bridge == "copy":
    m.decoder_units = m.encoder_units * (2 if bidirectional else 1)
  c.train.batch_size = 20
  return freeze(c)


@pytest.fixture(scope="module")
def task():
  return data.load(variant_config("dot", "after_rnn", "gru", True).data, 0)


def _state_and_batch(config, task):
  model = train.build_model(config, len(task.src_vocab), len(task.tgt_vocab))
  batches = train.train_batches(task.train, config.train.batch_size, np.random.default_rng(0))
  return model, next(batches)


@pytest.mark.parametrize("score, placement, cell_direction", EVERY, ids=_ids(EVERY))
def test_every_combination_builds_and_traces_the_train_step(score, placement, cell_direction,
                                                             task):
  config = variant_config(score, placement, *cell_direction)
  model, batch = _state_and_batch(config, task)
  state = jax.eval_shape(lambda: train.create_state(
      model, model.init(jax.random.key(0), *train.example_inputs(config))["params"], config, 10))
  new_state, loss = jax.eval_shape(train.train_step, state, batch, jax.random.key(0))
  assert loss.shape == ()
  assert jax.tree.structure(new_state) == jax.tree.structure(state)


# The library's train step, compiled for a fast compile: these runs are a few steps long.
quick_train_step = jax.jit(train.train_step.__wrapped__,
                           compiler_options={"xla_backend_optimization_level": 0})


def _train_a_few_steps(config, task, steps=3):
  jax.clear_caches()  # each combination compiles its own programs: free the last ones (conftest)
  model, batch = _state_and_batch(config, task)
  state = train.create_state(model, train.init_params(model, config, jax.random.key(0)), config,
                             steps)
  losses = []
  for _ in range(steps):
    state, loss = quick_train_step(state, batch, jax.random.key(1))
    losses.append(float(loss))
  assert all(np.isfinite(losses)), losses
  assert losses[-1] < losses[0], losses  # the same batch thrice: its loss must fall


@pytest.mark.parametrize("score, placement, cell_direction", COVERING, ids=_ids(COVERING))
def test_every_score_and_placement_trains(score, placement, cell_direction, task):
  _train_a_few_steps(variant_config(score, placement, *cell_direction), task)


@pytest.mark.slow
@pytest.mark.parametrize("score, placement, cell_direction", EVERY, ids=_ids(EVERY))
def test_every_combination_trains(score, placement, cell_direction, task):
  _train_a_few_steps(variant_config(score, placement, *cell_direction), task)


@pytest.mark.parametrize("model, message", [
    (dict(attention="dot", decoder_units=63), "decoder_units == the encoder's output size"),
    (dict(coverage=True, attention="general"), "coverage needs an additive score"),
    (dict(placement="after_rnn"), "needs an input for the RNN"),
    (dict(input_feeding=True), "needs model.placement='after_rnn'"),
    (dict(deep_output=True, placement="after_rnn", feed_previous_token=True),
     "needs model.placement='before_rnn'"),
    (dict(bridge="copy", decoder_cell="gru"), "bridge='copy' needs the same cell"),
])
def test_inconsistent_architectures_are_refused(model, message):
  config = load_file(CONFIGS / "dates.py")
  for key, value in model.items():
    config.model[key] = value
  with pytest.raises(config_lib.ConfigError, match=message):
    freeze(config)

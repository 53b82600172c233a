"""Every architecture the config can describe builds and trains.

score × placement × cell × direction: 33 combinations in which every pair of values of any two
of the four factors appears (all-pairs) build and trace the model's forward pass here; every
score (with a placement, cell and direction from cycles) compiles and trains;
`pytest -m slow tests/test_variants.py` traces the whole train step of all 132 combinations and
trains them.
"""

import itertools

import jax
import numpy as np
import pytest

from seqattn import config as config_lib, tasks
from seqattn.config import freeze, load_file
from seqattn.data.batching import train_batches
from seqattn.models import attention, cells
from seqattn.models.interface import abstract_params, init_params, teacher_forced
from seqattn.training import run, step
from conftest import CONFIGS

SCORES = list(attention.REGISTRY)
PLACEMENTS = ["before_rnn", "after_rnn"]
CELL_DIRECTIONS = list(itertools.product(sorted(cells.CELLS), [True, False]))
EVERY = list(itertools.product(SCORES, PLACEMENTS, CELL_DIRECTIONS))
CELLS = sorted(cells.CELLS)
# All pairs: each score with each cell, placement and direction alternating so that every pair
# of values of two factors appears.
PAIRWISE = [(s, PLACEMENTS[(i + j) % 2], (c, [True, False][(i // 2 + j) % 2]))
            for i, s in enumerate(SCORES) for j, c in enumerate(CELLS)]
# One placement and cell × direction per score, cycling so that each appears.
COVERING = [(s, PLACEMENTS[i % len(PLACEMENTS)], CELL_DIRECTIONS[i % len(CELL_DIRECTIONS)])
            for i, s in enumerate(SCORES)]


def _ids(combos):
  return [f"{s}-{p}-{c}-{'bi' if b else 'uni'}" for s, p, (c, b) in combos]


def variant_config(score, placement, cell, bidirectional):
  c = load_file(CONFIGS / "test.py")
  m = c.model
  m.attention, m.placement, m.bidirectional = score, placement, bidirectional
  m.encoder_cell = m.decoder_cell = cell
  m.encoder_units, m.decoder_units, m.attention_units, m.embed_dim = 8, 16, 8, 6
  m.attention_window = 3
  m.coverage = score in attention.coverage_scores()
  m.feed_previous_token = True
  m.input_feeding = placement == "after_rnn"
  m.deep_output = placement == "before_rnn"
  m.bridge = "copy" if bidirectional else "bahdanau"
  if score in attention.dot_scores() or m.bridge == "copy":
    m.decoder_units = m.encoder_units * (2 if bidirectional else 1)
  c.train.batch_size = 20
  return freeze(c)


@pytest.fixture(scope="module")
def task():
  config = variant_config("dot", "after_rnn", "gru", True)
  task = tasks.make(config.data)
  return task, task.load(0)


def _static_and_batch(config, task, total_steps):
  task, data = task
  model = run.build_model(config, task, data.codec)
  batches = train_batches(data.train, config.train.batch_size, np.random.default_rng(0))
  return step.StepConfig(model, config.train, total_steps), next(batches)


@pytest.mark.parametrize("score, placement, cell_direction", PAIRWISE, ids=_ids(PAIRWISE))
def test_all_pairs_of_choices_build_and_trace_their_forward_pass(score, placement, cell_direction,
                                                               task):
  config = variant_config(score, placement, *cell_direction)
  static, batch = _static_and_batch(config, task, 10)
  outputs, alpha = jax.eval_shape(lambda p: teacher_forced(static.model, p, batch),
                                  abstract_params(static.model))
  batch_size, steps = batch["targets"].shape
  assert outputs.shape == (batch_size, steps, static.model.target.size)
  assert alpha.shape == (batch_size, steps, batch["inputs"].shape[1])


@pytest.mark.slow
@pytest.mark.parametrize("score, placement, cell_direction", EVERY, ids=_ids(EVERY))
def test_every_combination_traces_the_train_step(score, placement, cell_direction, task):
  config = variant_config(score, placement, *cell_direction)
  static, batch = _static_and_batch(config, task, 10)
  state = jax.eval_shape(lambda: step.create_state(abstract_params(static.model), static))
  new_state, loss = jax.eval_shape(lambda s, b: step.update(s, b, jax.random.key(0), static),
                                   state, batch)
  assert loss.shape == ()
  assert jax.tree.structure(new_state) == jax.tree.structure(state)


# The library's train step, compiled for a fast compile: these runs are a few steps long.
quick_train_step = jax.jit(step.update, static_argnames="static",
                           compiler_options={"xla_backend_optimization_level": 0})


def _train_a_few_steps(config, task, steps=3):
  jax.clear_caches()  # each combination compiles its own programs: free the last ones (conftest)
  static, batch = _static_and_batch(config, task, steps)
  state = step.create_state(init_params(static.model, jax.random.key(0)), static)
  losses = []
  for _ in range(steps):
    state, loss = quick_train_step(state, batch, jax.random.key(1), static=static)
    losses.append(float(loss))
  assert all(np.isfinite(losses)), losses
  assert losses[-1] < losses[0], losses  # the same batch thrice: its loss must fall


@pytest.mark.parametrize("score, placement, cell_direction", COVERING, ids=_ids(COVERING))
def test_every_score_trains(score, placement, cell_direction, task):
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

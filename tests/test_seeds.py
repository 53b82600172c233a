"""Seeds trained together in one vmapped step: each follows its solo run."""

import itertools

import chex
import jax
import numpy as np

from conftest import task_and_model
from seqattn.models.interface import init_params
from seqattn.training import seeds
from seqattn.data.batching import Plan
from seqattn.training.progress import batches_from
from seqattn.training.step import StepConfig, create_state, train_step

SEEDS = list(range(4))
STEPS = 10


def test_each_vmapped_seed_has_the_losses_of_its_solo_run(tiny_config):
  _, data, model = task_and_model(tiny_config)
  static = StepConfig(model, tiny_config.train, total_steps=STEPS)
  batch_size = tiny_config.train.batch_size
  keys = seeds.keys(SEEDS)

  def batches(i):  # seed i's first STEPS batches: its own shuffling of the shared data
    stream = batches_from(Plan(data.train, batch_size), keys["shuffle"][i], num_epochs=10,
                          epoch=0, index=0)
    return [batch for _, _, batch in itertools.islice(stream, STEPS)]

  per_seed = [batches(i) for i in range(len(SEEDS))]
  states = seeds.init_states(static, SEEDS)
  together = []
  for t in range(STEPS):
    states, losses = seeds.train_step(states, seeds.stack([b[t] for b in per_seed]),
                                      keys["dropout"], static)
    together.append(losses)
  together = np.asarray(jax.device_get(together))  # [STEPS, S]

  for i in range(len(SEEDS)):
    state = create_state(init_params(model, keys["init"][i]), static)
    solo = []
    for batch in per_seed[i]:
      state, loss = train_step(state, batch, keys["dropout"][i], static)
      solo.append(loss)
    chex.assert_trees_all_close(together[:, i], np.asarray(jax.device_get(solo)), rtol=1e-5)
  assert len(set(together[0].tolist())) == len(SEEDS)  # the seeds really differ
  assert np.all(together[-1] < together[0])

"""Seeds trained together in one vmapped step: each follows its solo run."""

import itertools

import chex
import jax
import numpy as np

from seqattn import data, seeds, train

SEEDS = list(range(8))
STEPS = 20


def test_each_vmapped_seed_has_the_losses_of_its_solo_run(tiny_config):
  task = data.load(tiny_config.data, tiny_config.seed)
  model = train.build_model(tiny_config, len(task.src_vocab), len(task.tgt_vocab))
  batch_size = tiny_config.train.batch_size
  keys = seeds.keys(SEEDS)

  def batches(i):  # seed i's first STEPS batches: its own shuffling of the shared data
    stream = train.batches_from(task.train, batch_size, keys["shuffle"][i], num_epochs=10,
                                epoch=0, index=0)
    return [batch for _, _, batch in itertools.islice(stream, STEPS)]

  per_seed = [batches(i) for i in range(len(SEEDS))]
  states = seeds.init_states(model, tiny_config, SEEDS, total_steps=STEPS)
  together = []
  for t in range(STEPS):
    states, losses = seeds.train_step(states, seeds.stack([b[t] for b in per_seed]),
                                      keys["dropout"])
    together.append(losses)
  together = np.asarray(jax.device_get(together))  # [STEPS, S]

  for i in range(len(SEEDS)):
    state = train.create_state(model, train.init_params(model, tiny_config, keys["init"][i]),
                               tiny_config, total_steps=STEPS)
    solo = []
    for batch in per_seed[i]:
      state, loss = train.train_step(state, batch, keys["dropout"][i])
      solo.append(loss)
    chex.assert_trees_all_close(together[:, i], np.asarray(jax.device_get(solo)), rtol=1e-5)
  assert len(set(together[0].tolist())) == len(SEEDS)  # the seeds really differ
  assert np.all(together[-1] < together[0])

"""Several seeds of one config trained together: one vmapped, jitted step over stacked states.

Seed s gets the PRNG keys of `train.root_keys(s)` (initialisation, shuffling, dropout), as a run
with `config.seed = s` would; all seeds read the same data set (its own shuffling of it), so
that the stacked parameters have one shape. Every leaf of a stacked state and batch has the
seeds on axis 0; `train_step` maps seqattn.train.train_step over that axis, and is a separate
compiled function: the one-seed step is unchanged. Whether this beats training the seeds one
after another depends on the machine (bench/ablation.py measures both).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqattn import train
from seqattn.config import Config
from seqattn.data.batching import Batch


def stack(trees: Sequence):
  """One tree whose leaves are the trees' leaves stacked on a new axis 0.

  The trees must have the same leaves; static fields (a train state's apply_fn and optimiser,
  equal in behaviour but distinct objects) are taken from the first.
  """
  leaves = zip(*(jax.tree.leaves(tree) for tree in trees))
  return jax.tree.structure(trees[0]).unflatten([jnp.stack(same) for same in leaves])


def unstack(tree, i: int):
  """The i-th tree of a stacked tree."""
  return jax.tree.map(lambda leaf: leaf[i], tree)


def keys(seeds: Sequence[int]) -> dict[str, jax.Array]:
  """`train.root_keys` of every seed, stacked: each use's keys as one [S] key array."""
  return train.on_device(stack([train.root_keys(s) for s in seeds]))


def init_states(model: nn.Module, config: Config, seeds: Sequence[int],
                total_steps: int) -> train.TrainState:
  """The train states of `seeds`, stacked; seed s's is the one a solo run of seed s starts from."""
  init_keys = keys(seeds)["init"]
  states = [train.create_state(model, train.init_params(model, config, init_keys[i]), config,
                               total_steps) for i in range(len(seeds))]
  return train.on_device(stack(states))


@jax.jit(donate_argnums=0)
def train_step(states: train.TrainState, batches: Batch,
               dropout_keys: jax.Array) -> tuple[train.TrainState, jax.Array]:
  """`train.train_step` of every seed at once: (new states, [S] mean losses)."""
  return jax.vmap(train.train_step)(states, batches, dropout_keys)

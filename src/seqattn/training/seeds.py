"""Several seeds of one config trained together: one vmapped, jitted step over stacked states.

Seed s gets the PRNG keys of `progress.root_keys(s)` (initialisation, shuffling, dropout), as a
run with `config.seed = s` would; all seeds read the same data set (its own shuffling of it), so
that the stacked parameters have one shape. Every leaf of a stacked state and batch has the
seeds on axis 0; `train_step` maps `step.update` over that axis, and is a separate compiled
function: the one-seed step is unchanged. Whether this beats training the seeds one after
another depends on the machine (bench/ablation.py measures both).
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp

from seqattn.data.batching import Batch
from seqattn.models.interface import init_params
from seqattn.training.progress import root_keys
from seqattn.training.step import StepConfig, TrainState, create_state, on_device, update


def stack(trees: Sequence):
  """One tree whose leaves are the trees' leaves stacked on a new axis 0."""
  leaves = zip(*(jax.tree.leaves(tree) for tree in trees))
  return jax.tree.structure(trees[0]).unflatten([jnp.stack(same) for same in leaves])


def unstack(tree, i: int):
  """The i-th tree of a stacked tree."""
  return jax.tree.map(lambda leaf: leaf[i], tree)


def keys(seeds: Sequence[int]) -> dict[str, jax.Array]:
  """`root_keys` of every seed, stacked: each use's keys as one [S] key array."""
  return on_device(stack([root_keys(s) for s in seeds]))


def init_states(static: StepConfig, seeds: Sequence[int]) -> TrainState:
  """The train states of `seeds`, stacked; seed s's is the one a solo run of seed s starts from."""
  init_keys = keys(seeds)["init"]
  states = [create_state(init_params(static.model, init_keys[i]), static)
            for i in range(len(seeds))]
  return on_device(stack(states))


@functools.partial(jax.jit, static_argnames="static", donate_argnums=0)
def train_step(states: TrainState, batches: Batch, dropout_keys: jax.Array,
               static: StepConfig) -> tuple[TrainState, jax.Array]:
  """`step.update` of every seed at once: (new states, [S] mean losses)."""
  return jax.vmap(functools.partial(update, static=static))(states, batches, dropout_keys)

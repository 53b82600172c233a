"""Orbax checkpoints of the train state in `<workdir>/checkpoints`."""

from __future__ import annotations

import pathlib

import orbax.checkpoint as ocp


def directory(workdir: str | pathlib.Path) -> pathlib.Path:
  return pathlib.Path(workdir).absolute() / "checkpoints"


def manager(workdir, max_to_keep: int = 2) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      directory(workdir),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))


def save(workdir, step: int, state) -> None:
  with manager(workdir) as mngr:
    mngr.save(step, args=ocp.args.StandardSave(state))
    mngr.wait_until_finished()


def restore_latest(workdir, abstract_state):
  """The latest saved state shaped like `abstract_state`; FileNotFoundError when there is none."""
  if not directory(workdir).is_dir():
    raise FileNotFoundError(directory(workdir))
  with ocp.CheckpointManager(directory(workdir)) as mngr:
    step = mngr.latest_step()
    if step is None:
      raise FileNotFoundError(directory(workdir))
    return mngr.restore(step, args=ocp.args.StandardRestore(abstract_state))

"""Orbax checkpoints of a run in `<workdir>/checkpoints`: atomic, the latest K plus the best.

A checkpoint step holds three items:
  state: the train state (params, optimiser state, step, on-device log sums);
  rng:   the PRNG keys of the run, as key data;
  meta:  JSON: the config that wrote it and the host-side progress (data position, early
         stopping record, seconds).
Orbax writes a step into a temporary directory and renames it when complete, so a process killed
while saving leaves the earlier checkpoints as they were. Reading writes nothing: a checkpoint that
cannot be read or does not fit is reported and left untouched.
"""

from __future__ import annotations

import pathlib
from typing import Any, Literal, Sequence

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

ARRAY_ITEMS = ("state", "rng")


class CheckpointError(ValueError):
  """A checkpoint that cannot be used; the message says which one and what to do."""


def directory(workdir: str | pathlib.Path) -> pathlib.Path:
  return pathlib.Path(workdir).absolute() / "checkpoints"


def _handlers() -> dict[str, ocp.CheckpointHandler]:
  return {**{name: ocp.StandardCheckpointHandler() for name in ARRAY_ITEMS},
          "meta": ocp.JsonCheckpointHandler()}


def manager(workdir, keep: int, best_metric: str,
            best_mode: Literal["min", "max"]) -> ocp.CheckpointManager:
  """A writable manager keeping the latest `keep` checkpoints plus the best on `best_metric`.

  Saves are synchronous (about a quarter of a second each for the date model on a 2-core CPU):
  a save finished before the next step keeps checkpoints and logs in a simple order, and no
  background thread reads a state that the next step donates.
  """
  sign = 1.0 if best_mode == "max" else -1.0
  # Ties go to the earlier step, as in early stopping (only a strictly better value counts).
  best = checkpoint_managers.BestN(get_metric_fn=lambda m: (sign * m[best_metric], -m["step"]),
                                   n=1, keep_checkpoints_without_metrics=False)
  options = ocp.CheckpointManagerOptions(
      preservation_policy=checkpoint_managers.AnyPreservationPolicy(
          [checkpoint_managers.LatestN(keep), best]),
      enable_async_checkpointing=False,
      cleanup_tmp_directories=True)  # what a process killed mid-save left behind
  return ocp.CheckpointManager(directory(workdir), item_handlers=_handlers(), options=options)


def save(mngr: ocp.CheckpointManager, step: int, arrays: dict[str, Any], meta: dict[str, Any],
         metrics: dict[str, float] | None) -> None:
  """Saves `arrays` (the ARRAY_ITEMS) and `meta` as `step`, unless that step is saved already.

  `metrics` (with a 'step' entry) rank the checkpoint for keeping the best; None: unranked.
  """
  if step in mngr.all_steps():
    return
  mngr.save(step, args=ocp.args.Composite(
      meta=ocp.args.JsonSave(meta),
      **{name: ocp.args.StandardSave(arrays[name]) for name in ARRAY_ITEMS}), metrics=metrics)


def _reader(workdir) -> ocp.CheckpointManager:
  # Not `read_only=True`, which logs three warnings per use: a manager that neither creates its
  # directory nor saves writes nothing (the bad-input tests hash the workdir to check).
  return ocp.CheckpointManager(
      directory(workdir), item_handlers=_handlers(),
      options=ocp.CheckpointManagerOptions(create=False, enable_async_checkpointing=False))


def latest_step(workdir) -> int | None:
  """The latest saved step, or None when the workdir holds no checkpoint."""
  path = directory(workdir)
  if not path.exists():
    return None
  if not path.is_dir():
    raise CheckpointError(f"{path} is a file, not a checkpoint directory; move it away.")
  with _reader(workdir) as mngr:
    return mngr.latest_step()


def all_steps(workdir) -> list[int]:
  """Every saved step, oldest first ([] without checkpoints)."""
  if latest_step(workdir) is None:
    return []
  with _reader(workdir) as mngr:
    return sorted(mngr.all_steps())


def _refuse(workdir, step: int, problem: str) -> CheckpointError:
  path = directory(workdir) / str(step)
  return CheckpointError(
      f"checkpoint {path} {problem}. It was left as it is. To resume from an earlier "
      f"checkpoint, move {path} out of {directory(workdir)}; to start afresh, use a new workdir.")


def read_meta(workdir, step: int) -> dict[str, Any]:
  """The JSON item of checkpoint `step`; CheckpointError when it cannot be read."""
  try:
    with _reader(workdir) as mngr:
      return mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
  except Exception as e:  # orbax raises a different type for each kind of damage
    raise _refuse(workdir, step, f"cannot be read ({type(e).__name__}: {e})") from e


def _flat_shapes(tree) -> dict[str, tuple[int, ...]]:
  return {"/".join(k): tuple(v.shape) for k, v in ocp.tree.to_flat_dict(tree).items()}


def _misfits(stored, abstract) -> list[str]:
  """Where the arrays `stored` (metadata) and `abstract` differ in name or shape."""
  have, want = _flat_shapes(stored), _flat_shapes(abstract)
  out = []
  for name in sorted(have.keys() | want.keys()):
    if name not in want:
      out.append(f"{name} is in the checkpoint only")
    elif name not in have:
      out.append(f"{name} is missing from the checkpoint")
    elif have[name] != want[name]:
      out.append(f"{name} has shape {have[name]} in the checkpoint, {want[name]} here")
  return out


def restore(workdir, step: int, abstract: dict[str, Any]) -> dict[str, Any]:
  """The array items named in `abstract` from checkpoint `step`, shaped like their values and
  placed as their shardings say (on this process's first device where they name none: a
  checkpoint written by several processes is read by one).

  Refuses (CheckpointError) a checkpoint that cannot be read or whose arrays do not fit.
  """
  here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype,
                                                         sharding=a.sharding or here), abstract)
  args = ocp.args.Composite(**{k: ocp.args.StandardRestore(v) for k, v in abstract.items()})
  try:
    with _reader(workdir) as mngr:
      stored = mngr.item_metadata(step)
      missing = [k for k in abstract if stored.get(k) is None]
      problems = [p for k in abstract if k not in missing for p in _misfits(stored[k], abstract[k])]
      if not missing and not problems:
        return dict(mngr.restore(step, args=args))
  except Exception as e:  # orbax raises a different type for each kind of damage
    raise _refuse(workdir, step, f"cannot be read ({type(e).__name__}: {e})") from e
  if missing:
    raise _refuse(workdir, step, f"cannot be read (its {', '.join(missing)} item is missing or "
                                 f"incomplete)")
  shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
  raise _refuse(workdir, step, f"does not fit this config's model and optimiser: {shown}")


def restore_params(workdir, step: int, abstract_params) -> Any:
  """The parameters of checkpoint `step`'s train state, checked against `abstract_params`; the
  rest of the state (optimiser, sums) is read as it is stored, so no optimiser is needed."""
  try:
    with _reader(workdir) as mngr:
      stored = mngr.item_metadata(step).get("state")
  except Exception as e:  # orbax raises a different type for each kind of damage
    raise _refuse(workdir, step, f"cannot be read ({type(e).__name__}: {e})") from e
  if stored is None or "params" not in stored:
    raise _refuse(workdir, step, "cannot be read (its state item is missing or incomplete)")
  like_stored = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), dict(stored))
  like_stored["params"] = abstract_params
  return restore(workdir, step, dict(state=like_stored))["state"]["params"]


def average_params(workdir, steps: Sequence[int], abstract_params) -> Any:
  """θ̄ = (1/K) Σ_k θ_k over checkpoints `steps` (checkpoint averaging: the latest K of a run
  often decode better than any one of them)."""
  trees = [restore_params(workdir, step, abstract_params) for step in steps]
  return jax.tree.map(lambda *thetas: sum(thetas) / len(thetas), *trees)

"""Data parallelism on JAX's own runtime: a device mesh, sharded batches, several processes.

The mesh has a `data` axis (batches are split along it; parameters and optimiser state are
replicated) and a `model` axis (large kernels are split along their last dimension, for big
hidden sizes or vocabularies). The global batch is the config's whatever the device count, so a
run computes the same numbers on 1 or 8 devices, up to the order of float additions.

Several processes (hosts) join through `jax.distributed.initialize`; every process draws the
same shuffled global batches and builds only its own rows of each (`part`), so the global batch
is the one a single process would read, and a host's batches take 1/P of it. Every process
holds the whole encoded corpus (int32 ids: 2 × 4 × N × T bytes, 0.5 GB for a million pairs of
64 tokens; the same on 1 or 100 hosts): a shard per host would make the batches depend on the
host count, and with them the numbers and an exact resume on another mesh. Only process 0
writes logs and files, while all take part in every computation and checkpoint save (orbax
coordinates them).
"""

from __future__ import annotations

import hashlib
import os

import jax
from absl import logging
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from seqattn.config import MeshConfig

DATA, MODEL = "data", "model"
MODEL_SHARDED_MIN_SIZE = 2 ** 16  # a kernel smaller than this is replicated: not worth a split


# Cluster managers whose jobs jax.distributed.initialize() joins by itself (reading the
# coordinator, the process count and this process's id from the job's environment), each by
# the variable that says how many processes its job has.
CLUSTERS = {"SLURM": "SLURM_NTASKS", "Open MPI": "OMPI_COMM_WORLD_SIZE"}


def joining(cfg: MeshConfig) -> tuple[str, dict] | None:
  """How this process joins a multi-process run: ('explicit', initialize's arguments) from the
  config, else the environment (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID);
  (a cluster's name, {}) inside a multi-process job of a cluster manager that JAX detects
  (CLUSTERS, a Cloud TPU pod's hosts, a Kubernetes indexed job); None for a single process."""
  address = cfg.coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS", "")
  processes = cfg.num_processes or int(os.environ.get("JAX_NUM_PROCESSES", "0"))
  if address and processes > 1:
    if cfg.process_id < 0 and "JAX_PROCESS_ID" not in os.environ:
      raise ValueError(f"a run of {processes} processes (coordinator {address}) needs this "
                       f"process's index: set JAX_PROCESS_ID=0..{processes - 1}, or "
                       f"--config.mesh.process_id.")
    process_id = cfg.process_id if cfg.process_id >= 0 else int(os.environ["JAX_PROCESS_ID"])
    return "explicit", dict(coordinator_address=address, num_processes=processes,
                            process_id=process_id)
  for name, count in CLUSTERS.items():
    if int(os.environ.get(count, "1")) > 1:
      return name, {}
  if len(os.environ.get("TPU_WORKER_HOSTNAMES", "").split(",")) > 1:
    return "Cloud TPU", {}
  if "KUBERNETES_SERVICE_HOST" in os.environ and "JOB_COMPLETION_INDEX" in os.environ:
    return "Kubernetes", {}
  return None


def initialize(cfg: MeshConfig) -> None:
  """Joins the processes of a multi-host run (`joining` says how, and the log which); a single
  process does nothing. Must run before anything else touches JAX's devices."""
  how = None if jax.distributed.is_initialized() else joining(cfg)
  if how is None:
    return
  name, arguments = how
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU hosts talk over gloo
  logging.warning("joining a multi-process run: %s", f"{arguments}" if arguments else
                  f"the {name} job's own environment (jax.distributed.initialize's detection)")
  jax.distributed.initialize(**arguments)


def is_primary() -> bool:
  """Whether this process writes the run's files (process 0)."""
  return jax.process_index() == 0


def mesh(cfg: MeshConfig) -> Mesh:
  """The (data, model) mesh over every device of every process; data = -1 takes what is left."""
  devices = jax.devices()
  data = len(devices) // cfg.model if cfg.data == -1 else cfg.data
  if data * cfg.model != len(devices):
    raise ValueError(f"mesh.data={cfg.data} × mesh.model={cfg.model} does not match the "
                     f"{len(devices)} devices; use mesh.data=-1 to take them all.")
  # Auto axes: XLA propagates the shardings through the unchanged model code (GSPMD).
  return jax.make_mesh((data, cfg.model), (DATA, MODEL), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,) * 2)


def _leaf_spec(mesh: Mesh, leaf) -> P:
  """A large kernel whose last dimension divides evenly is split along `model`; the rest is
  replicated."""
  model = mesh.shape[MODEL]
  shape = getattr(leaf, "shape", ())
  if (model > 1 and len(shape) >= 2 and shape[-1] % model == 0
          and np.prod(shape) >= MODEL_SHARDED_MIN_SIZE):
    return P(*([None] * (len(shape) - 1)), MODEL)
  return P()


def state_shardings(mesh: Mesh, state):
  """The sharding of every leaf of a train state (or of its abstract shapes)."""
  return jax.tree.map(lambda leaf: NamedSharding(mesh, _leaf_spec(mesh, leaf)), state)


def _place(leaf, sharding: NamedSharding) -> jax.Array:
  """One global array from a value every process holds in full."""
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    return jax.random.wrap_key_data(_place(jax.random.key_data(leaf), sharding),
                                    impl=jax.random.key_impl(leaf))
  host = np.asarray(leaf)
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def place_state(mesh: Mesh, state):
  """`state` (the same in every process) on the mesh: replicated, large kernels split along
  `model`."""
  return jax.tree.map(_place, state, state_shardings(mesh, state))


def abstract_on(mesh: Mesh, abstract):
  """Abstract arrays carrying their mesh sharding: what a multi-process restore needs."""
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      abstract, state_shardings(mesh, abstract))


def part() -> tuple[int, int]:
  """(this process's index, the number of processes): which rows of each global batch this
  process builds (seqattn.data.batching.Part)."""
  return jax.process_index(), jax.process_count()


def shard_batch(mesh: Mesh, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
  """This process's rows of a global batch (`part`'s; all of it in a single process) as the
  global batch's arrays, split along the mesh's data axis."""
  size = next(iter(batch.values())).shape[0] * jax.process_count()
  if size % mesh.shape[DATA]:
    raise ValueError(f"a batch of {size} does not split over mesh.data={mesh.shape[DATA]} "
                     f"devices; use a batch size that is a multiple of it.")
  return {k: jax.make_array_from_process_local_data(
              NamedSharding(mesh, P(DATA, *([None] * (v.ndim - 1)))), v, (size, *v.shape[1:]))
          for k, v in batch.items()}


def digest(tree) -> str:
  """sha256 of a tree's whole arrays, gathered from every device and process (a kernel split
  along `model` whole): equal on every process of a run, and across runs that computed the
  same numbers on any mesh. A collective: every process calls it."""
  found = hashlib.sha256()
  for leaf in jax.tree.leaves(to_host(tree)):
    found.update(np.asarray(leaf).tobytes())
  return found.hexdigest()


def agree(flags: list[int], step: int, every: int) -> list[int] | None:
  """Each flag's largest value over the processes (a signal any of them received, a time
  budget any of them saw run out), so that all stop at the same step; None between the steps
  where they agree (every `every` steps: each agreement waits for the devices). A single
  process has its own flags at every step."""
  if jax.process_count() == 1:
    return flags
  if step % every:
    return None
  gathered = multihost_utils.process_allgather(np.asarray(flags, np.int32))
  return [int(v) for v in np.asarray(gathered).reshape(jax.process_count(), -1).max(0)]


def broadcast(value: int) -> int:
  """Process 0's `value`, in every process (a collective: every process calls it)."""
  if jax.process_count() == 1:
    return value
  return int(multihost_utils.broadcast_one_to_all(np.int32(value)))


def to_host(tree):
  """Every leaf as one host numpy array, gathered from every process."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)

"""Shared fixtures; strict numerics for every test (no silent rank promotion)."""

import atexit
import gc
import os
import pathlib
import shutil
import tempfile

# One XLA compilation cache for the session, its pytest-xdist workers and the launch.py
# subprocesses they start (all inherit the environment): the many short runs compile the same
# functions, about 9 s a run. The process that made the cache removes it.
if "SEQATTN_TEST_XLA_CACHE" not in os.environ:
  os.environ["SEQATTN_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="seqattn-test-xla-cache-")
  atexit.register(shutil.rmtree, os.environ["SEQATTN_TEST_XLA_CACHE"], ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["SEQATTN_TEST_XLA_CACHE"]
# The tests' programs are tiny and mostly compiled once: LLVM's cheaper code generation saves
# about a fifth of the suite, and single-threaded matmuls keep pytest-xdist's workers (one a
# core) from contending. Every comparison in the tests is made under these flags.
_TEST_XLA_FLAGS = ("--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
                   "--xla_cpu_multi_thread_eigen=false")
if _TEST_XLA_FLAGS not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_TEST_XLA_FLAGS}".strip()
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

import jax  # noqa: E402  (reads the cache settings above when imported)
import pytest

from seqattn.config import freeze, load_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

jax.config.update("jax_numpy_rank_promotion", "raise")

# The files that take longest start first (by summed test durations, `--durations=0`), so that
# pytest-xdist's workers, handed whole files in this order, do not end on one long file while
# the other idles.
LONGEST_FIRST = ("test_parallel.py", "test_checkpoint.py", "test_models.py", "test_variants.py",
                 "test_sweep.py", "test_launch.py", "test_decode.py", "test_series.py",
                 "test_bad_input.py", "test_text.py", "test_tasks.py", "test_train.py",
                 "test_attention.py", "test_seeds.py", "test_darnn.py")


def pytest_collection_modifyitems(items):
  rank = lambda item: (LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST
                       else len(LONGEST_FIRST))
  items.sort(key=rank)  # stable: a file's own tests keep their order


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
  """Drops each module's compiled programs when it ends. An XLA:CPU executable holds hundreds
  of memory maps, and past the kernel's limit (vm.max_map_count, 65,530 here: ~100 programs)
  the next compilation segfaults."""
  yield
  jax.clear_caches()
  gc.collect()


@pytest.fixture
def tiny_config():
  """configs/test.py, frozen."""
  return freeze(load_file(CONFIGS / "test.py"))


def model_of(config, v_src: int, v_tgt: int):
  """The config's model between token ends of the given vocabulary sizes (no data needed)."""
  from seqattn.models import ends
  from seqattn.models.seq2seq import Seq2Seq
  return Seq2Seq(config.model, ends.Tokens(v_src), ends.Tokens(v_tgt),
                 config.data.max_input_len, config.data.max_target_len)


def task_and_model(config):
  """(task, data, model) of a frozen config, as a run builds them."""
  from seqattn import tasks
  from seqattn.training import run
  task = tasks.make(config.data)
  data = task.load(config.seed)
  return task, data, run.build_model(config, task, data.codec)


def recomputes(model, params, batch, *loss_args) -> bool:
  """Whether `model`'s training loss recomputes steps in the backward pass: jax.checkpoint's
  primitive (named remat2 or checkpoint by JAX's version) in the loss's jaxpr."""
  import jax
  from seqattn.training.step import loss_fn
  text = str(jax.make_jaxpr(loss_fn, static_argnums=1)(params, model, batch, *loss_args))
  return "remat" in text or "checkpoint[" in text

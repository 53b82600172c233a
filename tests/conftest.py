"""Shared fixtures; strict numerics for every test (no silent rank promotion)."""

import atexit
import os
import pathlib
import shutil
import tempfile

import jax  # before the cache settings below: they are for the subprocesses only

# One XLA compilation cache for the launch.py subprocesses the tests start (they inherit the
# environment and compile the same functions, about 9 s a run). Not for this process: writing a
# few hundred executables from one process crashed the cache writer (a segfault in
# put_executable_and_time, jax 0.10.2) during `pytest -m slow`.
_XLA_CACHE = tempfile.mkdtemp(prefix="seqattn-test-xla-cache-")
atexit.register(shutil.rmtree, _XLA_CACHE, ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

import pytest

from seqattn.config import freeze, load_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def tiny_config():
  """configs/test.py, frozen."""
  return freeze(load_file(CONFIGS / "test.py"))

"""Shared fixtures; strict numerics for every test (no silent rank promotion)."""

import pathlib

import jax
import pytest

from seqattn.config import freeze, load_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def tiny_config():
  """configs/test.py, frozen."""
  return freeze(load_file(CONFIGS / "test.py"))

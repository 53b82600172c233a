"""Config files and their overrides: `load_file('configs/dates.py:arg')` runs a file's
get_config(arg); `override(config, {'model.attention': 'dot'})` is the one way a ConfigDict is
changed (launch.py's --config.<path>=value, sweeps, benchmarks, tests). seqattn.config imports
both, so config files write `from seqattn.config import load_file`.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import pathlib
from typing import Any, Mapping

import ml_collections

from seqattn.schema import ConfigError


def _parse(text: str, like: Any) -> Any:
  """`text` from a command line as a value of `like`'s type (bool, int, float or str)."""
  if isinstance(like, bool):
    if text.lower() not in ("true", "false", "1", "0"):
      raise ValueError(f"{text!r} is not a bool; use true or false")
    return text.lower() in ("true", "1")
  return type(like)(text) if isinstance(like, (int, float)) else text


def override(config: ml_collections.ConfigDict,
             overrides: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A copy of `config` with each dotted path ('model.attention') set to its value.

  The one way configs are overridden (launch.py's --config.<path>=value, sweeps, benchmarks,
  tests). An unknown path names the valid keys where it went wrong; a string for a number or
  bool field is parsed as one (a command line gives strings); a value of the wrong type names
  the type expected (ConfigDict's own type check).
  """
  config = copy.deepcopy(config)
  for path, value in overrides.items():
    *groups, key = path.split(".")
    node, where = config, "config"
    for name in [*groups, key]:
      if not isinstance(node, ml_collections.ConfigDict) or name not in node:
        valid = (", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict)
                 else "(none: it is a value)")
        raise ConfigError(f"unknown config key {where}.{name} (in {path}); valid keys under "
                          f"{where}: {valid}.")
      if name != key:
        node, where = node[name], f"{where}.{name}"
    try:
      node[key] = _parse(value, node[key]) if isinstance(value, str) else value
    except (TypeError, ValueError) as e:
      raise ConfigError(f"{path}={value!r} is not valid ({e}).") from e
  return config


def load_module(path: str | os.PathLike):
  """(the config file's module, its ':arg' suffix or None): `path` may end in ':arg'."""
  path, _, arg = str(path).partition(":")
  spec = importlib.util.spec_from_file_location(pathlib.Path(path).stem + "_config", path)
  if spec is None or not pathlib.Path(path).is_file():
    raise ConfigError(f"no config file at {path}; see configs/ for the shipped ones.")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module, arg or None


def load_file(path: str | os.PathLike) -> ml_collections.ConfigDict:
  """`get_config(arg)` of a config file; `path` may end in `:arg`, as with --config."""
  module, arg = load_module(path)
  return module.get_config(arg)

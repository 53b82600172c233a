"""Typed, validated settings: frozen dataclasses whose fields carry their checks, filled from
nested mappings with every mistake named alongside what is valid.

A field's metadata may hold `check` (a predicate) and `description` (what is valid: text, or a
function giving it, so that a registry is read when checked), or `group` (a function of the
group's values giving the dataclass that reads them: the config's `data` group is the task's).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal, Mapping, Sequence


class ConfigError(ValueError):
  """A config that cannot be used; the message says what is valid."""


def _positive(x):
  return x > 0


def _non_negative(x):
  return x >= 0


def _probability(x):
  return 0.0 <= x < 1.0


def _check(predicate, description):
  return dict(check=predicate, description=description)


def refuse(rules: list[tuple[bool, str]]) -> None:
  """Raises ConfigError with the message of the first broken rule (a (broken, message) pair)."""
  for broken, message in rules:
    if broken:
      raise ConfigError(message + ".")


POSITIVE = _check(_positive, "a number > 0")
NON_NEGATIVE = _check(_non_negative, "a number >= 0")
PROBABILITY = _check(_probability, "a number in [0, 1)")


def registered(registry: Mapping[str, Any] | Sequence[str], where: str) -> dict:
  """Field metadata: the value must be a name of `registry` (named `where` in the message), so
  that each name lives in its registry alone."""
  return dict(check=lambda x: x in registry,
              description=lambda: f"one of {', '.join(repr(n) for n in registry)} ({where})")


def _describe(tp) -> str:
  if typing.get_origin(tp) is Literal:
    return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
  return tp.__name__


def _coerce(value, tp, path: str):
  """Returns `value` as type `tp`, or raises ConfigError naming what `path` accepts."""
  if typing.get_origin(tp) is Literal:
    if value in typing.get_args(tp):
      return value
    raise ConfigError(f"{path}={value!r} is not valid; use {_describe(tp)}.")
  ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
  if tp is float and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  if not ok:
    raise ConfigError(f"{path}={value!r} has type {type(value).__name__}; expected {_describe(tp)}.")
  return value


def freeze_dataclass(cls, values: Mapping[str, Any], path: str, saved: bool = False):
  """`cls` filled from `values` (a nested mapping) at config path `path`; ConfigError names
  the first unknown or missing key, wrong type or invalid value, with what is valid.

  saved: `values` is a config.json a run wrote; a setting added since takes the value that
  reproduces that run (its field's metadata `before`), where it has one.
  """
  fields = {f.name: f for f in dataclasses.fields(cls)}
  hints = typing.get_type_hints(cls)
  unknown = sorted(set(values) - set(fields))
  if unknown:
    where = f" in {path}" if path else ""
    raise ConfigError(
        f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}{where}; "
        f"valid keys: {', '.join(sorted(fields))}.")
  if saved:
    values = {**{n: f.metadata["before"] for n, f in fields.items() if "before" in f.metadata},
              **values}
  missing = sorted(set(fields) - set(values))
  if missing:
    raise ConfigError(f"config{' ' + path if path else ''} lacks {', '.join(missing)}.")
  kwargs = {}
  for name, field in fields.items():
    sub_path = f"{path}.{name}" if path else name
    tp, group = hints[name], field.metadata.get("group")
    if dataclasses.is_dataclass(tp) or group:
      sub = values[name]
      if not isinstance(sub, Mapping):
        raise ConfigError(f"{sub_path} must be a group of settings, got {sub!r}.")
      kwargs[name] = freeze_dataclass(group(sub) if group else tp, sub, sub_path, saved)
      continue
    value = _coerce(values[name], tp, sub_path)
    check = field.metadata.get("check")
    if check is not None and not check(value):
      description = field.metadata["description"]
      description = description() if callable(description) else description
      raise ConfigError(f"{sub_path}={value!r} is not valid; use {description}.")
    kwargs[name] = value
  return cls(**kwargs)

"""The import graph of src/seqattn points one way: each unit (a top-level module or package)
imports only units of its own layer or below, and no modules import each other in a cycle.
The layers are docs/architecture.md's picture; every import counts, those inside functions
too."""

import ast
import collections
import pathlib

from conftest import ROOT

PACKAGE = ROOT / "src" / "seqattn"

# Lowest first: docs/architecture.md, "Layers".
LAYERS = [
    {"schema", "optimizers", "config_files", "data", "corpora", "files"},
    {"models"},
    {"measures", "tasks"},
    {"config"},
    {"runtime"},
    {"inference"},
    {"training"},
    {"experiments", "api"},
    {"cli", "__init__"},
]


def _module(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _imports() -> dict[str, set[str]]:
  """Module -> the seqattn modules it imports (names relative to the package)."""
  modules = {_module(p) for p in PACKAGE.rglob("*.py")}
  graph = collections.defaultdict(set)
  for path in PACKAGE.rglob("*.py"):
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqattn"):
        base = node.module.removeprefix("seqattn").lstrip(".")
        for alias in node.names:  # `from seqattn.models import cells` imports a module
          name = f"{base}.{alias.name}".lstrip(".")
          graph[_module(path)].add(name if name in modules else base)
      elif isinstance(node, ast.Import):
        graph[_module(path)] |= {a.name.removeprefix("seqattn.") for a in node.names
                                 if a.name.startswith("seqattn.")}
  return graph


def _layer(module: str) -> int:
  unit = module.split(".")[0]
  return next(i for i, units in enumerate(LAYERS) if unit in units)


def test_every_unit_has_a_layer():
  units = {_module(p).split(".")[0] for p in PACKAGE.rglob("*.py")}
  assert units <= set().union(*LAYERS), units - set().union(*LAYERS)


def test_no_import_points_up_a_layer():
  upward = [f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
            for m, deps in _imports().items() for d in deps if _layer(d) > _layer(m)]
  assert not upward, upward


def test_no_modules_import_each_other_in_a_cycle():
  graph, state, cycles = _imports(), {}, []

  def visit(m, path):
    state[m] = "open"
    for d in sorted(graph.get(m, ())):
      if d == m or d.startswith(m + "."):  # a package and its own modules
        continue
      if state.get(d) == "open":
        cycles.append(path[path.index(d):] + [d] if d in path else path + [d])
      elif d not in state:
        visit(d, path + [d])
    state[m] = "done"

  for m in sorted(graph):
    if m not in state:
      visit(m, [m])
  assert not cycles, cycles


def test_config_and_models_do_not_import_each_other_upwards():
  """models never import config (a model owns its config dataclass); config composes the
  groups below it and reaches no module above."""
  graph = _imports()
  assert not any(d == "config" for m, deps in graph.items() if m.startswith("models")
                 for d in deps)
  assert all(_layer(d) <= _layer("config") for d in graph["config"])

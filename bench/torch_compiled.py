"""torch.compile of a PyTorch training step: the second PyTorch peer of bench/train.py and
bench/text_speed.py, beside eager.

What a PyTorch user would try first for speed: `torch.compile(step)` of the whole training step
(forward, loss, backward, Adam's update), the default inductor backend, which on CPU generates
C++/OpenMP kernels. Each batch shape is compiled statically (`dynamic=False`), as JAX compiles
one step per shape. Dynamo cuts the step where it cannot trace, and the cuts decide what is
compiled; with torch 2.13.0+cpu they fall at `pack_padded_sequence` (the packed nn.LSTM/nn.GRU
encoder runs eager), `Tensor.backward()` (the backward is AOTAutograd's compiled backward of each
forward graph), `Optimizer.zero_grad` and around `Optimizer.step` (the optimiser's own breaks,
so that its update compiles as an in-place graph); the decoder loop (unrolled over Ty), the loss and
Adam's update are compiled. `graph_breaks()` names the cuts, so the reports say what was compiled.

Cold compile (`cold()`): nothing compiled earlier in this process or in another one is reused;
the process's one-time start-up (`start_up()`) is timed apart.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any, Callable, Iterable

import torch
import torch._dynamo
from torch._inductor.utils import fresh_cache


@contextlib.contextmanager
def cold():
  """Dynamo's code caches and counters reset; inductor's in-memory caches cleared and
  TORCHINDUCTOR_CACHE_DIR a new empty temporary directory (removed on leaving: what was
  compiled inside stays loaded)."""
  torch._dynamo.reset()
  torch._dynamo.utils.counters.clear()
  with fresh_cache():
    yield


def compile_step(step: Callable[[Any], Any]) -> Callable[[Any], Any]:
  return torch.compile(step, dynamic=False)


def start_up() -> float:
  """Seconds of this process's first torch.compile, cold, of a one-line function: inductor's
  imports and compile workers, which every later compilation reuses. Taken once before the timed
  compilations, so that those are the step's alone, as JAX's are (its start-up is outside)."""
  start = time.perf_counter()
  with cold():
    compile_step(lambda x: torch.sin(x) + 1)(torch.ones(3))
  return time.perf_counter() - start


def peer(make_step: Callable[[], Callable[[Any], Any]], first_batches: Iterable[Any],
         row: dict[str, Any]) -> Callable[[Any], Any] | None:
  """`make_step()` compiled cold, and its first call on each of `first_batches` (one per shape:
  compilation, then one training step) timed into row["torch_compile_s"], with where dynamo cut
  it in row["torch_compile_graph_breaks"]. When compilation fails: None, and the error in
  row["torch_compile_error"] for the report."""
  try:
    with cold():
      compiled = compile_step(make_step())
      start = time.perf_counter()
      for batch in first_batches:
        compiled(batch)
      row["torch_compile_s"] = time.perf_counter() - start
      row["torch_compile_graph_breaks"] = graph_breaks()
    return compiled
  except Exception as exc:  # reported, not hidden
    lines = str(exc).strip().splitlines()
    row["torch_compile_error"] = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return None


def graph_breaks() -> list[str]:
  """Where dynamo cut the graphs since `cold()`: each reason's first line and the first name
  quoted in it, with its count."""
  out = []
  for reason, count in torch._dynamo.utils.counters["graph_break"].items():
    name = re.search(r"`([^`]+)`", reason)
    out.append(f"{reason.splitlines()[0]}" + (f": {name.group(1)}" if name else "")
               + f" (x{count})")
  return out

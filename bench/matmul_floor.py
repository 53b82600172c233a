"""The matmul floor of the train step: its time if it did nothing but its matmuls.

  python bench/matmul_floor.py                  # course b100, course b1000, nmt b64
  python bench/matmul_floor.py --models nmt --windows 7

Whether a target ratio against PyTorch is reachable at all: JAX's step cannot take less time
than its matmuls take, so (PyTorch's step) / (JAX's floor) bounds the ratio any JAX step doing
these matmuls can reach against that PyTorch step.

Per model: the step's matmuls are flops.forward_products (forward) and, for each, the two
products of its backward, dX = dY·Wᵀ and dW = Xᵀ·dY (no dX for one-hot inputs), with their
transposed operand layouts. Each distinct shape is timed standalone, a jitted jnp matmul against
torch's, interleaved (common.timed_windows), median of windows, both ways round (C = A·B and
Cᵀ = Bᵀ·Aᵀ on the same stored operands: a library, or XLA inside the step, may take either, and
XLA:CPU's is many times slower one way when a side is a single column), the faster kept; a
floor is Σ count × time. The list is the same arithmetic for both libraries; PyTorch's own step
does less in its encoder (its packed nn.LSTM multiplies real tokens only, `real_source_fraction`
of B·Tx), so its floor here is an upper figure for what its step must do. First the two steps themselves are timed as bench/train.py
does (train.throughput, without torch.compile), in the same process.

Three floors, for three ways of arranging the same arithmetic:
  per_step:       as the model does it: every product inside its time loop (JAX's scan).
  inputs_batched: the input-side products of all time steps as one matmul before the loop, as
                  cuDNN does ([B·Tx, I] × [I, 4H] a direction; the decoder's E y_{t-1} part),
                  and as PyTorch's CPU nn.LSTM does for its encoder.
  all_batched:    also the readout, W_o s_t of all steps as one matmul after the loop.
PyTorch runs at bench/train.py's thread count for it, or at `--torch-threads`: on a loaded 2-core
machine two threads can make a small torch matmul 100× slower, so a shared machine wants 1.
A standalone jitted call carries JAX's dispatch (timed here as a jitted call that does almost
nothing); inside the compiled step there is no such dispatch, so each JAX floor is also given
less it (`_less_dispatch`), the lowest and so the most generous bound.
"""

from __future__ import annotations

import argparse
import functools
import statistics
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch

from common import emit, load_config, load_task, table, timed_windows
from flops import Product, forward_products
import train

MODELS = (("course", 100), ("course", 1000), ("nmt", 64))


def backward_products(forward: Product) -> list[Product]:
  """dX = dY·Wᵀ ([m, n] × [n, k], W read transposed) and dW = Xᵀ·dY ([k, m] × [m, n], X read
  transposed) of a forward X·W, the same count of times; dX only where X needs a gradient."""
  d_input = forward._replace(name=forward.name + " dX", k=forward.n, n=forward.k, layout="nt")
  d_weight = forward._replace(name=forward.name + " dW", m=forward.k, k=forward.m, layout="tn")
  return ([d_input] if forward.input_grad else []) + [d_weight]


def batched_over_time(products: list[Product], names: tuple[str, ...],
                      config) -> list[Product]:
  """`products` with those named in `names` done once for all time steps: count c of
  [B, k] × [k, n] becomes count c/T of [B·T, k] × [k, n] (T = Tx in the encoder, else Ty).
  The decoder cell's input product is split: its E y_{t-1} rows batched, its context rows not."""
  tx, ty = config.data.max_input_len, config.data.max_target_len
  y_in = config.model.embed_dim if config.model.feed_previous_token else 0
  out = []
  for p in products:
    steps = tx if p.name.startswith("encoder") else ty
    if p.name not in names:
      out.append(p)
    elif p.name.startswith("decoder [E y; c]"):
      if y_in:
        out.append(p._replace(name="decoder E y W_y", m=p.m * steps, k=y_in, count=1))
      out.append(p._replace(name="decoder c W_c", k=p.k - y_in))
    else:
      out.append(p._replace(m=p.m * steps, count=p.count // steps))
  return out


INPUT_SIDE = ("encoder x W_i", "decoder [E y; c] W_i")


def floors(config, src_vocab: int, tgt_vocab: int, batch_size: int) -> dict[str, list[Product]]:
  """Every product of one train step (forward and backward) for each arrangement."""
  forward = forward_products(config, src_vocab, tgt_vocab, batch_size)
  arrangements = {"per_step": forward,
                  "inputs_batched": batched_over_time(forward, INPUT_SIDE, config),
                  "all_batched": batched_over_time(forward, INPUT_SIDE + ("readout W_o s_t",),
                                                   config)}
  return {name: [q for p in products for q in [p] + backward_products(p)]
          for name, products in arrangements.items()}


def shape_key(p: Product) -> tuple[int, int, int, int, str]:
  return (p.batch, p.m, p.k, p.n, p.layout)


def operands(p: Product, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """Float32 operands of `p` laid out as `p.layout` reads them."""
  lead = (p.batch,) if p.batch > 1 else ()
  a = (p.m, p.k) if p.layout[0] == "n" else (p.k, p.m)
  b = (p.k, p.n) if p.layout[1] == "n" else (p.n, p.k)
  return (rng.standard_normal(lead + a, dtype=np.float32),
          rng.standard_normal(lead + b, dtype=np.float32))


def matmul(layout: str, transposed: bool = False) -> Callable:
  """a @ b with the operands `layout` marks transposed read as .mT (jax or torch alike; under
  jit XLA folds the transpose into the dot). `transposed`: the same product the other way
  round, (a @ b)ᵀ = bᵀ @ aᵀ on the same stored operands, which a library may run faster
  (XLA:CPU's dot with one side a single column is one such case)."""
  def product(a, b):
    a, b = (a.mT if layout[0] == "t" else a), (b.mT if layout[1] == "t" else b)
    return b.mT @ a.mT if transposed else a @ b
  return product


def time_shapes(products: list[Product], windows: int,
                seconds_per_window: float) -> dict[tuple, dict[str, float]]:
  """Median seconds of each distinct shape, both ways round (`matmul`'s `transposed`), jitted
  jnp against torch (the thread count already set), and of a jitted call that does almost
  nothing on the same operands (JAX's dispatch); "jax" and "torch" keep the faster way."""
  rng = np.random.default_rng(0)
  seconds = {}
  for key, p in {shape_key(p): p for p in products}.items():
    a_np, b_np = operands(p, rng)
    jx, pt = (jnp.asarray(a_np), jnp.asarray(b_np)), (torch.from_numpy(a_np),
                                                       torch.from_numpy(b_np))
    contenders = {"jax_dispatch": functools.partial(jax.jit(lambda a, b: a[(0,) * a.ndim]), *jx)}
    for way, transposed in (("", False), ("_transposed", True)):
      contenders["jax" + way] = functools.partial(jax.jit(matmul(p.layout, transposed)), *jx)
      contenders["torch" + way] = functools.partial(matmul(p.layout, transposed), *pt)
    _, timings = timed_windows(contenders, windows, seconds_per_window)
    medians = {name: statistics.median(s) for name, s in timings.items()}
    for lib in ("jax", "torch"):
      medians[lib + "_as_written"] = medians[lib]
      medians[lib] = min(medians[lib], medians[lib + "_transposed"])
    seconds[key] = medians
  return seconds


def floor_row(name: str, batch_size: int, windows: int, step_seconds_per_window: float,
              seconds_per_window: float, torch_threads: int | None) -> tuple[dict, list[dict]]:
  """The two steps timed (train.throughput), then every product of every arrangement; returns
  the model's row and one row per product of the per-step arrangement and the batched ones."""
  config = load_config(name, batch_size=batch_size)
  _, data = load_task(config)
  step = train.throughput(name, batch_size, windows, step_seconds_per_window,
                          with_compile=False, torch_threads=torch_threads)
  arrangements = floors(config, len(data.codec.src_vocab), len(data.codec.tgt_vocab),
                        batch_size)
  seconds = time_shapes([p for ps in arrangements.values() for p in ps], windows,
                        seconds_per_window)
  row = dict(model=name, batch=batch_size, torch_threads=step["torch_threads"],
             real_source_fraction=float(np.mean(data.train.input_lengths))
             / config.data.max_input_len,
             jax_ms_per_step=step["jax_ms_per_step"], torch_ms_per_step=step["torch_ms_per_step"],
             ratio_jax_over_torch=step["ratio_jax_over_torch"],
             jax_dispatch_us=1e6 * statistics.median(s["jax_dispatch"] for s in seconds.values()),
             gflop_per_step=sum(p.flops for p in arrangements["per_step"]) / 1e9)
  products = []
  for arrangement, ps in arrangements.items():
    for p in ps:
      t = seconds[shape_key(p)]
      products.append(emit(dict(model=name, batch=batch_size, arrangement=arrangement,
                                product=p.name, shape=_shape(p), count=p.count,
                                jax_us=1e6 * t["jax"], torch_us=1e6 * t["torch"],
                                jax_us_as_written_transposed=[1e6 * t["jax_as_written"],
                                                              1e6 * t["jax_transposed"]],
                                torch_us_as_written_transposed=[1e6 * t["torch_as_written"],
                                                                1e6 * t["torch_transposed"]],
                                jax_ms_per_step=1e3 * p.count * t["jax"],
                                torch_ms_per_step=1e3 * p.count * t["torch"],
                                jax_dispatch_us=1e6 * t["jax_dispatch"])))
    mine = [q for q in products if q["arrangement"] == arrangement]
    jax_floor = sum(q["jax_ms_per_step"] for q in mine)
    dispatch = sum(q["count"] * q["jax_dispatch_us"] for q in mine) / 1e3
    row[f"jax_floor_ms_{arrangement}"] = jax_floor
    row[f"jax_floor_ms_{arrangement}_less_dispatch"] = jax_floor - dispatch
    row[f"torch_floor_ms_{arrangement}"] = sum(q["torch_ms_per_step"] for q in mine)
    row[f"matmuls_{arrangement}"] = sum(q["count"] for q in mine)
  for arrangement in arrangements:  # > 1: JAX would beat this PyTorch step by that much
    row[f"best_ratio_{arrangement}"] = (row["torch_ms_per_step"]
                                        / row[f"jax_floor_ms_{arrangement}_less_dispatch"])
  return emit(row), products


def _shape(p: Product) -> str:
  a = f"[{p.m}, {p.k}]" if p.layout[0] == "n" else f"[{p.k}, {p.m}]ᵀ"
  b = f"[{p.k}, {p.n}]" if p.layout[1] == "n" else f"[{p.n}, {p.k}]ᵀ"
  return (f"{p.batch} × " if p.batch > 1 else "") + f"{a} × {b}"


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--models", nargs="+", default=None,
                      help="course100 course1000 nmt64 (default: all three)")
  parser.add_argument("--windows", type=int, default=5)
  parser.add_argument("--step-seconds-per-window", type=float, default=1.5)
  parser.add_argument("--seconds-per-window", type=float, default=0.15,
                      help="per matmul shape and contender")
  parser.add_argument("--torch-threads", type=int, default=None,
                      help="PyTorch's thread count (default: the faster of 1 and all cores, as "
                           "bench/train.py picks it)")
  args = parser.parse_args()
  chosen = [m for m in MODELS if args.models is None or f"{m[0]}{m[1]}" in args.models]
  rows, products = [], []
  for name, batch_size in chosen:
    row, ps = floor_row(name, batch_size, args.windows, args.step_seconds_per_window,
                        args.seconds_per_window, args.torch_threads)
    rows.append(row)
    products += ps
  table([p for p in products if p["arrangement"] == "per_step"],
        dict(model="model", batch="batch", product="product", shape="shape", count="count",
             jax_us="JAX µs", torch_us="eager µs", jax_ms_per_step="JAX ms a step",
             torch_ms_per_step="eager ms a step"))
  table(rows, dict(model="model", batch="batch", jax_ms_per_step="JAX step ms",
                   torch_ms_per_step="eager step ms", ratio_jax_over_torch="JAX / eager now",
                   jax_floor_ms_per_step="JAX floor ms",
                   jax_floor_ms_per_step_less_dispatch="JAX floor less dispatch",
                   torch_floor_ms_per_step="eager floor ms",
                   jax_floor_ms_inputs_batched_less_dispatch="JAX less dispatch, inputs batched",
                   torch_floor_ms_inputs_batched="eager floor, inputs batched",
                   jax_floor_ms_all_batched_less_dispatch="JAX less dispatch, all batched",
                   best_ratio_per_step="eager step / JAX floor less dispatch",
                   best_ratio_inputs_batched="(inputs batched)",
                   best_ratio_all_batched="(all batched)"))


if __name__ == "__main__":
  main()

"""Achieved FLOP/s of the train step against the machine's measured float32 matmul peak.

  python bench/flops.py

FLOPs are the model's matmul FLOPs (2·m·k·n per product), counted from the config: the
encoder's gate products (one-hot inputs included: the step multiplies by them), the key
projection once per sequence, and at every output step the query projection, the energies,
the context Σ_j α_tj h_j, the decoder cell and the readout. Backward costs twice forward, so
a training example costs 3× its forward FLOPs. Element-wise work (gates, tanh, softmax,
Adam) is not counted. The peak is the best of a few large square matmuls; the step's own
matmul shapes are timed too, since small products run far below the peak.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp

from common import JaxTrainer, batch_stream, emit, load_config, load_task, table
from seqattn.config import Config


class Product(NamedTuple):
  """One matmul of the train step, done `count` times a step: [m, k] × [k, n], or `batch` of
  them at once (a batched matmul). `layout` says which operand is read transposed, as the
  backward's products read the forward's operands where they lie: "nn" X·W, "nt" dY·Wᵀ,
  "tn" Xᵀ·dY. `input_grad` is False where X needs no gradient (one-hot inputs), so the
  backward has no dX product for it."""

  name: str
  m: int
  k: int
  n: int
  count: int
  batch: int = 1
  layout: str = "nn"
  input_grad: bool = True

  @property
  def flops(self) -> int:
    return 2 * self.batch * self.m * self.k * self.n * self.count


def forward_products(config: Config, src_vocab: int, tgt_vocab: int,
                     batch_size: int) -> list[Product]:
  """The matmuls of one teacher-forced forward pass over a batch, as the model does them (LSTM
  cells; Flax's OptimizedLSTMCell: one x·[I, 4H] and one h·[H, 4H] product a step): the
  encoder's gate products at every source step and direction (one-hot inputs included: the step
  multiplies by them), the key projection once per sequence, the bridge, and at every output
  step the query projection, the energies, the context Σ_j α_tj h_j, the decoder cell and the
  readout."""
  m = config.model
  b, tx, ty = batch_size, config.data.max_input_len, config.data.max_target_len
  h, s, a = m.encoder_units, m.decoder_units, m.attention_units
  directions = 2 if m.bidirectional else 1
  y_in = m.embed_dim if m.feed_previous_token else 0
  products = [
      Product("encoder x W_i", b, m.embed_dim or src_vocab, 4 * h, directions * tx,
              input_grad=bool(m.embed_dim)),
      Product("encoder h W_h", b, h, 4 * h, directions * tx),
      Product("keys U h_j", b * tx, directions * h, a, 1),
      Product("query W s_{t-1}", b, s, a, ty),
      Product("energies", b * tx, a, 1, ty),  # from the [Tx, A] hidden layer
      Product("context α·h", 1, tx, directions * h, ty, batch=b),
      Product("decoder [E y; c] W_i", b, y_in + directions * h, 4 * s, ty),
      Product("decoder s W_h", b, s, 4 * s, ty),
      Product("readout W_o s_t", b, s, tgt_vocab, ty)]
  if m.bridge != "zeros":  # s_0 and c_0 from the encoder's final state
    products.append(Product("bridge", b, h, s, 2))
  return products


def forward_matmul_flops(config: Config, src_vocab: int, tgt_vocab: int) -> int:
  """Matmul FLOPs of one example's teacher-forced forward pass (LSTM cells)."""
  return sum(p.flops for p in forward_products(config, src_vocab, tgt_vocab, 1))


def matmul_flops_per_s(m: int, k: int, n: int, seconds: float = 1.0) -> float:
  a = jax.random.normal(jax.random.key(0), (m, k))
  b = jax.random.normal(jax.random.key(1), (k, n))
  dot = jax.jit(jnp.dot)
  jax.block_until_ready(dot(a, b))
  calls = max(3, int(seconds * 1e11 / (2 * m * k * n)))
  timings = []
  for _ in range(5):
    start = time.perf_counter()
    for _ in range(calls):
      out = dot(a, b)
    jax.block_until_ready(out)
    timings.append((time.perf_counter() - start) / calls)
  return 2 * m * k * n / min(timings)


def step_flops_per_s(name: str, batch_size: int, windows: int = 5) -> dict:
  config = load_config(name, batch_size=batch_size)
  task, data = load_task(config)
  stream = batch_stream(data.train, batch_size)
  batches = [next(stream) for _ in range(4)]
  trainer = JaxTrainer(config, task, data)
  trainer.compile(batches[0])
  per_step = forward_matmul_flops(config, len(data.codec.src_vocab), len(data.codec.tgt_vocab))
  per_step *= 3 * batch_size
  jax.block_until_ready(trainer.step(batches[0]))
  calls = max(2, int(1.0 / (per_step / 5e10)))
  timings = []
  for _ in range(windows):
    start = time.perf_counter()
    for i in range(calls):
      out = trainer.step(batches[i % len(batches)])
    jax.block_until_ready(out)
    timings.append((time.perf_counter() - start) / calls)
  seconds = statistics.median(timings)
  return dict(model=name, batch=batch_size, gflop_per_step=per_step / 1e9,
              ms_per_step=1e3 * seconds, gflop_per_s=per_step / seconds / 1e9)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--windows", type=int, default=5)
  args = parser.parse_args()
  peaks = {shape: emit(dict(matmul=shape, gflop_per_s=matmul_flops_per_s(*shape) / 1e9))
           for shape in [(1024, 1024, 1024), (2048, 2048, 2048), (100, 64, 256),
                         (1000, 64, 256), (64, 1280, 2048)]}
  peak = max(p["gflop_per_s"] for p in peaks.values())
  rows = []
  for name, batch_size in (("course", 100), ("course", 1000), ("nmt", 64)):
    row = step_flops_per_s(name, batch_size, args.windows)
    rows.append(emit(dict(row, fraction_of_peak=row["gflop_per_s"] / peak, peak=peak)))
  table([dict(model=f"matmul {m}x{k}x{n}", gflop_per_s=p["gflop_per_s"])
         for (m, k, n), p in peaks.items()] + rows,
        dict(model="model / product", batch="batch", gflop_per_step="GFLOP a step",
             ms_per_step="ms a step", gflop_per_s="GFLOP/s", fraction_of_peak="of peak"))


if __name__ == "__main__":
  main()

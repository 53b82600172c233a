"""What each optimisation of the train step buys: the step against its alternatives, interleaved.

  python bench/optimisations.py                       # course b100 and b1000, nmt b64
  python bench/optimisations.py --models course --batches 100 --variants remat flax_rnn_remat

Each variant swaps one piece of the model while it is traced, then every compiled step is
timed in turn (windows of ≈1.5 s); the speed-up of a variant is the median over rounds of
current's time / the variant's (> 1: the variant is faster). The variants:

  current       the step as shipped, but with train.remat off
  remat         train.remat: every time step recomputed in the backward pass, nothing saved but
                the carries (the encoder's and the decoder's whole steps)
  context_sum   c_t = Σ_j α_tj h_j as multiply-and-sum instead of a batched matmul (einsum)
  keys_in_loop  the score's key projection (U h_j) recomputed at every output step, as if it
                were not hoisted out of the time loop
  flax_rnn_remat  train.remat with the encoder as Flax's wrappers run it: Flax's cells in an
                nn.RNN per direction joined by nn.Bidirectional (the encoder before its own
                loop: fused gate weights, both directions in one scan)

The variants fused_lstm, remat_dots and bf16_matmuls of earlier runs (BUILD_NOTES.md) swapped
Flax's LSTM cell, which the encoder and decoder no longer step; they are gone.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
from unittest import mock

import flax.linen as nn
import jax
import jax.numpy as jnp

import common
from common import (JaxTrainer, batch_stream, emit, load_config, load_task, median_ratio, table,
                    timed_windows)
from seqattn.models import attention, cells, decoders, encoders, scores, seq2seq
from seqattn.training import run


def attend_by_sum(scores_BxT, mask_BxT, values_BxTxH):
  weights_BxT = attention.masked_softmax(scores_BxT, mask_BxT)
  return jnp.sum(weights_BxT[:, :, None] * values_BxTxH, axis=1), weights_BxT


def memory_unprojected(self, h_BxTxH, lengths_B, mask_BxT):
  return decoders.Memory(h_BxTxH, h_BxTxH, mask_BxT, lengths_B)


def attend_projecting_keys_each_step(self, query_BxQ, memory, carry):
  step = scores.Step(carry.t, memory.lengths_B, carry.coverage_BxT)
  e_BxT = self.score(query_BxQ, self.score.project_keys(memory.values_BxTxH), step)
  return attention.attend(e_BxT, memory.mask_BxT, memory.values_BxTxH)


def built_with_remat(config, task, codec):
  return run.build_model(dataclasses.replace(
      config, train=dataclasses.replace(config.train, remat=True)), task, codec)


class FlaxRNNEncoder(encoders.Encoder):
  """The encoder as Flax's wrappers make it: an nn.RNN of Flax's cell per direction (under
  jax.checkpoint with train.remat), joined by nn.Bidirectional; the same parameters."""

  @nn.compact
  def __call__(self, x_BxT, lengths_B, deterministic=True):
    x_BxTxE = self.source.read(self.source.embedder(self.embed_dim, name="embed"), x_BxT)
    finals = []
    for layer in range(self.layers):
      if layer > 0:
        x_BxTxE = nn.Dropout(self.dropout)(x_BxTxE, deterministic=deterministic)

      def rnn(direction):
        cell = cells.CELLS[self.cell]
        cell = nn.remat(cell, prevent_cse=False) if self.remat else cell
        return nn.RNN(cell(features=self.units, name=f"{direction}_cell_{layer}"),
                      return_carry=True, name=f"{direction}_{layer}")

      rnns = (nn.Bidirectional(rnn("forward"), rnn("backward"), return_carry=True)
              if self.bidirectional else rnn("forward"))
      final, x_BxTxE = rnns(x_BxTxE, seq_lengths=lengths_B)
      finals.append(final)
    return x_BxTxE, tuple(finals)


VARIANTS = {
    "current": [],
    "remat": [mock.patch.object(common, "build_model", built_with_remat)],
    "flax_rnn_remat": [mock.patch.object(seq2seq, "Encoder", FlaxRNNEncoder),
                       mock.patch.object(common, "build_model", built_with_remat)],
    "context_sum": [mock.patch.object(attention, "attend", attend_by_sum)],
    "keys_in_loop": [mock.patch.object(decoders.Decoder, "memory", memory_unprojected),
                     mock.patch.object(decoders.Decoder, "_attend",
                                       attend_projecting_keys_each_step)],
}


@contextlib.contextmanager
def variant(name: str):
  """Within the block, models trace with the variant's pieces patched in."""
  # init_params and the train step are cached per model (and step.StepConfig), and a variant's
  # model equals current's as a dataclass: drop the caches so that the variant's own parameters
  # and step are built.
  jax.clear_caches()
  with contextlib.ExitStack() as stack:
    for patch in VARIANTS[name]:
      stack.enter_context(patch)
    yield


def compare(name: str, batch_size: int, names: list[str], windows: int) -> list[dict]:
  # Each variant against the step without train.remat (the `remat` variant turns it on).
  config = load_config(name, batch_size=batch_size, remat=False)
  task, data = load_task(config)
  stream = batch_stream(data.train, batch_size)
  batches = [next(stream) for _ in range(4)]
  trainers, compile_s = {}, {}
  for v in names:
    with variant(v):
      trainers[v] = JaxTrainer(config, task, data)
      compile_s[v] = trainers[v].compile(batches[0])
  counter = iter(range(10**9))
  contenders = {v: (lambda t=t: t.step(batches[next(counter) % 4])) for v, t in trainers.items()}
  calls, seconds = timed_windows(contenders, windows)
  return [emit(dict(model=name, batch=batch_size, variant=v, compile_s=compile_s[v],
                    ms_per_step=1e3 * statistics.median(seconds[v]),
                    examples_per_s=batch_size / statistics.median(seconds[v]),
                    speedup_over_current=median_ratio(seconds[names[0]], seconds[v])))
          for v in names]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--models", nargs="+", default=["course", "nmt"])
  parser.add_argument("--batches", nargs="+", type=int, default=[100, 1000],
                      help="course batch sizes; nmt always uses its own")
  parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
  parser.add_argument("--windows", type=int, default=7)
  args = parser.parse_args()
  names = ["current"] + [v for v in args.variants if v != "current"]
  rows = []
  for name in args.models:
    sizes = args.batches if name == "course" else [load_config(name).train.batch_size]
    for batch_size in sizes:
      rows += compare(name, batch_size, names, args.windows)
  table(rows, dict(model="model", batch="batch", variant="variant", ms_per_step="ms a step",
                   examples_per_s="ex/s", compile_s="compile s",
                   speedup_over_current="current / variant time"))


if __name__ == "__main__":
  main()

"""Evaluation of parameters on a split: the shared metrics, decoded outputs and attention.

Used by training (validation, test) and by `evaluate` mode; imports nothing from training.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from seqattn import alignment, decode, metrics
from seqattn.config import DecodeConfig
from seqattn.data.batching import Batch, Split, eval_batches
from seqattn.models import ends
from seqattn.models.seq2seq import Seq2Seq, teacher_forced
from seqattn.tasks import Data, Task


@functools.partial(jax.jit, static_argnums=(0, 3))
def eval_step(model: Seq2Seq, params, batch: Batch, search: DecodeConfig):
  """One batch: (summable counts, decoded predictions, teacher-forced α [B, Ty, Tx])."""
  outputs, alpha = teacher_forced(model, params, batch)
  found = decode.search(model, params, batch["inputs"], batch["input_lengths"],
                        batch["targets"].shape[1], search)
  predictions = (found.values_BxTxN if isinstance(found, decode.Forecast)
                 else found.tokens_BxKxT[:, 0])
  return (metrics.counts(model.target, outputs, predictions, batch["targets"], batch["weights"]),
          predictions, alpha)


class Evaluation(NamedTuple):
  metrics: dict[str, float]  # loss, examples; token_accuracy and exact_match for tokens
  predictions: np.ndarray  # [N, Ty] ids or [N, Ty, n] values, decoded with the configured search
  alpha_NxTxS: np.ndarray  # teacher-forced attention per example


def evaluate(model: Seq2Seq, params, split: Split, batch_size: int, search: DecodeConfig,
             task: Task, data: Data) -> Evaluation:
  """Metrics over a whole split of `data` (the shared ones and the task's), decoding with
  `search`."""
  sums, predictions, alpha = None, [], []
  for batch in eval_batches(split, batch_size):
    counts, predictions_B, alpha_BxTxS = eval_step(model, params, batch, search)
    sums = counts if sums is None else jax.tree.map(jnp.add, sums, counts)
    predictions.append(predictions_B)
    alpha.append(alpha_BxTxS)
  n = len(split)
  predictions = np.concatenate(jax.device_get(predictions))[:n]
  shared = metrics.summarise({k: float(v) for k, v in sums.items()})
  return Evaluation(dict(shared, **task.score(data, split, predictions)), predictions,
                    np.concatenate(jax.device_get(alpha))[:n])


def report(model: Seq2Seq, task: Task, data: Data, evaluation: Evaluation) -> dict[str, Any]:
  """What the test split says beyond its metrics: exact match by source length (token outputs),
  the attention's agreement with the gold alignments (where the task knows them) and the
  task's own tables."""
  out = task.report(data, data.test, evaluation.predictions)
  if data.test_examples:
    sure, possible = alignment.gold(data.test_examples, *evaluation.alpha_NxTxS.shape[1:])
    out["alignment"] = alignment.scores(evaluation.alpha_NxTxS, sure, possible)
  if isinstance(model.target, ends.Tokens):
    exact_N = np.all(evaluation.predictions == data.test.targets, -1)
    by_length: dict[int, list[int]] = {}
    for length, ok in zip(data.test.input_lengths.tolist(), exact_N.tolist()):
      by_length.setdefault(length, [0, 0])
      by_length[length][0] += ok
      by_length[length][1] += 1
    out["exact_by_length"] = {n: by_length[n] for n in sorted(by_length)}
  return out

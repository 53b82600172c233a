"""Evaluation of parameters on a split: the shared metrics, decoded outputs and attention.

Used by training (validation, test) and by `evaluate` mode; imports nothing from training.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from seqattn.files import workdirs
from seqattn.inference import decode
from seqattn.measures import alignment, liveness, metrics
from seqattn.runtime import parallel
from seqattn.config import DecodeConfig
from seqattn.data.batching import Batch, Split, eval_batches, eval_buckets
from seqattn.models import ends
from seqattn.models import interface
from seqattn.models.interface import Model, teacher_forced
from seqattn.tasks import Data, Task


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def eval_step(model: Model, params, batch: Batch, search: DecodeConfig, width: int):
  """One batch: (summable counts, predictions decoded in at most `width` steps, teacher-forced
  α [B, Ty, Tx], and for token outputs the n-best hypotheses with their scores and the best
  one's α)."""
  inputs = (model, params, batch["inputs"], batch["input_lengths"])
  encoding = decode.encode(*inputs)  # read by both passes
  gold = decode.forced(*inputs, batch["targets"], encoding)
  found = decode.search(*inputs, width, search, encoding)
  predictions = (found.values_BxTxN if isinstance(found, decode.Forecast)
                 else found.tokens_BxKxT[:, 0])
  attention = dict(temporal=gold.alpha_BxTxS,
                   input=interface.input_attention(*inputs))  # None where there is none
  found = None if isinstance(found, decode.Forecast) else Hypotheses(
      found.tokens_BxKxT[:, :search.n_best], found.scores_BxK[:, :search.n_best],
      found.alpha_BxKxTxS[:, 0])
  return (metrics.counts(model.target, gold.losses_BxT, predictions, batch["targets"],
                         batch["weights"]),
          predictions, attention, found)


class Hypotheses(NamedTuple):
  """What the search found for each example of a split (token outputs)."""

  tokens_NxKxT: np.ndarray  # the decode.n_best hypotheses, best first; PAD after EOS
  scores_NxK: np.ndarray  # their ranking scores
  alpha_NxTxS: np.ndarray  # the best hypothesis' attention, a row per output step


class Evaluation(NamedTuple):
  metrics: dict[str, float]  # loss, examples; token_accuracy and exact_match for tokens;
  # the task's own; attention_entropy_ratio and attention_uniform_rows (seqattn.measures.liveness)
  predictions: np.ndarray  # [N, Ty] ids or [N, Ty, n] values, decoded with the configured search
  alpha_NxTxS: np.ndarray  # teacher-forced attention per example
  input_alpha_NxSxK: np.ndarray | None = None  # attention over input features, where modelled
  paths_NxSxTyxN: np.ndarray | None = None  # sample paths of a distributional forecast
  hypotheses: Hypotheses | None = None  # token outputs: the n-best and the best one's α


def paths_key(seed: int) -> jax.Array:
  """The key of a run's sample paths: a stream of the config seed apart from training's
  (progress.root_keys), so that training and `--mode evaluate` draw the same paths."""
  return jax.random.fold_in(jax.random.key(seed), 1)


# One compiled program per model, batch shape and number of paths.
sample_paths = jax.jit(decode.sample_paths, static_argnums=(0, 4, 6))


def evaluate(model: Model, params, split: Split, batch_size: int, search: DecodeConfig,
             task: Task, data: Data, mesh=None, sample_key: jax.Array | None = None,
             spread: float = 1.0, by_length: bool = False) -> Evaluation:
  """Metrics over a whole split of `data` (the shared ones, the task's and the attention's
  liveness), decoding with `search`; with a `mesh`, each batch is split along its data axis.
  Every example is scored, sources longer than the task's Tx too (batching.eval_buckets).
  `by_length`: in length buckets, each decoded in at most the steps its longest source allows
  (decode.output_width). With `sample_key`, a distributional forecast also draws
  `search.samples` paths a window (σ times `spread`), which the task scores (prediction
  intervals)."""
  sample = sample_key is not None and model.target.distributional
  devices = jax.process_count() if mesh is None else mesh.shape[parallel.DATA]
  buckets = eval_buckets(split, batch_size, by_length,
                         (task.max_input_len, task.max_target_len), devices)
  sums, parts = None, []
  for i, (bucket, batch) in enumerate(zip(buckets, eval_batches(split, batch_size,
                                                                parallel.part(), buckets))):
    if mesh is not None:
      batch = parallel.shard_batch(mesh, batch)
    width = decode.output_width(search, bucket.input_len, task.max_target_len)
    counts, predictions_B, attention_B, found_B = eval_step(model, params, batch, search, width)
    sums = counts if sums is None else jax.tree.map(jnp.add, sums, counts)
    paths_B = sample_paths(model, params, batch["inputs"], batch["input_lengths"],
                           batch["targets"].shape[1], jax.random.fold_in(sample_key, i),
                           search.samples, spread) if sample else None
    parts.append((predictions_B, attention_B, found_B, paths_B))
  sums, parts = parallel.to_host((sums, parts))
  # Each bucket's rows back in split order, padded with zeros (PAD_ID) to common widths; the
  # teacher-forced α to the split's [Ty, Tx], as liveness and the plots read it with its masks.
  predictions, attention, found, paths = jax.tree.map(
      lambda *pieces: None if pieces[0] is None else _in_order(len(split), buckets, pieces),
      *parts,
      is_leaf=lambda x: x is None)
  predictions = _padded(predictions, split.targets.shape[1:2])
  attention["temporal"] = _padded(attention["temporal"], (split.targets.shape[1],
                                                          split.inputs.shape[1]))
  shared = metrics.summarise({k: float(v) for k, v in sums.items()})
  alive = liveness.measures(attention["temporal"], split.input_lengths,
                            np.asarray(model.target.mask(split.targets)))
  return Evaluation(dict(shared, **task.score(data, split, predictions, **_paths(paths)),
                         **alive),
                    predictions, attention["temporal"], attention.get("input"), paths,
                    None if found is None else Hypotheses(*found))


def _in_order(n: int, buckets, pieces: tuple[np.ndarray, ...]) -> np.ndarray:
  """[n, ...]: row j of bucket k's piece at the position of the bucket's member j (its filler
  rows dropped), each piece in the top-left corner of the widest."""
  shape = np.max([p.shape for p in pieces], 0)
  out = np.zeros((n, *shape[1:]), pieces[0].dtype)
  for b, piece in zip(buckets, pieces):
    out[(b.members, *(slice(0, w) for w in piece.shape[1:]))] = piece[:len(b.members)]
  return out


def _padded(x: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
  """`x` [N, ...] padded with zeros (PAD_ID) after its axes 1, 2, ... to at least `widths`."""
  return np.pad(x, [(0, 0)] + [(0, max(0, w - d)) for w, d in zip(widths, x.shape[1:])]
                + [(0, 0)] * (x.ndim - 1 - len(widths)))


def _paths(paths: np.ndarray | None) -> dict[str, np.ndarray]:
  """`paths` as a keyword argument of Task.score / Task.report where there are any, so that a
  task written before they existed (without the argument) still serves."""
  return {} if paths is None else dict(paths=paths)


@functools.partial(jax.jit, static_argnums=0)
def _standardised(model: Model, params, batch: Batch) -> jax.Array:
  """z = (y - μ) / σ of every step of a batch, teacher-forced."""
  outputs, _ = teacher_forced(model, params, batch)
  return (batch["targets"] - model.target.point(outputs)) / model.target.scale(outputs)


def spread_factor(model: Model, params, split: Split, batch_size: int) -> float:
  """The factor by which a distributional forecast's σ must change to fit `split` (the
  validation part): the conformal scale of its standardised errors at 95%
  (ends.Features.spread). The parameters chosen on validation RMSE often come early in
  training, before σ has settled, and a network fits its training windows more closely than
  new ones: s rescales σ to what held-out data shows. 1 for a point forecast."""
  if not model.target.distributional:
    return 1.0
  z = np.concatenate([np.asarray(_standardised(model, params, b))[np.asarray(b["weights"]) > 0]
                      for b in eval_batches(split, batch_size)])
  return model.target.spread(z)


def ensemble(members: list[Evaluation], split: Split, task: Task, data: Data) -> Evaluation:
  """The evaluation of an ensemble of real-valued forecasters (seeds of one config): the mean
  of their forecasts, scored again; their sample paths pooled (a mixture's intervals); their
  attention and loss averaged."""
  mean = lambda arrays: None if arrays[0] is None else np.mean(arrays, 0)
  predictions = mean([m.predictions for m in members])
  paths = (None if members[0].paths_NxSxTyxN is None
           else np.concatenate([m.paths_NxSxTyxN for m in members], 1))
  shared = {k: float(np.mean([m.metrics[k] for m in members]))
            for k in ("loss", "examples", "attention_entropy_ratio", "attention_uniform_rows")}
  return Evaluation(dict(shared, **task.score(data, split, predictions, **_paths(paths))),
                    predictions,
                    mean([m.alpha_NxTxS for m in members]),
                    mean([m.input_alpha_NxSxK for m in members]), paths)


def attention_images(model: Model, split: Split, evaluation: Evaluation,
                     n: int = 3) -> dict[str, np.ndarray]:
  """The teacher-forced α of the split's first `n` examples as images (rows: real output
  steps, columns: real input steps), by tag: what tf-nmt logs at each evaluation."""
  from seqattn.files import plots  # matplotlib: only when images are wanted
  images = {}
  for i in range(min(n, len(split))):
    steps_T = np.asarray(model.target.mask(split.targets[i:i + 1]))[0]
    alpha_TxS = evaluation.alpha_NxTxS[i][steps_T, :split.input_lengths[i]]
    images[f"attention/{i}"] = plots.attention_image(alpha_TxS)
  return images


def report(model: Model, task: Task, data: Data, evaluation: Evaluation,
           workdir: pathlib.Path | None = None) -> dict[str, Any]:
  """What the test split says beyond its metrics: exact match by source length (token outputs),
  the attention's agreement with the gold alignments (where the task knows them), and the
  task's own report (Task.report; with `workdir`, its plots there)."""
  attention = dict(temporal=evaluation.alpha_NxTxS)
  if evaluation.input_alpha_NxSxK is not None:
    attention["input"] = evaluation.input_alpha_NxSxK
  out = task.report(data, evaluation.predictions, attention, workdir,
                    **_paths(evaluation.paths_NxSxTyxN))
  if data.test_examples:
    gold = alignment.gold(data.test_examples, *evaluation.alpha_NxTxS.shape[1:])
    out["alignment"] = alignment.scores(evaluation.alpha_NxTxS, *gold)
  if isinstance(model.target, ends.Tokens):
    exact_N = np.asarray(metrics.exact(evaluation.predictions, data.test.targets))
    by_length: dict[int, list[int]] = {}
    for length, ok in zip(data.test.input_lengths.tolist(), exact_N.tolist()):
      by_length.setdefault(length, [0, 0])
      by_length[length][0] += ok
      by_length[length][1] += 1
    out["exact_by_length"] = {n: by_length[n] for n in sorted(by_length)}
  return out



def write_hypotheses(task: Task, data: Data, split: Split, evaluation: Evaluation,
                     workdir: pathlib.Path, stem: str = "test") -> None:
  """A decoded split's outputs beside the run's files (token outputs only), in its order:
  <stem>.hyp.txt the best output a line; <stem>.nbest.tsv sentence, rank, score and output of
  each of the decode.n_best hypotheses; <stem>.attention.npz the best outputs' α_tj (alpha
  [N, Ty, Tx], padded) with each one's source and output length."""
  found = evaluation.hypotheses
  if found is None:
    return
  outputs = [[task.write(data.codec, t) for t in tokens_KxT]
             for tokens_KxT in found.tokens_NxKxT]
  workdirs.write_text(workdir / f"{stem}.hyp.txt", "".join(f"{o[0].text}\n" for o in outputs))
  rows = [f"{i}\t{k + 1}\t{score:.4f}\t{o.text}\n"
          for i, (row, scores_K) in enumerate(zip(outputs, found.scores_NxK))
          for k, (o, score) in enumerate(zip(row, scores_K))]
  workdirs.write_text(workdir / f"{stem}.nbest.tsv",
                      "sentence\trank\tscore\toutput\n" + "".join(rows))
  with workdirs.replaced(workdir / f"{stem}.attention.npz") as f:
    np.savez_compressed(f, alpha=found.alpha_NxTxS, source_lengths=split.input_lengths,
                        output_lengths=np.array([len(o[0].labels) for o in outputs]))


def examples(task: Task, data: Data, split: Split, evaluation: Evaluation,
             n: int = 3) -> list[str]:
  """The first `n` outputs of a decoded split as 'source -> output (reference: ...)' lines
  (token outputs; the source where the split keeps its text): what a run shows at each
  validation."""
  if evaluation.hypotheses is None:
    return []
  sources = getattr(split, "sources", None)
  return [(f"{sources[i]} -> " if sources is not None else "")
          + f"{task.write(data.codec, evaluation.predictions[i]).text} (reference: "
          f"{task.write(data.codec, split.targets[i]).text})" for i in range(min(n, len(split)))]

"""The default text model against its PyTorch twin, each trained for the same wall-clock minutes
on the shipped zh-en corpus, several seeds, on this machine, one run after the other.

Ours is `launch.py --config configs/text.py` with train.time_budget_minutes and the seed set.
The twin (torch_models.Bahdanau) is configs/text.py written in PyTorch eager, and reads the
run's own config for every setting:
  - the same data: the same split, the same sentencepiece models (trained by the same code on
    the same sentences), the same length buckets and the same batches in the same order
    (training.progress.batches_from with the seed's shuffling key);
  - the same sizes (embeddings 128, bi-GRU 128 a direction, attention 128, decoder GRU 256),
    dropout 0.2 on s_t before the readout, Adam (b1, b2) with the linear warmup then the rsqrt
    decay to the same peak, clipping at the same global norm;
  - the same validation (every 400 steps, greedy, val BLEU), the best parameters on it kept and
    tested, the same early stopping, the same time budget counted from the same point (before
    the data is read) and the same test decoding (greedy in length buckets, each sentence
    stopped at ⌊a·|x| + b⌋, every test pair scored).
What differs: each framework's own initialisation (a user would not copy Flax's into PyTorch),
and PyTorch's eager loop over time against our compiled scans.

  python bench/text_twin.py --minutes 2 5 --seeds 0 1 2    # about 40 minutes here

A budget shorter than the config's 6 epochs compares quality at equal minutes; a longer one
lets both finish (or stop early) and compares the time they take. tokens/s: real target tokens
of the training batches a run took, per second of its training (from before the data is read
to the end of its last validation: data, compilation and validation included, as a user waits
for them).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import pathlib
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import ROOT, emit, environment, launch, training_seconds
from seqattn import config as config_lib, tasks
from seqattn.data import batching
from seqattn.data.vocab import PAD_ID
from seqattn.inference import decode
from seqattn.measures import bleu
from seqattn.training.progress import batches_from, root_keys
from seqattn.training.run import batch_plan
import torch_models


def config_for(minutes: float, seed: int) -> config_lib.Config:
  return config_lib.freeze(config_lib.override(
      config_lib.load_file(ROOT / "configs/text.py"),
      {"seed": seed, "train.time_budget_minutes": minutes}))


def target_tokens(plan: batching.Plan, seed: int, steps: int, num_epochs: int) -> int:
  """Real target tokens in the first `steps` training batches of seed `seed`."""
  total = 0
  for i, (_, _, batch) in enumerate(batches_from(plan, root_keys(seed)["shuffle"], num_epochs,
                                                 0, 0)):
    if i == steps:
      break
    total += int((batch["targets"] != PAD_ID).sum())
  return total


def ours(minutes: float, seed: int, workdir: str) -> dict:
  """A launch.py run in its own process (a new workdir): its results."""
  start = time.perf_counter()
  launch("--config", str(ROOT / "configs/text.py"), "--workdir", workdir,
         f"--config.seed={seed}", f"--config.train.time_budget_minutes={minutes}")
  results = json.loads(pathlib.Path(workdir, "results.json").read_text())
  return dict(steps=results["step"], best_step=results["best_step"],
              best_val_bleu=results["best_val_bleu"], test_bleu=results["test_bleu"],
              test_chrf=results["test_chrf"], test_examples=results["test_examples"],
              stopped_by_time_budget=results["stopped_by_time_budget"],
              train_seconds=training_seconds(workdir), wall_seconds=time.perf_counter() - start)


def translate(model, task, data, split, cfg: config_lib.Config) -> list[str]:
  """Greedy outputs of every pair of `split`, in its order, decoded in our evaluation buckets."""
  model.eval()
  out = [""] * len(split)
  for b in batching.eval_buckets(split, cfg.train.eval_batch_size, True,
                                 (task.max_input_len, task.max_target_len)):
    lengths = torch.from_numpy(split.input_lengths[b.members]).long()
    x = torch.from_numpy(split.inputs[b.members, :b.input_len]).long()
    width = decode.output_width(cfg.decode, b.input_len, task.max_target_len)
    limits = np.array(decode.output_limits(cfg.decode, split.input_lengths[b.members], width))
    for i, row in zip(b.members, model.greedy(x, lengths, torch.from_numpy(limits).long())):
      out[i] = task.write(data.codec, row).text
  model.train()
  return out


def twin(minutes: float, seed: int, init: str = "torch") -> dict:
  """The PyTorch twin trained under `seed`'s config for `minutes`, tested at its best; `init`
  'flax' re-initialises it as Flax initialises ours (torch_models.flax_init)."""
  cfg = config_for(minutes, seed)
  t, m = cfg.train, cfg.model
  start = time.perf_counter()  # as launch.py's budget: before the data is read
  task = tasks.make(cfg.data)
  data = task.load(cfg.seed)
  plan = batch_plan(cfg, data, 1)
  torch.manual_seed(seed)
  model = torch_models.Bahdanau(len(data.codec.src), len(data.codec.tgt), m.embed_dim,
                                m.encoder_units, m.decoder_units, m.attention_units, m.dropout)
  if init == "flax":
    torch_models.flax_init(model)
  opt = torch.optim.Adam(model.parameters(), lr=t.learning_rate, betas=(t.b1, t.b2))
  warmup = t.warmup_steps  # optax: linear 0 -> peak over `warmup` updates, then rsqrt
  sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: i / warmup if i < warmup
                                            else 1.0 / math.sqrt(1.0 + (i - warmup) / warmup))
  tokenize = bleu.tokenizer_for(cfg.data.target_language, cfg.data.bleu_tokenize)
  stream = batches_from(plan, root_keys(seed)["shuffle"], t.num_epochs, 0, 0)
  count = dict(steps=0, tokens=0)

  def train_step():
    _, _, batch = next(stream)
    x, lengths, y = torch_models.to_torch(batch)
    logits = model(x, lengths, y)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=PAD_ID)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip_norm)
    opt.step()
    sched.step()
    count["steps"] += 1
    count["tokens"] += int((y != PAD_ID).sum())
    return loss

  threads = torch_models.fastest_threads(train_step)  # its 6 timing steps are training steps
  best, best_state, since_best = -1.0, None, 0
  total = plan.steps_per_epoch * t.num_epochs
  while True:
    loss = train_step()
    out_of_time = time.perf_counter() - start >= 60 * minutes
    last = count["steps"] == total  # the config's epochs are done
    if count["steps"] % t.eval_every_steps == 0 or out_of_time or last:
      val = bleu.scores(translate(model, task, data, data.val, cfg), data.val.references,
                        tokenize)["bleu"]
      if val > best:
        best, best_state, since_best = val, copy.deepcopy(model.state_dict()), 0
      else:
        since_best += 1
      emit(dict(framework="torch", seed=seed, step=count["steps"], loss=float(loss.detach()),
                val_bleu=val, seconds=time.perf_counter() - start))
      if out_of_time or last or since_best >= t.early_stopping_patience:
        break
  train_seconds = time.perf_counter() - start  # the last validation included, as ours
  model.load_state_dict(best_state)
  scores = bleu.scores(translate(model, task, data, data.test, cfg), data.test.references,
                       tokenize)
  return dict(steps=count["steps"], best_val_bleu=best, test_bleu=scores["bleu"],
              test_chrf=scores["chrf"], test_examples=len(data.test), tokens=count["tokens"],
              torch_threads=threads, stopped_by_time_budget=out_of_time,
              train_seconds=train_seconds, wall_seconds=time.perf_counter() - start)


def interval(values: list[float]) -> str:
  """mean ± the half-width of a 95% t interval over seeds."""
  t95 = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78}.get(len(values), 2.0)
  if len(values) < 2:
    return f"{values[0]:.2f}"
  half = t95 * statistics.stdev(values) / len(values) ** .5
  return f"{statistics.mean(values):.2f} ± {half:.2f}"


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--minutes", type=float, nargs="+", default=[2.0, 5.0])
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--out", default="runs/twin")
  # flax: the twin initialised as Flax initialises ours, to see what initialisation accounts for
  parser.add_argument("--init", choices=["torch", "flax"], default="torch")
  parser.add_argument("--twin_only", action="store_true")  # with --init flax: ours already run
  args = parser.parse_args()
  emit(dict(environment=environment()))
  tables = []
  for minutes in args.minutes:
    rows = {"seqattn (JAX)": [], "PyTorch twin": []}
    if args.twin_only:
      del rows["seqattn (JAX)"]
    for seed in args.seeds:
      if not args.twin_only:
        run = ours(minutes, seed, f"{args.out}/{minutes:g}min/jax_{seed}")
        cfg = config_for(minutes, seed)
        plan = batch_plan(cfg, tasks.make(cfg.data).load(seed), 1)
        run["tokens"] = target_tokens(plan, seed, run["steps"], cfg.train.num_epochs)
        rows["seqattn (JAX)"].append(emit(dict(framework="jax", minutes=minutes, seed=seed,
                                               **run)))
      rows["PyTorch twin"].append(emit(dict(framework="torch", minutes=minutes, seed=seed,
                                            init=args.init, **twin(minutes, seed, args.init))))
    for r in sum(rows.values(), []):
      r["tokens_per_second"] = r["tokens"] / r["train_seconds"]
    tables.append((minutes, rows))
  print(f"\nseeds {args.seeds}; {environment()['cpu']}, {environment()['cores']} cores\n")
  print("| budget | model | test BLEU | test chrF | steps | training s | stopped by the budget "
        "| target tokens/s |")
  print("|---|---|---|---|---|---|---|---|")
  for minutes, rows in tables:
    for name, runs in rows.items():
      seconds = ", ".join(f"{r['train_seconds']:.0f}" for r in runs)
      print(f"| {minutes:g} min | {name} | {interval([r['test_bleu'] for r in runs])} | "
            f"{interval([r['test_chrf'] for r in runs])} | "
            f"{', '.join(str(r['steps']) for r in runs)} | {seconds} | "
            f"{sum(r['stopped_by_time_budget'] for r in runs)} of {len(runs)} | "
            f"{interval([r['tokens_per_second'] for r in runs])} |")


if __name__ == "__main__":
  main()

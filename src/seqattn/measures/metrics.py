"""Masked loss and accuracy over padded batches, for either end of `models.ends`; forecast
errors in the data's own units."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqattn.data.vocab import PAD_ID
from seqattn.models import ends


def loss_sums(target: ends.Spec, outputs: jax.Array, targets: jax.Array, weights_B: jax.Array,
              label_smoothing: float = 0.0) -> tuple[jax.Array, jax.Array]:
  """(sum of step losses, number of steps) over the real target steps of weighted rows."""
  return step_sums(target, target.losses(outputs, targets, label_smoothing), targets, weights_B)


def step_sums(target: ends.Spec, losses_BxT: jax.Array, targets: jax.Array,
              weights_B: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`loss_sums` of losses already computed."""
  mask_BxT = target.mask(targets) * weights_B[:, None]
  return jnp.sum(losses_BxT * mask_BxT), jnp.sum(mask_BxT)


def counts(target: ends.Spec, losses_BxT: jax.Array, predictions: jax.Array, targets: jax.Array,
           weights_B: jax.Array) -> dict[str, jax.Array]:
  """Sums that add up over batches: loss, steps and sequences; for tokens also correct tokens
  and exact sequences.

  losses_BxT: of each teacher-forced step. predictions: decoded (PAD after EOS; as long as the
  search's bound, which may differ from Ty), for the accuracies; a sequence is exact when it
  equals the target everywhere, padding included.
  """
  loss_sum, tokens = step_sums(target, losses_BxT, targets, weights_B)
  sums = dict(loss_sum=loss_sum, tokens=tokens, sequences=jnp.sum(weights_B))
  if isinstance(target, ends.Tokens):
    predictions, targets = same_width(predictions, targets)
    correct_BxT = (predictions == targets) & target.mask(targets)
    sums.update(correct_tokens=jnp.sum(correct_BxT * weights_B[:, None]),
                exact=jnp.sum(exact(predictions, targets) * weights_B))
  return sums


def same_width(*ids: jax.Array) -> list[jax.Array]:
  """Token arrays [B, T_i] padded with PAD_ID to the widest T_i."""
  width = max(x.shape[-1] for x in ids)
  return [jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, width - x.shape[-1])],
                  constant_values=PAD_ID) for x in ids]


def exact(predictions_BxT: jax.Array, targets_BxT: jax.Array) -> jax.Array:
  """[B] bool: the decoded sequence equals the target everywhere, padding included (the
  narrower of the two padded to the other's width)."""
  predictions_BxT, targets_BxT = same_width(predictions_BxT, targets_BxT)
  return jnp.all(predictions_BxT == targets_BxT, axis=-1)


def summarise(sums: dict[str, float]) -> dict[str, float]:
  """Loss per step, and per-token accuracy and exact match where counted, from summed counts."""
  out = dict(loss=sums["loss_sum"] / sums["tokens"])
  if "exact" in sums:
    out.update(token_accuracy=sums["correct_tokens"] / sums["tokens"],
               exact_match=sums["exact"] / sums["sequences"])
  return dict(out, examples=sums["sequences"])


def forecast_errors(predicted: np.ndarray, actual: np.ndarray, naive_mae: float) -> dict[str, float]:
  """MAE, RMSE, sMAPE (%), MAPE (%) and MASE of forecasts in the data's own units.

  MAPE divides by |y|, so it is left out when an actual value is 0 (it is undefined there, not
  merely large); sMAPE = 200 |ŷ - y| / (|ŷ| + |y|) (0 where both are 0) is always there.
  MASE (Hyndman & Koehler 2006) divides the MAE by `naive_mae`, the in-sample MAE of the
  one-step naive forecast on the training part: below 1 beats that naive forecast.
  """
  predicted, actual = np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
  error = np.abs(predicted - actual)
  mae = float(np.mean(error))
  size = np.abs(predicted) + np.abs(actual)
  out = dict(mae=mae, rmse=float(np.sqrt(np.mean(error ** 2))),
             smape=float(200.0 * np.mean(np.where(size > 0, error / np.where(size > 0, size, 1),
                                                  0.0))))
  if np.all(actual != 0):
    out["mape"] = float(100.0 * np.mean(error / np.abs(actual)))
  return dict(out, mase=mae / naive_mae)


# Central prediction intervals reported for a distributional forecast: level -> its quantiles.
INTERVALS = {80: (0.10, 0.90), 95: (0.025, 0.975)}


def crps(paths_WxSxH: np.ndarray, actual_WxH: np.ndarray) -> np.ndarray:
  """[W, H]: the continuous ranked probability score of each forecast's sample distribution,
  CRPS = E|X - y| - ½ E|X - X'| (Gneiting & Raftery 2007), in the data's own units: the MAE of
  a point forecast, generalised to a distribution (lower is better)."""
  x = np.sort(np.asarray(paths_WxSxH, np.float64), axis=1)
  s = x.shape[1]
  to_actual = np.mean(np.abs(x - np.asarray(actual_WxH, np.float64)[:, None]), 1)
  # E|X - X'| over the S² pairs of sorted draws: (2 / S²) Σ_i (2i - S - 1) x_(i), i = 1..S.
  weights_S = (2.0 * np.arange(1, s + 1) - s - 1)[None, :, None]
  return to_actual - np.sum(weights_S * x, 1) / s ** 2


def interval_scores(paths_WxSxH: np.ndarray, actual_WxH: np.ndarray) -> dict[str, float]:
  """Each INTERVALS level's empirical coverage (the share of actual values inside the
  interval between the paths' quantiles; nominal: the level) and mean width, and the mean
  CRPS."""
  out = {}
  for level, (lo, hi) in INTERVALS.items():
    low, high = np.quantile(paths_WxSxH, [lo, hi], axis=1)
    out[f"coverage_{level}"] = float(np.mean((actual_WxH >= low) & (actual_WxH <= high)))
    out[f"width_{level}"] = float(np.mean(high - low))
  return dict(out, crps=float(np.mean(crps(paths_WxSxH, actual_WxH))))

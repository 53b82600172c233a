"""Plots as PNG files: attention heatmaps, curves, grids of heatmaps; attention as text."""

from __future__ import annotations

import pathlib
import textwrap
import warnings
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402

# Chinese, Japanese and Korean labels (subword tokens of a translation) need a CJK font: the
# first installed one backs up DejaVu Sans (matplotlib falls back glyph by glyph).
_CJK = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
        "AR PL UMing CN", "Droid Sans Fallback")
_installed = {f.name for f in font_manager.fontManager.ttflist}
matplotlib.rcParams["font.family"] = ["DejaVu Sans"] + [f for f in _CJK if f in _installed]

# A label the font cannot draw shows as a box; the warning would only repeat that on the console.
warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)


def _shown(labels: Sequence[str]) -> list[str]:
  return [c if c != " " else "␣" for c in labels]


def attention_figure(alpha_TyxTx: np.ndarray, source: Sequence[str], target: Sequence[str],
                     title: str = ""):
  """A figure of α: rows are output steps, columns input steps, with a colour bar of α_tj."""
  fig, ax = plt.subplots(figsize=(0.3 * len(source) + 3, 0.3 * len(target) + 1.8))
  image = ax.imshow(alpha_TyxTx, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
  ax.set_xticks(range(len(source)), _shown(source))
  ax.set_yticks(range(len(target)), list(target))
  ax.set_xlabel("input step j")
  ax.set_ylabel("output step t")
  fig.colorbar(image, ax=ax, label="attention weight α_tj", fraction=0.05, pad=0.02)
  if title:  # wrapped: a sentence is wider than a heatmap of few tokens
    ax.set_title("\n".join(textwrap.wrap(title, 36)), fontsize=9)
  fig.tight_layout()
  return fig


def attention_heatmap(alpha_TyxTx: np.ndarray, source: Sequence[str], target: Sequence[str],
                      path: str | pathlib.Path, title: str = "") -> None:
  """Writes `attention_figure` to `path`."""
  fig = attention_figure(alpha_TyxTx, source, target, title)
  fig.savefig(path, dpi=100)
  plt.close(fig)


def attention_image(alpha_TyxTx: np.ndarray, scale: int = 8) -> np.ndarray:
  """α as an [Ty·scale, Tx·scale, 3] uint8 image in the heatmaps' colours (no axes: fast)."""
  rgb = matplotlib.colormaps["viridis"](np.clip(alpha_TyxTx, 0.0, 1.0))[..., :3]
  return (255 * rgb).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)


def attention_table(alpha_TyxTx: np.ndarray, source: Sequence[str],
                    target: Sequence[str]) -> str:
  """α as text: one row per output step, one column per input step, weights to 2 decimals."""
  width = max(4, *(len(s) for s in source)) + 1
  head = max(len(t) for t in target) + 1
  lines = [" " * head + "".join(f"{s:>{width}}" for s in _shown(source))]
  for t, row in zip(target, alpha_TyxTx):
    lines.append(f"{t:<{head}}" + "".join(f"{w:>{width}.2f}" for w in row))
  return "\n".join(lines)


def lines(curves: dict[str, tuple[Sequence[float], Sequence[float]]], path, xlabel: str,
          ylabel: str, title: str = "") -> None:
  """One line per named (x, y) curve."""
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for name, (x, y) in curves.items():
    ax.plot(x, y, marker="o", markersize=3, label=name)
  if all(float(v).is_integer() for x, _ in curves.values() for v in x):  # steps, lengths
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  if title:
    ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def heatmap_grid(panels: dict[str, list], path) -> None:
  """Rows: variants; columns: inputs. `panels[name]` holds predict.Prediction objects."""
  names = list(panels)
  columns = len(next(iter(panels.values())))
  fig, axes = plt.subplots(len(names), columns, squeeze=False,
                           figsize=(4.2 * columns, 2.6 * len(names)))
  for row, name in enumerate(names):
    for col, prediction in enumerate(panels[name]):
      ax, best = axes[row, col], prediction.best
      ax.imshow(best.alpha_TyxTx, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
      ax.set_xticks(range(len(prediction.source.labels)),
                    [c if c != " " else "␣" for c in prediction.source.labels], fontsize=6)
      ax.set_yticks(range(len(best.tokens)), best.tokens, fontsize=6)
      ax.set_title(f"{name}\n{prediction.source.shown} -> {best.output}", fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def _ticks(labels: Sequence[str], most: int = 12) -> tuple[list[int], list[str]]:
  """At most `most` evenly spaced tick positions and their labels."""
  every = max(1, len(labels) // most)
  positions = list(range(0, len(labels), every))
  return positions, [labels[i] for i in positions]


def forecast_vs_actual(times: Sequence[str], actual: np.ndarray, forecasts: dict[str, np.ndarray],
                       path, name: str,
                       bands: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
  """The actual series and each forecast of it (one value a row), against time; `bands`
  (level % -> (low, high)) shades the first forecast's prediction intervals."""
  fig, ax = plt.subplots(figsize=(10, 4.5))
  x = np.arange(len(actual))
  for level, (low, high) in sorted((bands or {}).items(), reverse=True):
    ax.fill_between(x, low, high, color="tab:blue", alpha=0.12 if level > 90 else 0.22,
                    linewidth=0, label=f"{level}% interval")
  ax.plot(x, actual, color="black", linewidth=1.6, label="actual")
  for label, values in forecasts.items():
    ax.plot(x, values, linewidth=1.0, alpha=0.85, label=label)
  ax.set_xticks(*_ticks(list(times)))
  ax.tick_params(axis="x", labelrotation=30, labelsize=7)
  ax.set_ylabel(name)
  ax.set_title(f"{name}: forecasts one step ahead on the test part")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def input_attention(alpha_TxK: np.ndarray, series: Sequence[str], steps: Sequence[str], path,
                    title: str) -> None:
  """α^k_t of the driving series: per input step (left) and its mean over the steps (right)."""
  width = min(24, max(7, 3 + 0.18 * len(series)))
  fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 7.5),
                                    gridspec_kw=dict(height_ratios=[1.3, 1]))
  image = top.imshow(alpha_TxK, cmap="viridis", aspect="auto", vmin=0.0)
  fig.colorbar(image, ax=top, fraction=0.03)
  top.set_yticks(*_ticks(list(steps)))
  top.set_ylabel("input step t")
  top.set_xticks([])
  top.set_title(title)
  bottom.bar(np.arange(len(series)), alpha_TxK.mean(0))
  bottom.axhline(1.0 / len(series), color="grey", linestyle="--", linewidth=1, label="uniform 1/n")
  bottom.set_xticks(range(len(series)), list(series), rotation=90,
                    fontsize=max(4, min(9, 400 // max(len(series), 1))))
  bottom.set_xlim(-0.5, len(series) - 0.5)
  bottom.set_ylabel("mean α^k over t")
  bottom.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def attention_plots(attention: dict[str, np.ndarray], series: Sequence[str], workdir: pathlib.Path,
                    tag: str) -> None:
  """The mean over windows of the input attention (input_attention_<tag>.png, when the model
  has it) and of the temporal attention β (temporal_attention_<tag>.png)."""
  beta_HxT = attention["temporal"].mean(0)
  steps = [f"t{i - beta_HxT.shape[1] + 1}" if i < beta_HxT.shape[1] - 1 else "t"
           for i in range(beta_HxT.shape[1])]
  attention_heatmap(beta_HxT, steps, [f"+{h + 1}" for h in range(beta_HxT.shape[0])],
                    workdir / f"temporal_attention_{tag}.png",
                    title=f"temporal attention β, {tag} mean")
  if "input" in attention:
    input_attention(attention["input"].mean(0), series, steps,
                    workdir / f"input_attention_{tag}.png",
                    f"input attention α^k_t, mean over the {tag} windows")

"""Plots as PNG files: attention heatmaps, curves, grids of heatmaps; attention as text."""

from __future__ import annotations

import pathlib
import warnings
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

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
  if title:
    ax.set_title(title)
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

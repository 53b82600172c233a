"""Attention heatmaps as PNG files."""

from __future__ import annotations

import pathlib
import textwrap
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


def attention_heatmap(alpha_TyxTx: np.ndarray, source: Sequence[str], target: Sequence[str],
                      path: str | pathlib.Path, title: str = "") -> None:
  """Writes α (rows: output characters, columns: input characters) to `path`."""
  fig, ax = plt.subplots(figsize=(0.3 * len(source) + 2, 0.3 * len(target) + 1.5))
  ax.imshow(alpha_TyxTx, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
  ax.set_xticks(range(len(source)), [c if c != " " else "␣" for c in source])
  ax.set_yticks(range(len(target)), list(target))
  ax.set_xlabel("input")
  ax.set_ylabel("output")
  if title:  # wrapped: a sentence is wider than a heatmap of few tokens
    ax.set_title("\n".join(textwrap.wrap(title, 36)), fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


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

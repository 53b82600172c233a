"""Attention heatmaps as PNG files."""

from __future__ import annotations

import pathlib
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def attention_heatmap(alpha_TyxTx: np.ndarray, source: Sequence[str], target: Sequence[str],
                      path: str | pathlib.Path, title: str = "") -> None:
  """Writes α (rows: output characters, columns: input characters) to `path`."""
  fig, ax = plt.subplots(figsize=(0.3 * len(source) + 2, 0.3 * len(target) + 1.5))
  ax.imshow(alpha_TyxTx, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
  ax.set_xticks(range(len(source)), [c if c != " " else "␣" for c in source])
  ax.set_yticks(range(len(target)), list(target))
  ax.set_xlabel("input")
  ax.set_ylabel("output")
  if title:
    ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)

"""Figures of the anomaly stage."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def scenario_heatmap(table: pd.DataFrame, out_dir: str | Path, name: str = "recall_by_scenario") -> Figure:
    """Recall at 1% FPR per scorer (rows) and fraud scenario (columns), the frauds of each scenario in its label."""
    fig, ax = plt.subplots(figsize=(1.3 * table.shape[1] + 3, 0.38 * table.shape[0] + 1.5))
    im = ax.imshow(table.to_numpy(float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    for (i, j), v in pd.DataFrame(table.to_numpy(float)).stack().items():
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v < 0.6 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, label="recall at 1% FPR")
    ax.set_title("What each scorer catches, per fraud scenario (test window)")
    fig.tight_layout()
    fig.savefig(Path(out_dir) / f"{name}.png", dpi=110)
    plt.close(fig)
    return fig

"""Monitoring figures: the PSI heat map (feature x month) coloured by the 0.1 / 0.25 bands, the two binnings side by
side, and the fraud model's quality per month with its intervals."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402

from paylab.evaluation import PSI_BANDS  # noqa: E402

BAND_COLOURS = ["#d5ecd4", "#fbe3a6", "#f4a582"]  # stable, moderate shift, significant shift


def _heat(ax, table: pd.DataFrame, title: str) -> None:
    low, high = PSI_BANDS
    cmap = ListedColormap(BAND_COLOURS)
    norm = BoundaryNorm([0, low, high, max(1.0, float(np.nanmax(table.to_numpy(dtype=float), initial=1.0)) + 1)],
                        cmap.N)
    values = table.to_numpy(dtype=float)
    ax.imshow(np.nan_to_num(values, nan=0.0), cmap=cmap, norm=norm, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, "" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
    ax.set_title(title, fontsize=10)


def psi_heatmap(evidently: pd.DataFrame, deciles: pd.DataFrame, out_dir: Path, name: str = "psi_heatmap") -> Path:
    """Two heat maps side by side (Evidently's equal-width PSI | reference-decile PSI), one band colour scale."""
    rows = list(evidently.index)
    fig, axes = plt.subplots(1, 2, figsize=(4 + 0.9 * evidently.shape[1] * 2, 1.5 + 0.32 * len(rows)), sharey=True)
    _heat(axes[0], evidently.loc[rows], "Evidently PSI (equal-width bins over both samples)")
    _heat(axes[1], deciles.reindex(rows), "PSI on reference deciles (evaluation.psi; the bands' binning)")
    low, high = PSI_BANDS
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in BAND_COLOURS]
    fig.legend(handles, [f"< {low} stable", f"{low}-{high} moderate shift", f">= {high} investigate / retrain"],
               loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path = Path(out_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def performance(table: pd.DataFrame, out_dir: Path, metrics=("roc_auc", "average_precision", "ks"),
                name: str = "performance_by_month") -> Path:
    """One panel per metric: each score's value per month with its 95% interval."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6))
    for ax, m in zip(np.atleast_1d(axes), metrics, strict=True):
        for score, part in table.groupby("score", sort=False):
            if m not in part:
                continue
            x = np.arange(len(part))
            err = np.vstack([part[m] - part[f"{m}_ci_low"], part[f"{m}_ci_high"] - part[m]])
            ax.errorbar(x, part[m], yerr=np.abs(err), fmt="o-", capsize=3, label=score)
            ax.set_xticks(x, part["period"], rotation=60, ha="right", fontsize=8)
        ax.set_title(m)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(out_dir) / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def psi_lines(series: dict[str, pd.Series], out_dir: Path, name: str = "score_psi") -> Path:
    """PSI per month of a few series (scores, top features) against the bands."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for label, s in series.items():
        ax.plot(list(s.index), s.to_numpy(dtype=float), "o-", label=label)
    for band, colour in zip(PSI_BANDS, ["#d9a400", "#c0392b"], strict=True):
        ax.axhline(band, ls="--", color=colour, lw=1)
    ax.set_ylabel("PSI (reference deciles)")
    ax.tick_params(axis="x", rotation=60)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(out_dir) / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def shares(table: pd.DataFrame, out_dir: Path, name: str, title: str) -> Path:
    """Stacked shares per month (rows: months, columns: categories)."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    table.plot(kind="bar", stacked=True, ax=ax, width=0.85)
    ax.set_title(title)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    path = Path(out_dir) / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

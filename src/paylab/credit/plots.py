"""Figures of the credit stage; each saves `<out_dir>/<name>.png` (via the EDA `save`) and returns its path."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from paylab.eda.plots import save


def information_values(selection: pd.DataFrame, out_dir: str | Path, name: str = "information_value") -> Path:
    """Information value per feature, kept features in blue, dropped in grey."""
    data = selection.sort_values("iv")
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(data) + 1))
    ax.barh(data.index.astype(str), data["iv"], color=np.where(data["kept"], "tab:blue", "lightgrey"))
    ax.set_xlabel("information value (binned)")
    ax.set_title("Feature selection: IV (grey = dropped by IV or correlation)")
    return save(fig, out_dir, name)


def roc(y, scores: dict[str, np.ndarray], out_dir: str | Path, name: str, title: str) -> Path:
    """ROC curves of higher-is-safer scores (ranked by minus the score)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for label, s in scores.items():
        fpr, tpr, _ = roc_curve(np.asarray(y).astype(int), -np.asarray(s, dtype=float))
        ax.plot(fpr, tpr, label=label, linestyle="--" if "oracle" in label else "-")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
    ax.set_xlabel("false positive rate (goods rejected)")
    ax.set_ylabel("true positive rate (bads rejected)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return save(fig, out_dir, name)


def score_shift(development, out_of_time, psi: float, out_dir: str | Path, name: str = "score_psi") -> Path:
    """Score distributions of development and out-of-time with the PSI in the title."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bins = np.histogram_bin_edges(np.r_[development, out_of_time], 30)
    ax.hist(development, bins, density=True, alpha=0.5, label="development")
    ax.hist(out_of_time, bins, density=True, alpha=0.5, label="out-of-time")
    ax.set_xlabel("score (higher = lower risk)")
    ax.set_title(f"Score drift: PSI {psi:.3f}")
    ax.legend()
    return save(fig, out_dir, name)


def cutoffs(table: pd.DataFrame, cutoff: float, out_dir: str | Path, name: str = "cutoffs") -> Path:
    """Bad rate per score band (bars) and the cumulative bad rate against the approval rate (line)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    labels = [f"{lo:.0f}-{hi:.0f}" for lo, hi in zip(table["score_min"], table["score_max"], strict=True)]
    a.bar(labels, table["bad_rate"], color="tab:red", alpha=0.7)
    a.set_ylabel("bad rate")
    a.set_xlabel("score band (safest first)")
    a.tick_params(axis="x", rotation=60)
    b.plot(table["approval_rate"], table["cumulative_bad_rate"], marker="o")
    b.set_xlabel("approval rate (approve this band and safer)")
    b.set_ylabel("bad rate of the approved")
    fig.suptitle(f"Cutoff table (chosen cutoff {cutoff:.0f})")
    return save(fig, out_dir, name)

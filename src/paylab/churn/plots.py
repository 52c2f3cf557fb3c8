"""Figures of the churn stage; each saves `<out_dir>/<name>.png` (via the EDA `save`) and returns its path."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from paylab.churn.panel import WEEK_FEATURES
from paylab.eda.plots import save


def calibration(table: pd.DataFrame, out_dir: str | Path, name: str = "calibration") -> Path:
    """Observed churn rate against mean predicted probability per bin, one line per model."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for model, g in table.groupby("model", sort=False):
        ax.plot(g["mean_prob"], g["observed_rate"], marker="o", label=model,
                linestyle="--" if "oracle" in model else "-")
    top = float(max(table["mean_prob"].max(), table["observed_rate"].max()))
    ax.plot([0, top], [0, top], color="grey", lw=0.8)
    ax.set_xlabel("mean predicted probability (decile bins)")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Calibration on the test cutoffs")
    ax.legend()
    return save(fig, out_dir, name)


def metric_bars(blocks: dict, metric: str, out_dir: str | Path, name: str) -> Path:
    """One metric with its interval per model."""
    names = list(blocks)
    vals = np.array([blocks[n][metric] for n in names])
    low = vals - np.array([blocks[n][f"{metric}_ci_low"] for n in names])
    high = np.array([blocks[n][f"{metric}_ci_high"] for n in names]) - vals
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(names, vals, yerr=[low, high], capsize=4, color=["tab:grey" if n == "oracle" else "tab:blue" for n in names])
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} on the test cutoffs (95% bootstrap by user)")
    return save(fig, out_dir, name)


def thinning(rows: pd.DataFrame, seq: np.ndarray, out_dir: str | Path, name: str = "thinning") -> Path:
    """Mean weekly payments over the window of churners and stayers: activity thins before it stops."""
    pays = np.where(seq[:, :, WEEK_FEATURES.index("n_payments")] < 0, np.nan, seq[:, :, 0])
    weeks = np.arange(-seq.shape[1], 0)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, mask in (("churned in the horizon", rows["label"] == 1), ("stayed", rows["label"] == 0)):
        ax.plot(weeks, np.nanmean(pays[mask.to_numpy()], axis=0), marker="o", label=label)
    ax.set_xlabel("week before the cutoff")
    ax.set_ylabel("payments per week (mean)")
    ax.set_title("Weekly activity before a cutoff")
    ax.legend()
    return save(fig, out_dir, name)


def value_at_risk(pred: pd.DataFrame, out_dir: str | Path, name: str = "value_at_risk") -> Path:
    """Cumulative expected monthly value at risk over users ranked by it."""
    v = np.sort(pred["value_at_risk"].to_numpy())[::-1]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(1, len(v) + 1), np.cumsum(v))
    ax.set_xlabel("users, ranked by value at risk")
    ax.set_ylabel("cumulative $ / month at risk")
    ax.set_title("Where the value at risk sits")
    return save(fig, out_dir, name)

"""Figures of the recsys stage; each saves `<out_dir>/<name>.png` (via the EDA `save`) and returns its path."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from paylab.eda.plots import save


def metric_bars(points: dict[str, dict[str, dict]], metric: str, out_dir: str | Path, name: str = "ndcg") -> Path:
    """`metric` with its interval per model, one panel per task (points: task -> model -> metrics)."""
    fig, axes = plt.subplots(1, len(points), figsize=(5.5 * len(points), 3.8), squeeze=False)
    for ax, (task, models) in zip(axes[0], points.items(), strict=True):
        names = list(models)
        val = np.array([models[n][metric] for n in names])
        low = np.array([models[n].get(f"{metric}_ci_low", np.nan) for n in names])
        high = np.array([models[n].get(f"{metric}_ci_high", np.nan) for n in names])
        colors = ["tab:red" if n == "wide_deep" else "grey" if n == "oracle" else "tab:blue" for n in names]
        ax.barh(names, val, xerr=np.nan_to_num(np.vstack([val - low, high - val])), color=colors, capsize=3)
        ax.set_title(f"{task}: {metric} (95% CI over users)")
        ax.invert_yaxis()
    return save(fig, out_dir, name)


def training_curve(history: pd.DataFrame, out_dir: str | Path, name: str = "wide_deep_training") -> Path:
    """Training and validation loss per epoch of the Wide&Deep (early stopping on the validation window)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    epochs = np.arange(1, len(history) + 1)
    ax.plot(epochs, history["loss"], marker="o", label="train window (sampled negatives)")
    ax.plot(epochs, history["val_loss"], marker="o", label="validation window")
    ax.set_xlabel("epoch")
    ax.set_ylabel("binary cross-entropy")
    ax.legend(fontsize=8)
    ax.set_title("Wide&Deep training")
    return save(fig, out_dir, name)


def targeting_bars(summary: dict, out_dir: str | Path, name: str = "targeting") -> Path:
    """Precision@k of model, popularity and random targeting per merchant size band."""
    bands = [b for b in summary if b != "all"] + ["all"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.27
    for i, who in enumerate(("model", "popularity", "random")):
        val = np.array([summary[b][f"{who}_precision"] for b in bands])
        low = np.array([summary[b][f"{who}_precision_ci_low"] for b in bands])
        high = np.array([summary[b][f"{who}_precision_ci_high"] for b in bands])
        ax.bar(np.arange(len(bands)) + (i - 1) * width, val, width, label=who,
               yerr=np.nan_to_num(np.vstack([val - low, high - val])), capsize=2)
    ax.set_xticks(np.arange(len(bands)), [f"{b}\n({summary[b]['merchants']})" for b in bands])
    ax.set_ylabel("precision@k (new payers)")
    ax.set_title("Merchant -> users: whom to target (merchants per band)")
    ax.legend(fontsize=8)
    return save(fig, out_dir, name)

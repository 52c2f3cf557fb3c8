"""Figures of the fraud stage; each saves `<out_dir>/<name>.png` (via the EDA `save`) and returns the figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from paylab.eda.plots import save


def windows(splits: dict[str, tuple], out_dir: str | Path, name: str = "split_windows") -> Figure:
    """Timeline of the time windows: {label: (start, end)}, one bar each."""
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(splits) + 1))
    for i, (label, (start, end)) in enumerate(splits.items()):
        ax.barh(i, (end - start).days, left=start, height=0.6, color="tab:blue" if "train" in label else "tab:orange")
    ax.set_yticks(range(len(splits)), list(splits))
    ax.invert_yaxis()
    ax.set_title("Training and evaluation windows (gaps = label delay)")
    fig.autofmt_xdate()
    save(fig, out_dir, name)
    return fig


def comparison(summary: pd.DataFrame, metric: str, out_dir: str | Path, name: str = "comparison") -> Figure:
    """Mean +- std of `metric` over the prequential folds, one bar per model + strategy."""
    data = summary.sort_values(f"{metric}_mean")
    labels = data["model"] + " / " + data["strategy"]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(data) + 1))
    ax.barh(labels, data[f"{metric}_mean"], xerr=data[f"{metric}_std"].fillna(0), color="tab:blue", alpha=0.8)
    ax.set_xlabel(f"{metric} (mean over folds, +- std)")
    ax.set_title("Models x imbalance strategies on the same prequential folds")
    save(fig, out_dir, name)
    return fig


def curves(roc: pd.DataFrame, pr: pd.DataFrame, out_dir: str | Path, name: str = "roc_pr") -> Figure:
    """ROC and precision-recall curves of every scored model (the tables of `training.curves`)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    for col in roc.columns[1:]:
        a.plot(roc["fpr"], roc[col], label=col.removeprefix("tpr_"))
    a.plot([0, 1], [0, 1], ":", color="grey")
    a.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    for col in pr.columns[1:]:
        b.plot(pr["recall"], pr[col], label=col.removeprefix("precision_"))
    b.set(xlabel="recall", ylabel="precision (interpolated)", title="Precision-recall (test)")
    a.legend(), b.legend()
    save(fig, out_dir, name)
    return fig


def cost(curve: pd.DataFrame, chosen: float, out_dir: str | Path, name: str = "cost_curve") -> Figure:
    """Fraud amount caught and total cost against the number of reviews; the chosen threshold marked."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(curve["reviews"], curve["fraud_amount_caught"], color="tab:green")
    a.set(xlabel="transactions reviewed", ylabel="fraud amount caught ($)", title="What reviews buy (test)")
    b.plot(curve["reviews"], curve["cost"], color="tab:red")
    at = curve.iloc[int(np.argmin(np.abs(curve["threshold"].to_numpy() - chosen)))]
    for ax, col in ((a, "fraud_amount_caught"), (b, "cost")):
        ax.axvline(at["reviews"], ls="--", color="grey")
        ax.plot(at["reviews"], at[col], "ko")
    b.set(xlabel="transactions reviewed", ylabel="reviews x cost + missed fraud ($)",
          title=f"Cost (threshold {chosen:.3f} chosen on validation)")
    a.set_xscale("symlog"), b.set_xscale("symlog")
    save(fig, out_dir, name)
    return fig


def calibration(tables: dict[str, pd.DataFrame], out_dir: str | Path, name: str = "calibration") -> Figure:
    """Observed fraud rate against mean predicted probability per bin (`evaluation.calibration_table`)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for label, t in tables.items():
        ax.plot(t["mean_prob"], t["observed_rate"], "o-", label=label)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="mean predicted probability", ylabel="observed fraud rate", title="Calibration (test)")
    ax.set_xscale("symlog", linthresh=1e-3), ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend()
    save(fig, out_dir, name)
    return fig


def tuning(trials: pd.DataFrame, out_dir: str | Path, name: str = "tuning") -> Figure:
    """Optuna history: each trial's value and the best so far (`study.trials_dataframe()`)."""
    done = trials[trials["state"] == "COMPLETE"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(done["number"], done["value"], "o", alpha=0.6, label="trial")
    ax.plot(done["number"], done["value"].cummax(), "-", label="best so far")
    ax.set(xlabel="trial", ylabel="mean prequential AP", title="Optuna (study resumes across runs)")
    ax.legend()
    save(fig, out_dir, name)
    return fig


def intervals(table: pd.DataFrame, metric: str, out_dir: str | Path, name: str = "test_intervals") -> Figure:
    """Point and 95% interval of `metric` per scored model on the test window (rows: models; columns `metric`,
    `<metric>_ci_low`, `<metric>_ci_high`)."""
    data = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(data) + 1.2))
    low, high = data[metric] - data[f"{metric}_ci_low"], data[f"{metric}_ci_high"] - data[metric]
    ax.errorbar(data[metric], range(len(data)), xerr=[low, high], fmt="o", capsize=4)
    ax.set_yticks(range(len(data)), data.index)
    ax.set(xlabel=f"{metric} (95% interval, block bootstrap by day)", title="Test window")
    save(fig, out_dir, name)
    return fig


def learning_curve(curve: pd.DataFrame, metric: str, out_dir: str | Path, ceiling: float | None = None,
                   name: str = "learning_curve") -> Figure:
    """`metric` (with its interval) against training rows, one point per history length; the latent ceiling, when
    known, as a line."""
    fig, ax = plt.subplots(figsize=(7, 4))
    err = [curve[metric] - curve[f"{metric}_ci_low"], curve[f"{metric}_ci_high"] - curve[metric]]
    ax.errorbar(curve["train_rows"], curve[metric], yerr=err, fmt="o-", capsize=4, label="model, test window")
    for x, y, d in zip(curve["train_rows"], curve[metric], curve["train_days"], strict=True):
        ax.annotate(f"{d:g} d", (x, y), textcoords="offset points", xytext=(5, -12), fontsize=8)
    if ceiling is not None and np.isfinite(ceiling):
        ax.axhline(ceiling, ls="--", color="grey", label="latent ceiling (sees hidden episodes)")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="training rows (labeled, longer history)", ylabel=metric,
           title="Learning curve: does more data help?")
    ax.legend(loc="lower right")
    save(fig, out_dir, name)
    return fig

"""Plot helpers: each draws one figure from an EDA table, saves `<out_dir>/<name>.png` and returns the figure.

Figures are closed after saving (no pyplot state piles up); a returned figure still displays in Jupyter.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

PALETTE = "viridis"


def save(fig: Figure, out_dir: str | Path, name: str, dpi: int = 110) -> Path:
    """Save `fig` as `<out_dir>/<name>.png` (folder created) and close it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def ranking(
    table: pd.DataFrame,
    label: str,
    value: str,
    out_dir: str | Path,
    name: str,
    *,
    n: int = 15,
    title: str = "",
    xlabel: str | None = None,
) -> Figure:
    """Horizontal bars of the top `n` rows of `table` by `value`, labelled by `label`."""
    top = table.nlargest(n, value)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(top) + 1.2))
    sns.barplot(
        x=top[value].to_numpy(), y=top[label].astype(str).to_numpy(), ax=ax, color="#3b6ea5", orient="h"
    )
    ax.set_xlabel(xlabel or value)
    ax.set_ylabel("")
    ax.set_title(title)
    save(fig, out_dir, name)
    return fig


def top_merchants(top: pd.DataFrame, out_dir: str | Path, name: str = "top_merchants") -> Figure:
    """Top merchants (top_merchants output) by sales volume, labelled with id and MCC description."""
    table = top.assign(
        merchant=top["merchant_id"].astype(str) + " · " + top["description"].astype(str).str.slice(0, 28)
    )
    return ranking(
        table,
        "merchant",
        "sales_volume",
        out_dir,
        name,
        n=len(table),
        title="Top merchants by sales volume",
        xlabel="sales volume ($)",
    )


def mcc_volume(mcc_table: pd.DataFrame, out_dir: str | Path, n: int = 15, name: str = "mcc_volume") -> Figure:
    """Largest merchant categories (by_mcc output) by sales volume."""
    table = mcc_table.assign(
        category=mcc_table["mcc"].astype(str) + " " + mcc_table["description"].astype(str)
    )
    return ranking(
        table,
        "category",
        "sales_volume",
        out_dir,
        name,
        n=n,
        title="Merchant categories by sales volume",
        xlabel="sales volume ($)",
    )


def hour_weekday(
    matrix: pd.DataFrame,
    out_dir: str | Path,
    name: str = "hour_weekday",
    title: str = "Transactions by weekday and hour",
) -> Figure:
    """Heatmap of a hour_weekday_matrix."""
    fig, ax = plt.subplots(figsize=(11, 3.6))
    sns.heatmap(matrix, ax=ax, cmap=PALETTE, cbar_kws={"label": "count"})
    ax.set_title(title)
    save(fig, out_dir, name)
    return fig


def channel_mix(channels: pd.DataFrame, out_dir: str | Path, name: str = "channel_mix") -> Figure:
    """Share of transactions and of sales volume per channel (by_channel output)."""
    long = channels.melt(
        id_vars="channel", value_vars=["count_share", "volume_share"], var_name="measure", value_name="share"
    )
    long["channel"] = long["channel"].astype(str)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.barplot(data=long, x="channel", y="share", hue="measure", ax=ax, palette="Set2")
    ax.set_title("Channel mix")
    save(fig, out_dir, name)
    return fig


def repeat_share_hist(
    repeat: pd.DataFrame,
    out_dir: str | Path,
    min_customers: int = 20,
    overall: float | None = None,
    name: str = "repeat_share",
) -> Figure:
    """Histogram of merchant repeat-customer shares (merchants with >= `min_customers` customers)."""
    shares = repeat.loc[repeat["n_customers"] >= min_customers, "repeat_share"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(shares, bins=20, range=(0, 1), color="#3b6ea5")
    if overall is not None:
        ax.axvline(overall, color="black", ls="--", label=f"overall {overall:.1%}")
        ax.legend()
    ax.set_xlabel(f"repeat-customer share (merchants with >= {min_customers} customers)")
    ax.set_ylabel("merchants")
    ax.set_title("How many of a merchant's customers come back?")
    save(fig, out_dir, name)
    return fig


def rfm_segments(summary: pd.DataFrame, out_dir: str | Path, name: str = "rfm_segments") -> Figure:
    """Clients and monetary share per RFM segment (segment_summary output)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    seg = summary["segment"].astype(str).to_numpy()
    sns.barplot(x=summary["client_share"].to_numpy(), y=seg, ax=axes[0], color="#3b6ea5", orient="h")
    axes[0].set_xlabel("share of clients")
    sns.barplot(x=summary["monetary_share"].to_numpy(), y=seg, ax=axes[1], color="#d08c3a", orient="h")
    axes[1].set_xlabel("share of purchase volume")
    fig.suptitle("RFM segments")
    save(fig, out_dir, name)
    return fig


def rfm_grid(scored: pd.DataFrame, out_dir: str | Path, name: str = "rfm_grid") -> Figure:
    """Heatmap of mean monetary value over the recency x frequency score grid (rfm_scores output)."""
    grid = scored.pivot_table(
        index="f_score", columns="r_score", values="monetary", aggfunc="mean", observed=False
    ).sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    sns.heatmap(
        grid.astype(float),
        ax=ax,
        cmap=PALETTE,
        annot=True,
        fmt=".0f",
        cbar_kws={"label": "mean monetary ($)"},
    )
    ax.set_title("Mean spend by recency (R) and frequency (F) score")
    save(fig, out_dir, name)
    return fig


def fraud_rates(
    rates: pd.DataFrame,
    key: str,
    out_dir: str | Path,
    *,
    overall: float | None = None,
    name: str | None = None,
    title: str | None = None,
    n: int | None = None,
) -> Figure:
    """Fraud rate per group with its Wilson interval and the overall rate (fraud_rate_by output)."""
    table = rates.dropna(subset=["fraud_rate"])
    if n is not None:
        table = table.head(n)
    labels = table[key].astype(str)
    if "description" in table:
        labels = labels + " " + table["description"].astype(str).str.slice(0, 28)
    if table.empty:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, "no group with labeled rows", ha="center", va="center")
        ax.set_axis_off()
        save(fig, out_dir, name or f"fraud_by_{key}")
        return fig
    horizontal = len(table) > 8
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(table) + 1.5) if horizontal else (7, 3.8))
    pos = list(range(len(table)))
    rate = table["fraud_rate"].to_numpy(float)
    err = [
        (rate - table["ci_low"].to_numpy(float)).clip(min=0),
        (table["ci_high"].to_numpy(float) - rate).clip(min=0),
    ]
    if horizontal:
        ax.errorbar(rate, pos, xerr=err, fmt="o", color="#b03a2e", capsize=3)
        ax.set_yticks(pos, labels.to_list())
        ax.invert_yaxis()
        ax.set_xlabel("fraud rate (labeled rows, Wilson CI)")
        if overall is not None:
            ax.axvline(overall, color="black", ls="--", label=f"overall {overall:.3%}")
    else:
        ax.errorbar(pos, rate, yerr=err, fmt="o", color="#b03a2e", capsize=3)
        ax.set_xticks(pos, labels.to_list(), rotation=45 if len(table) > 4 else 0)
        ax.set_ylabel("fraud rate (labeled rows, Wilson CI)")
        if overall is not None:
            ax.axhline(overall, color="black", ls="--", label=f"overall {overall:.3%}")
    if overall is not None:
        ax.legend()
    ax.set_title(title or f"Fraud rate by {key}")
    save(fig, out_dir, name or f"fraud_by_{key}")
    return fig


def ingest_quarantine(summary: pd.DataFrame, out_dir: str | Path, name: str = "ingest_quarantine") -> Figure:
    """Accepted vs quarantined rows per raw file (ingest_summary output, total row left out)."""
    files = summary[summary["file"] != "total"].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(files) + 1.5))
    pos = np.arange(len(files))
    ax.barh(pos - 0.2, files["accepted"], height=0.4, color="#3b6ea5", label="accepted")
    ax.barh(pos + 0.2, files["quarantined"], height=0.4, color="#b03a2e", label="quarantined")
    for y, (q, rate) in enumerate(zip(files["quarantined"], files["quarantine_rate"], strict=True)):
        ax.annotate(f" {q:,} ({rate:.2%})", (max(q, 0), y + 0.2), va="center", fontsize=8)
    ax.set_yticks(pos, files["file"].to_list())
    ax.invert_yaxis()
    ax.set_xscale("symlog")
    ax.set_xlabel("rows (symlog)")
    ax.legend(loc="lower right")
    ax.set_title("Ingest: accepted and quarantined rows")
    save(fig, out_dir, name)
    return fig

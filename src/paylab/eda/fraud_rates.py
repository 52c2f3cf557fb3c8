"""Fraud rates on LABELED rows only (label fraud or legit; `unlabeled` is neither), with Wilson intervals.

`lift` = group rate / overall labeled rate of the same frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from paylab.eda.frames import LABELED, Frame, as_list, collect, lazy, mcc_descriptions, with_dims

_IS_FRAUD = pl.col("label") == "fraud"
_IS_LABELED = pl.col("label").is_in(list(LABELED))


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: Any, n: Any, confidence: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval for a binomial proportion; NaN where n == 0. Scalars in, floats out."""
    z = _z(confidence)
    k = np.asarray(successes, dtype=float)
    m = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / m
        denom = 1 + z**2 / m
        centre = (p + z**2 / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
        # exact bounds at the edges (k = 0 or k = n), where rounding would leave 1e-17 off
        low = np.where(m > 0, np.where(k <= 0, 0.0, np.clip(centre - half, 0, 1)), np.nan)
        high = np.where(m > 0, np.where(k >= m, 1.0, np.clip(centre + half, 0, 1)), np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def label_counts(tx: Frame) -> pd.DataFrame:
    """Rows per label value (fraud / legit / unlabeled / anything else) with share."""
    out = collect(
        lazy(tx).group_by(pl.col("label").cast(pl.String)).agg(pl.len().alias("n_rows")).sort("label")
    )
    out["share"] = out["n_rows"] / out["n_rows"].sum()
    return out


def overall_fraud_rate(tx: Frame, confidence: float = 0.95) -> dict[str, float]:
    """n_rows, n_labeled, n_fraud, labeled_share, fraud_rate (labeled rows only), ci_low, ci_high."""
    stats = (
        lazy(tx)
        .select(
            pl.len().alias("n_rows"), _IS_LABELED.sum().alias("n_labeled"), _IS_FRAUD.sum().alias("n_fraud")
        )
        .collect()
        .row(0, named=True)
    )
    n_rows, n_lab, n_fraud = int(stats["n_rows"]), int(stats["n_labeled"]), int(stats["n_fraud"])
    low, high = wilson_interval(n_fraud, n_lab, confidence)
    return {
        "n_rows": n_rows,
        "n_labeled": n_lab,
        "n_fraud": n_fraud,
        "labeled_share": n_lab / n_rows if n_rows else float("nan"),
        "fraud_rate": n_fraud / n_lab if n_lab else float("nan"),
        "ci_low": low,
        "ci_high": high,
    }


def fraud_rate_by(
    tx: Frame,
    by: str | Iterable[str],
    *,
    confidence: float = 0.95,
    min_labeled: int = 0,
    sort: str | None = None,
) -> pd.DataFrame:
    """Fraud rate per group of `by` (columns, or derived: hour, weekday, month, amount_band, geo).

    Columns: by..., n_rows, n_labeled, n_fraud, labeled_share, fraud_rate, ci_low, ci_high, lift.
    Groups with fewer than `min_labeled` labeled rows are dropped (after the overall rate is taken).
    Sorted by the keys, or by `sort` (descending).
    """
    by = as_list(by)
    lf = with_dims(lazy(tx), by)
    overall = overall_fraud_rate(lf, confidence)["fraud_rate"]
    out = collect(
        lf.group_by(by)
        .agg(pl.len().alias("n_rows"), _IS_LABELED.sum().alias("n_labeled"), _IS_FRAUD.sum().alias("n_fraud"))
        .filter(pl.col("n_labeled") >= min_labeled)
        .sort(by, nulls_last=True)
    )
    labeled = out["n_labeled"].where(out["n_labeled"] > 0)
    out["labeled_share"] = out["n_labeled"] / out["n_rows"]
    out["fraud_rate"] = (out["n_fraud"] / labeled).astype(float)
    out["ci_low"], out["ci_high"] = wilson_interval(out["n_fraud"], out["n_labeled"], confidence)
    out["lift"] = out["fraud_rate"] / overall if overall and overall > 0 else np.nan
    if sort:
        out = out.sort_values(sort, ascending=False, kind="stable").reset_index(drop=True)
    return out


def fraud_by_channel(tx: Frame, **kw: Any) -> pd.DataFrame:
    """Fraud rate per channel (swipe / chip / online)."""
    return fraud_rate_by(tx, "channel", **kw)


def fraud_by_geo(tx: Frame, **kw: Any) -> pd.DataFrame:
    """Fraud rate for domestic / international (in person) / online."""
    return fraud_rate_by(tx, "geo", **kw)


def fraud_by_hour(tx: Frame, **kw: Any) -> pd.DataFrame:
    """Fraud rate per hour of day."""
    return fraud_rate_by(tx, "hour", **kw)


def fraud_by_amount_band(tx: Frame, **kw: Any) -> pd.DataFrame:
    """Fraud rate per amount band (refund, 0-10, ..., 1k+)."""
    return fraud_rate_by(tx, "amount_band", **kw)


def fraud_by_mcc(tx: Frame, mcc: Frame | None = None, *, min_labeled: int = 100, **kw: Any) -> pd.DataFrame:
    """Fraud rate per MCC with description, highest rate first (MCCs with < `min_labeled` labels dropped)."""
    kw.setdefault("sort", "fraud_rate")
    out = fraud_rate_by(tx, "mcc", min_labeled=min_labeled, **kw)
    desc = mcc_descriptions(mcc)
    if desc is None:
        out.insert(1, "description", "unknown")
        return out
    out = out.merge(collect(desc), on="mcc", how="left")  # a left merge keeps the row order
    out["description"] = out["description"].fillna("unknown")
    return out[["mcc", "description", *[c for c in out.columns if c not in ("mcc", "description")]]]


def rate_of(table: pd.DataFrame, key: str, value: Any) -> float:
    """The fraud_rate of one group in a fraud_rate_by table (NaN when absent)."""
    hit = table.loc[table[key].astype(str) == str(value), "fraud_rate"]
    return float(hit.iloc[0]) if len(hit) else float("nan")

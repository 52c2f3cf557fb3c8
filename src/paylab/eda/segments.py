"""Consumer segments with RFM: recency, frequency, monetary -> quantile scores 1..k -> named segments.

Only purchases (amount > 0) count. Scores are equal-frequency bins of the average rank,
score = ceil(k * rank / n), so tied customers share a score; a higher score is better (recent, frequent,
big spender). Segments follow the standard R x F segment map (5-level scores, R first then F).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl

from paylab.eda.frames import Frame, is_spark, lazy

# The widely used RFM segment map on (R score, F score), both 1..5.
RFM_SEGMENT_MAP: dict[str, str] = {
    r"[1-2][1-2]": "Hibernating",
    r"[1-2][3-4]": "At risk",
    r"[1-2]5": "Can't lose",
    r"3[1-2]": "About to sleep",
    r"33": "Need attention",
    r"[3-4][4-5]": "Loyal",
    r"41": "Promising",
    r"51": "New",
    r"[4-5][2-3]": "Potential loyalists",
    r"5[4-5]": "Champions",
}
SEGMENT_ORDER = (
    "Champions",
    "Loyal",
    "Potential loyalists",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose",
    "Hibernating",
)


def _segment_grid() -> dict[str, str]:
    grid = {}
    for r in range(1, 6):
        for f in range(1, 6):
            key = f"{r}{f}"
            hits = [seg for pattern, seg in RFM_SEGMENT_MAP.items() if re.fullmatch(pattern, key)]
            assert len(hits) == 1, f"RFM map must cover {key} exactly once, got {hits}"
            grid[key] = hits[0]
    return grid


SEGMENT_GRID = _segment_grid()


def _rfm_groups(tx: Frame) -> tuple[pl.LazyFrame, datetime | None]:
    """Per client over purchases: last_purchase, frequency, monetary; and the last timestamp of all of `tx`."""
    if is_spark(tx):
        from paylab.eda import spark

        groups, last = spark.rfm_groups(tx)
        return groups.lazy(), last
    lf = lazy(tx)
    last = lf.select(pl.col("timestamp").max()).collect().item()
    groups = (
        lf.filter(pl.col("amount") > 0)
        .group_by("client_id")
        .agg(
            pl.col("timestamp").max().alias("last_purchase"),
            pl.len().alias("frequency"),
            pl.col("amount").sum().alias("monetary"),
        )
    )
    return groups, last


def rfm_table(tx: Frame, as_of: datetime | None = None) -> pd.DataFrame:
    """Per client: last_purchase, recency_days, frequency (purchases), monetary (sum of purchases).

    `as_of` defaults to one day after the last transaction in `tx` (the snapshot date).
    Clients with no purchase are left out. `tx` may be a Spark DataFrame (the group-by then runs in Spark).
    """
    groups, last = _rfm_groups(tx)
    if as_of is None:
        if last is None:
            raise ValueError("transactions: empty 'timestamp', cannot set the RFM snapshot date")
        as_of = last + timedelta(days=1)
    out = (
        groups.with_columns(
            recency_days=(pl.lit(as_of).cast(pl.Datetime("us")) - pl.col("last_purchase")).dt.total_seconds()
            / 86400.0
        )
        .select("client_id", "last_purchase", "recency_days", "frequency", "monetary")
        .sort("client_id")
    )
    return out.collect().to_pandas()


def quantile_scores(values: pd.Series, k: int = 5, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1..k from equal-frequency bins of the average rank (ties share a score)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ranks = values.rank(method="average", ascending=higher_is_better)
    n = ranks.notna().sum()
    scores = np.ceil(ranks * k / max(n, 1)).clip(1, k)
    return scores.astype("Int64")


def to_five_levels(scores: pd.Series, k: int) -> pd.Series:
    """Map scores 1..k onto 1..5 (identity for k=5) by the midpoint of each score's quantile band."""
    return (np.floor((scores.astype(float) - 0.5) * 5 / k) + 1).clip(1, 5).astype("Int64")


def rfm_scores(rfm: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """Add r_score, f_score, m_score (1..k), rfm_score ('545'), rfm_sum and segment to `rfm_table` output."""
    out = rfm.copy()
    out["r_score"] = quantile_scores(out["recency_days"], k, higher_is_better=False)
    out["f_score"] = quantile_scores(out["frequency"], k)
    out["m_score"] = quantile_scores(out["monetary"], k)
    out["rfm_score"] = out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    out["rfm_sum"] = out[["r_score", "f_score", "m_score"]].sum(axis=1).astype(int)
    rf = to_five_levels(out["r_score"], k).astype(str) + to_five_levels(out["f_score"], k).astype(str)
    out["segment"] = pd.Categorical(rf.map(SEGMENT_GRID), categories=list(SEGMENT_ORDER), ordered=True)
    return out


def rfm_segments(tx: Frame, k: int = 5, as_of: datetime | None = None) -> pd.DataFrame:
    """rfm_table + rfm_scores in one call."""
    return rfm_scores(rfm_table(tx, as_of), k)


def segment_summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Per segment (canonical order): n_clients, client_share, mean R/F/M, monetary_share."""
    grouped = scored.groupby("segment", observed=False)
    out = grouped.agg(
        n_clients=("client_id", "size"),
        recency_days=("recency_days", "mean"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
        monetary_total=("monetary", "sum"),
    ).reset_index()
    out["client_share"] = out["n_clients"] / max(len(scored), 1)
    total = out["monetary_total"].sum()
    out["monetary_share"] = out["monetary_total"] / total if total else np.nan
    out["segment"] = out["segment"].astype(str)
    return out[
        ["segment", "n_clients", "client_share", "recency_days", "frequency", "monetary", "monetary_share"]
    ]

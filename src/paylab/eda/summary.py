"""Dataset overview and the flat metrics map written to reports/metrics/eda.json."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
import polars as pl

from paylab.eda.frames import Frame, lazy
from paylab.eda.fraud_rates import fraud_by_channel, fraud_by_geo, overall_fraud_rate, rate_of
from paylab.eda.marginals import marginals as measure_marginals
from paylab.eda.merchants import by_merchant, repeat_customer_share, volume_concentration
from paylab.eda.quality import ingest_summary


def overview(tx: Frame) -> dict[str, Any]:
    """Counts, period, volume and channel mix of the transactions in one pass."""
    amount = pl.col("amount")
    stats = (
        lazy(tx)
        .select(
            pl.len().alias("n_transactions"),
            pl.col("client_id").n_unique().alias("n_clients"),
            pl.col("card_id").n_unique().alias("n_cards"),
            pl.col("merchant_id").n_unique().alias("n_merchants"),
            pl.col("mcc").n_unique().alias("n_mcc"),
            pl.col("timestamp").min().alias("period_start"),
            pl.col("timestamp").max().alias("period_end"),
            amount.clip(lower_bound=0).sum().alias("sales_volume"),
            (-amount).clip(lower_bound=0).sum().alias("refund_volume"),
            (amount < 0).mean().alias("refund_share"),
            pl.col("is_online").mean().alias("online_share"),
            pl.col("is_international").mean().alias("international_share"),
        )
        .collect()
        .row(0, named=True)
    )
    start, end = stats["period_start"], stats["period_end"]
    stats["period_days"] = (end - start).total_seconds() / 86400 if start is not None else float("nan")
    stats["period_start"] = start.isoformat() if start is not None else None
    stats["period_end"] = end.isoformat() if end is not None else None
    return stats


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def eda_metrics(
    tx: Frame,
    ingest: Mapping[str, Any] | None = None,
    *,
    top_n: int = 15,
    merchants: pd.DataFrame | None = None,
    segments: pd.DataFrame | None = None,
    repeat_share: float | None = None,
    marginals: Mapping[str, float] | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The flat map for eda.json: sizes, labels and fraud rates, concentration, repeat share, quarantine, and the
    real-set marginals as `marginal_<key>` (`paylab.eda.marginals`).

    Pass `merchants` (by_merchant), `segments` (segment_summary), `repeat_share` and `marginals` (the `marginals`
    dict, e.g. `marginals_table(tx)["generated"].to_dict()`) to reuse them.
    """
    lf = lazy(tx)
    out: dict[str, Any] = dict(overview(lf))
    fr = overall_fraud_rate(lf, confidence)
    out.update(
        n_labeled=fr["n_labeled"],
        n_fraud=fr["n_fraud"],
        labeled_share=fr["labeled_share"],
        fraud_rate_labeled=fr["fraud_rate"],
        fraud_rate_labeled_ci_low=fr["ci_low"],
        fraud_rate_labeled_ci_high=fr["ci_high"],
    )
    channel = fraud_by_channel(lf, confidence=confidence)
    for name in ("online", "chip", "swipe"):
        out[f"fraud_rate_{name}"] = rate_of(channel, "channel", name)
    geo = fraud_by_geo(lf, confidence=confidence)
    for name in ("international", "domestic"):
        out[f"fraud_rate_{name}"] = rate_of(geo, "geo", name)

    merchants = by_merchant(lf) if merchants is None else merchants
    conc = volume_concentration(merchants, top_n)
    out.update(
        top_n=top_n,
        top_merchant_volume_share=conc["top_merchant_share"],
        top_n_merchant_volume_share=conc[f"top_{top_n}_share"],
        merchant_volume_hhi=conc["hhi"],
        repeat_customer_share=repeat_customer_share(lf) if repeat_share is None else repeat_share,
    )
    measured = measure_marginals(lf) if marginals is None else marginals
    out.update({f"marginal_{key}": float(value) for key, value in measured.items()})
    if segments is not None:
        for row in segments.itertuples(index=False):
            out[f"segment_share_{_slug(row.segment)}"] = row.client_share
    if ingest is not None:
        total = ingest_summary(ingest).set_index("file").loc["total"]
        out.update(
            ingest_read_rows=int(total["read"]),
            quarantined_rows=int(total["quarantined"]),
            quarantine_rate=float(total["quarantine_rate"]),
            ingest_consistent=bool(ingest_summary(ingest)["consistent"].all()),
        )
    return out

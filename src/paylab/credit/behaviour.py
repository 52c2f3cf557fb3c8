"""Wallet behaviour of each applicant from their own transactions strictly before the application date."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl

TX_COLUMNS = ["client_id", "timestamp", "amount", "merchant_id", "mcc", "is_online", "is_refund",
              "err_insufficient_balance", "errors"]
BEHAVIOUR = {
    "bh_n_tx": "transactions in the lookback window",
    "bh_spend_monthly": "mean monthly spend (positive amounts) over the window's months",
    "bh_spend_cv": "coefficient of variation of monthly spend (stability; lower = steadier)",
    "bh_ticket_mean": "mean positive amount",
    "bh_inflow_monthly": "mean monthly inflow (negative amounts: refunds and credits, income-like)",
    "bh_refund_share": "share of transactions that are refunds",
    "bh_insufficient_balance_rate": "share of transactions declined for insufficient balance",
    "bh_other_error_rate": "share of transactions with any other error",
    "bh_online_share": "share of online transactions",
    "bh_n_merchants": "distinct merchants",
    "bh_n_mcc": "distinct merchant categories",
    "bh_recency_days": "days from the last transaction to the application",
    "bh_active_months": "months of the window with at least one transaction",
}


def behaviour_features(transactions: pl.LazyFrame | Path | str, applications: pd.DataFrame,
                       lookback_days: int = 180) -> pd.DataFrame:
    """One row per application (`loan_id`, `client_id`, `application_date`) with the BEHAVIOUR columns, computed
    from the client's transactions with application_date - lookback_days <= timestamp < application_date (strictly
    before: a transaction on or after the date changes nothing). Applicants without transactions get zero counts
    and nulls for rates; recency is then the lookback."""
    tx = pl.scan_parquet(transactions) if isinstance(transactions, str | Path) else transactions
    apps = pl.from_pandas(applications[["loan_id", "client_id", "application_date"]]).lazy().with_columns(
        pl.col("application_date").cast(pl.Datetime("us")))
    months = lookback_days / 30.0
    joined = (tx.select(TX_COLUMNS).join(apps, on="client_id", how="inner")
              .filter((pl.col("timestamp") < pl.col("application_date"))
                      & (pl.col("timestamp") >= pl.col("application_date") - pl.duration(days=lookback_days)))
              .with_columns(month=((pl.col("application_date") - pl.col("timestamp")).dt.total_days() // 30),
                            spend=pl.when(pl.col("amount") > 0).then(pl.col("amount")).otherwise(0.0),
                            other_error=pl.col("errors").is_not_null() & ~pl.col("err_insufficient_balance")))
    per_month = (joined.group_by("loan_id", "month").agg(pl.col("spend").sum())
                 .group_by("loan_id").agg(bh_spend_cv=pl.col("spend").std(ddof=0) / pl.col("spend").mean(),
                                          bh_active_months=pl.len()))
    agg = joined.group_by("loan_id").agg(
        bh_n_tx=pl.len(),
        bh_spend_monthly=pl.col("spend").sum() / months,
        bh_ticket_mean=pl.col("amount").filter(pl.col("amount") > 0).mean(),
        bh_inflow_monthly=(-pl.col("amount").filter(pl.col("amount") < 0)).sum() / months,
        bh_refund_share=pl.col("is_refund").mean(),
        bh_insufficient_balance_rate=pl.col("err_insufficient_balance").mean(),
        bh_other_error_rate=pl.col("other_error").mean(),
        bh_online_share=pl.col("is_online").mean(),
        bh_n_merchants=pl.col("merchant_id").n_unique(),
        bh_n_mcc=pl.col("mcc").n_unique(),
        bh_recency_days=(pl.col("application_date") - pl.col("timestamp")).dt.total_seconds().min() / 86400.0,
    ).join(per_month, on="loan_id", how="left")
    out = apps.join(agg, on="loan_id", how="left").collect().to_pandas()
    counts = ["bh_n_tx", "bh_spend_monthly", "bh_inflow_monthly", "bh_n_merchants", "bh_n_mcc", "bh_active_months"]
    out[counts] = out[counts].fillna(0).astype(float)
    out["bh_recency_days"] = out["bh_recency_days"].fillna(float(lookback_days))
    return out[["loan_id", *BEHAVIOUR]].set_index("loan_id").loc[applications["loan_id"]].reset_index()

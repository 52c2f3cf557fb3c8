"""Merchant analytics: where sales volume comes from, concentration, and repeat customers.

Sales volume is the sum of positive amounts (purchases); refunds (negative amounts) are reported apart
and `net_volume` = sales - refunds. Every function takes the interim transactions (pandas or polars), or a Spark
DataFrame of them (`eda.engine: spark`): then the group-bys run in Spark (`paylab.eda.spark`) and the small
aggregated result goes through the same polars post-processing (shares, ratios, sorting, ranking, modes) as here.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import polars as pl

from paylab.eda.frames import WEEKDAYS, Frame, add_mcc_description, as_list, collect, is_spark, lazy, with_dims

_AMOUNT = pl.col("amount")
# a top merchant's main MCC, city and state: the modes of these columns over its rows
MAIN_COLUMNS = ("mcc", "merchant_city", "merchant_state")


def _volume_aggs() -> list[pl.Expr]:
    return [
        pl.len().alias("n_transactions"),
        (_AMOUNT > 0).sum().alias("n_purchases"),
        _AMOUNT.clip(lower_bound=0).sum().alias("sales_volume"),
        (-_AMOUNT).clip(lower_bound=0).sum().alias("refund_volume"),
        pl.col("client_id").n_unique().alias("n_clients"),
    ]


def _spark():
    from paylab.eda import spark

    return spark


def _volume_groups(tx: Frame, by: list[str]) -> pl.LazyFrame:
    """by..., n_transactions, n_purchases, sales_volume, refund_volume, n_clients (Spark or polars group-by)."""
    if is_spark(tx):
        return _spark().volume_groups(tx, by).lazy()
    return with_dims(lazy(tx), by).group_by(by).agg(_volume_aggs())


def _volume_lazy(tx: Frame, by: list[str]) -> pl.LazyFrame:
    return _volume_groups(tx, by).with_columns(
        net_volume=pl.col("sales_volume") - pl.col("refund_volume"),
        avg_ticket=pl.col("sales_volume") / pl.col("n_purchases").cast(pl.Float64),
        volume_share=pl.col("sales_volume") / pl.col("sales_volume").sum(),
        count_share=pl.col("n_transactions") / pl.col("n_transactions").sum(),
    )


def volume_by(
    tx: Frame, by: str | Iterable[str], *, sort: str | None = "sales_volume", descending: bool = True
) -> pd.DataFrame:
    """Counts and volume per group of `by` (columns, or derived: hour, weekday, month, amount_band, geo).

    Columns: by..., n_transactions, n_purchases, sales_volume, refund_volume, n_clients, net_volume,
    avg_ticket (sales / purchases), volume_share, count_share. `sort=None` sorts by the keys.
    """
    by = as_list(by)
    lf = _volume_lazy(tx, by)
    lf = lf.sort(sort, descending=descending, nulls_last=True) if sort else lf.sort(by, nulls_last=True)
    return collect(lf)


def by_merchant(tx: Frame) -> pd.DataFrame:
    """Volume per merchant_id, largest first."""
    return volume_by(tx, "merchant_id")


def by_mcc(tx: Frame, mcc: Frame | None = None) -> pd.DataFrame:
    """Volume per MCC with its description (from mcc.parquet) and number of merchants, largest first."""
    if is_spark(tx):
        merchants = _spark().merchants_per_mcc(tx).lazy()
    else:
        merchants = lazy(tx).group_by("mcc").agg(pl.col("merchant_id").n_unique().alias("n_merchants"))
    lf = _volume_lazy(tx, ["mcc"]).join(merchants, on="mcc")
    lf = add_mcc_description(lf, mcc).sort("sales_volume", descending=True)
    out = collect(lf)
    first = ["mcc", "description", "n_merchants"]
    return out[first + [c for c in out.columns if c not in first]]


def by_location(tx: Frame, level: str = "state") -> pd.DataFrame:
    """Volume per merchant_state (`level='state'`) or per (merchant_state, merchant_city) (`'city'`)."""
    keys = {"state": ["merchant_state"], "city": ["merchant_state", "merchant_city"]}
    if level not in keys:
        raise ValueError(f"level must be 'state' or 'city', got {level!r}")
    return volume_by(tx, keys[level])


def by_hour(tx: Frame) -> pd.DataFrame:
    """Volume per hour of day (0..23), in hour order."""
    return volume_by(tx, "hour", sort=None)


def by_weekday(tx: Frame) -> pd.DataFrame:
    """Volume per weekday (0 = Monday) with a `weekday_name`, in weekday order."""
    out = volume_by(tx, "weekday", sort=None)
    out.insert(1, "weekday_name", out["weekday"].map(dict(enumerate(WEEKDAYS))))
    return out


def by_channel(tx: Frame) -> pd.DataFrame:
    """Volume per channel (swipe / chip / online)."""
    return volume_by(tx, "channel")


def hour_weekday_matrix(tx: Frame, value: str = "n_transactions") -> pd.DataFrame:
    """A 7 x 24 table (weekday name x hour) of `value` (any volume_by column), zeros where empty."""
    long = volume_by(tx, ["weekday", "hour"], sort=None)
    wide = long.pivot(index="weekday", columns="hour", values=value)
    wide = wide.reindex(index=range(7), columns=range(24)).fillna(0)
    wide.index = pd.Index(WEEKDAYS, name="weekday")
    wide.columns.name = "hour"
    return wide


def _value_counts(tx: Frame, merchant_ids: pl.DataFrame) -> pl.LazyFrame:
    """Rows per (merchant_id, mcc, merchant_city, merchant_state) of the given merchants (cities, states as str)."""
    if is_spark(tx):
        return _spark().value_counts(tx, merchant_ids["merchant_id"].to_list(), list(MAIN_COLUMNS)).lazy()
    return (
        lazy(tx)
        .join(merchant_ids.lazy(), on="merchant_id", how="semi")
        .group_by("merchant_id", "mcc", *(pl.col(c).cast(pl.String) for c in MAIN_COLUMNS[1:]))
        .agg(pl.len().alias("n"))
    )


def _main_values(counts: pl.LazyFrame) -> pl.LazyFrame:
    """Per merchant the mode of each of MAIN_COLUMNS (ties: the smallest value; the state's mode ignores nulls)."""
    main = counts.select("merchant_id").unique()
    for col in MAIN_COLUMNS:
        per_value = counts.group_by("merchant_id", col).agg(pl.col("n").sum())
        if col == "merchant_state":
            per_value = per_value.drop_nulls(col)
        mode = (
            per_value.filter(pl.col("n") == pl.col("n").max().over("merchant_id"))
            .group_by("merchant_id")
            .agg(pl.col(col).min())
        )
        main = main.join(mode, on="merchant_id", how="left")
    return main


def top_merchants(tx: Frame, n: int = 15, mcc: Frame | None = None, by: str = "sales_volume") -> pd.DataFrame:
    """The `n` largest merchants by `by`, with their main MCC (+ description) and main city."""
    top = _volume_lazy(tx, ["merchant_id"]).sort(by, descending=True, nulls_last=True).head(n).collect()
    main = _main_values(_value_counts(tx, top.select("merchant_id")))
    lf = add_mcc_description(top.lazy().join(main, on="merchant_id", how="left"), mcc)
    out = collect(lf.sort(by, descending=True))
    out.insert(0, "rank", range(1, len(out) + 1))
    first = ["rank", "merchant_id", "mcc", "description", "merchant_city", "merchant_state"]
    return out[first + [c for c in out.columns if c not in first]]


def volume_concentration(
    merchants: pd.DataFrame, n: int = 15, value: str = "sales_volume"
) -> dict[str, float]:
    """From `by_merchant` output: top-1 and top-n shares of `value` and the HHI (sum of squared shares)."""
    values = merchants[value].clip(lower=0).sort_values(ascending=False)
    total = float(values.sum())
    if total <= 0:
        return {"top_merchant_share": float("nan"), f"top_{n}_share": float("nan"), "hhi": float("nan")}
    shares = values / total
    return {
        "top_merchant_share": float(shares.iloc[0]),
        f"top_{n}_share": float(shares.iloc[:n].sum()),
        "hhi": float((shares**2).sum()),
    }


def _repeat_groups(tx: Frame, purchases_only: bool, min_transactions: int) -> pl.LazyFrame:
    """Per merchant: n_customers, n_repeat_customers, n_transactions (Spark or polars group-bys)."""
    if is_spark(tx):
        return _spark().repeat_groups(tx, purchases_only, min_transactions).lazy()
    lf = lazy(tx)
    if purchases_only:
        lf = lf.filter(_AMOUNT > 0)
    return (
        lf.group_by(["merchant_id", "client_id"])
        .agg(pl.len().alias("n"))
        .group_by("merchant_id")
        .agg(
            pl.len().alias("n_customers"),
            (pl.col("n") >= min_transactions).sum().alias("n_repeat_customers"),
            pl.col("n").sum().alias("n_transactions"),
        )
    )


def repeat_customers(tx: Frame, *, purchases_only: bool = True, min_transactions: int = 2) -> pd.DataFrame:
    """Per merchant: n_customers, n_repeat_customers (>= `min_transactions` there) and repeat_share.

    With `purchases_only` refunds are ignored, so a purchase and its refund are not a repeat visit.
    Sorted by n_customers, largest first.
    """
    lf = (
        _repeat_groups(tx, purchases_only, min_transactions)
        .with_columns(repeat_share=pl.col("n_repeat_customers") / pl.col("n_customers"))
        .sort(["n_customers", "merchant_id"], descending=[True, False])
    )
    return collect(lf)


def repeat_customer_share(tx: Frame, *, purchases_only: bool = True, min_transactions: int = 2) -> float:
    """Overall repeat share: of all (merchant, customer) relationships, the share with >= 2 transactions.

    Equals the per-merchant repeat_share averaged with weights n_customers.
    """
    stats = (
        _repeat_groups(tx, purchases_only, min_transactions)
        .select(pl.col("n_customers").sum().alias("pairs"), pl.col("n_repeat_customers").sum().alias("repeat"))
        .collect()
        .row(0, named=True)
    )
    return stats["repeat"] / stats["pairs"] if stats["pairs"] else float("nan")

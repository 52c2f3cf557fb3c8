"""Spark group-bys of the EDA's merchant analytics (`eda.engine: spark`).

`paylab.eda.merchants` and `paylab.eda.segments` call these when they are given a Spark DataFrame: each function
here runs one aggregation in Spark (volume per group, merchants per MCC, value counts of the top merchants, repeat
customers per merchant, RFM values per client) and hands back the small result as polars, cast to the dtypes the
polars group-by gives (counts UInt32, low-cardinality strings Categorical, naive timestamps). Everything after the
aggregation (shares, ratios, sorting, ranks, modes, RFM scores and segments, concentration) is the polars/pandas code
of the default path, so both engines produce the same tables.

Only built-in Spark SQL functions are used (no Python UDFs): executors need nothing but Spark itself; the driver
(the notebook's kernel) needs pyspark, polars and pyarrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from paylab.eda.loading import CATEGORICAL

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def session(params: Mapping[str, Any] | None = None) -> SparkSession:
    """A Spark session from `eda.spark` params (master, driver_memory, shuffle_partitions), as the features
    engine builds one (`paylab.features.spark_engine.spark_session`: UTC session time zone)."""
    from paylab.features.spark_engine import spark_session
    from paylab.features.spec import FeatureConfig

    return spark_session(FeatureConfig(spark=dict(params or {})))


def read_transactions(spark: SparkSession, interim_dir: str | Path) -> DataFrame:
    """data/interim/transactions.parquet as a Spark DataFrame."""
    path = Path(interim_dir) / "transactions.parquet"
    if not path.exists():
        raise FileNotFoundError(f"interim table not found: {path} (run `paylab ingest` first)")
    return spark.read.parquet(str(path))


def _derived() -> dict[str, Column]:
    """Spark twins of `paylab.eda.frames.DERIVED` that the volume tables group by."""
    from pyspark.sql import functions as F

    ts = F.col("timestamp")
    return {
        "hour": F.hour(ts).cast("tinyint"),
        "weekday": ((F.dayofweek(ts) + 5) % 7).cast("tinyint"),  # Spark: 1 = Sunday .. 7 = Saturday; 0 = Monday
        "month": F.date_trunc("month", ts),
        "year": F.year(ts),
    }


def _with_dims(tx: DataFrame, by: Sequence[str]) -> DataFrame:
    derived = _derived()
    missing = [col for col in by if col not in tx.columns and col not in derived]
    if missing:
        raise KeyError(f"transactions: no column {missing} (derived ones on Spark: {sorted(derived)})")
    extra = {col: derived[col] for col in by if col not in tx.columns}
    return tx.withColumns(extra) if extra else tx


def _collect(df: DataFrame, counts: Sequence[str] = (), *, categorical: bool = True) -> pl.DataFrame:
    """A small Spark result as polars with the dtypes of the polars path: `counts` as UInt32 (polars' count type),
    CATEGORICAL strings as Categorical (as `load_table` reads them), time-zoned timestamps as naive UTC."""
    out = pl.from_arrow(df.toArrow())
    casts = []
    for name, dtype in out.schema.items():
        if name in counts:
            casts.append(pl.col(name).cast(pl.UInt32))
        elif categorical and name in CATEGORICAL and dtype == pl.String:
            casts.append(pl.col(name).cast(pl.Categorical))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            casts.append(pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None).cast(pl.Datetime("us")))
    return out.with_columns(casts) if casts else out


def volume_groups(tx: DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """by..., n_transactions, n_purchases, sales_volume (sum of positive amounts), refund_volume (of negative ones,
    as a positive number), n_clients: the Spark twin of `merchants._volume_aggs`."""
    from pyspark.sql import functions as F

    amount = F.col("amount")
    agg = (
        _with_dims(tx, by)
        .groupBy(*by)
        .agg(
            F.count(F.lit(1)).alias("n_transactions"),
            F.sum((amount > 0).cast("int")).alias("n_purchases"),
            F.sum(F.greatest(amount, F.lit(0.0))).alias("sales_volume"),
            F.sum(F.greatest(-amount, F.lit(0.0))).alias("refund_volume"),
            F.countDistinct("client_id").alias("n_clients"),
        )
    )
    return _collect(agg, ("n_transactions", "n_purchases", "n_clients"))


def merchants_per_mcc(tx: DataFrame) -> pl.DataFrame:
    """mcc, n_merchants (distinct merchant_id)."""
    from pyspark.sql import functions as F

    return _collect(tx.groupBy("mcc").agg(F.countDistinct("merchant_id").alias("n_merchants")), ("n_merchants",))


def value_counts(tx: DataFrame, merchant_ids: Sequence[int], columns: Sequence[str]) -> pl.DataFrame:
    """merchant_id, columns..., n: rows per combination, for the given merchants only (strings stay strings)."""
    from pyspark.sql import functions as F

    agg = (
        tx.where(F.col("merchant_id").isin(list(merchant_ids)))
        .groupBy("merchant_id", *columns)
        .agg(F.count(F.lit(1)).alias("n"))
    )
    return _collect(agg, ("n",), categorical=False)


def repeat_groups(tx: DataFrame, purchases_only: bool, min_transactions: int) -> pl.DataFrame:
    """Per merchant over its (merchant, client) pairs: n_customers, n_repeat_customers (pairs with
    >= `min_transactions` rows), n_transactions."""
    from pyspark.sql import functions as F

    rows = tx.where(F.col("amount") > 0) if purchases_only else tx
    agg = (
        rows.groupBy("merchant_id", "client_id")
        .agg(F.count(F.lit(1)).alias("n"))
        .groupBy("merchant_id")
        .agg(
            F.count(F.lit(1)).alias("n_customers"),
            F.sum((F.col("n") >= min_transactions).cast("int")).alias("n_repeat_customers"),
            F.sum("n").alias("n_transactions"),
        )
    )
    return _collect(agg, ("n_customers", "n_repeat_customers", "n_transactions"))


def rfm_groups(tx: DataFrame) -> tuple[pl.DataFrame, datetime | None]:
    """Per client over purchases (amount > 0): last_purchase, frequency, monetary; and the last timestamp of `tx`."""
    from pyspark.sql import functions as F

    last = _collect(tx.agg(F.max("timestamp").alias("last")))["last"][0]
    agg = (
        tx.where(F.col("amount") > 0)
        .groupBy("client_id")
        .agg(
            F.max("timestamp").alias("last_purchase"),
            F.count(F.lit(1)).alias("frequency"),
            F.sum("amount").alias("monetary"),
        )
    )
    return _collect(agg, ("frequency",)), last

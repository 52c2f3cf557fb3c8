"""Frame plumbing for the EDA modules: accept pandas or polars, compute lazily in polars, return pandas."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import polars as pl

Frame = pd.DataFrame | pl.DataFrame | pl.LazyFrame

LABELED = ("fraud", "legit")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CHANNELS = ("swipe", "chip", "online")
GEOS = ("domestic", "international", "online")
# (lower bound inclusive, label); the first band is every negative amount.
AMOUNT_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "0-10"),
    (10.0, "10-50"),
    (50.0, "50-100"),
    (100.0, "100-500"),
    (500.0, "500-1k"),
    (1000.0, "1k+"),
)
AMOUNT_BAND_LABELS = ("refund", *(label for _, label in AMOUNT_BANDS))


def is_spark(df: object) -> bool:
    """Whether `df` is a Spark DataFrame (classic or Connect), told without importing pyspark."""
    return type(df).__module__.startswith("pyspark.")


def lazy(df: Frame) -> pl.LazyFrame:
    """Any supported frame as a polars LazyFrame (pandas is converted once, without its index)."""
    if is_spark(df):
        raise TypeError(
            "got a Spark DataFrame: only the merchant analytics (volume tables, top merchants, repeat customers, "
            "RFM) run on Spark (paylab.eda.spark); pass the polars transactions here"
        )
    if isinstance(df, pl.LazyFrame):
        return df
    if isinstance(df, pl.DataFrame):
        return df.lazy()
    if isinstance(df, pd.DataFrame):
        return pl.from_pandas(df).lazy()
    raise TypeError(f"expected a pandas or polars DataFrame, got {type(df).__name__}")


def collect(lf: pl.LazyFrame) -> pd.DataFrame:
    """Run a lazy query and hand back pandas (for display and plotting)."""
    return lf.collect().to_pandas()


def as_list(by: str | Iterable[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def amount_band_expr() -> pl.Expr:
    """Amount band as an ordered Enum: refund (< 0), 0-10, 10-50, ... 1k+."""
    amount = pl.col("amount")
    expr = pl.when(amount < 0).then(pl.lit("refund"))
    for lower, label in reversed(AMOUNT_BANDS):
        expr = expr.when(amount >= lower).then(pl.lit(label))
    return expr.otherwise(None).cast(pl.Enum(AMOUNT_BAND_LABELS)).alias("amount_band")


def geo_expr() -> pl.Expr:
    """online / international / domestic (online wins: online rows have no merchant state)."""
    return (
        pl.when(pl.col("is_online"))
        .then(pl.lit("online"))
        .when(pl.col("is_international"))
        .then(pl.lit("international"))
        .otherwise(pl.lit("domestic"))
        .cast(pl.Enum(GEOS))
        .alias("geo")
    )


DERIVED: dict[str, pl.Expr] = {
    "hour": pl.col("timestamp").dt.hour().cast(pl.Int8).alias("hour"),
    "weekday": (pl.col("timestamp").dt.weekday() - 1).cast(pl.Int8).alias("weekday"),  # 0 = Monday
    "month": pl.col("timestamp").dt.truncate("1mo").alias("month"),
    "year": pl.col("timestamp").dt.year().alias("year"),
    "amount_band": amount_band_expr(),
    "geo": geo_expr(),
}


def with_dims(lf: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    """Add the derived dimensions named in `by` (hour, weekday, month, year, amount_band, geo)."""
    names = set(lf.collect_schema().names())
    exprs = [DERIVED[col] for col in by if col not in names and col in DERIVED]
    missing = [col for col in by if col not in names and col not in DERIVED]
    if missing:
        raise KeyError(f"transactions: no column {missing} (derived ones: {sorted(DERIVED)})")
    return lf.with_columns(exprs) if exprs else lf


def mcc_descriptions(mcc: Frame | None) -> pl.LazyFrame | None:
    """mcc.parquet (mcc, description) with `mcc` cast to int32 for joining."""
    if mcc is None:
        return None
    return lazy(mcc).select(pl.col("mcc").cast(pl.Int32), pl.col("description").cast(pl.String))


def add_mcc_description(lf: pl.LazyFrame, mcc: Frame | None) -> pl.LazyFrame:
    """Left-join MCC descriptions; unknown codes read 'unknown'."""
    desc = mcc_descriptions(mcc)
    if desc is None:
        return lf.with_columns(description=pl.lit("unknown"))
    return (
        lf.with_columns(pl.col("mcc").cast(pl.Int32))
        .join(desc, on="mcc", how="left")
        .with_columns(pl.col("description").fill_null("unknown"))
    )

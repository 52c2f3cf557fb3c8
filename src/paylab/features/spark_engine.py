"""PySpark engine (`features.spark.master`, default `local[*]`): Spark for the data movement, the default engine's
code for the per-client sweeps.

- Row, calendar and attribute features (broadcast joins of cards and users) and the ratios: Spark SQL expressions.
- Merchant and MCC risk: Spark windows partitioned by merchant_id / mcc, as differences of running sums.
- Every card and client feature (velocity, history, sequence, novelty, home state, the card's risk): the rows are
  hash-partitioned by client_id (a card belongs to one client, so a partition holds whole card and client
  histories) and `mapInArrow` runs `polars_engine.client_blocks` on each partition: the same code, hence the same
  values, as the default engine.

Executors need the project's Python environment (polars, numba, pyarrow and paylab). With a local master the
workers run this interpreter unless PYSPARK_PYTHON says otherwise. `features.spark.shuffle_partitions` is also the
number of client partitions: each is held in memory by one Python worker, so raise it for large data.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from paylab.features.spec import (
    CHANNELS,
    CYCLES,
    KEY_COLUMNS,
    NIGHT_HOURS,
    PASSTHROUGH,
    RISK_ENTITIES,
    RISK_STATS,
    FeatureConfig,
    feature_list,
    ratio_specs,
    risk_name,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession

SPARK_TYPES = {"f64": "double", "i64": "bigint", "bool": "boolean", "str": "string"}


def spark_session(cfg: FeatureConfig) -> SparkSession:
    """A session from `features.spark` (master, driver_memory, shuffle_partitions); UTC so timestamps stay naive."""
    from pyspark.sql import SparkSession

    conf = cfg.spark
    master = conf.get("master", "local[*]")
    if str(master).startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the Python workers need this environment
    builder = (SparkSession.builder.master(master).appName("paylab-features")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", str(conf.get("shuffle_partitions", 8)))
               .config("spark.driver.memory", conf.get("driver_memory", "4g"))
               .config("spark.ui.showConsoleProgress", "false"))
    return builder.getOrCreate()


def compute_spark(spark: SparkSession, interim_dir: Path, cfg: FeatureConfig) -> DataFrame:
    """Keys + features as a Spark DataFrame (lazy, after one quick check that every card has one client).

    Row, calendar and attribute features are Spark expressions; merchant and MCC risk are Spark windows partitioned by
    merchant_id / mcc; every card and client feature (velocity, history, sequence, novelty, home state, card risk)
    comes from the default engine's own code run on each client partition (`polars_engine.client_blocks`).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructField, StructType

    path = interim_dir / "transactions.parquet"
    tx = spark.read.parquet(str(path))
    tx = tx.withColumn("ts_us", F.unix_micros(F.col("timestamp").cast("timestamp")))
    _check_one_client_per_card(tx, path)
    tx = tx.select("*", *(c.alias(n) for n, c in _risk(cfg).items()))
    names = client_feature_names(cfg)
    types = {f.name: SPARK_TYPES[f.dtype] for f in feature_list(cfg)}
    schema = StructType([*tx.schema.fields, *(StructField(n, _spark_type(types[n])) for n in names)])
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions"))
    tx = tx.repartition(partitions, "client_id").mapInArrow(partial(_client_features, cfg=cfg, names=names), schema)
    # only the columns the config may read (knowable + opted-in snapshot ones): the others are not even joined
    cards = spark.read.parquet(str(interim_dir / "cards.parquet")).select("card_id", *cfg.attribute_columns("cards"))
    users = spark.read.parquet(str(interim_dir / "users.parquet")).select("client_id", *cfg.attribute_columns("users"))
    df = tx.join(F.broadcast(cards), "card_id", "left").join(F.broadcast(users), "client_id", "left")
    cols: dict[str, Column] = {}
    for group in (_row, _attributes):
        cols.update(group(cfg))
    df = df.select("*", *(c.alias(n) for n, c in cols.items() if n not in df.columns))  # same-named: as they are
    df = df.select("*", *(
        F.when(F.col(den) != 0, F.col(num).cast("double") / F.col(den)).alias(name)
        for name, num, den in ratio_specs(cfg)))
    return df.select(*KEY_COLUMNS, *(F.col(f.name).cast(SPARK_TYPES[f.dtype]) for f in feature_list(cfg)))


def build_spark(interim_dir: Path, out_path: Path, cfg: FeatureConfig) -> None:
    """Run the Spark engine and write `out_path` (one parquet file; a directory when spark.single_file is false)."""
    spark = spark_session(cfg)
    features = compute_spark(spark, interim_dir, cfg).orderBy("timestamp", "transaction_id")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not cfg.spark.get("single_file", True):
        features.write.mode("overwrite").parquet(str(out_path))
        return
    import polars as pl

    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".spark-features-") as tmp:
        parts = Path(tmp) / "parts"
        features.write.parquet(str(parts))
        files = sorted(parts.glob("part-*.parquet"))
        if files:
            pl.scan_parquet(files).sink_parquet(out_path)
        else:
            shutil.copy(next(parts.glob("*.parquet")), out_path)


def _row(cfg: FeatureConfig) -> dict[str, Column]:
    from pyspark.sql import functions as F

    hour, weekday = F.hour("timestamp").cast("bigint"), F.weekday("timestamp").cast("bigint")
    cols = {c: F.col(c) for c in PASSTHROUGH}
    cols["amount_log_abs"] = F.log(F.abs("amount") + 1)
    cols["has_error"] = F.col("errors").isNotNull()
    cols.update({f"is_{c}": F.col("channel") == c for c in CHANNELS})
    cols.update(hour=hour, weekday=weekday, is_night=(hour >= NIGHT_HOURS[0]) & (hour < NIGHT_HOURS[1]),
                is_weekend=weekday >= 5)
    for unit, period in CYCLES.items():
        angle = F.lit(2 * math.pi) * (hour if unit == "hour" else weekday) / period
        cols[f"{unit}_sin"], cols[f"{unit}_cos"] = F.sin(angle), F.cos(angle)
    return cols


def _attributes(cfg: FeatureConfig) -> dict[str, Column]:
    """The config's card and user features (each reads only its spec `sources`)."""
    from pyspark.sql import functions as F

    ts = F.col("timestamp")
    month = F.year(ts).cast("bigint") * 12 + F.month(ts) - 1
    age_days = (F.col("ts_us") - F.unix_micros(F.col("acct_open_date").cast("timestamp"))) / 86_400e6
    pin_age = F.year(ts).cast("bigint") - F.col("year_pin_last_changed")
    user_age = F.floor((month - F.col("birth_year") * 12 - F.col("birth_month") + 1) / 12).cast("bigint")
    derived = {  # unresolved until used: a column the config does not read is never referenced
        "card_age_days": F.when(age_days >= 0, age_days),
        "card_months_to_expiry": F.year("expires").cast("bigint") * 12 + F.month("expires") - 1 - month,
        "card_pin_age_years": F.when(pin_age >= 0, pin_age),
        "card_chip_mismatch": F.col("has_chip") & (F.col("channel") == "swipe"),
        "user_age": user_age,
        "user_years_to_retirement": F.col("retirement_age") - user_age,
    }
    return {a.name: F.col(a.sources[0]) if a.copied else derived[a.name] for a in cfg.attributes()}


def _risk(cfg: FeatureConfig) -> dict[str, Column]:
    """Merchant and MCC risk: known labels up to t - delay minus those up to t - delay - w. Frames from unbounded
    preceding are running sums in Spark (one pass); a sliding range frame re-aggregates its rows at every row."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    fraud = (F.col("label") == "fraud").cast("bigint")
    labeled = F.col("label").isin("fraud", "legit").cast("bigint")

    def known(key: str, lag: int) -> tuple[Column, Column]:
        upto = Window.partitionBy(key).orderBy("ts_us").rangeBetween(Window.unboundedPreceding, -lag)
        return F.coalesce(F.sum(fraud).over(upto), F.lit(0)), F.coalesce(F.sum(labeled).over(upto), F.lit(0))

    cols, base = {}, {}  # entity -> its counts up to t - delay, shared by its windows
    for entity, window, width in cfg.risk_specs():
        if entity not in RISK_ENTITIES:
            continue  # the card's risk: per client partition
        f, n = base.setdefault(entity, known(RISK_ENTITIES[entity], cfg.delay_us))
        if width is not None:
            f0, n0 = known(RISK_ENTITIES[entity], cfg.delay_us + width)
            f, n = f - f0, n - n0
        cols[risk_name(entity, "nfraud", window)] = f
        cols[risk_name(entity, "nlabeled", window)] = n
        cols[risk_name(entity, "rate", window)] = F.when(n > 0, f / n)
    return cols


def _check_one_client_per_card(tx: DataFrame, path: Path) -> None:
    """Card features are computed inside client partitions: a card with transactions of two clients is an error."""
    from pyspark.sql import functions as F

    bad = (tx.groupBy("card_id").agg(F.min("client_id").alias("a"), F.max("client_id").alias("b"))
           .filter(F.col("a") != F.col("b")).limit(1).collect())
    if bad:
        card, a, b = bad[0]
        raise ValueError(f"{path}: column card_id: card {card} has transactions of two clients (client_id {a} and "
                         f"{b}); the Spark engine needs every card to belong to one client")


CLIENT_INPUTS = ("transaction_id", "ts_us", "client_id", "card_id", "merchant_id", "mcc", "amount", "is_online",
                 "err_bad_cvv", "merchant_city", "merchant_state", "label")


def client_feature_names(cfg: FeatureConfig) -> list[str]:
    """The features of `polars_engine.client_blocks`, in spec order."""
    grouped = {"velocity", "history", "sequence", "novelty"}  # novelty includes client_out_of_home_state
    names = [f.name for f in feature_list(cfg) if f.group in grouped]
    return names + [risk_name("card", stat, w) for e, w, _ in cfg.risk_specs() if e == "card" for stat in RISK_STATS]


def _client_features(batches: Iterator[pa.RecordBatch], cfg: FeatureConfig, names: list[str]) -> Iterator[
        pa.RecordBatch]:
    """mapInArrow over a partition holding whole clients: the rows as they came plus the client features, computed
    by the default engine on the partition's rows (it groups by card and client itself)."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    from paylab.features import polars_engine
    from paylab.features.build import conform

    batches = list(batches)
    if not batches or not sum(b.num_rows for b in batches):
        return
    table = pa.Table.from_batches(batches)
    tx = pl.from_arrow(table.select(list(CLIENT_INPUTS)))
    order = tx.select(pl.arg_sort_by("ts_us", "transaction_id")).to_series().to_numpy()
    ctx = polars_engine.Context(tx[order], cfg)
    features = pl.concat([conform(b, cfg) for b in polars_engine.client_blocks(ctx)], how="horizontal")
    if sorted(features.columns) != sorted(names):
        raise RuntimeError(f"client_blocks gave {sorted(set(features.columns) ^ set(names))} unlike the spec")
    out = table.take(pa.array(order.astype(np.int64)))
    for name in names:
        out = out.append_column(name, features[name].to_arrow())
    yield from out.combine_chunks().to_batches(max_chunksize=1 << 16)


def _spark_type(name: str):
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType

    return {"double": DoubleType(), "bigint": LongType(), "boolean": BooleanType(), "string": StringType()}[name]

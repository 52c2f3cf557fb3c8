"""PySpark engine: the spec as Spark SQL window expressions (`features.spark.master`, default `local[*]`).

Ties: Spark range frames cannot split rows with equal timestamps, so a time window is the range frame over strictly
earlier timestamps plus a frame over the same-timestamp rows with a smaller transaction_id.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from paylab.features.spec import (
    CARD_COLUMNS,
    CHANNELS,
    CYCLES,
    ENTITIES,
    KEY_COLUMNS,
    MIN_STD,
    NIGHT_HOURS,
    NOVELTY,
    PASSTHROUGH,
    RISK_ENTITIES,
    USER_COLUMNS,
    FeatureConfig,
    feature_list,
    ratio_specs,
    risk_name,
    velocity_name,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

SPARK_TYPES = {"f64": "double", "i64": "bigint", "bool": "boolean", "str": "string"}
_RISK_KEYS = {**RISK_ENTITIES, "card": "card_id"}


def spark_session(cfg: FeatureConfig) -> SparkSession:
    """A session from `features.spark` (master, driver_memory, shuffle_partitions); UTC so timestamps stay naive."""
    from pyspark.sql import SparkSession

    conf = cfg.spark
    builder = (SparkSession.builder.master(conf.get("master", "local[*]")).appName("paylab-features")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", str(conf.get("shuffle_partitions", 8)))
               .config("spark.driver.memory", conf.get("driver_memory", "4g"))
               .config("spark.ui.showConsoleProgress", "false"))
    return builder.getOrCreate()


def compute_spark(spark: SparkSession, interim_dir: Path, cfg: FeatureConfig) -> DataFrame:
    """Keys + features as a Spark DataFrame (lazy)."""
    from pyspark.sql import functions as F

    tx = spark.read.parquet(str(interim_dir / "transactions.parquet"))
    tx = tx.withColumn("ts_us", F.unix_micros(F.col("timestamp").cast("timestamp")))
    cards = spark.read.parquet(str(interim_dir / "cards.parquet")).drop("client_id")
    users = spark.read.parquet(str(interim_dir / "users.parquet"))
    df = tx.join(F.broadcast(cards), "card_id", "left").join(F.broadcast(users), "client_id", "left")
    cols: dict[str, Column] = {}
    for group in (_row, _velocity, _history, _sequence, _novelty, _attributes, _risk):
        cols.update(group(cfg))
    df = df.select("*", *(c.alias(n) for n, c in cols.items() if n not in df.columns))  # same-named: as they are
    df = _home_state(df).select("*", *(
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


def _ordered(key: str):
    from pyspark.sql import Window

    return Window.partitionBy(key).orderBy("ts_us", "transaction_id")


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


def _velocity(cfg: FeatureConfig) -> dict[str, Column]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cols = {}
    for entity, key in ENTITIES.items():
        ties = Window.partitionBy(key, "ts_us").orderBy("transaction_id").rowsBetween(Window.unboundedPreceding, -1)
        for window, width in cfg.velocity_windows():
            earlier = Window.partitionBy(key).orderBy("ts_us").rangeBetween(-(width - 1), -1)

            def both(agg, col, earlier=earlier, ties=ties):
                return agg(col).over(earlier), agg(col).over(ties)

            (c1, c2), (s1, s2), (m1, m2) = both(F.count, "amount"), both(F.sum, "amount"), both(F.max, "amount")
            cnt = c1 + c2
            total = F.coalesce(s1, F.lit(0.0)) + F.coalesce(s2, F.lit(0.0))
            name = {s: velocity_name(entity, s, window) for s in ("cnt", "sum", "mean", "max", "nmerch", "nmcc")}
            cols[name["cnt"]] = cnt
            cols[name["sum"]] = total
            cols[name["mean"]] = F.when(cnt > 0, total / cnt)
            cols[name["max"]] = F.greatest(m1, m2)
            for stat, col in (("nmerch", "merchant_id"), ("nmcc", "mcc")):
                cols[name[stat]] = F.size(F.array_union(*both(F.collect_set, col)))
    return cols


def _history(cfg: FeatureConfig) -> dict[str, Column]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cols = {}
    for entity, key in ENTITIES.items():
        prior = _ordered(key).rowsBetween(Window.unboundedPreceding, -1)
        n = F.count("amount").over(prior)
        s = F.coalesce(F.sum("amount").over(prior), F.lit(0.0))
        ss = F.coalesce(F.sum(F.col("amount") * F.col("amount")).over(prior), F.lit(0.0))
        mean = F.when(n > 0, s / n)
        std = F.when(n > 1, F.sqrt(F.greatest((ss - s * s / n) / (n - 1), F.lit(0.0))))
        cols[f"{entity}_secs_since_prev"] = (F.col("ts_us") - F.lag("ts_us").over(_ordered(key))) / 1e6
        cols[f"{entity}_n_prior"] = n
        cols[f"{entity}_hist_mean"] = mean
        cols[f"{entity}_hist_std"] = std
        cols[f"{entity}_amount_z"] = F.when(std >= MIN_STD, (F.col("amount") - mean) / std)
    return cols


def _sequence(cfg: FeatureConfig) -> dict[str, Column]:
    from pyspark.sql import functions as F

    last = _ordered("card_id").rowsBetween(-cfg.sequence_length, -1)
    xs = F.collect_list("amount").over(last)
    online = F.collect_list(F.col("is_online").cast("double")).over(last)
    merch = F.collect_list("merchant_id").over(last)
    k = F.size(xs)
    mean = F.aggregate(xs, F.lit(0.0), lambda acc, x: acc + x) / k
    mid = (k - 1) / 2.0
    num = F.aggregate(F.sequence(F.lit(0), k - 1), F.lit(0.0),
                      lambda acc, p: acc + (p - mid) * (F.get(xs, p) - mean))
    changes = F.aggregate(F.sequence(F.lit(1), k - 1), F.lit(0),
                          lambda acc, p: acc + F.when(F.get(merch, p) != F.get(merch, p - 1), 1).otherwise(0))
    return {
        "card_seq_amount_mean": F.when(k > 0, mean),
        "card_seq_amount_trend": F.when(k > 1, num / (k * (k * k - 1) / 12.0)),
        "card_seq_share_online": F.when(k > 0, F.aggregate(online, F.lit(0.0), lambda acc, x: acc + x) / k),
        "card_seq_merchant_change_rate": F.when(k > 1, changes / (k - 1)),
    }


def _novelty(cfg: FeatureConfig) -> dict[str, Column]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cols = {}
    for entity, col, short in NOVELTY:
        n = F.row_number().over(Window.partitionBy(ENTITIES[entity], col).orderBy("ts_us", "transaction_id")) - 1
        cols[f"{entity}_{short}_n_prior"], cols[f"{entity}_new_{short}"] = n, n == 0
    return cols


def _home_state(df: DataFrame) -> DataFrame:
    """Running mode of the client's earlier in-person states; the incumbent keeps ties."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    state = F.col("merchant_state")
    by_state = Window.partitionBy("client_id", "merchant_state").orderBy("ts_us", "transaction_id")
    prior = _ordered("client_id").rowsBetween(Window.unboundedPreceding, -1)
    df = df.withColumn("_count", F.when(state.isNotNull(), F.row_number().over(by_state)).otherwise(0))
    df = df.withColumn("_leader", F.when(F.col("_count") > F.coalesce(F.max("_count").over(prior), F.lit(0)), state))
    home = F.last("_leader", ignorenulls=True).over(prior)
    out = F.when(state.isNull(), F.lit(False)).when(home.isNotNull(), state != home)
    return df.withColumn("client_out_of_home_state", out).drop("_count", "_leader")


def _attributes(cfg: FeatureConfig) -> dict[str, Column]:
    from pyspark.sql import functions as F

    ts = F.col("timestamp")
    month = F.year(ts).cast("bigint") * 12 + F.month(ts) - 1
    age_days = (F.col("ts_us") - F.unix_micros(F.col("acct_open_date").cast("timestamp"))) / 86_400e6
    pin_age = F.year(ts).cast("bigint") - F.col("year_pin_last_changed")
    user_age = F.floor((month - F.col("birth_year") * 12 - F.col("birth_month") + 1) / 12).cast("bigint")
    cols = {name: F.col(c) for c, (name, _) in CARD_COLUMNS.items()}
    cols.update(
        card_age_days=F.when(age_days >= 0, age_days),
        card_months_to_expiry=F.year("expires").cast("bigint") * 12 + F.month("expires") - 1 - month,
        card_pin_age_years=F.when(pin_age >= 0, pin_age),
        card_chip_mismatch=F.col("has_chip") & (F.col("channel") == "swipe"),
    )
    cols.update({name: F.col(c) for c, (name, _) in USER_COLUMNS.items()})
    cols.update(user_age=user_age, user_years_to_retirement=F.col("retirement_age") - user_age)
    return cols


def _risk(cfg: FeatureConfig) -> dict[str, Column]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    fraud = (F.col("label") == "fraud").cast("bigint")
    labeled = F.col("label").isin("fraud", "legit").cast("bigint")
    cols = {}
    for entity, window, width in cfg.risk_specs():
        start = Window.unboundedPreceding if width is None else -(cfg.delay_us + width - 1)
        known = Window.partitionBy(_RISK_KEYS[entity]).orderBy("ts_us").rangeBetween(start, -cfg.delay_us)
        f = F.coalesce(F.sum(fraud).over(known), F.lit(0))
        n = F.coalesce(F.sum(labeled).over(known), F.lit(0))
        cols[risk_name(entity, "nfraud", window)] = f
        cols[risk_name(entity, "nlabeled", window)] = n
        cols[risk_name(entity, "rate", window)] = F.when(n > 0, f / n)
    return cols

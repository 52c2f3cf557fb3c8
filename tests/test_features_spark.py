"""Spark engine parity with the default engine (same values, floats within 1e-9)."""

from __future__ import annotations

import polars as pl
import pytest
from synthetic_interim import assert_compromised_merchant, compromised_merchant, write_interim

from paylab.features import build_features, compute_features
from paylab.features.checks import compare
from paylab.features.spec import SNAPSHOT_ATTRIBUTES, FeatureConfig

pytestmark = pytest.mark.spark
CFG = FeatureConfig()


def _tables(interim) -> dict[str, pl.DataFrame]:
    return {n: pl.read_parquet(interim / f"{n}.parquet") for n in ("transactions", "cards", "users")}


def test_spark_engine_matches_default_engine(spark, tmp_path):
    from paylab.features.spark_engine import compute_spark

    interim = write_interim(tmp_path / "interim", n_rows=20_000, n_cards=300, seed=7)
    expected = compute_features(_tables(interim), {})
    got = pl.from_arrow(compute_spark(spark, interim, CFG).toArrow())
    assert got.columns == expected.columns
    assert got.schema == expected.schema
    assert compare(expected, got, CFG) == {}
    assert {"merchant_risk_nlabeled_1d", "mcc_risk_rate_7d"} <= set(got.columns)


def test_spark_short_risk_windows_find_a_compromised_merchant(spark, tmp_path):
    from paylab.features.spark_engine import compute_spark

    interim = write_interim(tmp_path / "interim", compromised_merchant())
    assert_compromised_merchant(pl.from_arrow(compute_spark(spark, interim, CFG).toArrow()))


def test_build_features_spark_writes_one_sorted_file(spark, tmp_path):
    """Also with every end-of-period snapshot attribute opted in (their features in the Spark engine)."""
    interim = write_interim(tmp_path / "interim", n_rows=2_000, n_cards=30, seed=5)
    out = tmp_path / "processed" / "features.parquet"
    params = {"snapshot_attributes": list(SNAPSHOT_ATTRIBUTES)}
    build_features(interim, out, {"engine": "spark", "spark": {"master": "local[2]"}, "seed": 42, **params})
    written = pl.read_parquet(out)
    expected = compute_features(_tables(interim), params)
    assert written.columns == expected.columns and "card_pin_age_years" in written.columns
    assert compare(expected, written, FeatureConfig.from_params(params)) == {}
    order = written.select("timestamp", "transaction_id")
    assert order.equals(order.sort("timestamp", "transaction_id"))
    assert not list(out.parent.glob(".spark-features-*"))


def test_card_of_two_clients_is_named(spark, tmp_path):
    from paylab.features.spark_engine import compute_spark

    interim = write_interim(tmp_path / "interim", n_rows=500, n_cards=10, seed=3)
    tx = pl.read_parquet(interim / "transactions.parquet")
    card = tx["card_id"].mode()[0]
    moved = tx.filter(pl.col("card_id") == card)["transaction_id"][0]  # one of its transactions: another client
    tx.with_columns(pl.when(pl.col("transaction_id") == moved).then(-1).otherwise("client_id").alias("client_id")
                    ).write_parquet(interim / "transactions.parquet")
    with pytest.raises(ValueError, match=f"card_id: card {card} has transactions of two clients"):
        compute_spark(spark, interim, CFG)


def test_merge_sorted_parts_gives_one_file_in_time_order(tmp_path):
    """Parts each in (timestamp, transaction_id) order, with equal timestamps across parts: one file in that order."""
    from datetime import datetime, timedelta

    from paylab.features.spark_engine import merge_sorted

    rows = pl.DataFrame({"timestamp": [datetime(2020, 1, 1) + timedelta(seconds=i // 3) for i in range(1000)],
                         "transaction_id": list(range(1000)), "x": [float(i) for i in range(1000)]})
    parts = []
    for k in range(3):
        part = rows.filter(pl.col("transaction_id") % 3 == k).sample(fraction=1.0, seed=k)
        parts.append(tmp_path / f"part-{k}.parquet")
        part.sort("timestamp", "transaction_id").write_parquet(parts[-1], row_group_size=64)
    merge_sorted(parts, tmp_path / "out.parquet", chunk_rows=100)
    assert pl.read_parquet(tmp_path / "out.parquet").equals(rows)

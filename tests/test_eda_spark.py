"""`eda.engine: spark`: every merchant-analytics table from a Spark DataFrame equals the polars one (same columns,
dtypes and order; floats within 1e-9), the notebook's frame follows the engine, and the notebook run with engine spark
writes the metrics of the polars tables."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from paylab import eda

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def frames(spark, tiny_interim):
    """(polars transactions, Spark transactions, mcc) of the tiny interim data."""
    tables = eda.load_interim(tiny_interim)
    return tables["transactions"], eda.analytics_frame(tiny_interim, "spark", spark), tables["mcc"]


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as objects (their category lists depend on how the strings were cast, not on the values)."""
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) and col != "segment":
            out[col] = out[col].astype(object)
    return out


def assert_same(expected: pd.DataFrame, got: pd.DataFrame, *, order_by: str | None = None, keys=None) -> None:
    """Same columns, dtypes and values. With `order_by`, ties of that (float) column may come in either order: the
    column must read the same top to bottom, and the rows must match once sorted by `keys`."""
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected) > 0
    expected, got = _plain(expected), _plain(got)
    if order_by is not None:
        assert got[order_by].to_numpy() == pytest.approx(expected[order_by].to_numpy(), rel=1e-9, abs=1e-9)
        expected = expected.sort_values(keys).reset_index(drop=True)
        got = got.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=1e-9)


def test_volume_tables_match_polars(frames):
    tx, stx, mcc = frames
    assert_same(eda.by_merchant(tx), eda.by_merchant(stx), order_by="sales_volume", keys=["merchant_id"])
    assert_same(eda.by_mcc(tx, mcc), eda.by_mcc(stx, mcc), order_by="sales_volume", keys=["mcc"])
    assert_same(eda.by_mcc(tx), eda.by_mcc(stx), order_by="sales_volume", keys=["mcc"])  # no descriptions
    state = ["merchant_state"]
    assert_same(eda.by_location(tx), eda.by_location(stx), order_by="sales_volume", keys=state)
    city = ["merchant_state", "merchant_city"]
    assert_same(eda.by_location(tx, "city"), eda.by_location(stx, "city"), order_by="sales_volume", keys=city)
    assert eda.by_location(stx)["merchant_state"].isna().sum() == 1  # online rows: their own group, as in polars
    assert_same(eda.by_channel(tx), eda.by_channel(stx), order_by="sales_volume", keys=["channel"])
    for dims in (["hour"], ["weekday"], ["month"], ["year"], ["weekday", "hour"]):
        assert_same(eda.volume_by(tx, dims, sort=None), eda.volume_by(stx, dims, sort=None))
    assert_same(eda.by_hour(tx), eda.by_hour(stx))
    assert_same(eda.by_weekday(tx), eda.by_weekday(stx))
    for value in ("n_transactions", "sales_volume"):
        assert_same(eda.hour_weekday_matrix(tx, value), eda.hour_weekday_matrix(stx, value))


def test_top_merchants_and_concentration_match_polars(frames):
    tx, stx, mcc = frames
    for n in (1, 15, 40):
        assert_same(eda.top_merchants(tx, n, mcc), eda.top_merchants(stx, n, mcc))
    assert eda.top_merchants(stx, 5)["description"].eq("unknown").all()
    expected = eda.volume_concentration(eda.by_merchant(tx), 15)
    assert eda.volume_concentration(eda.by_merchant(stx), 15) == pytest.approx(expected, rel=1e-9)


def test_repeat_customers_and_rfm_match_polars(frames):
    tx, stx, _ = frames
    for purchases_only in (True, False):
        for min_transactions in (2, 3):
            kw = {"purchases_only": purchases_only, "min_transactions": min_transactions}
            assert_same(eda.repeat_customers(tx, **kw), eda.repeat_customers(stx, **kw))
            assert eda.repeat_customer_share(stx, **kw) == pytest.approx(eda.repeat_customer_share(tx, **kw))
    assert_same(eda.rfm_table(tx), eda.rfm_table(stx))
    for k in (3, 5):
        rfm, srfm = eda.rfm_segments(tx, k=k), eda.rfm_segments(stx, k=k)
        assert_same(rfm, srfm)
        assert_same(eda.segment_summary(rfm), eda.segment_summary(srfm))
    as_of = eda.rfm_table(tx)["last_purchase"].max().to_pydatetime()
    assert_same(eda.rfm_table(tx, as_of), eda.rfm_table(stx, as_of))


def test_metrics_from_spark_tables_match(frames):
    tx, stx, _ = frames
    expected = eda.eda_metrics(tx, top_n=15)
    got = eda.eda_metrics(tx, top_n=15, merchants=eda.by_merchant(stx), repeat_share=eda.repeat_customer_share(stx))
    assert got.keys() == expected.keys()
    for key in ("top_merchant_volume_share", "top_n_merchant_volume_share", "merchant_volume_hhi"):
        assert got[key] == pytest.approx(expected[key], rel=1e-9), key
    assert got["repeat_customer_share"] == expected["repeat_customer_share"]


def test_engine_dispatch(frames, spark, tiny_interim, monkeypatch):
    from paylab.eda import spark as eda_spark
    from paylab.eda.frames import is_spark

    tx, stx, _ = frames
    assert eda.analytics_frame(tiny_interim, "polars", tx=tx) is tx
    assert eda.analytics_frame(tiny_interim).shape == tx.shape  # polars, read from the interim layer
    assert is_spark(stx) and not is_spark(tx) and set(tx.columns) <= set(stx.columns)
    # the eda.spark params build (here: find) the session
    assert is_spark(eda.analytics_frame(tiny_interim, "spark", {"master": "local[2]", "shuffle_partitions": 2}))
    with pytest.raises(ValueError, match="eda.engine"):
        eda.analytics_frame(tiny_interim, "dask")

    calls = []
    volume_groups = eda_spark.volume_groups
    monkeypatch.setattr(eda_spark, "volume_groups", lambda df, by: calls.append(by) or volume_groups(df, by))
    eda.by_channel(stx)
    eda.by_channel(tx)
    assert calls == [["channel"]]  # the Spark frame went through Spark, the polars one did not

    with pytest.raises(TypeError, match="merchant analytics"):
        eda.fraud_by_channel(stx)  # the fraud rates stay on polars
    with pytest.raises(KeyError, match="amount_band"):
        eda.volume_by(stx, "amount_band")


@pytest.mark.slow
def test_notebook_with_engine_spark_writes_the_polars_metrics(tmp_path, tiny_interim):
    """01_eda with engine spark (its own local session in the kernel): eda.json as the polars tables give it."""
    papermill = pytest.importorskip("papermill")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "interim").symlink_to(tiny_interim)
    metrics_dir = tmp_path / "reports" / "metrics"
    metrics_dir.mkdir(parents=True)
    shutil.copy(tiny_interim.parent / "ingest.json", metrics_dir / "ingest.json")
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "01_eda.ipynb"
    spark_params = {"master": "local[2]", "shuffle_partitions": 2}
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / "01_eda.out.ipynb"),
        parameters={"root": str(tmp_path), "top_n": 5, "rfm_segments": 4, "engine": "spark", "spark": spark_params},
        kernel_name="paylab",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    got = json.loads((metrics_dir / "eda.json").read_text())
    tx = eda.load_interim(tiny_interim)["transactions"]
    ingest = eda.load_ingest_metrics(metrics_dir / "ingest.json")
    expected = eda.eda_metrics(tx, ingest, top_n=5, segments=eda.segment_summary(eda.rfm_segments(tx, k=4)))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert got[key] is None, key
        elif isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-9), key
        else:
            assert got[key] == value, key
    figures = {p.name for p in (tmp_path / "reports" / "figures" / "eda").glob("*.png")}
    assert {"top_merchants.png", "hour_weekday.png", "repeat_share.png", "rfm_segments.png"} <= figures

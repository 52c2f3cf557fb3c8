"""Point-in-time transaction features: spec, default engine, online engine, leakage property, errors."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paylab.features import OnlineFeatures, build_features, compute_features, feature_list
from paylab.features.checks import compare, perturb_future, point_in_time_violations
from paylab.features.spec import FeatureConfig, parse_duration
from paylab.features.synthetic import make_interim, write_interim

CFG = FeatureConfig()


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return make_interim(n_rows=20_000, n_cards=300, seed=7)


@pytest.fixture(scope="module")
def small() -> dict[str, pl.DataFrame]:
    return make_interim(n_rows=3_000, n_cards=40, seed=11, days=120)


@pytest.fixture(scope="module")
def batch(tables) -> pl.DataFrame:
    return compute_features(tables, {})


def test_spec_has_50_plus_unique_features():
    features = feature_list(CFG)
    assert len(features) >= 50
    assert len({f.name for f in features}) == len(features)
    assert {f.dtype for f in features} <= {"f64", "i64", "bool", "str"}
    assert all(f.doc for f in features)


def test_one_row_per_transaction_with_spec_dtypes(tables, batch):
    tx = tables["transactions"]
    assert batch.height == tx.height
    assert batch["transaction_id"].n_unique() == tx.height
    order = batch.select("timestamp", "transaction_id")
    assert order.equals(order.sort("timestamp", "transaction_id"))
    types = {"f64": pl.Float64, "i64": pl.Int64, "bool": pl.Boolean, "str": pl.String}
    assert {f.name: types[f.dtype] for f in feature_list(CFG)} == {
        c: batch.schema[c] for c in batch.columns[6:]}


def test_build_features_writes_the_same_table(tables, batch, tmp_path):
    interim = write_interim(tmp_path / "interim", n_rows=20_000, n_cards=300, seed=7)
    out = tmp_path / "processed" / "features.parquet"
    build_features(interim, out, {"engine": "polars", "seed": 42})
    written = pl.read_parquet(out)
    assert written.columns == batch.columns
    assert compare(batch, written, CFG, tol=0.0) == {}
    assert not list(out.parent.glob(".features-*")), "temporary files left behind"


def test_online_engine_matches_batch(tables, batch):
    online = OnlineFeatures(tables["cards"], tables["users"], {}).replay(tables["transactions"])
    assert online.columns == batch.columns
    assert compare(batch, online, CFG) == {}


def _later_features(engine, rows: list[dict]) -> list[dict]:
    """Features of `rows` from the engine's state, the state left unchanged."""
    return [engine.features(t) for t in rows]


def test_online_late_labels_in_any_order_equal_inline_labels(small):
    rows = list(small["transactions"].sort("timestamp", "transaction_id").iter_rows(named=True))
    k = 2_000
    inline = OnlineFeatures(small["cards"], small["users"], {})
    want = [inline.process(t) for t in rows][k:]
    late = OnlineFeatures(small["cards"], small["users"], {})
    for i, t in enumerate(rows[:k]):  # labels withheld: None or "unlabeled"
        late.update({**t, "label": None if i % 2 else "unlabeled"})
    labeled = [t for t in rows[:k] if t["label"] in ("fraud", "legit")]
    assert {t["label"] for t in labeled} == {"fraud", "legit"}
    for i in np.random.default_rng(0).permutation(len(labeled)):
        late.add_label(labeled[i], labeled[i]["label"])
    got = [late.process(t) for t in rows[k:]]
    assert got == want
    assert any(row["merchant_risk_nlabeled_30d"] for row in got)


def test_online_second_label_replaces_the_first(small):
    rows = list(small["transactions"].sort("timestamp", "transaction_id").iter_rows(named=True))
    k = 2_000
    flip = {"fraud": "legit", "legit": "fraud"}

    def engine(label):
        e = OnlineFeatures(small["cards"], small["users"], {})
        for t in rows[:k]:
            e.update({**t, "label": label(t)})
        return e

    truth = _later_features(engine(lambda t: t["label"]), rows[k:])
    flipped = _later_features(engine(lambda t: flip.get(t["label"], t["label"])), rows[k:])
    assert truth != flipped
    relabeled = engine(lambda t: t["label"])
    labeled = [t for t in rows[:k] if t["label"] in flip]
    for t in reversed(labeled):  # replace every inline label (newest first), then replace the replacement
        relabeled.add_label(t, flip[t["label"]])
    assert _later_features(relabeled, rows[k:]) == flipped
    for t in labeled:
        relabeled.add_label(t, t["label"])
        relabeled.add_label(t, t["label"])  # the same label twice: no change
    assert _later_features(relabeled, rows[k:]) == truth
    with pytest.raises(ValueError, match="unlabeled"):
        relabeled.add_label(rows[0], "unlabeled")


def test_label_log_any_insert_order_matches_counting():
    """_LabelLog against brute force, with rows dropped from the front (queries within the horizon only)."""
    from paylab.features.online import _LabelLog

    rng = np.random.default_rng(1)
    horizon = 2_000
    log, rows, t = _LabelLog(), [], 0
    for step in range(6_000):
        if rows and rng.random() < 0.4:  # a label for a random earlier row (new or replacing)
            i = int(rng.integers(max(0, len(rows) - 1_500), len(rows)))
            fraud, labeled = int(rng.random() < 0.3), int(rng.random() < 0.8)
            log.insert(rows[i][0], fraud - rows[i][1], labeled - rows[i][2])
            rows[i] = (rows[i][0], fraud, labeled)
        else:
            t += int(rng.integers(0, 4))
            rows.append((t, 0, 0))
            log.append(t, 0, 0, horizon)
        if step % 50 == 0:
            for q in rng.integers(t - horizon, t + 1, 5).tolist():
                want = (sum(f for ts, f, _ in rows if ts <= q), sum(n for ts, _, n in rows if ts <= q))
                assert log.upto(q) == want, (step, q)
    assert log.cut is not None, "the test never dropped rows"


def test_online_latency_p99_under_1ms(tables):
    engine = OnlineFeatures(tables["cards"], tables["users"], {})
    rows = list(tables["transactions"].iter_rows(named=True))
    for txn in rows[:15_000]:
        engine.update(txn)
    times = []
    for txn in rows[15_000:]:
        start = time.perf_counter()
        engine.features(txn)
        times.append(time.perf_counter() - start)
        engine.update(txn)
    assert np.percentile(times, 99) < 1e-3


def _velocity_by_definition(tx: pl.DataFrame, row: dict, key: str, width_us: int) -> dict:
    """Brute force: earlier rows in (timestamp, id) order of the same entity within (t - w, t]."""
    t = row["timestamp"]
    earlier = tx.filter(
        (pl.col(key) == row[key])
        & ((pl.col("timestamp") < t)
           | ((pl.col("timestamp") == t) & (pl.col("transaction_id") < row["transaction_id"])))
        & (pl.col("timestamp") > t - timedelta(microseconds=width_us)))
    return {"cnt": earlier.height, "sum": earlier["amount"].sum(), "max": earlier["amount"].max(),
            "nmerch": earlier["merchant_id"].n_unique(), "nmcc": earlier["mcc"].n_unique(),
            "badcvv": int(earlier["err_bad_cvv"].sum())}


def _risk_by_definition(tx: pl.DataFrame, row: dict, key: str, delay: timedelta, width: timedelta | None) -> dict:
    end = row["timestamp"] - delay
    known = tx.filter((pl.col(key) == row[key]) & (pl.col("timestamp") <= end))
    if width is not None:
        known = known.filter(pl.col("timestamp") > end - width)
    return {"nfraud": int((known["label"] == "fraud").sum()),
            "nlabeled": int(known["label"].is_in(["fraud", "legit"]).sum())}


def test_batch_matches_definitions_on_sampled_rows(tables, batch):
    tx = tables["transactions"]
    ids = batch.filter(pl.col("card_cnt_24h") > 0)["transaction_id"].sample(20, seed=1).to_list()
    ids += batch.filter(pl.col("card_cnt_1h") > 0)["transaction_id"].sample(10, seed=2).to_list()
    for tid in ids:
        row = tx.filter(pl.col("transaction_id") == tid).row(0, named=True)
        feats = batch.filter(pl.col("transaction_id") == tid).row(0, named=True)
        for entity, key in (("card", "card_id"), ("client", "client_id")):
            for window in CFG.windows:
                want = _velocity_by_definition(tx, row, key, parse_duration(window))
                for stat in ("cnt", "nmerch", "nmcc", "max", "badcvv"):
                    assert feats[f"{entity}_{stat}_{window}"] == want[stat], (tid, entity, stat, window)
                assert feats[f"{entity}_sum_{window}"] == pytest.approx(want["sum"], abs=1e-9)
        delay = timedelta(days=CFG.delay_days)
        risks = (("merchant", "merchant_id", "30d"), ("mcc", "mcc", "90d"), ("card", "card_id", "all"))
        for entity, key, window in risks:
            width = None if window == "all" else timedelta(microseconds=parse_duration(window))
            want = _risk_by_definition(tx, row, key, delay, width)
            assert feats[f"{entity}_risk_nfraud_{window}"] == want["nfraud"]
            assert feats[f"{entity}_risk_nlabeled_{window}"] == want["nlabeled"]


def test_ties_same_timestamp_smaller_id_is_earlier():
    base = make_interim(n_rows=50, n_cards=3, seed=3)
    tx = base["transactions"].head(2).with_columns(
        pl.lit(datetime(2016, 5, 1, 12)).cast(pl.Datetime("us")).alias("timestamp"),
        pl.Series([20, 10]).alias("transaction_id"), pl.lit(5000, pl.Int64).alias("card_id"))
    out = compute_features({**base, "transactions": tx}, {}).sort("transaction_id")
    assert out["card_cnt_1h"].to_list() == [0, 1]
    assert out["card_secs_since_prev"].to_list() == [None, 0.0]


def test_unlabeled_rows_are_not_counted_as_legit(small):
    tx = small["transactions"]
    none = compute_features({**small, "transactions": tx.with_columns(pl.lit("unlabeled").alias("label"))}, {})
    risk = [f.name for f in feature_list(CFG) if f.group == "risk"]
    labeled, rates = [c for c in risk if "nlabeled" in c], [c for c in risk if "rate" in c]
    assert none.select(pl.max_horizontal(labeled).max()).item() == 0
    assert none.select(pl.col(rates).null_count()).row(0) == (none.height,) * len(rates)
    legit = compute_features({**small, "transactions": tx.with_columns(
        pl.when(pl.col("label") == "unlabeled").then(pl.lit("legit")).otherwise("label").alias("label"))}, {})
    assert compare(compute_features(small, {}), legit, CFG).keys() <= set(risk)
    assert compare(compute_features(small, {}), legit, CFG), "relabelling unlabeled as legit must change risk"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, 2_999), seed=st.integers(0, 2**31 - 1))
def test_point_in_time_future_changes_leave_the_past_unchanged(small, position, seed):
    base = compute_features(small, {})
    changed = perturb_future(small, position, CFG.delay_us, seed)
    ids = base["transaction_id"][: position + 1].implode()
    after = compute_features(changed, {}).filter(pl.col("transaction_id").is_in(ids))
    assert compare(base.head(position + 1), after, CFG, tol=0.0) == {}


def test_leakage_check_detects_labels_revealed_too_early(small):
    base = compute_features(small, {})
    position = 2_500
    early = perturb_future(small, position, CFG.delay_us + parse_duration("60d"), seed=5)
    ids = base["transaction_id"][: position + 1].implode()
    after = compute_features(early, {}).filter(pl.col("transaction_id").is_in(ids))
    bad = compare(base.head(position + 1), after, CFG, tol=0.0)
    assert bad and all("_risk_" in name for name in bad)


def test_point_in_time_report_is_clean(small):
    assert point_in_time_violations(small, {}, n_targets=2, seed=3)["violations"] == {}


@pytest.mark.parametrize("params, message", [
    ({"delay_days": 0}, "delay_days"),
    ({"windows": ["1h", "2weeks"]}, "bad duration"),
    ({"sequence_length": 1}, "sequence_length"),
])
def test_bad_params_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        FeatureConfig.from_params(params)


def test_unknown_engine_and_missing_input_are_named(tmp_path: Path):
    with pytest.raises(ValueError, match="features.engine"):
        build_features(tmp_path, tmp_path / "f.parquet", {"engine": "pandas"})
    with pytest.raises(FileNotFoundError, match="transactions.parquet"):
        build_features(tmp_path, tmp_path / "f.parquet", {"engine": "polars"})


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, pl.DataFrame]:
    """Tiny data from the project generator + ingest (the first 10k transactions)."""
    synth = pytest.importorskip("paylab.data.synth")
    ingest = pytest.importorskip("paylab.data.ingest")
    root = tmp_path_factory.mktemp("generated")
    synth.generate(scale="tiny", seed=42, out=root / "raw", progress=False)
    ingest.ingest(root / "raw", root / "interim", None)
    from paylab.features.build import read_interim

    tables = read_interim(root / "interim")
    return {**tables, "transactions": tables["transactions"].head(10_000)}


def test_generated_data_online_matches_batch_and_is_point_in_time(generated):
    batch = compute_features(generated, {})
    online = OnlineFeatures(generated["cards"], generated["users"], {}).replay(generated["transactions"])
    assert compare(batch, online, CFG) == {}
    assert point_in_time_violations(generated, {}, n_targets=2, seed=1)["violations"] == {}

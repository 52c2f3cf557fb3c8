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
from synthetic_interim import assert_compromised_merchant, compromised_merchant, make_interim, write_interim

from paylab.features import OnlineFeatures, build_features, compute_features, feature_list, spec
from paylab.features.checks import (
    compare,
    perturb_future,
    perturb_snapshot,
    point_in_time_violations,
    snapshot_violations,
)
from paylab.features.spec import SNAPSHOT_ATTRIBUTES, FeatureConfig, parse_duration

CFG = FeatureConfig()
ALL_SNAPSHOT = {"snapshot_attributes": list(SNAPSHOT_ATTRIBUTES)}
# the features that read an end-of-period column: never in the default set
SNAPSHOT_FEATURES = {"card_credit_limit", "card_num_cards_issued", "card_on_dark_web", "card_age_days",
                     "card_months_to_expiry", "card_pin_age_years", "user_yearly_income", "user_per_capita_income",
                     "user_total_debt", "user_credit_score", "user_num_credit_cards", "amount_to_limit",
                     "user_debt_to_income"}


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
    assert {"merchant_risk_nlabeled_1d", "mcc_risk_rate_7d"} <= set(batch.columns)


def test_online_engine_matches_batch_with_every_snapshot_attribute(small):
    cfg = FeatureConfig.from_params(ALL_SNAPSHOT)
    batch = compute_features(small, ALL_SNAPSHOT)
    online = OnlineFeatures(small["cards"], small["users"], ALL_SNAPSHOT).replay(small["transactions"])
    assert online.columns == batch.columns and set(batch.columns) >= SNAPSHOT_FEATURES
    assert compare(batch, online, cfg) == {}


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
    assert any(row["merchant_risk_nfraud_1d"] for row in got) and any(row["mcc_risk_nfraud_7d"] for row in got)


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
    ids += batch.filter(pl.col("merchant_risk_nfraud_1d") > 0)["transaction_id"].sample(5, seed=3).to_list()
    ids += batch.filter(pl.col("mcc_risk_nfraud_1d") > 0)["transaction_id"].sample(5, seed=4).to_list()
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
        risks = [(e, key, w) for e, key in (("merchant", "merchant_id"), ("mcc", "mcc")) for w in CFG.risk_windows]
        for entity, key, window in [*risks, ("card", "card_id", "all")]:
            width = None if window == "all" else timedelta(microseconds=parse_duration(window))
            want = _risk_by_definition(tx, row, key, delay, width)
            assert feats[f"{entity}_risk_nfraud_{window}"] == want["nfraud"], (tid, entity, window)
            assert feats[f"{entity}_risk_nlabeled_{window}"] == want["nlabeled"], (tid, entity, window)
            rate = want["nfraud"] / want["nlabeled"] if want["nlabeled"] else None
            assert feats[f"{entity}_risk_rate_{window}"] == rate, (tid, entity, window)


def test_short_risk_windows_find_a_compromised_merchant_in_every_engine():
    tables = compromised_merchant()
    batch = compute_features(tables, {})
    assert_compromised_merchant(batch)
    assert_compromised_merchant(OnlineFeatures(tables["cards"], tables["users"], {}).replay(tables["transactions"]))
    late = OnlineFeatures(tables["cards"], tables["users"], {})  # the same with the labels arriving late
    rows = list(tables["transactions"].iter_rows(named=True))
    for t in rows[:5]:
        late.update({**t, "label": None})
    for t in reversed(rows[:5]):
        if t["label"] != "unlabeled":
            late.add_label(t, t["label"])
    got = [{"transaction_id": t["transaction_id"], **late.process(t)} for t in rows[5:]]
    assert_compromised_merchant(pl.DataFrame(got, infer_schema_length=None))


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


def test_default_features_read_no_end_of_period_column(small):
    names = {f.name for f in feature_list(CFG)}
    assert not names & SNAPSHOT_FEATURES
    assert all(set(a.sources).isdisjoint(SNAPSHOT_ATTRIBUTES) for a in CFG.attributes())
    assert {"card_brand", "card_type", "card_has_chip", "card_chip_mismatch", "user_gender", "user_age",
            "user_years_to_retirement"} <= names
    # every end-of-period column changed after every transaction (dates and years past the data): nothing moves
    assert snapshot_violations(small, {}) == {}
    changed = perturb_snapshot(small, SNAPSHOT_ATTRIBUTES, seed=1)
    assert not changed["cards"].equals(small["cards"]) and not changed["users"].equals(small["users"])
    online = OnlineFeatures(changed["cards"], changed["users"], {}).replay(small["transactions"])
    assert compare(compute_features(small, {}), online, CFG) == {}


def test_snapshot_check_catches_an_end_of_period_column_in_use(small, monkeypatch):
    # opted-in snapshot features do change when their column changes after t, dates included ("changed after t")
    bad = snapshot_violations(small, ALL_SNAPSHOT, columns=SNAPSHOT_ATTRIBUTES)
    assert set(bad) == SNAPSHOT_FEATURES
    after = compute_features(perturb_snapshot(small, ["year_pin_last_changed"], seed=0), ALL_SNAPSHOT)
    assert after["card_pin_age_years"].null_count() == after.height  # a later PIN change: unknown at t
    # opted in: accepted (reported as used), not a violation
    report = point_in_time_violations(small, {"snapshot_attributes": ["credit_limit"]}, n_targets=1, seed=2)
    assert report["violations"] == {} and report["snapshot_columns_used"] == ["credit_limit"]
    assert "credit_limit" not in report["snapshot_columns_changed"]
    # a snapshot column wrongly declared knowable: the point-in-time report names its features
    monkeypatch.setitem(spec.KNOWABLE_ATTRIBUTES, "cards", (*spec.KNOWABLE_ATTRIBUTES["cards"], "credit_limit"))
    report = point_in_time_violations(small, {}, n_targets=1, seed=2)
    assert set(report["violations"]) == {"card_credit_limit", "amount_to_limit"}


def test_snapshot_attributes_add_exactly_their_features():
    def added(*columns):
        return set(feature_list(FeatureConfig.from_params({"snapshot_attributes": list(columns)}))) - set(
            feature_list(CFG))

    assert {f.name for f in added("credit_limit")} == {"card_credit_limit", "amount_to_limit"}
    assert {f.name for f in added("total_debt")} == {"user_total_debt"}  # debt / income needs both
    assert {f.name for f in added("total_debt", "yearly_income")} == {"user_total_debt", "user_yearly_income",
                                                                       "user_debt_to_income"}
    assert {f.name for f in added("year_pin_last_changed")} == {"card_pin_age_years"}
    assert all("snapshot" in f.doc for f in added(*SNAPSHOT_ATTRIBUTES))
    assert {f.name for f in added(*SNAPSHOT_ATTRIBUTES)} == SNAPSHOT_FEATURES
    a = FeatureConfig.from_params({"snapshot_attributes": ["yearly_income", "credit_limit", "credit_limit"]})
    assert a == FeatureConfig.from_params({"snapshot_attributes": ["credit_limit", "yearly_income"]})
    assert FeatureConfig.from_params({"snapshot_attributes": None}) == CFG  # left empty in params.yaml


@pytest.mark.parametrize("names, message", [
    (["credit_limt"], r"'credit_limt' is not a snapshot column; valid names: expires, num_cards_issued, credit_limit"),
    (["card_brand"], "'card_brand' is knowable at transaction time and always used"),
    ("credit_limit", "must be a list"),
])
def test_bad_snapshot_attributes_are_named(names, message):
    with pytest.raises(ValueError, match=message):
        FeatureConfig.from_params({"snapshot_attributes": names})


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
    report = point_in_time_violations(generated, {}, n_targets=2, seed=1)
    assert report["violations"] == {} and set(report["snapshot_columns_changed"]) == set(SNAPSHOT_ATTRIBUTES)


def test_profile_samples_read_lazily_keep_every_fraud_and_a_seeded_share(tmp_path):
    """Notebook 02 profiles a labelled sample (every fraud, ~n legit, no unlabeled) and a row sample, same rows each
    run: what keeps it within memory at the kaggle scale."""
    from paylab.features.report import labelled_sample, row_sample

    n = 50_000
    rng = np.random.default_rng(0)
    label = rng.choice(["legit", "fraud", "unlabeled"], n, p=[0.66, 0.01, 0.33])
    path = tmp_path / "features.parquet"
    pl.DataFrame({"transaction_id": np.arange(n) * 3 + 11, "label": label, "x": rng.random(n)}).write_parquet(path)
    sample = labelled_sample(path, rows=5_000, seed=1)
    assert (sample["label"] == "fraud").sum() == (label == "fraud").sum()
    assert (sample["label"] == "legit").sum() == pytest.approx(5_000, rel=0.1)
    assert set(sample["label"]) == {"fraud", "legit"}
    assert sample["transaction_id"].is_sorted(), "file order kept"
    assert sample.equals(labelled_sample(path, rows=5_000, seed=1))
    assert not sample.equals(labelled_sample(path, rows=5_000, seed=2))
    assert labelled_sample(path, rows=10**6, seed=1).height == (label != "unlabeled").sum(), "all when fewer"
    rows = row_sample(path, rows=2_000, seed=1)
    assert rows.height == pytest.approx(2_000, rel=0.15) and "unlabeled" in set(rows["label"])
    assert row_sample(path, rows=10**6, seed=1).height == n

"""Anomaly detectors (issue 11, modules): fitted without labels, oriented (higher = more anomalous), point-in-time
merchant activity, and the evaluation helpers on hand-made cases."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from paylab import evaluation
from paylab.anomaly import detectors as ad
from paylab.anomaly import evaluate as ae
from paylab.anomaly import suite, views


@pytest.fixture(scope="module")
def planted():
    """600 normal rows in 6 dims and 12 planted outliers far from them (last rows)."""
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(600, 6))
    outliers = rng.normal(size=(12, 6)) + rng.choice([-6.0, 6.0], size=(12, 6))
    frame = pd.DataFrame(np.vstack([normal, outliers]), columns=[f"x{i}" for i in range(6)])
    return frame, np.r_[np.zeros(600), np.ones(12)]


AUTOENCODER = {"hidden": [8, 3], "epochs": 60, "patience": 5, "batch_size": 64}


@pytest.mark.parametrize("name", [d for d in ad.DETECTORS if d != "autoencoder"])
def test_every_detector_ranks_planted_outliers_first(planted, name):
    frame, truth = planted
    params = {"ocsvm": {"nu": 0.05, "n_components": 50}, "lof": {"n_neighbors": 20}}.get(name)
    det = ad.fit_detector(name, "test", list(frame.columns), frame.iloc[:500], params, seed=1)
    score = det.score(frame)
    assert evaluation.average_precision(truth, score) > 0.8, name
    pct = det(frame)
    assert pct.min() >= 0 and pct.max() <= 1
    order = np.argsort(score)
    assert np.all(np.diff(pct[order]) >= 0)  # percentiles are monotone in the raw score


def test_autoencoder_ranks_planted_outliers_first(planted, tmp_path):
    """In a subprocess: TensorFlow and OR-Tools' CP-SAT (optbinning, the credit tests) crash when loaded in one
    process (a segmentation fault in the solver), so TensorFlow stays out of the pytest process."""
    frame, truth = planted
    frame.assign(truth=truth).to_parquet(tmp_path / "planted.parquet")
    code = f"""
import json, pandas as pd
from paylab import evaluation
from paylab.anomaly import detectors as ad
frame = pd.read_parquet({str(tmp_path / "planted.parquet")!r})
truth = frame.pop("truth").to_numpy()
det = ad.fit_detector("autoencoder", "test", list(frame.columns), frame.iloc[:500], {AUTOENCODER!r}, seed=1)
pct = det(frame)
print(json.dumps({{"ap": evaluation.average_precision(truth, det.score(frame)), "lo": float(pct.min()),
                  "hi": float(pct.max()), "epochs": len(det.model.history["loss"])}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["ap"] > 0.8 and 0 <= got["lo"] <= got["hi"] <= 1
    assert got["epochs"] <= AUTOENCODER["epochs"]


def test_detectors_never_read_labels(tiny_features):
    frame = pl.read_parquet(tiny_features).to_pandas()
    columns = [c for c in frame.columns if c not in ("transaction_id", "timestamp", "client_id", "card_id",
                                                     "merchant_id", "label")]
    runs = {"isolation_forest": ["card_burst", "global"], "hbos": ["card_history"]}
    params = {"isolation_forest": {"n_estimators": 30}}
    a = suite.fit_suite(frame, runs, params, 2000, seed=3, available=columns)
    shuffled = frame.assign(label=np.random.default_rng(0).permutation(frame["label"].to_numpy()))
    b = suite.fit_suite(shuffled, runs, params, 2000, seed=3, available=columns)
    pa, pb = suite.score_suite(a, frame)[1], suite.score_suite(b, shuffled)[1]
    assert list(pa) == ["isolation_forest/card_burst", "isolation_forest/global", "hbos/card_history"]
    for run in pa:
        np.testing.assert_array_equal(pa[run], pb[run])
    assert not any(c.startswith(views.LABEL_DERIVED) for c in a["isolation_forest/global"].columns)
    # detectors of one view and sample share a scaler; the suite's shared matrices give each detector's own scores
    hbos = suite.fit_suite(frame, {"hbos": ["card_burst"]}, {}, 2000, seed=3, available=columns)["hbos/card_burst"]
    shared = suite.fit_suite(frame, {"isolation_forest": ["card_burst"], "hbos": ["card_burst", "card_history"]},
                             params, 2000, seed=3, available=columns)
    assert shared["hbos/card_burst"].scaler is shared["isolation_forest/card_burst"].scaler
    assert shared["hbos/card_history"].scaler is not shared["hbos/card_burst"].scaler
    raw = suite.score_suite(shared, frame)[0]
    np.testing.assert_array_equal(raw["hbos/card_burst"], hbos.score(frame))
    for run, det in shared.items():
        np.testing.assert_array_equal(raw[run], det.score(frame))


def test_unknown_view_and_missing_columns_are_named():
    with pytest.raises(ValueError, match="view 'nope' is unknown"):
        views.view_columns("nope", ["amount"])
    with pytest.raises(ValueError, match="card_burst.*card_cnt_1h"):
        views.view_columns("card_burst", ["amount"])


def test_inductive_ecod_equals_pyod_for_one_row_and_ignores_the_batch():
    from pyod.models.ecod import ECOD

    rng = np.random.default_rng(2)
    train, batch = rng.lognormal(size=(1000, 4)), rng.lognormal(size=(40, 4))
    ecod = ad.InductiveECOD().fit(train)
    pyod = ECOD().fit(train)
    one_at_a_time = np.array([pyod.decision_function(row[None, :])[0] for row in batch])
    np.testing.assert_allclose(ecod.anomaly(batch), one_at_a_time, rtol=1e-9)
    extreme = np.vstack([batch, np.full((500, 4), 50.0)])  # many extreme rows appended to the batch
    np.testing.assert_allclose(ecod.anomaly(extreme)[:40], ecod.anomaly(batch))  # they do not shape its CDFs


def _write(tmp_path, rows):
    path = tmp_path / "transactions.parquet"
    pl.DataFrame(rows).write_parquet(path)
    return path


def test_merchant_activity_counts_only_earlier_rows(tmp_path):
    t0 = datetime(2020, 1, 1)
    rows = {"transaction_id": [5, 1, 2, 3, 4, 6], "merchant_id": [1, 1, 1, 1, 1, 2],
            "timestamp": [t0, t0, t0 + timedelta(minutes=10), t0 + timedelta(minutes=30),
                          t0 + timedelta(minutes=70), t0 + timedelta(minutes=5)],
            "card_id": [10, 11, 10, 12, 13, 10], "errors": [None, "Bad CVV", None, None, None, None],
            "amount": [1.0, 50.0, 2.0, 3.0, 100.0, 1.0]}
    got = views.merchant_activity(_write(tmp_path, rows), np.array([1, 2, 3, 4, 5, 6]))
    assert got["merchant_cnt_1h"].tolist() == [0, 2, 3, 2, 0, 0]   # same-time rows and other merchants not counted
    assert got["merchant_cards_1h"].tolist() == [0, 2, 2, 2, 0, 0]
    assert got["merchant_errors_1h"].tolist() == [0, 1, 1, 0, 0, 0]
    assert got["merchant_small_1h"].tolist() == [0, 1, 2, 2, 0, 0]
    later = {**rows, "amount": [1.0, 50.0, 2.0, 3.0, 1.0, 1.0], "card_id": [10, 11, 10, 12, 99, 10]}
    changed = views.merchant_activity(_write(tmp_path, later), np.array([1, 2, 3, 4, 5, 6]))
    pd.testing.assert_frame_equal(changed.iloc[:3], got.iloc[:3])  # a change at 70 min moves nothing before it
    with pytest.raises(ValueError, match="not in it, e.g. 77"):
        views.merchant_activity(_write(tmp_path, rows), np.array([1, 77]))


def test_missed_caught_and_unlabeled_top_on_a_hand_made_case():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    model = np.array([0.9, 0.1, 0.2, 0, 0, 0, 0, 0, 0, 0])   # misses rows 1 and 2 at threshold 0.5
    detector = np.array([0, 9, 0, 1, 1, 1, 1, 1, 1, 1.0])    # its top 10% (1 row) is row 1
    out = ae.missed_caught(y, model, 0.5, {"d": detector}, day=np.arange(10), share=0.1, n_boot=50)
    assert out.loc[0, ["missed_frauds", "caught_in_top"]].tolist() == [2, 1] and out.loc[0, "share"] == 0.5
    top = ae.unlabeled_top({"d": np.array([5, 4, 3, 2, 1.0])}, np.array([1, 0, 1, 0, 0]), top_n=2)
    assert top.loc[0, ["fraud_in_top", "precision", "random_precision"]].tolist() == [1, 0.5, 0.4]


def test_decision_difference_costs_reviews_and_missed_frauds():
    y = np.array([1, 0, 0, 1])
    amount = np.array([100.0, 10.0, 10.0, 50.0])
    without = np.array([False, False, False, False])
    with_layer = np.array([True, True, False, False])   # catches the $100 fraud, one extra review
    diff = ae.decision_difference(with_layer, without, y, amount, day=[0, 0, 1, 1], review_cost=5.0, n_boot=50)
    assert diff["caught_per_day"]["total"] == 1 and diff["reviews_per_day"]["total"] == 2
    assert diff["cost_per_day"]["total"] == pytest.approx(2 * 5.0 - 100.0)


def test_layer_setting_follows_the_stage_verdict_and_names_bad_values():
    from paylab.anomaly.serving import layer_setting

    assert layer_setting(None, {"keep": True, "review": 0.99}) is None
    assert layer_setting({"review": 0.9, "decline": None}, None) == {"review": 0.9, "decline": None}
    assert layer_setting("auto", {"keep": True, "review": 0.999}) == {"review": 0.999, "decline": None}
    assert layer_setting("auto", {"keep": False, "review": 0.999}) is None
    with pytest.raises(ValueError, match="run the `anomaly` stage first"):
        layer_setting("auto", None)
    with pytest.raises(ValueError, match="fraud.decision.anomaly: expected null, auto"):
        layer_setting("on", None)


def test_served_detector_round_trip_through_the_stage_artefact(planted, tmp_path):
    import cloudpickle

    from paylab.anomaly.serving import load_detector

    frame, _ = planted
    test = frame.iloc[500:]
    fitted = ad.fit_detector("hbos", "global", list(frame.columns), frame.iloc[:500], {"n_bins": 10}, seed=0)
    path = tmp_path / "detector.pkl"
    with pytest.raises(FileNotFoundError, match="dvc repro anomaly"):
        load_detector(path)
    path.write_bytes(cloudpickle.dumps(fitted))
    loaded = load_detector(path)
    assert np.array_equal(loaded(test), fitted(test)) and ((loaded(test) >= 0) & (loaded(test) <= 1)).all()


def test_ecod_with_a_constant_column_still_ranks_and_top_share_breaks_ties():
    rng = np.random.default_rng(3)
    train = np.column_stack([rng.normal(size=500), np.zeros(500)])
    test = np.vstack([rng.normal(size=(50, 2)) * [1, 0], [[8.0, 0.0]]])
    score = ad.InductiveECOD().fit(train).anomaly(test)
    assert np.isfinite(score).all() and score.argmax() == 50
    assert ae.top_share_mask(np.ones(1000), 0.01).sum() == 10  # a constant score takes 1%, not every row
    assert ae.top_share_mask(np.arange(100.0), 0.05).nonzero()[0].tolist() == [95, 96, 97, 98, 99]


def test_hbos_kernel_is_cached_on_disk_also_after_unpickling():
    """PyOD's HBOS compiles its numba kernel once per environment (the cache), not in every process that scores."""
    import cloudpickle
    from numba.core.caching import NullCache
    from pyod.models import hbos

    kernel = hbos._calculate_outlier_scores
    model = ad.build("hbos", {"n_bins": 10}, 0)
    assert not isinstance(kernel._cache, NullCache)
    kernel._cache = NullCache()  # as in a fresh process
    X = np.random.default_rng(0).normal(size=(200, 3))
    restored = cloudpickle.loads(cloudpickle.dumps(model.fit(X)))
    assert not isinstance(kernel._cache, NullCache)
    assert np.array_equal(restored.anomaly(X), model.anomaly(X))


@pytest.mark.parametrize("name", ["hbos", "isolation_forest", "ecod"])
def test_one_feature_dict_scores_as_its_frame_row(planted, name):
    """The online path (a feature dict, no frame) gives each row's frame percentile; None is a missing value."""
    frame, _ = planted
    det = ad.fit_detector(name, "test", list(frame.columns), frame.iloc[:500], None, seed=0)
    test = frame.iloc[490:].copy()
    test.iloc[3, 2] = np.nan
    records = test.to_dict("records")
    records[3]["x2"] = None
    expected = det(test)
    assert [det.one(r) for r in records] == pytest.approx(expected.tolist(), abs=0)
    assert expected[-12:].min() > expected[:10].max()  # the planted outliers still rank on top
    with pytest.raises(KeyError, match="feature 'x5' missing"):
        det.one({c: 0.0 for c in frame.columns[:5]})

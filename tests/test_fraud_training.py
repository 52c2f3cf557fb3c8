"""Fraud modelling table, model zoo and time-aware training on the tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from paylab.fraud import training
from paylab.fraud.data import FeatureEncoder, load_table
from paylab.fraud.models import build, resolve_strategy

DELAY = 7
SPLIT = {"train_days": 120, "valid_days": 30, "test_days": 30}
COMPARE = {"n_folds": 2, "train_days": 90, "test_days": 45}
SMALL = {"xgboost": {"n_estimators": 20, "max_depth": 3}, "lightgbm": {"n_estimators": 20},
         "catboost": {"iterations": 20}, "logreg": {"C": 0.1}}


@pytest.fixture(scope="module")
def table(tiny_features, tiny_interim):
    return load_table(tiny_features, tiny_interim / "oracle" / "fraud.parquet")


@pytest.fixture(scope="module")
def folds(table):
    final = training.final_split(table, SPLIT, DELAY)
    return training.prequential(table, COMPARE, DELAY, end=final.windows["valid"][0] - pd.Timedelta(days=DELAY))


def test_table_labels_oracle_and_order(table, tiny_features):
    frame = table.frame
    labels = pl.read_parquet(tiny_features, columns=["label"])["label"].value_counts()
    counts = dict(zip(labels["label"], labels["count"], strict=True))
    assert len(frame) == sum(counts.values())
    assert frame["y"].isna().sum() == counts["unlabeled"]  # unlabeled is missing, never legitimate
    assert frame["y"].sum() == counts["fraud"]
    assert table.has_oracle and frame["oracle_proba"].notna().all()
    assert frame["timestamp"].is_monotonic_increasing
    assert not set(table.features) & {"label", "transaction_id", "timestamp", "y", "oracle_proba"}


def test_real_data_without_oracle_and_excluded_features(tiny_features, tmp_path):
    table = load_table(tiny_features, tmp_path / "no_oracle.parquet", exclude=["user_gender"])
    assert not table.has_oracle and "oracle_proba" not in table.frame
    assert "user_gender" not in table.features and "card_cnt_1h" in table.features
    with pytest.raises(ValueError, match="not in the file"):
        load_table(tiny_features, exclude=["no_such_feature"])


def test_last_days_keeps_only_the_recent_window(tiny_features):
    recent = load_table(tiny_features, last_days=30).frame
    full = load_table(tiny_features).frame
    assert 0 < len(recent) < len(full)
    assert recent["timestamp"].min() > full["timestamp"].max() - pd.Timedelta(days=30)


def test_bad_label_names_file_column_and_row(tmp_path, tiny_features):
    bad = pl.read_parquet(tiny_features).head(50).with_columns(pl.lit("maybe").alias("label"))
    path = tmp_path / "features.parquet"
    bad.write_parquet(path)
    with pytest.raises(ValueError, match=r"features.parquet: column `label`.*maybe"):
        load_table(path)


def test_encoder_one_hot_nullable_bools_and_unseen_categories():
    train = pd.DataFrame({"brand": ["Visa", "Amex", None], "home": [True, None, False], "n": [1, 2, None]})
    enc = FeatureEncoder().fit(train)
    out = enc.transform(pd.DataFrame({"brand": ["Discover", "Visa"], "home": [None, True], "n": [3, None]}))
    assert list(out.columns) == ["brand=Amex", "brand=Visa", "home", "n"]
    assert out.dtypes.eq(np.float32).all()
    assert out.iloc[0, :2].tolist() == [0.0, 0.0]  # a category unseen at fit is all zeros
    assert np.isnan(out.loc[0, "home"]) and out.loc[1, "home"] == 1.0


def test_strategies_resolve_per_fold():
    y = np.r_[np.ones(5), np.zeros(95)]
    assert resolve_strategy("class_weight:full", y) == "class_weight:19"
    with pytest.raises(ValueError, match="imbalance strategy"):
        resolve_strategy("oversample:2", y)
    steps = [name for name, _ in build("xgboost", "smote:0.1", y, SMALL["xgboost"]).steps]
    assert steps == ["encode", "impute", "resample", "model"]  # SMOTE needs complete rows
    assert [n for n, _ in build("logreg", "none", y).steps] == ["encode", "impute", "scale", "model"]
    with pytest.raises(ValueError, match="unknown model"):
        build("svm", "none", y)


def test_folds_respect_time_delay_and_labels(table, folds):
    ts, y = table.frame["timestamp"], table.frame["y"]
    for fold in folds:
        assert ts.iloc[fold.train].max() + pd.Timedelta(days=DELAY) <= ts.iloc[fold.test].min()
        assert y.iloc[fold.train].notna().all() and y.iloc[fold.test].notna().all()
    final = training.final_split(table, SPLIT, DELAY)
    assert max(ts.iloc[f.test].max() for f in folds) < final.windows["valid"][0]
    assert training.days_needed(SPLIT, COMPARE, DELAY) == 30 + 7 + 30 + 7 + max(120, 7 + 90 + 7 + 90) + 1


@pytest.mark.parametrize("name", ["logreg", "xgboost", "lightgbm", "catboost"])
def test_every_model_ranks_fraud_above_chance(table, folds, name):
    strategy = "undersample:0.05" if name == "lightgbm" else "class_weight:5"
    rows = training.run_folds(table, folds[:1], name, strategy, SMALL[name], seed=1, k=10)
    assert rows[0]["roc_auc"] > 0.7
    assert rows[0]["n"] == len(folds[0].test) and rows[0]["n_positive"] > 0


def test_comparison_is_deterministic_and_summarised(table, folds):
    runs = [("xgboost", "none"), ("xgboost", "smote:0.05"), ("logreg", "class_weight:full")]
    first = training.compare(table, folds, runs, SMALL, seed=3, k=10, progress=False)
    again = training.compare(table, folds, runs, SMALL, seed=3, k=10, progress=False)
    cols = ["roc_auc", "average_precision", "card_precision_at_k", "card_precision_at_k_normalised"]
    pd.testing.assert_frame_equal(first[cols], again[cols])
    assert len(first) == len(runs) * len(folds)
    summary = training.summarise(first)
    assert summary["average_precision_mean"].is_monotonic_decreasing
    assert training.best_strategy(summary, "xgboost") in ("none", "smote:0.05")


def test_tuning_reaches_its_total_and_reuses_the_study(table, folds, tmp_path):
    storage = tmp_path / "optuna.db"
    cfg = {"n_trials": 2, "timeout_s": 120}
    study = training.tune(table, folds, "xgboost", "class_weight:5", SMALL["xgboost"], cfg, seed=5,
                          storage_path=storage, k=10)
    again = training.tune(table, folds, "xgboost", "class_weight:5", SMALL["xgboost"], cfg, seed=5,
                          storage_path=storage, k=10)
    assert len(study.trials) == len(again.trials) == 2  # same inputs: the stored study, no new trial
    assert again.best_value == study.best_value
    changed = training.tune(table, folds, "xgboost", "class_weight:5", SMALL["xgboost"], {"n_trials": 1}, seed=5,
                            storage_path=storage, k=10, inputs={"features": {"risk_windows": ["7d"]}})
    assert changed.study_name != study.study_name and len(changed.trials) == 1  # new feature params: a new study


def test_file_digest_changes_with_the_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"x" * 99 + b"y")
    assert training.file_digest(a) == training.file_digest(a) != training.file_digest(b)


def test_curves_and_business_view():
    y = np.array([0, 0, 1, 0, 1, 0])
    s = np.array([0.1, 0.2, 0.9, 0.3, 0.6, 0.7])
    roc, pr = training.curves(y, {"model": s, "oracle": y.astype(float)}, points=11)
    assert list(roc.columns) == ["fpr", "tpr_model", "tpr_oracle"] and roc["tpr_model"].is_monotonic_increasing
    assert pr["precision_oracle"].eq(1.0).all()
    # ranked: 0.9 fraud, 0.7 legit, 0.6 fraud -> precision 1 up to recall 0.5, then 2/3 up to recall 1
    assert pr["precision_model"].tolist() == pytest.approx([1.0] * 6 + [2 / 3] * 5, abs=1e-6)
    assert pr["precision_model"].is_monotonic_decreasing
    view = training.business_view(y, s, [10, 10, 100, 10, 50, 10], review_cost=2.0, threshold=0.65)
    assert view["reviews"] == 2 and view["frauds_caught"] == 1
    assert view["fraud_amount_caught"] == 100 and view["cost"] == 2 * 2 + 50


def test_one_label_delay():
    assert training.label_delay({"delay_days": 5}) == 5.0
    assert training.label_delay({"delay_days": 5}, 5) == 5.0
    with pytest.raises(ValueError, match=r"fraud.delay_days \(3\) disagrees with features.delay_days \(5.0\)"):
        training.label_delay({"delay_days": 5}, 3)


def test_model_inputs_are_exactly_the_spec_features(tiny_features, tmp_path):
    from paylab.features import feature_names

    spec = feature_names()
    assert load_table(tiny_features, expected=spec).features == spec
    extra = pl.read_parquet(tiny_features).head(100).with_columns(pl.lit(1.0).alias("leaky_column"))
    extra.write_parquet(tmp_path / "extra.parquet")
    with pytest.raises(ValueError, match=r"extra.parquet: 1 columns are not features of the spec, e.g. 'leaky_column'"):
        load_table(tmp_path / "extra.parquet", expected=spec)
    with pytest.raises(ValueError, match=r"1 spec features missing, e.g. 'not_built_yet'"):
        load_table(tiny_features, expected=[*spec, "not_built_yet"])


def test_fold_differences_call_worse_only_when_every_fold_agrees():
    results = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 3 + ["c"] * 3, "strategy": "none", "fold": [0, 1, 2] * 3,
                            "average_precision": [0.5, 0.6, 0.7, 0.4, 0.5, 0.6, 0.6, 0.4, 0.65]})
    out = training.fold_differences(results).set_index("model")
    assert out.loc["a", "verdict"] == "best"
    assert out.loc["b", "verdict"] == "worse" and out.loc["b", "difference_to_best"] == pytest.approx(-0.1)
    assert out.loc["c", "verdict"] == "no measurable difference"  # wins fold 0, loses the others
    assert out.loc["c", "difference_max"] == pytest.approx(0.1)


def test_window_figures_intervals_pairs_and_ratios(table):
    final = training.final_split(table, SPLIT, DELAY)
    idx = final.test
    y = table.frame["y"].iloc[idx].to_numpy()
    rng = np.random.default_rng(0)
    scores = {"good": y + rng.normal(0, 0.3, y.size), "noise": rng.normal(0, 1, y.size)}
    out = training.window_figures(table, idx, scores, k=2, n_boot=100, seed=1, pairs=[("good", "noise")],
                                  ratios=[("noise", "good")])
    good = out["scores"]["good"]
    for m in ("average_precision", "roc_auc", "card_precision_at_k_normalised"):
        assert good[f"{m}_ci_low"] <= good[m] <= good[f"{m}_ci_high"]
    assert good["k"] == 2 and good["n"] == len(idx)
    diff = out["differences"]["good_minus_noise"]
    assert diff["average_precision"]["verdict"] == "better" and diff["roc_auc"]["ci_low"] > 0
    assert out["ratios"]["noise_over_good"]["average_precision"]["ratio"] < 0.5
    again = training.window_figures(table, idx, scores, k=2, n_boot=100, seed=1)
    assert again["scores"]["good"] == good  # seeded: the same intervals


def test_learning_curve_windows_end_at_training_end(table):
    final = training.final_split(table, SPLIT, DELAY)
    end = final.windows["train"][1]
    curve, scores = training.learning_curve(table, end, [30, 120, 5000, 6000], final.test, "xgboost",
                                            "class_weight:5", SMALL["xgboost"], seed=1, progress=False)
    assert curve["train_rows"].is_monotonic_increasing and len(curve) == 3  # 6000 days = 5000 days: listed once
    assert curve["train_rows"].iloc[1] == len(final.train)  # 120 days = the final training window
    ts = table.frame["timestamp"].iloc[training.history_rows(table, end, 30)]
    assert ts.max() < end and ts.min() >= end - pd.Timedelta(days=30)
    assert all(len(s) == len(final.test) for s in scores.values())
    reused = np.zeros(len(final.test))
    curve, scores = training.learning_curve(table, end, [30], final.test, "xgboost", "class_weight:5",
                                            SMALL["xgboost"], seed=1, known={120: reused}, progress=False)
    assert curve["train_days"].tolist() == [30, 120] and scores[120] is reused and np.isnan(curve["fit_seconds"][1])

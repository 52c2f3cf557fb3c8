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
    cols = ["roc_auc", "average_precision", "card_precision_at_10"]
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


def test_curves_and_business_view():
    y = np.array([0, 0, 1, 0, 1, 0])
    s = np.array([0.1, 0.2, 0.9, 0.3, 0.6, 0.7])
    roc, pr = training.curves(y, {"model": s, "oracle": y.astype(float)}, points=11)
    assert list(roc.columns) == ["fpr", "tpr_model", "tpr_oracle"] and roc["tpr_model"].is_monotonic_increasing
    assert pr["precision_oracle"].eq(1.0).all()
    view = training.business_view(y, s, [10, 10, 100, 10, 50, 10], review_cost=2.0, threshold=0.65)
    assert view["reviews"] == 2 and view["frauds_caught"] == 1
    assert view["fraud_amount_caught"] == 100 and view["cost"] == 2 * 2 + 50

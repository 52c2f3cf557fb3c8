"""Imbalance strategies: resampling happens when fitting a training fold only, never at predict time."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from xgboost import XGBClassifier

from paylab.data.splits import prequential_folds
from paylab.fraud.imbalance import full_ratio, make_pipeline, parse_strategy


class Spy(ClassifierMixin, BaseEstimator):
    """Records the rows it is fitted on and asked to score."""

    def fit(self, X, y):
        self.fit_X_, self.fit_y_ = np.asarray(X).copy(), np.asarray(y).copy()
        self.classes_ = np.unique(y)
        self.predicted_ = []
        return self

    def predict_proba(self, X):
        self.predicted_.append(np.asarray(X).copy())
        return np.tile([0.5, 0.5], (len(X), 1))

    def predict(self, X):
        return self.predict_proba(X)[:, 1] > 0.5


def _data(n=200, pos_every=10):
    """Column 0 = row position (so any row seen by the model can be traced), column 1 = noise."""
    rng = np.random.default_rng(0)
    X = np.c_[np.arange(n, dtype=float), rng.normal(size=n)]
    y = (np.arange(n) % pos_every == 0).astype(int)
    return X, y


def test_parse_strategy():
    assert parse_strategy("none") == ("none", None)
    assert parse_strategy("smote:0.1") == ("smote", 0.1)
    assert parse_strategy("undersample:auto") == ("undersample", "auto")
    assert parse_strategy("class_weight:10") == ("class_weight", 10.0)
    for bad in ("smote", "none:1", "weights:2", "class_weight:-1", "class_weight:full"):
        with pytest.raises(ValueError, match="strategy|ratio"):
            parse_strategy(bad)


def test_smote_resamples_in_fit_only():
    X, y = _data()
    train, test = np.arange(150), np.arange(150, 200)
    pipe = make_pipeline(Spy(), "smote:1.0", random_state=0).fit(X[train], y[train])
    spy = pipe.named_steps["model"]
    n_pos, n_neg = y[train].sum(), (1 - y[train]).sum()
    assert len(spy.fit_X_) == 2 * n_neg and spy.fit_y_.sum() == n_neg  # minority oversampled to the majority
    pipe.predict_proba(X[test])
    assert len(spy.predicted_) == 1 and np.array_equal(spy.predicted_[0], X[test])  # scored as they are
    assert n_pos < n_neg


def test_resampling_inside_folds_never_sees_test_rows():
    X, y = _data(n=24 * 60, pos_every=12)
    ts = np.datetime64("2021-01-01") + np.arange(len(X)).astype("timedelta64[h]")
    for strategy in ("smote:0.5", "undersample:0.5"):
        for fold in prequential_folds(ts, n_folds=2, train_days=20, delay_days=5, test_days=10):
            pipe = make_pipeline(Spy(), strategy).fit(X[fold.train], y[fold.train])
            seen = pipe.named_steps["model"].fit_X_[:, 0]
            # SMOTE points interpolate training rows: their positions stay inside the training window
            assert seen.min() >= fold.train.min() and seen.max() <= fold.train.max() < fold.test.min()
            ratio = pipe.named_steps["model"].fit_y_.mean()
            assert ratio == pytest.approx(1 / 3, abs=0.01)  # minority / majority = 0.5


def test_undersample_drops_majority_rows_in_fit():
    X, y = _data()
    spy = make_pipeline(Spy(), "undersample:0.5").fit(X, y).named_steps["model"]
    assert spy.fit_y_.sum() == y.sum() and (spy.fit_y_ == 0).sum() == 2 * y.sum()
    assert set(spy.fit_X_[:, 0]) <= set(X[:, 0])  # real rows, no synthetic ones


def test_class_weight_ratio_and_model_untouched():
    xgb = XGBClassifier(n_estimators=5)
    assert make_pipeline(xgb, "class_weight:7.5").named_steps["model"].scale_pos_weight == 7.5
    assert xgb.scale_pos_weight is None
    lr = make_pipeline(LogisticRegression(), "class_weight:3").named_steps["model"]
    assert lr.class_weight == {0: 1.0, 1: 3.0}
    with pytest.raises(ValueError, match="KNeighborsClassifier"):
        make_pipeline(KNeighborsClassifier(), "class_weight:2")
    X, y = _data()
    assert full_ratio(y) == pytest.approx((1 - y).sum() / y.sum())


def test_class_weight_changes_the_fit_and_preprocessor_runs_first():
    X, y = _data()
    X = X.copy()
    X[::7, 1] = np.nan  # SMOTE would fail on NaN: the imputer must run before the sampler
    plain = make_pipeline(LogisticRegression(), "none", preprocessor=SimpleImputer()).fit(X, y)
    weighted = make_pipeline(LogisticRegression(), "class_weight:9", preprocessor=SimpleImputer()).fit(X, y)
    assert weighted.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()
    smote = make_pipeline(LogisticRegression(), "smote:0.5", preprocessor=SimpleImputer()).fit(X, y)
    assert [name for name, _ in smote.steps] == ["preprocess", "resample", "model"]

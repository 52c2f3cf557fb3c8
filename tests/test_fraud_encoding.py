"""The one fast per-row path (paylab.fraud.encoding) equals the pipeline: RowEncoder == transform, RowScorer ==
predict_proba, on real feature rows with nulls, unseen categories and bools, for every preprocessing kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from xgboost import XGBClassifier

from paylab.fraud.data import load_table, preprocessor
from paylab.fraud.encoding import RowEncoder, RowScorer, transform
from paylab.fraud.imbalance import make_pipeline

N_ROWS = 400


@pytest.fixture(scope="module")
def data(tiny_features):
    """(training features, labels, scored rows): the scored rows are real rows plus unseen categories, nulls in
    numeric, string and nullable-bool columns, and bools given as numpy / Python values."""
    table = load_table(tiny_features)
    frame = table.frame[table.labeled]
    X, y = frame[table.features], frame["y"].to_numpy(int)
    rows = X.iloc[-N_ROWS:].copy()
    rng = np.random.default_rng(0)
    text = [c for c in rows.columns if rows[c].dtype == object and rows[c].dropna().map(type).eq(str).any()]
    numeric = [c for c in rows.columns if pd.api.types.is_numeric_dtype(rows[c]) and rows[c].dtype != bool]
    flags = [c for c in rows.columns if rows[c].dtype == bool]
    assert text and numeric and flags and "client_out_of_home_state" in rows.columns
    for c in text:  # unseen at fit, and nulls
        rows[c] = rows[c].astype(object)
        rows.loc[rows.index[rng.random(N_ROWS) < 0.1], c] = "NoSuchCategory"
        rows.loc[rows.index[rng.random(N_ROWS) < 0.05], c] = None
    for c in numeric:
        rows[c] = rows[c].astype("float64")
        rows.loc[rows.index[rng.random(N_ROWS) < 0.05], c] = np.nan
    rows["client_out_of_home_state"] = rows["client_out_of_home_state"].astype(object)
    rows.loc[rows.index[:20], "client_out_of_home_state"] = None
    return X.iloc[:-N_ROWS], y[:-N_ROWS], rows, flags


def _pipelines(X, y) -> dict:
    xgb = {"n_estimators": 40, "max_depth": 4, "tree_method": "hist", "n_jobs": 1, "random_state": 0}
    return {
        "trees": make_pipeline(XGBClassifier(**xgb), "class_weight:5", preprocessor=preprocessor("trees")).fit(X, y),
        "impute": make_pipeline(XGBClassifier(**xgb), "smote:0.05", preprocessor=preprocessor("impute"),
                                random_state=0).fit(X, y),
        "linear": Pipeline([("preprocess", preprocessor("linear")),
                            ("model", LogisticRegression(C=0.1, max_iter=300))]).fit(X, y),
    }


@pytest.fixture(scope="module")
def pipelines(data):
    X, y, _, _ = data
    return _pipelines(X, y)


def _as_online(rows: pd.DataFrame, flags: list[str]) -> list[dict]:
    """The online engine's shape: Python values, None for every null, bools as Python bools."""
    out = []
    for record in rows.to_dict("records"):
        out.append({k: None if v is None or (isinstance(v, float) and np.isnan(v)) else
                    (bool(v) if k in flags else v) for k, v in record.items()})
    return out


@pytest.mark.parametrize("kind", ["trees", "impute", "linear"])
def test_row_encoder_equals_the_pipeline_transform(kind, data, pipelines):
    _, _, rows, flags = data
    model = pipelines[kind]
    encoder = RowEncoder(model)
    assert encoder.fast and encoder.width == transform(model, rows.iloc[:1]).shape[1]
    expected = transform(model, rows).to_numpy()
    for records in (rows.to_dict("records"), _as_online(rows, flags)):
        got = encoder.encode(records)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 if kind == "linear" else 0)
    assert np.isnan(expected).any() == (kind == "trees")  # the imputer filled the nulls it replays
    if kind == "trees":  # an unseen category is all zeros
        brand = [j for j, name in enumerate(encoder.names) if name.startswith("card_brand=")]
        discover = (rows["card_brand"] == "NoSuchCategory").to_numpy()
        assert brand and discover.any() and expected[discover][:, brand].sum() == 0


@pytest.mark.parametrize("kind", ["trees", "impute"])
def test_row_scorer_equals_predict_proba(kind, data, pipelines):
    _, _, rows, flags = data
    model = pipelines[kind]
    scorer = RowScorer(model, list(rows.columns))
    expected = model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(scorer.predict(_as_online(rows, flags)), expected, rtol=0, atol=1e-6)
    assert [scorer.proba(r) for r in _as_online(rows.iloc[:5], flags)] == pytest.approx(expected[:5], abs=1e-6)
    assert expected.std() > 0


def test_what_the_fast_path_refuses(data, pipelines):
    X, y, rows, _ = data
    with pytest.raises(TypeError, match="XGBClassifier"):
        RowScorer(pipelines["linear"])
    with pytest.raises(TypeError, match="other columns"):
        RowScorer(pipelines["trees"], list(rows.columns)[::-1])
    with pytest.raises(TypeError, match="FeatureEncoder"):
        RowEncoder(LogisticRegression().fit(np.zeros((4, 1)), [0, 1, 0, 1]))
    # a step it cannot replay: the pipeline's own transform on a frame, same values
    custom = Pipeline([("encode", preprocessor("trees").steps[0][1]), ("clip", FunctionTransformer(np.nan_to_num)),
                       ("model", XGBClassifier(n_estimators=5, n_jobs=1))]).fit(X, y)
    encoder = RowEncoder(custom)
    assert not encoder.fast
    np.testing.assert_array_equal(encoder.encode(rows.to_dict("records")), transform(custom, rows).to_numpy())
    with pytest.raises(TypeError):
        RowScorer(custom)
    record = rows.iloc[0].to_dict()
    encoder = RowEncoder(pipelines["trees"])
    with pytest.raises(KeyError, match="card_cnt_1h"):
        encoder.encode([{k: v for k, v in record.items() if k != "card_cnt_1h"}])
    with pytest.raises(ValueError, match="amount"):
        encoder.encode([{**record, "amount": "12 dollars"}])

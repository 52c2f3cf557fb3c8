"""Explanations of fraud pipelines: SHAP additivity, LIME determinism, plots (paylab.fraud.explain); reason codes
in plain words (paylab.fraud.reasons, paylab.fraud.phrases)."""

from __future__ import annotations

import pickle
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.dummy import DummyClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from xgboost import XGBClassifier  # noqa: E402

from paylab.features.spec import FeatureConfig, feature_list  # noqa: E402
from paylab.fraud.data import FeatureEncoder, preprocessor  # noqa: E402
from paylab.fraud.encoding import final_estimator, transform  # noqa: E402
from paylab.fraud.explain import lime_explanation, plot_global, plot_waterfall, shap_explanation  # noqa: E402
from paylab.fraud.imbalance import make_pipeline  # noqa: E402
from paylab.fraud.phrases import phrase  # noqa: E402
from paylab.fraud.reasons import ReasonCoder, ServiceReasons  # noqa: E402

SPEC = {f.name for f in feature_list(FeatureConfig())}


def _frame(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Raw feature columns as in features.parquet (numbers, bools, nulls, a string, a nullable bool as object);
    fraud = a burst of card payments in the last hour, a new merchant with a risky merchant history, or an amount far
    above the client's average."""
    rng = np.random.default_rng(seed)
    cnt = rng.poisson(0.8, n)
    burst = rng.random(n) < 0.1
    cnt[burst] += rng.integers(5, 15, burst.sum())
    amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
    new_merchant = rng.random(n) < 0.3
    risk = np.where(rng.random(n) < 0.2, np.nan, rng.beta(1, 40, n))
    hour = rng.integers(0, 24, n)
    ratio = np.where(rng.random(n) < 0.15, np.nan, amount / rng.lognormal(3.5, 0.5, n))
    brand = rng.choice(np.array(["Visa", "Mastercard", "Amex"], dtype=object), n)
    brand[rng.random(n) < 0.05] = None
    X = pd.DataFrame({
        "amount": amount,
        "amount_log_abs": np.log1p(np.abs(amount)),
        "is_online": rng.random(n) < 0.4,
        "hour": hour,
        "hour_sin": np.sin(2 * np.pi * hour / 24),
        "hour_cos": np.cos(2 * np.pi * hour / 24),
        "card_cnt_1h": cnt,
        "card_new_merchant": new_merchant,
        "client_amount_ratio": ratio,
        "merchant_risk_rate_90d": risk,
        "card_brand": brand,
        "client_out_of_home_state": pd.Series(rng.choice(np.array([True, False, None], dtype=object), n),
                                              dtype=object),
        "user_credit_score": rng.integers(500, 850, n),
    }, index=pd.RangeIndex(1000, 1000 + n))
    y = ((cnt >= 5) | (new_merchant & (np.nan_to_num(risk) > 0.05)) | (np.nan_to_num(ratio) > 6)).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data():
    return _frame()


@pytest.fixture(scope="module")
def xgb(data):
    X, y = data
    model = XGBClassifier(n_estimators=60, max_depth=3, learning_rate=0.3, n_jobs=1, random_state=0)
    return make_pipeline(model, "class_weight:3", preprocessor=preprocessor("trees")).fit(X, y)


@pytest.fixture(scope="module")
def logreg(data):
    X, y = data  # nested: preprocessor("linear") is itself a Pipeline (encode -> impute -> scale)
    return Pipeline([("preprocess", preprocessor("linear")), ("model", LogisticRegression(max_iter=500))]).fit(X, y)


def _margin(model, X) -> np.ndarray:
    """The final estimator's raw log-odds."""
    final, Z = final_estimator(model), transform(model, X)
    name = type(final).__name__
    if name == "XGBClassifier":
        return final.predict(Z, output_margin=True)
    if name == "LGBMClassifier":
        return final.predict(Z, raw_score=True)
    if name == "CatBoostClassifier":
        return final.predict(Z, prediction_type="RawFormulaVal")
    return final.decision_function(Z)


def _fit(kind: str, X, y, logreg):
    if kind == "logreg":
        return logreg
    if kind == "lightgbm":
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(n_estimators=40, num_leaves=8, verbose=-1, n_jobs=1, random_state=0)
    else:
        from catboost import CatBoostClassifier

        model = CatBoostClassifier(iterations=40, depth=4, verbose=0, allow_writing_files=False, thread_count=1,
                                   random_seed=0)
    return make_pipeline(model, "none", preprocessor=preprocessor("trees")).fit(X, y)


def test_transform_skips_samplers_and_names_columns(data):
    X, y = data
    pipe = make_pipeline(DummyClassifier(), "smote:1.0", preprocessor=preprocessor("impute")).fit(X, y)
    Z = transform(pipe, X)
    assert len(Z) == len(X) and Z.index.equals(X.index)  # no resampling at explain time
    assert {"card_brand=Visa", "card_brand=Amex", "card_cnt_1h"} <= set(Z.columns) and not Z.isna().any().any()
    encoded = FeatureEncoder().fit(X).transform(X)
    assert list(Z.columns) == list(encoded.columns)


def test_shap_values_add_up_to_the_xgboost_margin(xgb, data):
    X, _ = data
    ex = shap_explanation(xgb, X, max_rows=250, seed=1)
    rows = X.loc[list(ex.instance_names)]
    assert len(rows) == 250 and list(ex.instance_names) == sorted(ex.instance_names)  # sampled, in order
    assert ex.values.shape == (250, transform(xgb, X.iloc[:1]).shape[1])
    np.testing.assert_allclose(ex.values.sum(axis=1) + ex.base_values, _margin(xgb, rows), atol=1e-4)
    assert list(shap_explanation(xgb, X, max_rows=250, seed=1).instance_names) == list(ex.instance_names)
    # the reason codes' native TreeSHAP (XGBoost pred_contribs) is the same algorithm as shap's TreeExplainer
    coder = ReasonCoder(xgb)
    native = coder.contributions(rows)
    grouped = pd.DataFrame(ex.values @ coder._group, columns=coder.reasons_of, index=rows.index)
    np.testing.assert_allclose(native.to_numpy(), grouped.to_numpy(), atol=1e-4)


@pytest.mark.parametrize("kind", ["lightgbm", "catboost", "logreg"])
def test_contributions_add_up_to_the_margin_for_every_model(kind, data, logreg):
    X, y = data
    model = _fit(kind, X, y, logreg)
    rows = X.iloc[:120]
    margin = _margin(model, rows)
    coder = ReasonCoder(model)
    parts = coder.contributions(rows, with_base=True)
    np.testing.assert_allclose(parts.sum(axis=1).to_numpy(), margin, atol=1e-4)
    ex = shap_explanation(model, rows, background=X)
    np.testing.assert_allclose(ex.values.sum(axis=1) + ex.base_values, margin, atol=1e-3)
    burst = rows.index[(rows["card_cnt_1h"] >= 8) & ~rows["card_new_merchant"]]
    top = [r[0] for r in coder.reasons(rows.loc[burst], n=1)]
    assert sum("payments on this card in the last hour" in t for t in top) >= 0.8 * len(top) > 0


def test_top_reason_names_the_driving_feature(xgb, data):
    X, y = data
    burst = X[(X["card_cnt_1h"] >= 5) & ~X["card_new_merchant"]]
    reasons = ReasonCoder(xgb).reasons(burst, n=3)
    assert len(reasons) == len(burst) > 10
    for row, (_, x) in zip(reasons, burst.iterrows(), strict=True):
        assert row[0] == f"{x['card_cnt_1h']} payments on this card in the last hour"
    risky = X[(X["card_cnt_1h"] == 0) & X["card_new_merchant"] & (X["merchant_risk_rate_90d"] > 0.08)]
    for row, (_, x) in zip(ReasonCoder(xgb).reasons(risky, n=2), risky.iterrows(), strict=True):
        assert set(row) == {"first time this card pays at this merchant",
                            f"merchant's fraud rate over the last 90 days is {100 * x['merchant_risk_rate_90d']:.1f}%"}


def test_reasons_are_plain_words(xgb, logreg, data):
    X, _ = data
    docs = feature_list(FeatureConfig())
    assert {"card_cnt_1h", "card_new_merchant", "merchant_risk_rate_90d", "client_amount_ratio"} <= SPEC
    raw_names = [c for c in [*X.columns, *transform(xgb, X.iloc[:1]).columns] if "_" in c or "=" in c]
    texts = set()
    for model in (xgb, logreg):
        coder = ReasonCoder(model, docs)
        reasons = coder.reasons(X, n=3)
        assert len(reasons) == len(X)
        for row in reasons:  # largest positive contributions only, distinct features
            assert len(row) <= 3 and len(set(row)) == len(row)
        phi = coder.contributions(X)
        assert all(len(r) == min(3, int(p)) for r, p in zip(reasons, (phi > 0).sum(axis=1), strict=True))
        codes = coder.reason_codes(X.iloc[:50], n=3)
        assert list(codes.columns) == ["reason_1", "reason_2", "reason_3"] and codes.index.equals(X.index[:50])
        assert codes["reason_1"].tolist() == [r[0] if r else None for r in reasons[:50]]
        texts |= {t for row in reasons for t in row}
    assert len(texts) > 100
    for text in texts:
        assert isinstance(text, str) and text and not any(name in text for name in raw_names), text
    assert any(t.startswith("amount is ") and t.endswith("x the client's average") for t in texts)
    assert {"card brand is Visa", "card brand is Amex", "card brand is Mastercard"} & texts  # one-hot summed


def test_one_row_paths_match_the_batch(xgb, logreg, data):
    X, _ = data
    rows = X.iloc[:40].copy()
    rows.loc[rows.index[0], "card_brand"] = "Discover"  # unseen at fit: all one-hot zeros
    rows.loc[rows.index[1], ["amount", "client_amount_ratio"]] = [np.nan, np.nan]
    for model in (xgb, logreg):
        coder = ReasonCoder(model)
        np.testing.assert_allclose(coder.encoder.encode(rows.to_dict("records")),
                                   transform(model, rows).to_numpy(), rtol=1e-6, atol=1e-6)
        batch = coder.reasons(rows, n=3)
        assert [coder.reasons(r, n=3)[0] for r in rows.to_dict("records")] == batch  # mapping: online path
        assert [coder.reasons(rows.iloc[[i]], n=3)[0] for i in range(5)] == batch[:5]  # small frame
    with pytest.raises(KeyError, match="card_cnt_1h"):
        ReasonCoder(xgb).reasons({k: v for k, v in rows.iloc[0].items() if k != "card_cnt_1h"})


def test_one_row_reason_latency(xgb, data):
    X, _ = data
    coder = ReasonCoder(xgb)
    row = X.iloc[[7]].to_dict("records")[0]
    frame = X.iloc[[7]]
    timings = {}
    for name, x in (("mapping", row), ("one-row frame", frame)):
        coder.reasons(x)
        runs = []
        for _ in range(200):
            start = time.perf_counter()
            coder.reasons(x, n=3)
            runs.append(time.perf_counter() - start)
        timings[name] = 1e3 * float(np.median(runs))
    print(f"\none-row reasons (XGBoost, 60 trees, {coder._group.shape[0]} columns): "
          + ", ".join(f"{k} {v:.3f} ms median" for k, v in timings.items()))


def test_lime_is_deterministic_with_a_seed(xgb, data, tmp_path):
    X, _ = data
    row = X.loc[[X.index[np.argmax(X["card_cnt_1h"].to_numpy())]]]
    first, html = lime_explanation(xgb, X, row, seed=3, num_features=5, num_samples=500)
    again, _ = lime_explanation(xgb, X, row, seed=3, num_features=5, num_samples=500)
    assert first == again and len(first) == 5 and "<html>" in html.lower()
    assert any(c.startswith("card_cnt_1h") or "card_cnt_1h" in c for c, _ in first[:2])
    assert all(isinstance(c, str) and isinstance(w, float) for c, w in first)
    conditions, path = lime_explanation(xgb, X, row.iloc[0], seed=3, num_features=5, num_samples=500,
                                        out=tmp_path / "lime.html")
    assert conditions == first and path.stat().st_size > 0


def test_plots_are_written(xgb, data, tmp_path):
    X, _ = data
    ex = shap_explanation(xgb, X, max_rows=150, seed=0)
    paths = plot_global(ex, tmp_path / "global", max_display=8)
    assert [p.name for p in paths] == ["shap_beeswarm.png", "shap_bar.png"]
    waterfall = plot_waterfall(ex, int(np.argmax(ex.values.sum(axis=1))), tmp_path / "alerts" / "top.png")
    for p in [*paths, waterfall]:
        assert p.exists() and p.read_bytes()[:4] == b"\x89PNG"
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # every figure closed


def test_every_spec_feature_has_plain_words():
    samples = {"bool": [True, False], "f64": [0.0, 0.041, 8.3, -2.5], "i64": [0, 1, 12], "str": ["Visa"]}
    names = [f.name for f in feature_list(FeatureConfig())]
    for f in feature_list(FeatureConfig()):
        say = phrase(f.name, f.doc)
        for v in [*samples[f.dtype], None, np.nan]:
            text = say(v)
            assert isinstance(text, str) and text and not any(n in text for n in names if "_" in n), (f.name, text)
    assert phrase("card_cnt_1h")(12) == "12 payments on this card in the last hour"
    assert phrase("card_new_merchant")(True) == "first time this card pays at this merchant"
    assert phrase("client_amount_ratio")(8.31) == "amount is 8.3x the client's average"
    assert phrase("merchant_risk_rate_90d")(0.041) == "merchant's fraud rate over the last 90 days is 4.1%"
    assert phrase("something_new", "a new thing")(2.5) == "a new thing: 2.5"  # generic fallback


def test_service_reasons_adapter(xgb, data):
    X, _ = data
    fn = pickle.loads(pickle.dumps(ServiceReasons(n=2)))  # a FraudService is pickled with its reasons_fn
    assert fn(xgb, X.iloc[[3]]) == [ReasonCoder(xgb).reasons(X.iloc[[3]], n=2)[0]]
    assert fn.coder(xgb) is fn.coder(xgb)

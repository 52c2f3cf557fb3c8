"""Layered decision engine: each layer's known answer, online == batch, evaluation counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from paylab import evaluation
from paylab.fraud import training
from paylab.fraud.decision import NO_ANOMALY, DecisionEngine, evaluate_decisions

CONFIG = {
    "velocity": [{"feature": "card_cnt_1h", "max": 3, "action": "review"},
                 {"feature": "card_cnt_24h", "max": 10, "action": "decline"}],
    "amount": [{"feature": "amount", "max": 1000, "action": "review"}],
    "blocked_mcc": {"values": [7995]},
    "blocked_merchants": {"values": [666], "action": "review"},
    "bad_cvv_burst": {"feature": "card_badcvv_1h", "min": 2},
    "ml": {"review": 0.5, "decline": 0.9},
    "anomaly": {"review": 0.8},
}
BASE = {"amount": 50.0, "mcc": 5411, "merchant_id": 1, "card_cnt_1h": 0, "card_cnt_24h": 1, "card_badcvv_1h": 0}
# (changes to BASE, ML probability, anomaly score, expected decision, expected reason fragments)
CASES = [
    ({}, 0.1, 0.1, "approve", []),
    ({"card_cnt_1h": 3}, 0.1, 0.1, "approve", []),  # at the limit: not above it
    ({"card_cnt_1h": 4}, 0.1, 0.1, "review", ["card_cnt_1h is 4, above the limit 3"]),
    ({"card_cnt_24h": 11}, 0.1, 0.1, "decline", ["card_cnt_24h is 11"]),
    ({"amount": 1500.0}, 0.1, 0.1, "review", ["amount $1,500.00 above the review limit of $1,000"]),
    ({"mcc": 7995}, 0.1, 0.1, "decline", ["merchant category 7995 is blocked"]),
    ({"merchant_id": 666}, 0.1, 0.1, "review", ["merchant 666 is blocked"]),
    ({"card_badcvv_1h": 2}, 0.1, 0.1, "decline", ["2 bad-CVV errors on this card in the last hour"]),
    ({}, 0.5, 0.1, "review", ["fraud probability 0.50 at or above the review threshold 0.50"]),
    ({}, 0.95, 0.1, "decline", ["fraud probability 0.95 at or above the decline threshold 0.90"]),
    ({}, 0.1, 0.85, "review", ["anomaly score 0.85 at or above the review threshold 0.80"]),
    ({}, 0.1, None, "approve", [NO_ANOMALY]),
    ({"card_cnt_1h": np.nan}, 0.1, 0.1, "approve", []),  # no history: no velocity hit
    ({"amount": 1500.0, "card_cnt_1h": 9}, 0.95, 0.9, "decline",
     ["card_cnt_1h is 9", "amount $1,500.00", "decline threshold 0.90", "anomaly score 0.90"]),
]


@pytest.fixture(scope="module")
def engine():
    return DecisionEngine(CONFIG)


@pytest.mark.parametrize(("change", "proba", "anomaly", "expected", "fragments"), CASES)
def test_online_decision(engine, change, proba, anomaly, expected, fragments):
    txn = {k: v for k, v in {**BASE, **change}.items() if k in ("amount", "mcc", "merchant_id")}
    feats = {k: v for k, v in {**BASE, **change}.items() if k not in txn}
    d = engine.decide(txn, feats, proba=proba, anomaly=anomaly)
    assert d.action == expected
    assert len(d.reasons) == len(fragments) + (anomaly is None and NO_ANOMALY not in fragments)
    for fragment, reason in zip(fragments, d.reasons, strict=False):
        assert fragment in reason
    assert d.anomaly_missing == (anomaly is None)
    if "decline threshold" in " ".join(d.reasons):
        assert not any("review threshold 0.50" in r for r in d.reasons)  # one reason per score layer


def test_batch_equals_online_on_pandas_and_polars(engine):
    rows = [{**BASE, **change} for change, *_ in CASES]
    proba = [c[1] for c in CASES]
    anomaly = [np.nan if c[2] is None else c[2] for c in CASES]
    frame = pd.DataFrame(rows)
    batch = engine.decide_batch(frame, proba, anomaly)
    assert batch["decision"].tolist() == [c[3] for c in CASES]
    online = [engine.decide(r, proba=p, anomaly=None if math.isnan(a) else a) for r, p, a in
              zip(rows, proba, anomaly, strict=True)]
    assert batch["reasons"].map(tuple).tolist() == [d.reasons for d in online]
    polars = engine.decide_batch(pl.from_pandas(frame), proba, anomaly)
    assert polars["decision"].tolist() == batch["decision"].tolist()
    assert batch["hit_blocked_mcc_decline_mcc"].sum() == 1 and batch["hit_ml_decline"].sum() == 2


def test_config_defaults_merge_and_switch_off():
    default = DecisionEngine()
    assert "card_cnt_1h" in default.features and "card_badcvv_1h" in default.features
    assert not any(c.op == "in" for c in default.rules)  # empty block lists check nothing
    merged = DecisionEngine({"blocked_mcc": {"values": [1]}})
    assert [c.action for c in merged.rules if c.column == "mcc"] == ["decline"]  # default action kept
    off = DecisionEngine({"bad_cvv_burst": None, "anomaly": None})
    assert "card_badcvv_1h" not in off.features
    d = off.decide(BASE, proba=0.1)
    assert d.action == "approve" and d.reasons == () and d.anomaly_missing


def test_config_and_input_errors_are_named():
    with pytest.raises(ValueError, match="unknown sections"):
        DecisionEngine({"velocty": []})
    with pytest.raises(ValueError, match="review threshold"):
        DecisionEngine({"ml": {"review": 0.9, "decline": 0.5}})
    with pytest.raises(ValueError, match="action"):
        DecisionEngine({"amount": [{"feature": "amount", "max": 1, "action": "block"}]})
    engine = DecisionEngine(CONFIG)
    with pytest.raises(KeyError, match="card_badcvv_1h"):
        engine.decide_batch(pd.DataFrame([BASE]).drop(columns="card_badcvv_1h"), [0.1])
    with pytest.raises(KeyError, match="card_cnt_24h"):
        engine.decide({k: v for k, v in BASE.items() if k != "card_cnt_24h"}, proba=0.1)


def test_evaluate_decisions_known_answer():
    decisions = ["approve", "review", "decline", "decline", "approve", "review"]
    labels = [0, 1, 1, 0, 1, 0]
    amounts = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    r = evaluate_decisions(decisions, labels, amounts)
    assert r["approval_rate"] == pytest.approx(2 / 6) and r["review_rate"] == pytest.approx(2 / 6)
    assert r["decline_rate"] == pytest.approx(2 / 6)
    assert r["frauds"] == 3 and r["fraud_caught_count"] == 2 and r["fraud_declined_count"] == 1
    assert r["fraud_caught_amount"] == 50.0 and r["fraud_amount"] == 100.0
    assert r["fraud_amount_recall"] == pytest.approx(0.5) and r["fraud_recall"] == pytest.approx(2 / 3)
    assert r["false_declines"] == 1 and r["false_decline_amount"] == 40.0
    assert r["false_decline_rate"] == pytest.approx(1 / 3) and r["legit_reviews"] == 1
    frame = pd.DataFrame({"decision": decisions})
    assert evaluate_decisions(frame, labels, amounts) == r
    with pytest.raises(ValueError, match="block"):
        evaluate_decisions(["block"], [0], [1.0])
    assert "cost" not in r and evaluate_decisions(decisions, labels, amounts, review_cost=5.0)["cost"] == 4 * 5 + 50


def test_one_review_cost_with_refunds():
    """The cost curve, the business view and the decisions' evaluation compute one cost: a fraudulent refund
    (negative amount) counts 0, whether it is caught or missed; declines count as reviews."""
    rng = np.random.default_rng(3)
    n = 500
    y = (rng.random(n) < 0.1).astype(int)
    proba = np.round(np.clip(0.4 * y + rng.random(n) * 0.7, 0, 1), 2)  # ties included
    amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
    amount[rng.random(n) < 0.2] *= -1  # refunds, frauds among them
    assert ((amount < 0) & (y == 1) & (proba >= 0.6)).any() and ((amount < 0) & (y == 1) & (proba < 0.6)).any()
    review_cost, threshold = 7.5, 0.6
    curve = evaluation.cost_curve(y, proba, amount, review_cost).set_index("threshold")
    view = training.business_view(y, proba, amount, review_cost, threshold)
    for decisions in (np.where(proba >= threshold, "review", "approve"),
                      np.where(proba >= 0.9, "decline", np.where(proba >= threshold, "review", "approve"))):
        ev = evaluate_decisions(decisions, y, amount, review_cost=review_cost)
        assert ev["cost"] == pytest.approx(view["cost"]) == pytest.approx(curve.loc[threshold, "cost"])
        assert ev["fraud_caught_amount"] == pytest.approx(view["fraud_amount_caught"])
        assert ev["fraud_amount"] == pytest.approx(view["fraud_amount"])
    assert view["fraud_amount_caught"] == pytest.approx(curve.loc[threshold, "fraud_amount_caught"])
    assert view["fraud_amount"] == pytest.approx(np.clip(amount, 0, None)[y == 1].sum())
    assert view["cost"] == pytest.approx(review_cost * (proba >= threshold).sum()
                                         + np.clip(amount, 0, None)[(y == 1) & (proba < threshold)].sum())

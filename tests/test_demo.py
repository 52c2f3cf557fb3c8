"""What the demo pages compute: the payment form's validation, the applicant's points (they sum to the score), the
headline and the stage status read from artefacts, and numbers formatted for people."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from paylab.credit.scorecard import fit_scorecard, scorecard_score
from paylab.demo import artefacts
from paylab.demo.applicant import applicant, decide, points_breakdown
from paylab.demo.payment import PaymentFacts
from paylab.story import answer, money, number


def test_numbers_for_people():
    assert number(952885) == "952,885" and number(952885.0) == "952,885" and number(15298.4) == "15,298"
    assert number(0.6312) == "0.631" and number(float("nan")) == "n/a" and money(15298.2) == "$15,298"
    assert number(537.78) == "538"


def test_payment_validation_names_each_problem(tiny_interim):
    facts = PaymentFacts.from_interim(tiny_interim)
    card, merchant = next(iter(facts.cards)), next(iter(facts.merchants))
    ok_day = facts.last.to_pydatetime()
    assert facts.validate(card, merchant, 20.0, ok_day) == []
    problems = facts.validate(999_999_999, -1, -50_000.0, datetime(1990, 1, 1))
    assert problems[0].startswith("Unknown card 999999999: choose one of the")
    assert problems[1].startswith("Unknown merchant -1")
    assert problems[2].startswith("Amount $-50,000.00 is outside the range")
    assert problems[3].startswith("Date 1990-01-01 00:00 is outside the data")
    txn = facts.transaction(card, merchant, 20.0, ok_day, "chip", None)
    assert txn["client_id"] == facts.cards[card] and txn["mcc"] == facts.merchants[merchant]


@pytest.fixture(scope="module")
def scorecard():
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame({"credit_score": rng.integers(400, 850, n), "yearly_income": rng.lognormal(10.5, 0.4, n),
                      "total_debt": rng.lognormal(10, 0.6, n), "amount": rng.lognormal(8.5, 0.5, n),
                      "purpose": rng.choice(["car", "home", "education"], n)})
    X["amount_to_income"] = X["amount"] / X["yearly_income"]
    X["debt_to_income"] = X["total_debt"] / X["yearly_income"]
    logit = -2 - 0.01 * (X["credit_score"] - 600) + 1.5 * X["debt_to_income"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {"min_iv": 0.0, "max_corr": 0.99, "max_n_bins": 5, "monotonic_trend": "auto_asc_desc",
              "scaling": {"pdo": 20, "odds": 50, "base_score": 600}}
    return fit_scorecard(X, y, params), X


def test_applicant_points_sum_to_the_score_and_the_limit_follows_the_rules(scorecard):
    sc, X = scorecard
    row = applicant(X.iloc[0], amount=4000.0, yearly_income=50_000.0)
    assert row["amount_to_income"].iloc[0] == pytest.approx(0.08)
    points = points_breakdown(sc, row)
    assert list(points["feature"]) == sc.features_
    assert points["points"].sum() == pytest.approx(scorecard_score(sc, row)[0])

    class Scorer:
        model, cutoff = sc, -1e9  # everyone approved

    out = decide(Scorer(), row, {"lgd": 0.6, "target_loss_rate": 0.03, "income_cap": 0.05})
    assert out["approve"] and out["limit"] <= 0.05 * 50_000 and out["limit"] % 100 == 0
    Scorer.cutoff = 1e9
    assert decide(Scorer(), row, {})["limit"] == 0.0


def test_headline_and_status_from_artefacts(tmp_path):
    (tmp_path / "reports" / "metrics").mkdir(parents=True)
    (tmp_path / "reports" / "metrics" / "fraud.json").write_text(json.dumps({
        "model": {"average_precision": 0.63, "average_precision_ci_low": 0.5, "average_precision_ci_high": 0.7},
        "baseline": {"average_precision": 0.4}, "latent_ceiling": {"average_precision": 0.97}}))
    (tmp_path / "dvc.yaml").write_text("stages:\n  fraud: {cmd: x}\n  quant: {cmd: y}\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  fraud: {cmd: x}\n")
    head = artefacts.headline(tmp_path)
    assert head.loc["fraud", "model"] == "0.630 [0.500, 0.700]" and head.loc["fraud", "ceiling"] == "0.970"
    assert head.loc["quant", "status"] == "run `make repro` first"
    status = artefacts.stage_status(tmp_path)
    assert status.loc["fraud", "ran"] == "yes" and bool(status.loc["fraud", "in dvc.lock"])
    assert status.loc["quant", "ran"] == "no"


def test_answers_are_generated_from_the_numbers():
    data = {"model": {"average_precision": 0.63, "average_precision_ci_low": 0.55, "average_precision_ci_high": 0.7},
            "baseline": {"average_precision": 0.4, "average_precision_ci_low": 0.3, "average_precision_ci_high": 0.5},
            "differences": {"model_minus_baseline": {"average_precision": {
                "difference": 0.23, "ci_low": 0.1, "ci_high": 0.3, "verdict": "better"}}},
            "decision": {"review_rate": 0.01, "decline_rate": 0.001, "fraud_recall": 0.65,
                         "fraud_caught_amount": 15298.2, "fraud_amount": 20000.0}}
    text = answer("fraud", data)
    assert "average precision 0.630 [0.550, 0.700] against 0.400 [0.300, 0.500]" in text and "better" in text
    assert "catches 65.0% of frauds ($15,298 of $20,000)" in text
    data["model"]["average_precision"] = 0.61
    assert "0.610 [0.550, 0.700]" in answer("fraud", data)
    assert "lacks" in answer("monitoring", {"model": {}})

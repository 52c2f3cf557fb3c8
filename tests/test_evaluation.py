"""Shared metrics: hand-computed answers, cross-checks against independent computations, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import ndcg_score

from paylab import evaluation as ev

Y = np.array([0, 0, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8])


def test_binary_known_answers():
    assert ev.roc_auc(Y, S) == pytest.approx(0.75)
    assert ev.average_precision(Y, S) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert ev.ks(Y, S) == pytest.approx(0.5)
    assert ev.gini(Y, S) == pytest.approx(0.5)
    assert ev.recall_at_fpr(Y, S, 0.0) == pytest.approx(0.5)
    assert ev.recall_at_fpr(Y, S, 0.49) == pytest.approx(0.5)
    assert ev.recall_at_fpr(Y, S, 0.5) == pytest.approx(1.0)
    assert ev.lift_at(Y, S, 0.25) == pytest.approx(2.0)  # top 1 = a fraud; base rate 0.5
    assert ev.lift_at(Y, S, 0.5) == pytest.approx(1.0)


def test_auc_and_ks_match_independent_definitions():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.2
    s = rng.normal(size=300) + y
    pos, neg = s[y], s[~y]
    pairwise = (pos[:, None] > neg[None, :]).mean()
    assert ev.roc_auc(y, s) == pytest.approx(pairwise)
    assert ev.ks(y, s) == pytest.approx(stats.ks_2samp(pos, neg).statistic)
    # recall at FPR x: share of positives above the (1-x) quantile of negatives
    thr = np.sort(neg)[::-1][int(0.05 * neg.size) - 1]
    assert ev.recall_at_fpr(y, s, 0.05) == pytest.approx((pos >= thr).mean())


@pytest.mark.parametrize("y", [np.zeros(5, int), np.ones(5, int), np.zeros(0, int)])
def test_single_class_is_nan_not_error(y):
    s = np.linspace(0, 1, y.size)
    for fn in (ev.roc_auc, ev.average_precision, ev.ks, ev.gini):
        assert math.isnan(fn(y, s))
    assert math.isnan(ev.recall_at_fpr(y, s, 0.01))
    assert math.isnan(ev.lift_at(y, s, 0.1))
    report = ev.classification_report(y, s)
    assert math.isnan(report["roc_auc"]) and math.isnan(report["recall_at_fpr_1pct"])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="0/1"):
        ev.roc_auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        ev.roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="shapes"):
        ev.roc_auc([0, 1], [0.1])


def test_calibration_table_and_brier():
    y, p = [0, 0, 1, 1], [0.1, 0.2, 0.7, 1.0]
    table = ev.calibration_table(y, p, n_bins=2, strategy="uniform")
    assert table["n"].tolist() == [2, 2]  # p = 1.0 lands in the last bin
    assert table["mean_prob"].tolist() == pytest.approx([0.15, 0.85])
    assert table["observed_rate"].tolist() == [0.0, 1.0]
    assert table[["lower", "upper"]].to_numpy().tolist() == [[0.0, 0.5], [0.5, 1.0]]
    assert ev.brier(y, p) == pytest.approx((0.01 + 0.04 + 0.09 + 0.0) / 4)
    q = ev.calibration_table(np.r_[np.zeros(50), np.ones(50)], np.linspace(0, 1, 100), n_bins=4)
    assert q["n"].sum() == 100 and q["n"].tolist() == [25, 25, 25, 25]


def _cp_frame():
    # day 1: A (max .9, fraud via its .1 txn), B (.8 legit), C (.7 fraud)
    # day 2: A (.95 legit), C (.6 fraud), D (.5 fraud)
    return pd.DataFrame({
        "day": [1, 1, 1, 1, 2, 2, 2],
        "card": ["A", "A", "B", "C", "A", "C", "D"],
        "score": [0.9, 0.1, 0.8, 0.7, 0.95, 0.6, 0.5],
        "y": [0, 1, 0, 1, 0, 1, 1],
    })


def test_card_precision_known_answers():
    f = _cp_frame()
    args = (f["score"], f["y"], f["card"], f["day"])
    # day 1 top-2 = A (fraud), B -> 1/2; day 2 top-2 = A (legit), C -> 1/2
    assert ev.card_precision_at_k(*args, k=2, remove_detected=False) == pytest.approx(0.5)
    # Handbook default: A was detected on day 1, so day 2 ranks C, D -> 2/2
    assert ev.card_precision_at_k(*args, k=2) == pytest.approx(0.75)
    # k above the number of cards still divides by k
    assert ev.card_precision_at_k(*args, k=4, remove_detected=False) == pytest.approx((2 / 4 + 2 / 4) / 2)


def test_classification_report_keys_and_values():
    f = _cp_frame()
    r = ev.classification_report(f["y"], f["score"], card_id=f["card"], day=f["day"], k=2)
    assert r["card_precision_at_2"] == pytest.approx(0.75)
    assert r["roc_auc"] == pytest.approx(ev.roc_auc(f["y"], f["score"]))
    assert {"average_precision", "ks", "gini", "recall_at_fpr_1pct", "recall_at_fpr_0_1pct", "lift_at_1pct",
            "brier", "n", "positive_rate"} <= set(r)
    assert all(k == k.lower() and " " not in k for k in r)
    assert "brier" not in ev.classification_report([0, 1], [-3.0, 2.0])  # a score, not a probability
    with pytest.raises(ValueError, match="both"):
        ev.classification_report(f["y"], f["score"], card_id=f["card"])


def test_cost_curve_known_answer():
    y, s, amt = [1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], [100.0, 50.0, 200.0, 10.0]
    curve = ev.cost_curve(y, s, amt, review_cost=20)
    assert curve["threshold"].tolist() == [np.inf, 0.9, 0.8, 0.3, 0.1]
    assert curve["reviews"].tolist() == [0, 1, 2, 3, 4]
    assert curve["fraud_amount_caught"].tolist() == [0, 100, 100, 300, 300]
    assert curve["cost"].tolist() == [300, 220, 240, 60, 80]
    best = ev.optimal_threshold(y, s, amt, review_cost=20)
    assert best["threshold"] == 0.3 and best["cost"] == 60 and best["recall"] == 1.0
    # reviews too expensive: review nothing
    assert ev.optimal_threshold(y, s, amt, review_cost=500)["reviews"] == 0
    # half of a missed fraud is lost
    assert ev.cost_curve(y, s, amt, review_cost=20, fraud_loss_share=0.5)["cost"].iloc[0] == 150


def test_cost_curve_ties_share_a_threshold():
    curve = ev.cost_curve([1, 0, 0], [0.5, 0.5, 0.2], [10.0, 5.0, 5.0], review_cost=1)
    assert curve["reviews"].tolist() == [0, 2, 3]
    assert curve["frauds_caught"].tolist() == [0, 1, 1]


RECS = pd.DataFrame({"user": [1, 1, 1, 2, 2], "item": ["a", "b", "c", "x", "y"],
                     "score": [0.9, 0.8, 0.7, 0.9, 0.8]})
TRUTH = pd.DataFrame({"user": [1, 1, 2, 3], "item": ["a", "c", "y", "z"]})  # user 3 gets no recommendation


def test_ranking_known_answers():
    assert ev.precision_at_k(RECS, TRUTH, k=2) == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert ev.recall_at_k(RECS, TRUTH, k=2) == pytest.approx((1 / 2 + 1 + 0) / 3)
    u1 = 1 / (1 + 1 / np.log2(3))
    u2 = (1 / np.log2(3)) / 1
    assert ev.ndcg_at_k(RECS, TRUTH, k=2) == pytest.approx((u1 + u2 + 0) / 3)
    assert ev.map_at_k(RECS, TRUTH, k=2) == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    # k = 3 for user 1: hits at ranks 1 and 3 -> AP = (1 + 2/3) / 2
    one = TRUTH[TRUTH.user == 1]
    assert ev.map_at_k(RECS, one, k=3) == pytest.approx((1 + 2 / 3) / 2)
    assert ev.ndcg_at_k(RECS, one, k=3) == pytest.approx(ndcg_score([[1, 0, 1]], [[0.9, 0.8, 0.7]], k=3))


def test_ranking_uses_scores_not_row_order_and_custom_columns():
    shuffled = RECS.sample(frac=1, random_state=3).rename(columns={"user": "u", "item": "i", "score": "s"})
    truth = TRUTH.rename(columns={"user": "u", "item": "i"})
    assert ev.ndcg_at_k(shuffled, truth, k=2, user="u", item="i", score="s") == pytest.approx(
        ev.ndcg_at_k(RECS, TRUTH, k=2))


def test_ic_known_answers():
    date = ["d1"] * 3 + ["d2"] * 3 + ["d3"] * 3
    pred = [1, 2, 3, 1, 2, 3, 1, 2, 3]
    target = [1, 2, 3, 3, 2, 1, 1, 4, 9]
    series = ev.ic_series(date, pred, target)
    assert series.loc["d1"] == pytest.approx(1) and series.loc["d2"] == pytest.approx(-1)
    assert series.loc["d3"] == pytest.approx(stats.pearsonr([1, 2, 3], [1, 4, 9]).statistic)
    assert ev.rank_ic(date, pred, target) == pytest.approx((1 - 1 + 1) / 3)
    assert ev.ic(date, pred, target) == pytest.approx(series.mean())
    rank = np.array([1.0, -1.0, 1.0])
    assert ev.icir(date, pred, target) == pytest.approx(rank.mean() / rank.std(ddof=1))


def test_ic_matches_scipy_per_date_and_skips_degenerate_dates():
    rng = np.random.default_rng(1)
    date = np.repeat(np.arange(5), 20)
    x, y = rng.normal(size=100), rng.normal(size=100)
    s = ev.ic_series(date, x, y, "spearman")
    for d in range(5):
        assert s.loc[d] == pytest.approx(stats.spearmanr(x[date == d], y[date == d]).statistic)
    flat = ev.ic_series([1, 1, 2, 2], [1.0, 1.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0])
    assert math.isnan(flat.loc[1]) and flat.loc[2] == pytest.approx(1.0)
    assert math.isnan(ev.icir([1, 1], [1.0, 2.0], [1.0, 2.0]))  # one date: no dispersion


def test_card_precision_by_day_and_normalised():
    f = _cp_frame()
    args = (f["score"], f["y"], f["card"], f["day"])
    by_day = ev.card_precision_by_day(*args, k=2)
    assert by_day["fraud_cards"].tolist() == [2, 2]  # day 2: A was detected on day 1, C and D remain
    assert by_day["hits"].tolist() == [1, 2] and by_day["max_precision"].tolist() == [1.0, 1.0]
    assert ev.card_precision_normalised(*args, k=2) == pytest.approx(0.75)
    # k above the number of fraudulent cards: raw CP@k is capped at 2/4, the normalised figure is not
    assert ev.card_precision_at_k(*args, k=4, remove_detected=False) == pytest.approx(0.5)
    assert ev.card_precision_normalised(*args, k=4, remove_detected=False) == pytest.approx(1.0)
    r = ev.classification_report(f["y"], f["score"], card_id=f["card"], day=f["day"], k=2)
    assert r["card_precision_at_2_normalised"] == pytest.approx(0.75)


def test_card_precision_normalised_skips_days_without_fraud():
    by_day = ev.card_precision_by_day([0.9, 0.1, 0.5], [0, 0, 1], ["A", "B", "A"], [1, 1, 2], k=1)
    assert math.isnan(by_day["normalised"].iloc[0]) and by_day["normalised"].iloc[1] == 1.0
    assert ev.card_precision_normalised([0.9, 0.1, 0.5], [0, 0, 1], ["A", "B", "A"], [1, 1, 2], k=1) == 1.0


def test_daily_capacity():
    assert ev.daily_capacity(["a", "b", "a", "c", "d"], [1, 1, 1, 2, 2], share=0.5) == 1  # 2 cards a day
    assert ev.daily_capacity(np.arange(4000), np.repeat([1, 2], 2000), share=0.01) == 20


def _noisy(n=3000, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(int)
    score = y + rng.normal(0, noise, n)
    return y, np.round(score, 1)  # rounding makes ties


def test_weighted_fast_metrics_match_sklearn_with_ties_and_repeats():
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, s = _noisy()
    ranked = ev._RankedScore(y, s)
    got = ranked.metrics(["roc_auc", "average_precision", "recall_at_fpr_1pct", "recall_at_fpr_5pct"])
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert got["average_precision"] == pytest.approx(average_precision_score(y, s))
    assert got["recall_at_fpr_1pct"] == pytest.approx(ev.recall_at_fpr(y, s, 0.01))
    assert got["recall_at_fpr_5pct"] == pytest.approx(ev.recall_at_fpr(y, s, 0.05))
    w = np.random.default_rng(1).integers(0, 3, y.size)  # a bootstrap weighting = rows repeated w times
    weighted = ranked.metrics(["roc_auc", "average_precision", "recall_at_fpr_1pct"], w.astype(float))
    yr, sr = np.repeat(y, w), np.repeat(s, w)
    assert weighted["roc_auc"] == pytest.approx(roc_auc_score(yr, sr))
    assert weighted["average_precision"] == pytest.approx(average_precision_score(yr, sr))
    assert weighted["recall_at_fpr_1pct"] == pytest.approx(ev.recall_at_fpr(yr, sr, 0.01))


def test_block_replicates_weight_whole_blocks():
    blocks = np.repeat(np.arange(10), 5)
    for w in ev.block_replicates(blocks, n_boot=20, seed=3):
        assert w.sum() == blocks.size  # as many blocks drawn as there are
        assert (w.reshape(10, 5) == w.reshape(10, 5)[:, :1]).all()  # rows of one block share their weight
    first = list(ev.block_replicates(blocks, 5, seed=3))
    assert all((a == b).all() for a, b in zip(first, ev.block_replicates(blocks, 5, seed=3), strict=True))


def test_bootstrap_intervals_and_paired_verdicts():
    y, good = _noisy(noise=0.5)
    _, bad = _noisy(noise=2.0, seed=5)
    days = np.repeat(np.arange(100), 30)
    points, reps = ev.bootstrap_scores(y, {"good": good, "bad": bad, "same": good}, days,
                                       metrics=("average_precision", "roc_auc"), n_boot=200, seed=0)
    ci = ev.intervals(points["good"], reps["good"])
    assert ci["average_precision_ci_low"] < ci["average_precision"] < ci["average_precision_ci_high"]
    assert ci["average_precision"] == pytest.approx(ev.average_precision(y, good))
    better = ev.paired_difference(points["good"]["average_precision"], points["bad"]["average_precision"],
                                  reps["good"]["average_precision"], reps["bad"]["average_precision"])
    assert better["verdict"] == "better" and better["ci_low"] > 0
    same = ev.paired_difference(points["good"]["roc_auc"], points["same"]["roc_auc"], reps["good"]["roc_auc"],
                                reps["same"]["roc_auc"])
    assert same == {"difference": 0.0, "ci_low": 0.0, "ci_high": 0.0, "verdict": "no measurable difference"}


def test_block_bootstrap_is_wider_than_row_bootstrap_on_clustered_errors():
    # frauds arrive in day bursts: resampling rows treats a burst as independent evidence, days do not
    rng = np.random.default_rng(0)
    days = np.repeat(np.arange(60), 200)
    burst = rng.random(60) < 0.2
    y = ((rng.random(days.size) < 0.002) | (burst[days] & (rng.random(days.size) < 0.05))).astype(int)
    score = rng.normal(0, 1, days.size) + y * np.where(burst[days], 0.3, 3.0)
    width = {}
    for name, blocks in (("day", days), ("row", np.arange(days.size))):
        points, reps = ev.bootstrap_scores(y, {"m": score}, blocks, metrics=("average_precision",), n_boot=300)
        ci = ev.intervals(points["m"], reps["m"])
        width[name] = ci["average_precision_ci_high"] - ci["average_precision_ci_low"]
    assert width["day"] > 1.2 * width["row"]


def test_bootstrap_mean():
    assert ev.bootstrap_mean([0.5] * 10, n_boot=50) == {"mean": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    r = ev.bootstrap_mean([0.0, 1.0, np.nan, 0.0, 1.0], n_boot=200, seed=1)
    assert r["mean"] == 0.5 and 0.0 <= r["ci_low"] < 0.5 < r["ci_high"] <= 1.0


def test_bootstrap_lift_capture_and_brier_match_the_plain_metrics():
    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.1).astype(int)
    p = np.clip(0.1 + 0.3 * y + rng.normal(0, 0.1, 400), 0, 1)
    names = ("lift_at_10pct", "capture_at_10pct", "brier")
    points, reps = ev.bootstrap_scores(y, {"m": p}, np.arange(400) // 4, metrics=names, n_boot=50, seed=1)
    k = 40
    top = np.argsort(-p, kind="stable")[:k]
    assert points["m"]["lift_at_10pct"] == pytest.approx(ev.lift_at(y, p, 0.1))
    assert points["m"]["capture_at_10pct"] == pytest.approx(y[top].sum() / y.sum())
    assert points["m"]["brier"] == pytest.approx(ev.brier(y, p))
    out = ev.intervals(points["m"], reps["m"])
    assert out["lift_at_10pct_ci_low"] <= out["lift_at_10pct"] <= out["lift_at_10pct_ci_high"]
    assert np.isfinite(reps["m"]["brier"]).all() and reps["m"]["brier"].std() > 0

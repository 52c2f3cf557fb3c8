"""Credit: the scorecard core on a hand-made table, the monotone GBM, point-in-time behaviour, decisions, PSI, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from paylab import evaluation
from paylab.cli import main
from paylab.credit import decisions, evaluate
from paylab.credit.behaviour import BEHAVIOUR, behaviour_features
from paylab.credit.challenger import MonotoneGBM
from paylab.credit.data import load_applications
from paylab.credit.fit import fit_pair
from paylab.credit.scorecard import points_table, scorecard_score, trends

PARAMS = {"min_iv": 0.05, "max_corr": 0.7, "max_n_bins": 6, "scaling": {"pdo": 20, "odds": 50, "base_score": 600},
          "gbm": {"n_estimators": 60}}


def hand_table(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Risk rises with `debt`, falls with `income`, depends on `region`; `noise` is pure noise with missing values."""
    rng = np.random.default_rng(seed)
    debt, income = rng.gamma(2.0, 1.0, n), rng.normal(50, 15, n)
    region = rng.choice(["north", "south", "east"], n)
    noise = rng.normal(size=n)
    noise[rng.random(n) < 0.1] = np.nan
    income[rng.random(n) < 0.05] = np.nan
    logit = -1.8 + 0.7 * debt - 0.04 * (np.nan_to_num(income, nan=50) - 50) + np.where(region == "south", 0.9, 0)
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"debt": debt, "income": income, "region": region, "noise": noise,
                         "status": np.where(bad, "bad", "good")})


@pytest.fixture(scope="module")
def fitted():
    frame = hand_table()
    X, y = frame.drop(columns="status"), (frame["status"] == "bad").astype(int).to_numpy()
    sc, gbm = fit_pair(X, y, PARAMS, seed=3)
    return X, y, sc, gbm


def test_bins_are_monotone_with_the_risk(fitted):
    X, y, sc, _ = fitted
    t = trends(sc)
    assert t["debt"] == 1 and t["income"] == -1 and t["region"] == 0
    assert "noise" not in sc.features_ and sc.selection_.loc["noise", "reason"].startswith("iv <")


def test_points_add_up_to_the_score_and_higher_is_safer(fitted):
    X, y, sc, _ = fitted
    points = points_table(sc)
    score = scorecard_score(sc, X)
    binned = sc.binning_process_.transform(X[sc.features_], metric="bins")
    total = np.zeros(len(X))
    for feature in sc.features_:
        table = points[points["variable"] == feature].set_index("bin")["points"]
        total += binned[feature].astype(str).map(table).to_numpy(dtype=float)
    np.testing.assert_allclose(total, score, atol=1e-6)
    assert evaluation.roc_auc(y, -score) > 0.75  # risk = minus the score
    assert score[y == 0].mean() > score[y == 1].mean()
    assert {"variable", "bin", "woe", "iv", "points"} <= set(points.columns)


def test_gbm_respects_the_scorecard_trends(fitted):
    X, y, sc, gbm = fitted
    assert isinstance(gbm, MonotoneGBM)
    grid = pd.concat([X.iloc[[0]]] * 50, ignore_index=True)
    grid["debt"] = np.linspace(0, 10, 50)
    assert (np.diff(gbm.predict_pd(grid)) >= -1e-12).all()  # risk never falls as debt rises
    grid = pd.concat([X.iloc[[0]]] * 50, ignore_index=True)
    grid["income"] = np.linspace(0, 100, 50)
    assert (np.diff(gbm.predict_pd(grid)) <= 1e-12).all()
    assert evaluation.roc_auc(y, -gbm.score(X)) > 0.75


def test_bootstrap_gini_and_ks_match_the_point_metrics(fitted):
    X, y, sc, gbm = fitted
    res = evaluate.compare(y, {"sc": scorecard_score(sc, X), "gbm": gbm.score(X)}, np.arange(len(y)), n_boot=50,
                           seed=1, pairs={"d": ("gbm", "sc")})
    m = res["models"]["sc"]
    risk = -scorecard_score(sc, X)
    assert m["gini"] == pytest.approx(evaluation.gini(y, risk), abs=1e-9)
    assert m["ks"] == pytest.approx(evaluation.ks(y, risk), abs=1e-9)
    assert m["ks_ci_low"] < m["ks"] < m["ks_ci_high"]
    assert res["differences"]["d"]["roc_auc"]["verdict"] in ("better", "worse", "no measurable difference")


def test_psi_bands():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    assert evaluation.psi(ref, rng.normal(size=5000)) < 0.1
    assert evaluation.psi_band(evaluation.psi(ref, rng.normal(0.4, 1, 5000))) == "moderate shift"
    assert evaluation.psi_band(evaluation.psi(ref, rng.normal(1.0, 1, 5000))) == "significant shift"
    assert evaluation.psi_band(0.0999) == "stable" and evaluation.psi_band(0.25) == "significant shift"
    with pytest.raises(ValueError, match="psi needs values"):
        evaluation.psi(ref, [np.nan])


def test_cutoff_table_and_target_bad_rate(fitted):
    X, y, sc, _ = fitted
    score = scorecard_score(sc, X)
    table = decisions.cutoff_table(score, y, 10)
    assert table["applicants"].sum() == len(y) and table["approval_rate"].iloc[-1] == pytest.approx(1.0)
    assert table["score_min"].is_monotonic_decreasing and table["bad_rate"].iloc[0] < table["bad_rate"].iloc[-1]
    cut = decisions.choose_cutoff(score, y, 0.15)
    approved = score >= cut["cutoff"]
    assert y[approved].mean() <= 0.15 and cut["approval_rate"] == pytest.approx(approved.mean())
    looser = decisions.choose_cutoff(score, y, 0.25)
    assert looser["cutoff"] <= cut["cutoff"]


def test_credit_limits_from_expected_loss():
    limits = decisions.credit_limits([0.01, 0.2, 0.2, 0.05], [50000, 50000, 4000, 100000], [10000, 10000, 10000,
                                                                                              90000],
                                     [True, True, True, False], lgd=0.6, target_loss_rate=0.03, income_cap=0.5)
    np.testing.assert_allclose(limits, [10000, 2500, 2000, 0])  # full; cut by EL (0.03 / 0.12); income cap; declined


@pytest.fixture(scope="module")
def tiny_apps(tiny_interim):
    return load_applications(tiny_interim, lookback_days=180)


def test_tiny_applications(tiny_apps):
    assert len(tiny_apps) > 20 and set(tiny_apps["y"].unique()) <= {0, 1}
    assert tiny_apps["loan_id"].is_unique and tiny_apps["application_date"].is_monotonic_increasing
    assert set(BEHAVIOUR) <= set(tiny_apps.columns) and (tiny_apps["bh_n_tx"] > 0).any()


def test_behaviour_sees_only_the_past(tiny_interim, tiny_apps):
    tx = pd.read_parquet(tiny_interim / "transactions.parquet")
    apps = tiny_apps[tiny_apps["bh_n_tx"] > 0].iloc[:5][["loan_id", "client_id", "application_date"]]
    base = behaviour_features(tiny_interim / "transactions.parquet", apps)
    row = tx.iloc[[0] * 6].copy()
    for i, (_, app) in enumerate(apps.iterrows()):  # on and after the date: a huge online refund with errors
        row.iloc[i, row.columns.get_loc("client_id")] = app["client_id"]
        row.iloc[i, row.columns.get_loc("timestamp")] = app["application_date"] + pd.Timedelta(days=i % 2)
    row["amount"], row["is_refund"], row["is_online"], row["merchant_id"] = -5000.0, True, True, -1
    row["err_insufficient_balance"], row["errors"] = True, "Insufficient Balance"
    future = pd.concat([tx, row.iloc[:5]], ignore_index=True)
    pd.testing.assert_frame_equal(behaviour_features(pl_frame(future), apps), base)
    past = row.iloc[:5].copy()
    past["timestamp"] = apps["application_date"].to_numpy() - pd.Timedelta(hours=1)
    moved = behaviour_features(pl_frame(pd.concat([tx, past], ignore_index=True)), apps)
    assert (moved["bh_n_tx"] == base["bh_n_tx"] + 1).all() and (moved["bh_recency_days"] < 0.05).all()


def pl_frame(frame: pd.DataFrame):
    import polars as pl

    return pl.from_pandas(frame).lazy()


def run_cli(capsys, *args):
    """`paylab credit fit ARGS` in process: (exit code, stdout, stderr)."""
    code = main(["credit", "fit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_fits_a_hand_made_csv(tmp_path, capsys):
    path = tmp_path / "loans.csv"
    hand_table().to_csv(path, index=False)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "--data", str(path), "--target", "status", "--bad-value", "bad", "--out",
                                   str(out), "--seed", "1")
    assert code == 0, stderr
    assert "scorecard" in stdout and "gbm" in stdout and "AUC" in stdout and "KS" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_rows"] == 1000 and metrics["models"]["scorecard"]["roc_auc"] > 0.7
    assert metrics["score_direction"] == "higher score = lower risk"
    assert {"points", "bin"} <= set(pd.read_csv(out / "points.csv").columns)
    assert pd.read_csv(out / "cutoffs.csv")["applicants"].sum() == metrics["n_holdout"]


@pytest.mark.parametrize("case, message", [
    ("missing_target", "no target column 'nope'"),
    ("three_values", "exactly two values, found 3: ['east', 'north', 'south']"),
    ("empty", "the file is empty"),
    ("bad_value", "--bad-value 'zzz' does not occur in column 'status'"),
])
def test_cli_errors_without_traceback(tmp_path, capsys, case, message):
    path = tmp_path / "t.csv"
    if case == "empty":
        path.write_text("")
    else:
        hand_table(200).to_csv(path, index=False)
    target = {"missing_target": "nope", "three_values": "region"}.get(case, "status")
    extra = ["--bad-value", "zzz"] if case == "bad_value" else []
    code, _, stderr = run_cli(capsys, "--data", str(path), "--target", target, *extra, "--out", str(tmp_path / "o"))
    assert code == 2 and message in stderr and "Traceback" not in stderr, stderr

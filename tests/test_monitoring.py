"""Monitoring: the calendar (reference = the fraud training window), PSI with both binnings (Evidently's snapshot
read back, the shared decile PSI), per-month ranking quality with intervals, the sentences, and `paylab drift`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from paylab import cli, evaluation
from paylab.data.splits import time_split
from paylab.monitoring import drift, performance, summary
from paylab.monitoring.windows import monitoring_periods


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    n = 3000
    ref = pd.DataFrame({"amount": rng.lognormal(3, 1, n), "hour": rng.integers(0, 24, n),
                        "channel": rng.choice(["chip", "swipe", "online"], n, p=[0.5, 0.3, 0.2]),
                        "stable": rng.normal(size=n)})
    shifted = pd.DataFrame({"amount": rng.lognormal(3.8, 1, n), "hour": rng.integers(0, 24, n),
                            "channel": rng.choice(["chip", "swipe", "online"], n, p=[0.2, 0.2, 0.6]),
                            "stable": rng.normal(size=n)})
    return ref, shifted


@pytest.fixture(scope="module")
def result(frames, tmp_path_factory):
    ref, shifted = frames
    out = tmp_path_factory.mktemp("drift")
    return drift.compare(ref, {"2019-01": ref.sample(frac=1.0, random_state=1), "2019-02": shifted},
                         ["amount", "hour", "channel", "stable"], out_dir=out, sample_rows=2000, seed=3)


def test_planted_shift_is_significant_and_a_resample_is_stable(result):
    dec, evid = result.deciles, result.evidently
    assert dec.loc["amount", "2019-02"] >= 0.25
    # a skewed column: most rows share the first equal-width bin, so Evidently's PSI is far below the deciles'
    assert 0.05 < evid.loc["amount", "2019-02"] < dec.loc["amount", "2019-02"] / 2
    assert evid.loc["channel", "2019-02"] >= 0.25  # categorical: Evidently only (no deciles of strings)
    assert "channel" not in dec.index
    assert (dec["2019-01"] < 1e-9).all()  # the reference itself, reordered: PSI 0 on every decile
    assert dec.loc["stable", "2019-02"] < 0.1 and evid.loc["stable", "2019-02"] < 0.1


def test_decile_psi_is_the_shared_function(frames):
    ref, shifted = frames
    assert drift.decile_psi(ref, shifted, ["amount"])["amount"] == evaluation.psi(ref["amount"], shifted["amount"])


def test_one_html_report_per_period_and_sample_sizes(result):
    assert set(result.reports) == {"2019-01", "2019-02"}
    assert all(p.exists() and p.stat().st_size > 10_000 for p in result.reports.values())
    assert result.sample_rows == {"reference": 2000, "2019-01": 2000, "2019-02": 2000}


def test_snapshot_values_are_read_by_column():
    snap = {"metrics": [
        {"metric_id": "DriftedColumnsCount(drift_share=0.5)", "value": {"count": 1.0, "share": 0.5}, "config": {}},
        {"metric_id": "ValueDrift(column=amount,method=PSI,threshold=0.1)", "value": 0.31,
         "config": {"type": "evidently:metric_v2:ValueDrift", "column": "amount"}},
        {"metric_id": "ValueDrift(column=hour,method=PSI,threshold=0.1)", "value": 0.02, "config": {}}]}
    assert drift.snapshot_psi(snap) == {"amount": 0.31, "hour": 0.02}


def test_missing_column_names_table_and_column(frames):
    ref, _ = frames
    with pytest.raises(ValueError, match=r"period 2019-03: column 'amount' missing"):
        drift.compare(ref, {"2019-03": ref.drop(columns="amount")}, ["amount"], sample_rows=100)


def test_periods_start_where_the_fraud_training_window_ends(tmp_path):
    ts = pd.date_range("2018-01-01", "2019-06-30 23:00", freq="6h")
    path = tmp_path / "f.parquet"
    pd.DataFrame({"timestamp": ts}).to_parquet(path)
    split = {"train_days": 120, "valid_days": 30, "test_days": 30}
    periods = monitoring_periods(path, split, delay_days=7)
    expected = time_split(ts, 120, 7, 30, 30).windows
    assert periods.reference == expected["train"] and periods.test == expected["test"]
    starts = [w[0] for w in periods.months.values()]
    assert starts[0] == expected["train"][1] and list(periods.months)[-1] == "2019-06"
    assert all(a[1] == b[0] for a, b in zip(periods.months.values(), list(periods.months.values())[1:], strict=False))
    assert periods.labels_known_until == pd.Timestamp("2019-07-01") - pd.Timedelta(days=7)
    labels = periods.label(pd.DatetimeIndex([pd.Timestamp("2017-12-31"), expected["train"][0],
                                             pd.Timestamp("2019-06-15")]))
    assert list(labels) == ["", "reference", "2019-06"]
    with pytest.raises(ValueError, match="before the data"):
        monitoring_periods(path, {"train_days": 900, "valid_days": 30, "test_days": 30}, delay_days=7)


def test_performance_by_period_with_intervals():
    rng = np.random.default_rng(1)
    n = 4000
    y = (rng.random(n) < 0.05).astype(float)
    good = y + rng.normal(0, 0.5, n)
    bad = y + rng.normal(0, 3.0, n)
    frame = pd.DataFrame({"period": np.where(np.arange(n) < n // 2, "2019-01", "2019-02"),
                          "day": np.arange(n) // 40, "y": y, "score": np.r_[good[: n // 2], bad[n // 2:]]})
    frame.loc[::97, "y"] = np.nan  # unlabelled rows are left out
    table = performance.by_period(frame, ["score"], n_boot=200, seed=0).set_index("period")
    first, last = table.loc["2019-01"], table.loc["2019-02"]
    for m in performance.METRICS:
        assert first[f"{m}_ci_low"] <= first[m] <= first[f"{m}_ci_high"]
    assert first["n"] == int(frame[frame["period"] == "2019-01"]["y"].notna().sum())
    assert performance.followed(first, last, "roc_auc") == "fell"
    assert performance.followed(first, first, "roc_auc") == "held"
    few = performance.by_period(frame.assign(y=0.0), ["score"], n_boot=10)
    assert "roc_auc" not in few and list(few["n_positive"]) == [0, 0]  # no fraud: no metric, said by the counts


def _metrics():
    block = {"roc_auc": 0.9, "roc_auc_ci_low": 0.85, "roc_auc_ci_high": 0.95, "average_precision": 0.5,
             "average_precision_ci_low": 0.4, "average_precision_ci_high": 0.6}
    return {"model": {**block, "roc_auc": 0.7, "roc_auc_ci_low": 0.65, "roc_auc_ci_high": 0.75},
            "baseline": block,
            "summary": {"n_months": 9, "first_month": "2019-02", "last_month": "2019-10", "n_cells": 90,
                        "n_significant_cells": 4, "n_moderate_cells": 7, "max_score_psi": 0.31,
                        "top_drifted": {"amount": 0.42, "hour": 0.12},
                        "performance_followed": {"roc_auc": "fell", "average_precision": "held"}}}


def test_sentences_come_from_the_numbers():
    m = _metrics()
    assert "amount (max PSI 0.42, significant shift)" in summary.drift_sentence(m)
    text = summary.performance_sentence(m)
    assert "ROC-AUC fell from 0.900 [0.850, 0.950] in 2019-02 to 0.700" in text and "retrain" in text
    assert summary.answer(m).startswith("Over 9 months after training, amount drifted most (max PSI 0.42)")
    m["summary"]["top_drifted"] = {"hour": 0.05}
    assert "hour (max PSI 0.05, stable)" in summary.drift_sentence(m)


def test_cli_drift_writes_report_and_table(frames, tmp_path, capsys):
    ref, shifted = frames
    ref.to_parquet(tmp_path / "a.parquet")
    shifted.to_parquet(tmp_path / "b.parquet")
    assert cli.main(["drift", "--reference", str(tmp_path / "a.parquet"), "--current", str(tmp_path / "b.parquet"),
                     "--out", str(tmp_path / "out"), "--sample-rows", "1000"]) == 0
    table = pd.read_csv(tmp_path / "out" / "psi.csv", index_col="column")
    assert table.loc["amount", "band"] == "significant shift" and table.loc["stable", "band"] == "stable"
    assert (tmp_path / "out" / "drift_current.html").exists()
    assert "bands apply to psi_reference_deciles" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing", "not_parquet", "no_column"])
def test_cli_drift_bad_input_is_one_line_and_exit_2(frames, tmp_path, capsys, case):
    ref, _ = frames
    ref.to_parquet(tmp_path / "a.parquet")
    other = tmp_path / "b.parquet"
    if case == "not_parquet":
        other.write_text("not a table")
    elif case == "no_column":
        pd.DataFrame({"x": [1.0, 2.0]}).to_parquet(other)
    args = ["drift", "--reference", str(tmp_path / "a.parquet"), "--current", str(other), "--out", str(tmp_path)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("paylab drift: error:") and "b.parquet" in err


def test_psi_of_shares_is_the_formula_psi_uses():
    rng = np.random.default_rng(2)
    ref, cur = rng.normal(size=5000), rng.normal(0.3, size=5000)
    edges = np.quantile(ref, np.linspace(0, 1, 11))[1:-1]
    shares = [np.bincount(np.searchsorted(edges, x, side="right"), minlength=10) / x.size for x in (ref, cur)]
    assert evaluation.psi_shares(*shares) == pytest.approx(evaluation.psi(ref, cur))
    assert evaluation.psi_shares([0.5, 0.5], [0.5, 0.5]) == 0.0
    with pytest.raises(ValueError, match="same bins"):
        evaluation.psi_shares([1.0], [0.5, 0.5])


def test_by_year_reports_rates_amounts_and_the_scenario_mix_psi():
    from paylab.monitoring.data import by_year

    rng = np.random.default_rng(3)
    n = 4000
    ref = pd.DataFrame({"amount": rng.lognormal(3, 1, n), "y": (rng.random(n) < 0.1).astype(float),
                        "oracle_scenario": rng.choice(["a", "b"], n)})
    later = ref.assign(amount=ref["amount"] * 3.0, oracle_scenario=np.where(ref["y"] == 1, "a", "legit"))
    history = pd.concat([ref.assign(year=2018), later.assign(year=2019)])
    table = by_year(history, ref, ["amount"])
    assert table.loc[2018, "psi_amount"] < 1e-9 and table.loc[2019, "psi_amount"] >= 0.25
    assert table.loc[2018, "psi_scenario_mix"] < 1e-9 and table.loc[2019, "psi_scenario_mix"] >= 0.25
    assert table.loc[2019, "mean_amount_fraud"] == pytest.approx(3.0 * table.loc[2018, "mean_amount_fraud"])

"""The Streamlit home page renders what the stages measured."""

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app" / "Home.py")


def test_home_without_reports_asks_for_make_repro(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYLAB_ROOT", str(tmp_path))
    at = AppTest.from_file(APP).run(timeout=30)
    assert not at.exception
    assert "make repro" in at.warning[0].value


def test_home_shows_metrics_of_each_stage(tmp_path, monkeypatch):
    metrics = tmp_path / "reports" / "metrics"
    metrics.mkdir(parents=True)
    (metrics / "eda.json").write_text(json.dumps({"n_transactions": 123, "fraud_rate_labeled": 0.002}))
    (metrics / "fraud.json").write_text(json.dumps({"model": {"roc_auc": 0.9}, "baseline": {"roc_auc": 0.7}}))
    monkeypatch.setenv("PAYLAB_ROOT", str(tmp_path))
    at = AppTest.from_file(APP).run(timeout=30)
    assert not at.exception
    assert [e.label for e in at.expander] == ["eda", "fraud"]
    tables = [df.value for df in at.dataframe]
    assert tables[0].loc["n_transactions", "value"] == 123
    assert list(tables[1].columns) == ["model", "baseline"]


FRAUD_PAGE = str(Path(__file__).resolve().parents[1] / "app" / "pages" / "1_Fraud.py")


def test_fraud_page_without_report_or_champion(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYLAB_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    at = AppTest.from_file(FRAUD_PAGE).run(timeout=60)
    assert not at.exception and "make repro" in at.warning[0].value
    metrics = tmp_path / "reports" / "metrics"
    metrics.mkdir(parents=True)
    (metrics / "fraud.json").write_text(json.dumps({
        "model": {"roc_auc": 0.9}, "baseline": {"roc_auc": 0.7}, "latent_ceiling": {"roc_auc": 0.99},
        "comparison": {"xgboost__none": {"average_precision": 0.5, "roc_auc": 0.9}},
        "decision": {"review_rate": 0.01}}))
    at = AppTest.from_file(FRAUD_PAGE).run(timeout=60)
    assert not at.exception
    assert list(at.dataframe[0].value.columns) == ["model", "baseline", "latent_ceiling"]
    assert "champion" in at.info[0].value

"""The Streamlit demo: every page renders with and without artefacts (AppTest, tiny scale), the fraud form
validates and decides, the navigation app serves every page, and a real browser (Debian's chromium through
Playwright) visits each page with no Streamlit exception, saving screenshots under reports/app/."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
PAGES = sorted((APP / "pages").glob("*.py"))
TIMEOUT = 60  # AppTest's default is 3 s: the first run imports the libraries
CHROMIUM = Path("/usr/bin/chromium")


def _block(value: float, **more) -> dict:
    return {"roc_auc": value, "roc_auc_ci_low": value - 0.05, "roc_auc_ci_high": value + 0.05,
            "average_precision": value / 2, "average_precision_ci_low": value / 2 - 0.05,
            "average_precision_ci_high": value / 2 + 0.05, "ks": value / 3, "ks_ci_low": 0.1, "ks_ci_high": 0.5,
            "n": 952_885, **more}


def _metrics() -> dict[str, dict]:
    """One metrics JSON per module, in the shapes the stages write (a few keys each)."""
    months = ["2019-01", "2019-02"]
    monitoring = {
        "model": _block(0.8, score_psi=0.3, max_feature_psi=0.4), "baseline": _block(0.9), "oracle": _block(0.97),
        "summary": {"n_months": 2, "first_month": months[0], "last_month": months[1], "n_cells": 4,
                    "n_moderate_cells": 1, "n_significant_cells": 1, "max_score_psi": 0.3,
                    "top_drifted": {"amount": 0.4, "hour": 0.12},
                    "performance_followed": {"roc_auc": "held", "average_precision": "held", "ks": "held"}},
        "psi_reference_deciles": {"amount": dict(zip(months, [0.05, 0.4], strict=True)),
                                  "hour": dict(zip(months, [0.12, 0.01], strict=True))},
        "psi_evidently": {"amount": dict(zip(months, [0.02, 0.2], strict=True)),
                          "hour": dict(zip(months, [0.1, 0.01], strict=True))},
        "by_month": {m: {"fraud_rate": 0.002, "mean_amount": 45.5, "roc_auc": 0.9} for m in months},
        "reports": {m: f"drift/drift_{m}.html" for m in months}}
    return {
        "eda": {"n_transactions": 123, "fraud_rate_labeled": 0.002},
        "fraud": {"model": _block(0.9), "baseline": _block(0.8), "latent_ceiling": _block(0.99),
                  "comparison": {"xgboost__none": {"average_precision": 0.5, "roc_auc": 0.9}},
                  "decision": {"review_rate": 0.01}},
        "anomaly": {"model": _block(0.7), "baseline": _block(0.6),
                    "detectors": {"iforest": _block(0.7), "lof": _block(0.65)},
                    "by_scenario": {"counterfeit": {"recall": 0.4}}},
        "recsys": {"model": {"ndcg_at_10": 0.3}, "baseline": {"ndcg_at_10": 0.2}, "oracle": {"ndcg_at_10": 0.5}},
        "churn": {"model": _block(0.75), "baseline": _block(0.7)},
        "credit": {"model": {"name": "scorecard", **_block(0.77)}, "baseline": _block(0.7),
                   "oracle": _block(0.8), "cutoff": {"cutoff": 537.0, "target_bad_rate": 0.08}},
        "quant": {"model": {"ic": 0.03, "rank_ic": 0.028}, "baseline": {"rank_ic": 0.014},
                  "oracle": {"rank_ic": 0.045}},
        "monitoring": monitoring,
    }


@pytest.fixture(scope="module")
def demo(tiny_interim, tmp_path_factory):
    """A checkout-like root: every module's metrics, the monitoring outputs, data/interim of the tiny scale and an
    MLflow store with a small fraud service registered as `fraud` @champion."""
    from xgboost import XGBClassifier

    from paylab.features import KEY_COLUMNS, compute_features
    from paylab.features.build import read_interim
    from paylab.fraud.data import preprocessor
    from paylab.fraud.imbalance import make_pipeline
    from paylab.fraud.registry import log_service
    from paylab.fraud.service import warm_service

    root = tmp_path_factory.mktemp("demo")
    (root / "data").mkdir()
    (root / "data" / "interim").symlink_to(tiny_interim)
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    metrics = root / "reports" / "metrics"
    metrics.mkdir(parents=True)
    for module, data in _metrics().items():
        (metrics / f"{module}.json").write_text(json.dumps(data))
    drift = root / "reports" / "drift"
    drift.mkdir()
    for m in ("2019-01", "2019-02"):
        (drift / f"drift_{m}.html").write_text(f"<html><body>report {m}</body></html>")
    (root / "reports" / "costs").mkdir()
    (root / "reports" / "costs" / "fraud.json").write_text(json.dumps(
        {"seconds": 12.5, "peak_rss_mb": 900, "finished_utc": "2026-12-02 18:00:00", "commit": "abcdef1234"}))

    frame = compute_features(read_interim(tiny_interim)).to_pandas()
    columns = [c for c in frame.columns if c not in KEY_COLUMNS]
    cut = frame["timestamp"].quantile(0.85).floor("D")
    train = frame[(frame["timestamp"] < cut) & frame["label"].isin(["fraud", "legit"])]
    model = make_pipeline(XGBClassifier(n_estimators=20, max_depth=3, tree_method="hist", n_jobs=1),
                          "class_weight:10", preprocessor=preprocessor("trees"))
    model.fit(train[columns], (train["label"] == "fraud").astype(int))
    after = frame[frame["timestamp"] >= cut]
    alerts = after.assign(fraud_score=model.predict_proba(after[columns])[:, 1]).nlargest(20, "fraud_score")
    figures = root / "reports" / "figures" / "monitoring"
    figures.mkdir(parents=True)
    alerts[["transaction_id", "timestamp", "card_id", "merchant_id", "amount", "fraud_score", "label"]].to_csv(
        figures / "alert_queue.csv", index=False)
    config = {"ml": {"review": 0.5, "decline": 0.9}, "anomaly": None}
    service = warm_service(tiny_interim, model, columns, config, None, until=cut)
    valid = frame[(frame["timestamp"] >= cut) & frame["label"].isin(["fraud", "legit"])]
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("PAYLAB_ROOT", str(root))
        log_service(service, valid.drop(columns=list(KEY_COLUMNS)), (valid["label"] == "fraud").to_numpy(int),
                    metrics={"test_average_precision": 0.25}, root=root)
        while mlflow.active_run():
            mlflow.end_run()
    mlflow.set_tracking_uri(None)
    return {"root": root, "uri": uri, "cards": sorted(pd.read_parquet(tiny_interim / "cards.parquet")["card_id"])}


@pytest.fixture
def at_demo(demo, monkeypatch):
    monkeypatch.setenv("PAYLAB_ROOT", str(demo["root"]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", demo["uri"])
    return demo


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_page_without_artefacts_asks_for_make_repro(page, tmp_path, monkeypatch):
    monkeypatch.setenv("PAYLAB_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    at = AppTest.from_file(str(page)).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert "make repro" in at.warning[0].value


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_page_renders_the_artefacts(page, at_demo):
    at = AppTest.from_file(str(page)).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert at.title[0].value


def test_overview_headline_and_stage_status(at_demo):
    at = AppTest.from_file(str(APP / "pages" / "0_Overview.py")).run(timeout=TIMEOUT)
    headline, status = at.dataframe[0].value, at.dataframe[1].value
    assert headline.loc["fraud", "model"] == "0.450 [0.400, 0.500]"  # average precision with its interval
    assert headline.loc["monitoring", "ceiling"] == "0.970 [0.920, 1.020]"
    assert status.loc["fraud", "commit"] == "abcdef12" and status.loc["fraud", "ran"] == "yes"
    assert status.loc["report", "ran"] == "no"
    assert [e.label for e in at.expander] == sorted(_metrics())


def test_fraud_page_scores_a_payment_and_shows_the_alert_queue(at_demo):
    at = AppTest.from_file(str(APP / "pages" / "1_Fraud.py")).run(timeout=TIMEOUT)
    assert not at.exception
    assert any("highest-scored" in c.value for c in at.caption)
    card, merchant, amount = at.number_input[0], at.number_input[1], at.number_input[2]
    assert card.label == "card_id" and merchant.label == "merchant_id" and amount.label == "amount ($)"
    amount.set_value(120.0)
    at.button[0].click().run(timeout=TIMEOUT)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.metric[0].value in ("approve", "review", "decline") and "fraud v1" in at.metric[0].label
    assert any("SHAP waterfall" in " ".join(img.captions) for img in at.get("image"))


def test_fraud_page_rejects_an_unknown_card_and_a_negative_amount(at_demo):
    at = AppTest.from_file(str(APP / "pages" / "1_Fraud.py")).run(timeout=TIMEOUT)
    at.number_input[0].set_value(999_999_999)
    at.number_input[2].set_value(-50_000.0)
    at.button[0].click().run(timeout=TIMEOUT)
    assert not at.exception and not at.metric
    errors = [e.value for e in at.error]
    assert any(e.startswith("Unknown card 999999999") for e in errors), errors
    assert any(e.startswith("Amount $-50,000.00 is outside") for e in errors), errors


def test_navigation_serves_every_page(at_demo):
    at = AppTest.from_file(str(APP / "Home.py")).run(timeout=TIMEOUT)
    assert not at.exception and at.title[0].value == "PayLab"  # the overview is the default page
    for page in PAGES[1:]:
        at.switch_page(str(page.relative_to(APP))).run(timeout=TIMEOUT)
        assert not at.exception, (page.name, at.exception)
        assert at.title[0].value != "PayLab"


# ---------------------------------------------------------------------------------------------- a real browser

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_browser_visits_every_page_without_exception(demo):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = dict(os.environ, PAYLAB_ROOT=str(demo["root"]), MLFLOW_TRACKING_URI=demo["uri"])
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP / "Home.py"), "--server.headless",
                               "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shots = ROOT / "reports" / "app"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            titles = {}
            for path in ["", "Fraud", "Anomalies", "Recommendations", "Churn", "Credit", "Quant", "Drift"]:
                page.goto(f"{url}/{path}", wait_until="networkidle")
                page.wait_for_selector("h1", timeout=60_000)
                page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                       timeout=60_000)
                assert page.locator("[data-testid='stException']").count() == 0, path
                titles[path or "Overview"] = page.locator("h1").first.inner_text()
                page.screenshot(path=str(shots / f"{path or 'Overview'}.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert titles["Overview"] == "PayLab" and titles["Drift"] == "Drift monitoring"
    assert len(set(titles.values())) == len(titles)  # each URL served its own page
    assert all((shots / f"{name}.png").stat().st_size > 10_000 for name in titles)

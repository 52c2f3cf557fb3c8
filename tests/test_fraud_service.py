"""Online fraud service: decide == decide_batch == batch features + model; MLflow packaging, champion alias,
and a real `mlflow models serve` round trip."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest

from paylab.features import KEY_COLUMNS, compute_features
from paylab.features.build import read_interim
from paylab.fraud.data import preprocessor
from paylab.fraud.decision import DecisionEngine
from paylab.fraud.imbalance import make_pipeline
from paylab.fraud.service import FraudService, load_champion, log_service, normalise, stop_server, warm_service

N_ROWS = 300  # transactions decided after the cut


def _reasons_fn():
    """A reasons_fn of the right shape: four codes per row (the service keeps three). A closure, so cloudpickle
    stores it by value: the serving process can't import this test module."""

    def reasons(model, X: pd.DataFrame) -> list[list[str]]:
        return [[f"amount {a:.2f}", f"hour {h}", f"mcc {m}", "fourth"]
                for a, h, m in zip(X["amount"], X["hour"], X["mcc"], strict=True)]

    return reasons


_fake_reasons = _reasons_fn()


@pytest.fixture(scope="module")
def world(tiny_interim):
    """Batch features, a small XGBoost fitted on labeled rows before the cut, thresholds that flag some rows."""
    from xgboost import XGBClassifier

    tables = read_interim(tiny_interim)
    frame = compute_features(tables).to_pandas()
    columns = [c for c in frame.columns if c not in KEY_COLUMNS]
    cut = frame["timestamp"].quantile(0.85).floor("D")
    train = frame[(frame["timestamp"] < cut) & frame["label"].isin(["fraud", "legit"])]
    model = make_pipeline(XGBClassifier(n_estimators=30, max_depth=4, tree_method="hist", n_jobs=1),
                          "class_weight:10", preprocessor=preprocessor("trees"))
    model.fit(train[columns], (train["label"] == "fraud").astype(int))
    after = tables["transactions"].filter(pl.col("timestamp") >= cut).head(N_ROWS)
    batch = frame.set_index("transaction_id").loc[after["transaction_id"].to_list()]
    proba = model.predict_proba(batch[columns])[:, 1]
    config = {"ml": {"review": float(np.quantile(proba, 0.9)), "decline": float(np.quantile(proba, 0.98))},
              "anomaly": None}
    service = warm_service(tiny_interim, model, columns, config, None, until=cut, reasons_fn=_reasons_fn(),
                           labels_from_requests=True)
    return {"interim": tiny_interim, "model": model, "columns": columns, "cut": cut, "after": after, "batch": batch,
            "proba": proba, "config": config, "service": service, "blob": cloudpickle.dumps(service)}


def _fresh(world) -> FraudService:
    """A copy of the warm service (the state before any decision)."""
    return cloudpickle.loads(world["blob"])


def _request(row: dict) -> dict:
    """A JSON-like request: ISO timestamp, only the required and a few optional columns."""
    keep = ("transaction_id", "client_id", "card_id", "merchant_id", "amount", "channel", "mcc", "merchant_city",
            "merchant_state", "zip", "errors")
    return {**{k: row[k] for k in keep}, "timestamp": row["timestamp"].isoformat()}


def test_decide_equals_batch_and_batch_features(world):
    service = _fresh(world)
    assert service.scorer is not None  # XGBoost: the fast one-row path is the one under test
    rows = list(world["after"].iter_rows(named=True))
    single = pd.DataFrame([service.decide(r) for r in rows])
    shuffled = world["after"].to_pandas().sample(frac=1.0, random_state=0)
    batch = _fresh(world).decide_batch(shuffled).loc[np.arange(len(rows))]  # input order kept: realign
    assert single["transaction_id"].tolist() == batch["transaction_id"].tolist()
    assert single["decision"].tolist() == batch["decision"].tolist()
    assert single["reasons"].tolist() == batch["reasons"].tolist()
    np.testing.assert_allclose(single["proba"], batch["proba"], rtol=0, atol=1e-6)
    slow = _fresh(world)
    slow.fast_path = False  # the pipeline's own predict_proba on the feature frame
    assert slow.scorer is None
    np.testing.assert_allclose(slow.decide_batch(world["after"])["proba"], single["proba"], rtol=0, atol=1e-6)
    # the batch engine's features + the model give the same probability and the same rule decisions
    np.testing.assert_allclose(single["proba"], world["proba"], rtol=0, atol=1e-6)
    expected = DecisionEngine(world["config"]).decide_batch(world["batch"].reset_index(), world["proba"])
    assert single["decision"].tolist() == expected["decision"].tolist()
    flagged = single["decision"] != "approve"
    assert flagged.sum() > 0 and (~flagged).sum() > 0
    # model reason codes: at most three, only on flagged rows, after the engine's reasons
    for (_, row), rules in zip(single.iterrows(), expected["reasons"], strict=True):
        assert row["reasons"][: len(rules)] == list(rules)
        assert row["reasons"][len(rules):] == (_fake_reasons(None, world["batch"].loc[[row["transaction_id"]]])[0][:3]
                                               if row["decision"] != "approve" else [])


def test_json_request_and_state_update(world):
    service = _fresh(world)
    first, second = list(world["after"].head(2).iter_rows(named=True))
    full = service.decide(first, update=False)
    assert service.decide(_request(first), update=False) == full
    assert service.decide(pd.DataFrame([_request(first)]).iloc[0].to_dict(), update=False) == full  # numpy scalars
    # the state moves only with update=True; a request's label is not kept by default
    before = service.state.features(normalise(second))
    service.labels_from_requests = False
    service.decide(first)
    after = service.state.features(normalise(second))
    assert after["card_n_prior"] == before["card_n_prior"] + (first["card_id"] == second["card_id"])
    assert after["client_n_prior"] == before["client_n_prior"] + (first["client_id"] == second["client_id"])
    assert service.example["label"] is None
    assert service.add_label(first, "legit") == hasattr(service.state, "add_label")
    with pytest.raises(ValueError, match=r"required columns \['amount'\]"):
        service.decide({k: v for k, v in _request(first).items() if k != "amount"})
    with pytest.raises(ValueError, match="channel"):
        service.decide({**_request(first), "channel": "fax"})


def test_warm_service_validates_rules(world):
    with pytest.raises(ValueError, match="no_such_feature"):
        FraudService(_fresh(world).state, world["model"], world["columns"],
                     {"velocity": [{"feature": "no_such_feature", "max": 1}]})


@pytest.fixture(scope="module")
def registry(world, tmp_path_factory):
    """A temporary MLflow store with the service registered once as `fraud` (champion)."""
    root = tmp_path_factory.mktemp("fraud_registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv("PAYLAB_ROOT", str(root))
        result = log_service(_fresh(world), val_average_precision=0.30, metrics={"test_average_precision": 0.25},
                             root=root)
        yield {"root": root, "uri": f"sqlite:///{root / 'mlflow.db'}", "result": result}
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(None)  # tracking.setup made the temporary store the process-wide default


def test_logged_service_loads_and_predicts(world, registry):
    result = registry["result"]
    assert result["promoted"] and result["champion_version"] == result["version"]
    assert result["champion_ap"] == pytest.approx(0.30) and result["service_bytes"] > 0
    model = mlflow.pyfunc.load_model("models:/fraud@champion")
    row = next(world["after"].iter_rows(named=True))
    out = model.predict(pd.DataFrame([_request(row)]))
    assert list(out.columns) == ["transaction_id", "decision", "proba", "reasons", "anomaly_missing"]
    expected = _fresh(world).decide(row, update=False)
    assert out.loc[0, "transaction_id"] == row["transaction_id"] and out.loc[0, "decision"] == expected["decision"]
    assert out.loc[0, "proba"] == pytest.approx(expected["proba"], abs=1e-6)
    assert json.loads(out.loc[0, "reasons"]) == expected["reasons"]
    run = mlflow.get_run(result["run_id"])
    assert run.data.metrics["val_average_precision"] == pytest.approx(0.30)
    assert run.data.tags["stage"] == "serve"


def test_load_champion_gives_the_registered_service(world, registry):
    service, version = load_champion()
    assert version == registry["result"]["champion_version"]
    row = next(world["after"].iter_rows(named=True))
    assert service.decide(row, update=False) == _fresh(world).decide(row, update=False)
    assert load_champion("no_such_model") is None


def test_app_fraud_page_decides_with_the_champion(registry, monkeypatch):
    from streamlit.testing.v1 import AppTest

    metrics = registry["root"] / "reports" / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / "fraud.json").write_text(json.dumps({"model": {"roc_auc": 0.9}, "comparison": {}, "decision": {}}))
    monkeypatch.setenv("PAYLAB_ROOT", str(registry["root"]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry["uri"])
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "pages" / "1_Fraud.py"))
    at.run(timeout=120)
    assert not at.exception
    at.number_input[4].set_value(9_999.0)  # amount
    at.button[0].click().run(timeout=60)
    assert not at.exception
    assert at.metric[0].value in ("approve", "review", "decline")
    assert "fraud v" in at.metric[0].label


def test_champion_moves_only_on_better_ap(world, registry):
    name = "fraud_alias_check"
    service = _fresh(world)
    first = log_service(service, name, val_average_precision=0.5)
    assert first["promoted"] and first["champion_version"] == first["version"]
    worse = log_service(service, name, val_average_precision=0.4)
    assert not worse["promoted"] and worse["champion_version"] == first["version"]
    assert worse["champion_ap"] == pytest.approx(0.5) and worse["previous_champion_version"] == first["version"]
    with mlflow.start_run() as run:  # the caller's run: the model goes into it
        better = log_service(service, name, val_average_precision=0.6)
    assert better["promoted"] and better["champion_version"] == better["version"]
    assert better["run_id"] == run.info.run_id
    client = mlflow.MlflowClient()
    assert int(client.get_model_version_by_alias(name, "champion").version) == better["version"]
    assert client.get_model_version(name, str(worse["version"])).tags["val_average_precision"] == "0.4"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, payload: dict, timeout: float = 30) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_served_endpoint(world, registry):
    """`mlflow models serve` of models:/fraud@champion answers a one-transaction JSON request."""
    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry["uri"],
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # the venv's uvicorn
    log = (registry["root"] / "serve.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m",
                             "models:/fraud@champion", "--env-manager", "local", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (registry["root"] / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "server did not answer /ping within 90 s"
                time.sleep(0.25)
        rows = list(world["after"].head(2).iter_rows(named=True))
        answers = [_post(f"http://127.0.0.1:{port}/invocations", {"dataframe_records": [_request(r)]})
                   for r in rows]
    finally:
        stop_server(proc)
        log.close()
    service = _fresh(world)
    service.labels_from_requests = False
    for row, answer in zip(rows, answers, strict=True):
        (prediction,) = answer["predictions"]
        expected = service.decide(_request(row))  # the server's state moves the same way
        assert prediction["transaction_id"] == row["transaction_id"]
        assert prediction["decision"] == expected["decision"]
        assert prediction["proba"] == pytest.approx(expected["proba"], abs=1e-6)
        assert json.loads(prediction["reasons"]) == expected["reasons"]

"""Online fraud service: decide == decide_batch == batch features + model; bounded warm-up; MLflow packaging, the
champion re-scored on the new validation rows, and a real `mlflow models serve` round trip."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest
from mlflow_serve import mlflow_server

from paylab.evaluation import average_precision
from paylab.features import KEY_COLUMNS, compute_features
from paylab.features.build import read_interim
from paylab.features.spec import ENTITIES, RISK_ENTITIES, VELOCITY_STATS, FeatureConfig, risk_name, velocity_name
from paylab.fraud.data import preprocessor
from paylab.fraud.decision import DecisionEngine
from paylab.fraud.imbalance import make_pipeline
from paylab.fraud.registry import load_champion, log_service
from paylab.fraud.requests import normalise
from paylab.fraud.service import FraudService, history_needed, warm_service

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
    valid = frame[(frame["timestamp"] >= cut) & frame["label"].isin(["fraud", "legit"])]
    return {"interim": tiny_interim, "model": model, "columns": columns, "cut": cut, "after": after, "batch": batch,
            "proba": proba, "config": config, "service": service, "blob": cloudpickle.dumps(service), "train": train,
            "X_valid": valid.drop(columns=list(KEY_COLUMNS)), "y_valid": (valid["label"] == "fraud").to_numpy(int)}


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


def test_anomaly_layer_one_row_path_equals_the_batch(world):
    """With a detector's anomaly layer on, `decide` (the detector's feature-dict path) and `decide_batch` (frames)
    take the same decisions, and the layer reviews rows the model alone approves."""
    from paylab.anomaly.detectors import fit_detector
    from paylab.anomaly.views import view_columns

    detector = fit_detector("hbos", "card_history", view_columns("card_history", world["columns"]), world["train"],
                            {"n_bins": 10}, seed=0)
    config = {**world["config"], "anomaly": {"review": 0.9, "decline": None}}
    service = _fresh(world)
    service.engine, service.anomaly_scorer = DecisionEngine(config), detector
    rows = list(world["after"].iter_rows(named=True))
    single = pd.DataFrame([service.decide(r) for r in rows])
    fresh = _fresh(world)
    fresh.engine, fresh.anomaly_scorer = DecisionEngine(config), detector
    batch = fresh.decide_batch(world["after"])
    assert single["decision"].tolist() == batch["decision"].tolist()
    without = pd.DataFrame([s.decide(r) for s in [_fresh(world)] for r in rows])
    assert ((single["decision"] == "review") & (without["decision"] == "approve")).sum() > 0


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


def test_bounded_warm_up_keeps_windowed_features_exact(world):
    """history_days replays only the last days before the cut: fewer rows in the state, and the velocity and
    merchant / MCC risk features of the next transactions are those of the full warm-up."""
    cfg = FeatureConfig()
    days = history_needed(None)
    assert days == pytest.approx(cfg.delay_days + 90)  # delay + the longest risk window (90d) > longest window (30d)
    bounded = warm_service(world["interim"], world["model"], world["columns"], world["config"], None,
                           until=world["cut"], history_days=days)
    full = _fresh(world)
    assert 0 < bounded.warm_rows < full.warm_rows
    assert pd.Timestamp(bounded.warm_from) >= world["cut"] - pd.Timedelta(days=days)
    assert len(cloudpickle.dumps(bounded.state)) < len(cloudpickle.dumps(full.state))
    windowed = [velocity_name(e, s, w) for e in ENTITIES for s in VELOCITY_STATS for w in cfg.windows]
    windowed += [risk_name(e, s, w) for e in RISK_ENTITIES for s in ("nfraud", "nlabeled", "rate")
                 for w in cfg.risk_windows]
    differs = set()
    for row in world["after"].head(100).iter_rows(named=True):
        txn = normalise(row)
        a, b = bounded.state.features(txn), full.state.features(txn)
        assert {k: a[k] for k in windowed} == {k: b[k] for k in windowed}
        differs |= {k for k in a if a[k] != b[k] and not (a[k] != a[k] and b[k] != b[k])}  # NaN == NaN
    assert "card_n_prior" in differs  # all-history features count only the replayed days
    with pytest.raises(ValueError, match="history_days"):
        warm_service(world["interim"], world["model"], world["columns"], world["config"], None,
                     until=world["cut"], history_days=days - 1)


@pytest.fixture(scope="module")
def registry(world, tmp_path_factory):
    """A temporary MLflow store with the service registered once as `fraud` (champion)."""
    root = tmp_path_factory.mktemp("fraud_registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv("PAYLAB_ROOT", str(root))
        result = log_service(_fresh(world), world["X_valid"], world["y_valid"],
                             metrics={"test_average_precision": 0.25}, root=root)
        yield {"root": root, "uri": f"sqlite:///{root / 'mlflow.db'}", "result": result}
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(None)  # tracking.setup made the temporary store the process-wide default


def test_logged_service_loads_and_predicts(world, registry):
    result = registry["result"]
    ap = average_precision(world["y_valid"], world["model"].predict_proba(world["X_valid"][world["columns"]])[:, 1])
    assert result["promoted"] and result["champion_version"] == result["version"]
    assert result["champion_ap"] == pytest.approx(ap) and result["service_bytes"] > 0
    assert result["champion_rescored_ap"] is None and result["previous_champion_version"] is None
    model = mlflow.pyfunc.load_model("models:/fraud@champion")
    row = next(world["after"].iter_rows(named=True))
    out = model.predict(pd.DataFrame([_request(row)]))
    assert list(out.columns) == ["transaction_id", "decision", "proba", "reasons", "anomaly_missing"]
    expected = _fresh(world).decide(row, update=False)
    assert out.loc[0, "transaction_id"] == row["transaction_id"] and out.loc[0, "decision"] == expected["decision"]
    assert out.loc[0, "proba"] == pytest.approx(expected["proba"], abs=1e-6)
    assert json.loads(out.loc[0, "reasons"]) == expected["reasons"]
    run = mlflow.get_run(result["run_id"])
    assert run.data.metrics["val_average_precision"] == pytest.approx(ap)
    assert run.data.tags["stage"] == "serve"


def test_load_champion_gives_the_registered_service(world, registry):
    service, version = load_champion()
    assert version == registry["result"]["champion_version"]
    row = next(world["after"].iter_rows(named=True))
    assert service.decide(row, update=False) == _fresh(world).decide(row, update=False)
    assert load_champion("no_such_model") is None


def test_app_fraud_page_decides_with_the_champion(world, registry, monkeypatch):
    from streamlit.testing.v1 import AppTest

    metrics = registry["root"] / "reports" / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / "fraud.json").write_text(json.dumps({"model": {"roc_auc": 0.9}, "comparison": {}, "decision": {}}))
    interim = registry["root"] / "data" / "interim"  # the form's known cards and merchants
    if not interim.exists():
        interim.parent.mkdir(parents=True, exist_ok=True)
        interim.symlink_to(world["interim"])
    monkeypatch.setenv("PAYLAB_ROOT", str(registry["root"]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry["uri"])
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "pages" / "1_Fraud.py"))
    at.run(timeout=120)
    assert not at.exception
    at.number_input[2].set_value(99.0)  # amount (card and merchant: the first known ones)
    at.button[0].click().run(timeout=60)
    assert not at.exception
    assert at.metric[0].value in ("approve", "review", "decline")
    assert "fraud v" in at.metric[0].label


@pytest.fixture(scope="module")
def rival(world):
    """A weaker XGBoost on fewer columns (`card_brand`, `amount_log_abs` left out) and its service."""
    from xgboost import XGBClassifier

    columns = [c for c in world["columns"] if c not in ("card_brand", "amount_log_abs")]
    train = world["train"]
    model = make_pipeline(XGBClassifier(n_estimators=5, max_depth=2, tree_method="hist", n_jobs=1), "none",
                          preprocessor=preprocessor("trees"))
    model.fit(train[columns], (train["label"] == "fraud").astype(int))
    service = FraudService(_fresh(world).state, model, columns, world["config"])
    service.example = world["service"].example
    return service


def _top(score: np.ndarray, k: int = 10) -> np.ndarray:
    """Labels: 1 from the k-th highest score up (ties included): that score's AP is 1."""
    return (score >= np.sort(score)[-k]).astype(int)


def _versions(name: str) -> list[int]:
    return sorted(int(v.version) for v in mlflow.MlflowClient().search_model_versions(f"name='{name}'"))


def test_champion_is_rescored_on_the_new_validation_rows(world, registry, rival):
    """The champion's AP that counts is the one on the new rows, not the one stored when it was promoted; a service
    that does not win leaves nothing in the registry."""
    name = "fraud_rescore"
    strong, weak = _fresh(world), rival
    X = world["X_valid"]
    s_strong, s_weak = strong.predict_proba(X), weak.predict_proba(X)
    y_weak_top, y_strong_top = _top(s_weak), _top(s_strong)
    y_weak_bad = np.zeros(len(X), int)
    y_weak_bad[np.random.default_rng(0).choice(len(X), 10, replace=False)] = 1  # random labels: a poor AP
    ap_strong_on_weak_top = average_precision(y_weak_top, s_strong)
    ap_weak_on_strong_top = average_precision(y_strong_top, s_weak)
    assert average_precision(y_weak_bad, s_weak) < ap_strong_on_weak_top < 1.0 and ap_weak_on_strong_top < 1.0

    first = log_service(weak, X, y_weak_bad, name=name)  # no champion: promoted with a poor AP
    assert first["promoted"] and first["champion_stored_ap"] is None and _versions(name) == [first["version"]]
    # the stored AP of the champion is poor, but on these rows it ranks perfectly: kept, nothing registered
    kept = log_service(strong, X, y_weak_top, name=name)
    assert not kept["promoted"] and kept["version"] is None and kept["model_uri"] is None
    assert kept["champion_version"] == kept["previous_champion_version"] == first["version"]
    assert kept["champion_rescored_ap"] == pytest.approx(1.0) == kept["champion_ap"]
    assert kept["champion_stored_ap"] == pytest.approx(first["val_average_precision"])
    assert kept["val_average_precision"] == pytest.approx(ap_strong_on_weak_top)
    assert _versions(name) == [first["version"]]
    assert mlflow.get_run(kept["run_id"]).data.metrics["champion_rescored_average_precision"] == pytest.approx(1.0)
    # better on the new rows: promoted, the champion re-scored there
    with mlflow.start_run() as run:  # the caller's run: the model goes into it
        better = log_service(strong, X, y_strong_top, name=name)
    assert better["promoted"] and better["run_id"] == run.info.run_id
    assert better["champion_rescored_ap"] == pytest.approx(ap_weak_on_strong_top)
    assert better["champion_version"] == better["version"] and better["champion_ap"] == pytest.approx(1.0)
    # the stored AP of the new champion is 1.0, yet on other rows the rival beats its re-scored AP
    back = log_service(weak, X, y_weak_top, name=name)
    assert back["promoted"] and back["champion_rescored_ap"] == pytest.approx(ap_strong_on_weak_top)
    assert back["champion_stored_ap"] == pytest.approx(1.0) and back["previous_champion_version"] == better["version"]
    client = mlflow.MlflowClient()
    assert int(client.get_model_version_by_alias(name, "champion").version) == back["version"]
    assert _versions(name) == [first["version"], better["version"], back["version"]]
    assert client.get_model_version(name, str(back["version"])).tags["val_average_precision"] == "1.0"


def test_a_champion_that_cannot_be_rescored_is_replaced(world, registry, rival, caplog):
    name = "fraud_columns"
    first = log_service(_fresh(world), world["X_valid"], world["y_valid"], name=name)
    X = world["X_valid"].drop(columns=["card_brand"])  # the champion needs it, the rival does not
    with caplog.at_level("WARNING", logger="paylab.fraud.registry"):
        second = log_service(rival, X, world["y_valid"], name=name)
    assert second["promoted"] and second["champion_rescored_ap"] is None
    assert second["previous_champion_version"] == first["version"] and "card_brand" in second["reason"]
    assert "cannot be re-scored" in caplog.text
    with pytest.raises(ValueError, match="validation rows"):
        log_service(rival, X, np.zeros(len(X), int), name=name)  # no fraud: AP undefined


def _post(url: str, payload: dict, timeout: float = 30) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_served_endpoint(world, registry):
    """`mlflow models serve` of models:/fraud@champion answers a one-transaction JSON request."""
    rows = list(world["after"].head(2).iter_rows(named=True))
    with mlflow_server("models:/fraud@champion", registry["uri"], registry["root"] / "serve.log") as port:
        answers = [_post(f"http://127.0.0.1:{port}/invocations", {"dataframe_records": [_request(r)]})
                   for r in rows]
    service = _fresh(world)
    service.labels_from_requests = False
    for row, answer in zip(rows, answers, strict=True):
        (prediction,) = answer["predictions"]
        expected = service.decide(_request(row))  # the server's state moves the same way
        assert prediction["transaction_id"] == row["transaction_id"]
        assert prediction["decision"] == expected["decision"]
        assert prediction["proba"] == pytest.approx(expected["proba"], abs=1e-6)
        assert json.loads(prediction["reasons"]) == expected["reasons"]

"""Online fraud decision latency: one transaction in-process (online features + model + rules), the same through
`mlflow models serve`, and batch throughput. Prints what it measures; the last line is one JSON object.

    python benchmarks/fraud_latency.py --scale {tiny,default} [--rows N] [--serve-rows N] [--batch-rows N] [--no-serve]

Data: the project generator + ingest + the default feature engine into a temp dir. Model: XGBoost (200 trees, depth
6, hist, class_weight:10) on the labeled rows a label delay before the cut; the service is warmed on every
transaction before the cut (or on the last --history-days days) and then decides the transactions after it, in time
order. The served run registers it with the labeled transactions after the cut as validation rows. The anomaly layer is
on (unless --no-anomaly): the detector of params.yaml `anomaly.serve`, fitted as the anomaly stage fits it (a seeded
sample of `anomaly.fit_rows` rows before the cut, no labels read), reviews above its 99th training percentile.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import polars as pl

DELAY_DAYS = 7
SCALES = ("tiny", "default")
LAYER = {"review": 0.99, "decline": None}  # the anomaly layer on: review above the detector's 99th training percentile


def say(text: str) -> None:
    print(text, flush=True)


def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, q))


def make_data(scale: str, work: Path) -> tuple[Path, Path, float]:
    """data/interim and the batch features of the scale, generated into `work`; the seconds it took."""
    from paylab.data.ingest import ingest
    from paylab.data.synth import generate
    from paylab.features import build_features

    start = time.perf_counter()
    generate(scale=scale, seed=42, out=work / "raw", progress=False)
    ingest(work / "raw", work / "interim", None)
    build_features(work / "interim", work / "features.parquet", {})
    return work / "interim", work / "features.parquet", time.perf_counter() - start


def fit_model(features: pd.DataFrame, columns: list[str], cut: datetime):
    from xgboost import XGBClassifier

    from paylab.fraud.data import preprocessor
    from paylab.fraud.imbalance import make_pipeline

    train = features[(features["timestamp"] < cut - timedelta(days=DELAY_DAYS))
                     & features["label"].isin(["fraud", "legit"])]
    model = make_pipeline(XGBClassifier(n_estimators=200, max_depth=6, tree_method="hist"), "class_weight:10",
                          preprocessor=preprocessor("trees"))
    start = time.perf_counter()
    model.fit(train[columns], (train["label"] == "fraud").astype(int))
    return model, len(train), int((train["label"] == "fraud").sum()), time.perf_counter() - start


def fit_anomaly(features: pd.DataFrame, columns: list[str], cut: datetime):
    """The served detector of params.yaml `anomaly` fitted on the rows before the cut (labels never read)."""
    from paylab.anomaly import suite
    from paylab.params import load_params

    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")["anomaly"]
    detector, view = params["serve"].split("/")
    start = time.perf_counter()
    fitted = suite.fit_suite(features[features["timestamp"] < cut], {detector: [view]}, params["detectors"],
                             params["fit_rows"], 42, available=columns)[params["serve"]]
    return fitted, time.perf_counter() - start


def state_bytes(state) -> int:
    return len(cloudpickle.dumps(state))


def size_estimate(interim: Path, cut: datetime, service, history: int) -> dict:
    """Pickled sizes: the whole service, its model and its state; the state of the first half of the replayed
    history too, for a linear fit size = a + b * transactions, extrapolated to 1M transactions of history."""
    from paylab.features.online import OnlineFeatures

    total = len(cloudpickle.dumps(service))
    model = len(cloudpickle.dumps(service.model))
    full = state_bytes(service.state)
    half = OnlineFeatures(pl.read_parquet(interim / "cards.parquet"), pl.read_parquet(interim / "users.parquet"))
    rows = pl.scan_parquet(interim / "transactions.parquet").filter(pl.col("timestamp") < cut)
    if service.warm_from is not None:  # the replayed rows only (a bounded warm-up starts later)
        rows = rows.filter(pl.col("timestamp") >= service.warm_from)
    for txn in rows.head(history // 2).collect().iter_rows(named=True):
        half.update(txn)
    half_bytes = state_bytes(half)
    per_txn = (full - half_bytes) / (history - history // 2)
    estimate = total + per_txn * (1_000_000 - history)
    return {"service_bytes": total, "model_bytes": model, "state_bytes": full, "state_bytes_half": half_bytes,
            "state_bytes_per_txn": per_txn, "service_bytes_est_1m": estimate}


def in_process(service, rows: list[dict]) -> dict:
    """decide() of each row in time order after the warm-up, gc frozen: wall and thread CPU time."""
    gc.collect()
    gc.freeze()  # a long-lived service moves its warm state out of the collector's way
    wall, cpu = [], []
    for txn in rows:
        w, c = time.perf_counter(), time.thread_time()
        service.decide(txn)
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    gc.unfreeze()
    return {"p50_ms": pct(wall, 50), "p99_ms": pct(wall, 99), "max_ms": pct(wall, 100), "p50_cpu_ms": pct(cpu, 50),
            "p99_cpu_ms": pct(cpu, 99), "mean_ms": float(np.mean(wall) * 1e3)}


def breakdown(service, rows: list[dict]) -> dict:
    """The steps of decide() timed one by one (on a copy of the service): parse, features, model, rules, update."""
    from paylab.fraud.requests import normalise

    steps = {"parse": [], "features": [], "model_fast": [], "anomaly": [], "rules": [], "update": []}
    gc.collect()
    gc.freeze()
    for raw in rows:
        t0 = time.perf_counter()
        txn = normalise(raw)
        t1 = time.perf_counter()
        feats = service.state.features(txn)
        t2 = time.perf_counter()
        proba = service._proba_one(feats)
        t3 = time.perf_counter()
        anomaly = service._anomaly_one(feats)
        t3a = time.perf_counter()
        service.engine.decide(txn, feats, proba, anomaly)
        t4 = time.perf_counter()
        service._remember(txn)
        t5 = time.perf_counter()
        for name, a, b in (("parse", t0, t1), ("features", t1, t2), ("model_fast", t2, t3), ("anomaly", t3, t3a),
                           ("rules", t3a, t4), ("update", t4, t5)):
            steps[name].append(b - a)
    gc.unfreeze()
    out = {f"{k}_p50_ms": pct(v, 50) for k, v in steps.items()}
    out.update({f"{k}_p99_ms": pct(v, 99) for k, v in steps.items()})
    # the one-row frame paths the fast paths replace (the model's pipeline, the detector), on a few rows
    frame_paths = {"model_frame": service.predict_proba}
    if service.anomaly_scorer is not None:
        frame_paths["anomaly_frame"] = service._anomaly
    frame_times = {name: [] for name in frame_paths}
    for raw in rows[:200]:
        feats = service.state.features(normalise(raw))
        for name, score in frame_paths.items():
            t0 = time.perf_counter()
            score(service.frame([feats]))
            frame_times[name].append(time.perf_counter() - t0)
    for name, times in frame_times.items():
        out[f"{name}_p50_ms"], out[f"{name}_p99_ms"] = pct(times, 50), pct(times, 99)
    return out


def batch(service_blob: bytes, rows: pl.DataFrame, features: pd.DataFrame, columns: list[str]) -> dict:
    """decide_batch of the rows (fresh copy of the warm service) and a vectorised predict_proba of their batch
    feature frame: transactions per second."""
    service = cloudpickle.loads(service_blob)
    frame = rows.to_pandas()
    start = time.perf_counter()
    service.decide_batch(frame)
    decide_s = time.perf_counter() - start
    X = features.set_index("transaction_id").loc[rows["transaction_id"].to_list(), columns]
    start = time.perf_counter()
    service.model.predict_proba(X)
    proba_s = time.perf_counter() - start
    return {"batch_rows": len(frame), "decide_batch_per_s": len(frame) / decide_s,
            "predict_proba_per_s": len(frame) / proba_s}


def _request(txn: dict) -> bytes:
    record = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in txn.items() if k != "label"}
    return json.dumps({"dataframe_records": [record]}).encode()


def served(service_blob: bytes, rows: list[dict], expected: list[str], valid: pd.DataFrame, columns: list[str],
           work: Path) -> dict:
    """Register the warm service in a temp MLflow store, `mlflow models serve` it, POST one transaction per request
    over one keep-alive connection; p50/p99 of the round trip, then stop the server."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from mlflow_serve import mlflow_server  # tests/mlflow_serve.py: the server subprocess, shared with the tests

    from paylab.fraud.registry import log_service

    store = work / "mlflow"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"], os.environ["PAYLAB_ROOT"] = uri, str(store)
    start = time.perf_counter()
    result = log_service(cloudpickle.loads(service_blob), valid[columns], (valid["label"] == "fraud").to_numpy(int),
                         root=store)
    say(f"served: logged and registered fraud v{result['version']} (champion: {result['promoted']}) in "
        f"{time.perf_counter() - start:.1f}s")
    start = time.perf_counter()
    with mlflow_server("models:/fraud@champion", uri, work / "serve.log", timeout=180) as port:
        startup = time.perf_counter() - start
        say(f"served: models serve -m models:/fraud@champion --env-manager local -p {port} answered /ping after "
            f"{startup:.1f}s")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json"}
        times, agree = [], 0
        for txn, want in zip(rows, expected, strict=True):
            body = _request(txn)
            t0 = time.perf_counter()
            conn.request("POST", "/invocations", body=body, headers=headers)
            answer = json.loads(conn.getresponse().read())
            times.append(time.perf_counter() - t0)
            agree += answer["predictions"][0]["decision"] == want
        conn.close()
    return {"served_p50_ms": pct(times, 50), "served_p99_ms": pct(times, 99), "served_requests": len(times),
            "served_startup_s": startup, "served_agree": agree}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="default")
    parser.add_argument("--rows", type=int, default=5_000, help="transactions decided in-process after the cut")
    parser.add_argument("--serve-rows", type=int, default=300, help="requests to the served endpoint")
    parser.add_argument("--batch-rows", type=int, default=20_000, help="transactions of the batch throughput run")
    parser.add_argument("--no-serve", action="store_true", help="skip the `mlflow models serve` measurement")
    parser.add_argument("--history-days", type=float, default=None,
                        help="warm the state on the last N days before the cut only (default: all history)")
    parser.add_argument("--no-anomaly", action="store_true", help="the decision without its anomaly layer")
    args = parser.parse_args()

    from paylab.features import KEY_COLUMNS
    from paylab.fraud.service import warm_service

    figures: dict = {"scale": args.scale}
    with tempfile.TemporaryDirectory(prefix="paylab-fraud-bench-") as tmp:
        work = Path(tmp)
        interim, features_path, seconds = make_data(args.scale, work)
        features = pl.read_parquet(features_path).to_pandas()
        n = len(features)
        columns = [c for c in features.columns if c not in KEY_COLUMNS]
        cut = features["timestamp"].quantile(0.9).floor("D").to_pydatetime()
        history = int((features["timestamp"] < cut).sum())
        say(f"data: {n:,} transactions, {len(columns)} features (generate + ingest + features {seconds:.1f}s); "
            f"cut {cut:%Y-%m-%d}: {history:,} before, {n - history:,} after")
        figures.update(rows=n, history=history, features=len(columns), cut=f"{cut:%Y-%m-%d}")

        model, n_train, n_fraud, fit_s = fit_model(features, columns, cut)
        say(f"model: XGBoost 200 trees depth 6 class_weight:10 on {n_train:,} labeled rows ({n_fraud} frauds) "
            f"before cut - {DELAY_DAYS}d in {fit_s:.1f}s")
        figures.update(train_rows=n_train, fit_s=round(fit_s, 2))

        detector, decision = None, {"anomaly": None}
        if not args.no_anomaly:
            detector, anomaly_s = fit_anomaly(features, columns, cut)
            decision = {"anomaly": LAYER}
            say(f"anomaly layer: {detector.name}/{detector.view} on {len(detector.columns)} online features, fitted on "
                f"{detector.fit_rows:,} rows before the cut in {anomaly_s:.1f}s; review above the "
                f"{LAYER['review']:.0%} training percentile")
        figures.update(anomaly_layer=None if detector is None else f"{detector.name}/{detector.view}")

        start = time.perf_counter()
        service = warm_service(interim, model, columns, decision, None, until=cut, history_days=args.history_days,
                               anomaly_scorer=detector)
        warm_s = time.perf_counter() - start
        history = service.warm_rows
        say(f"warm: online state replayed {history:,} transactions in {warm_s:.1f}s "
            f"({history / warm_s:,.0f}/s); fast path (inplace_predict): {service.scorer is not None}")
        figures.update(warm_s=round(warm_s, 2), fast_path=service.scorer is not None, warm_rows=history)
        blob = cloudpickle.dumps(service)  # the warm service at the cut: every measurement starts from it

        sizes = size_estimate(interim, cut, service, history)
        say(f"pickle: service {sizes['service_bytes'] / 2**20:.2f} MiB (model {sizes['model_bytes'] / 2**20:.2f}, "
            f"state {sizes['state_bytes'] / 2**20:.2f}; state of half the history "
            f"{sizes['state_bytes_half'] / 2**20:.2f}) -> {sizes['state_bytes_per_txn']:.0f} B per history "
            f"transaction; estimate at 1M transactions: {sizes['service_bytes_est_1m'] / 2**20:.0f} MiB")
        figures.update({k: round(v) for k, v in sizes.items()})

        after = pl.read_parquet(interim / "transactions.parquet").filter(pl.col("timestamp") >= cut)
        rows = list(after.head(args.rows).iter_rows(named=True))
        parts = breakdown(cloudpickle.loads(blob), rows)
        say("steps (p50 / p99 ms): " + ", ".join(f"{k} {parts[f'{k}_p50_ms']:.3f} / {parts[f'{k}_p99_ms']:.3f}"
                                                 for k in ("parse", "features", "model_fast", "anomaly", "rules",
                                                           "update"))
            + f"; model through predict_proba on a 1-row frame {parts['model_frame_p50_ms']:.2f} / "
              f"{parts['model_frame_p99_ms']:.2f}")
        figures["steps"] = {k: round(v, 4) for k, v in parts.items()}

        local = cloudpickle.loads(blob)
        timing = in_process(local, rows)
        say(f"in-process decide(): {len(rows):,} transactions after {history:,} warm: p50 {timing['p50_ms']:.3f} ms, "
            f"p99 {timing['p99_ms']:.3f} ms wall ({timing['p99_cpu_ms']:.3f} ms CPU), max {timing['max_ms']:.1f} ms "
            f"- target p99 <= 5 ms: {'met' if timing['p99_ms'] <= 5 else 'MISSED'}")
        figures.update({k: round(v, 4) for k, v in timing.items()}, decided=len(rows))

        b = batch(blob, after.head(args.batch_rows), features, columns)
        say(f"batch: decide_batch {b['decide_batch_per_s']:,.0f} transactions/s, vectorised predict_proba "
            f"{b['predict_proba_per_s']:,.0f} rows/s ({b['batch_rows']:,} rows)")
        figures.update(throughput=round(b["decide_batch_per_s"]), predict_proba_per_s=round(b["predict_proba_per_s"]),
                       batch_rows=b["batch_rows"])

        if not args.no_serve:
            serve_rows = rows[: args.serve_rows]
            reference = cloudpickle.loads(blob)
            expected = [reference.decide(r)["decision"] for r in serve_rows]
            valid = features[(features["timestamp"] >= cut) & features["label"].isin(["fraud", "legit"])]
            s = served(blob, serve_rows, expected, valid, columns, work)
            say(f"served: {s['served_requests']} requests, one transaction each: p50 {s['served_p50_ms']:.2f} ms, "
                f"p99 {s['served_p99_ms']:.2f} ms; decisions equal to in-process: {s['served_agree']}/"
                f"{s['served_requests']}")
            figures.update({k: round(v, 4) if isinstance(v, float) else v for k, v in s.items()})
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""The online fraud decision service and its MLflow packaging.

    service = warm_service(interim_dir, pipeline, feature_columns, decision_config, params["features"], until=cut)
    service.decide(txn)                  # one interim-format transaction (dict; JSON-like is fine) -> decision dict
    service.decide_batch(frame)          # many, processed in time order -> DataFrame (rows in the input's order)
    service.add_label(txn, "fraud")      # a late label, when OnlineFeatures supports it
    log_service(service, val_average_precision=ap)   # pyfunc model `fraud`; alias `champion` moves on a better AP

`decide` computes the transaction's point-in-time features from the online state, scores them with the model,
runs the decision engine (rules -> ML -> anomaly) and then adds the transaction to the state, so successive calls
see their history. The state lives in the process: one serving worker holds one state (serve with one worker).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import polars as pl

from paylab.data.kaggle import ERROR_FLAGS, US_STATES
from paylab.fraud.decision import DecisionEngine
from paylab.fraud.models import predict_steps

log = logging.getLogger(__name__)

MODEL_NAME = "fraud"
CHAMPION = "champion"
AP_TAG = "val_average_precision"
OUTPUT_COLUMNS = ("transaction_id", "decision", "proba", "reasons", "anomaly_missing")
# interim transaction columns: (MLflow type, required in a request)
INPUT_COLUMNS: dict[str, tuple[str, bool]] = {
    "transaction_id": ("long", True),
    "timestamp": ("datetime", True),
    "client_id": ("long", True),
    "card_id": ("long", True),
    "merchant_id": ("long", True),
    "amount": ("double", True),
    "channel": ("string", True),
    "mcc": ("long", True),
    "merchant_city": ("string", False),
    "merchant_state": ("string", False),
    "zip": ("string", False),
    "errors": ("string", False),
    **{flag: ("boolean", False) for flag in ERROR_FLAGS.values()},
    "is_online": ("boolean", False),
    "is_international": ("boolean", False),
    "is_refund": ("boolean", False),
    "label": ("string", False),
}
_INTS = ("transaction_id", "client_id", "card_id", "merchant_id", "mcc")
_CHANNELS = ("swipe", "chip", "online")

ReasonsFn = Callable[[Any, pd.DataFrame], Sequence[Sequence[str]]]
AnomalyScorer = Callable[[pd.DataFrame], Any]


# ------------------------------------------------------------------------------------------ request parsing
def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def parse_timestamp(value: Any) -> datetime:
    """ISO string, datetime, pandas Timestamp or numpy datetime64 -> naive datetime (an offset is dropped: the
    data's timestamps are naive local times, so the wall-clock time is kept)."""
    if isinstance(value, str):
        ts = datetime.fromisoformat(value.strip())
    elif isinstance(value, pd.Timestamp):
        ts = value.to_pydatetime()
    elif isinstance(value, datetime):
        ts = value
    elif isinstance(value, np.datetime64):
        ts = pd.Timestamp(value).to_pydatetime()
    elif isinstance(value, date):
        ts = datetime(value.year, value.month, value.day)
    else:
        raise ValueError(f"transaction column `timestamp`: expected an ISO datetime string or a datetime, "
                         f"got {value!r}")
    return ts.replace(tzinfo=None)


def _flag(value: Any) -> bool | None:
    return None if _missing(value) else bool(value)


def normalise(txn: Mapping[str, Any]) -> dict[str, Any]:
    """One interim-format transaction from a request: types fixed (numpy/pandas scalars -> Python), the timestamp
    parsed, NaN -> None, and the optional columns filled the way ingest derives them."""
    absent = [c for c, (_, required) in INPUT_COLUMNS.items() if required and _missing(txn.get(c))]
    if absent:
        raise ValueError(f"transaction {txn.get('transaction_id')!r}: required columns {absent} missing "
                         f"(needed: {[c for c, (_, r) in INPUT_COLUMNS.items() if r]})")
    out = {c: int(txn[c]) for c in _INTS}
    out["timestamp"] = parse_timestamp(txn["timestamp"])
    out["amount"] = float(txn["amount"])
    channel = str(txn["channel"]).lower()
    if channel not in _CHANNELS:
        raise ValueError(f"transaction {out['transaction_id']}: column `channel` must be one of {_CHANNELS}, "
                         f"got {txn['channel']!r}")
    out["channel"] = channel
    for col in ("merchant_city", "merchant_state", "errors"):
        value = txn.get(col)
        out[col] = None if _missing(value) else str(value)
    zip_code = txn.get("zip")
    if _missing(zip_code):
        out["zip"] = None
    elif isinstance(zip_code, int | float | np.number):
        out["zip"] = f"{int(zip_code):05d}"
    else:
        out["zip"] = str(zip_code)
    online = _flag(txn.get("is_online"))
    out["is_online"] = channel == "online" if online is None else online
    if out["merchant_city"] is None and out["is_online"]:
        out["merchant_city"] = "ONLINE"
    errors = out["errors"] or ""
    for token, col in ERROR_FLAGS.items():
        given = _flag(txn.get(col))
        out[col] = token in errors if given is None else given
    international = _flag(txn.get("is_international"))
    state = out["merchant_state"]
    out["is_international"] = ((not out["is_online"] and state is not None and state not in US_STATES)
                               if international is None else international)
    refund = _flag(txn.get("is_refund"))
    out["is_refund"] = out["amount"] < 0 if refund is None else refund
    label = txn.get("label")
    out["label"] = None if _missing(label) else str(label)
    return out


def _records(transactions: pd.DataFrame | pl.DataFrame | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(transactions, pl.DataFrame):
        return list(transactions.iter_rows(named=True))
    if isinstance(transactions, pd.DataFrame):
        return transactions.to_dict("records")
    return list(transactions)


# ------------------------------------------------------------------------------------------ fast row scoring
class _RowScorer:
    """Feature dicts -> the model's probabilities without pandas: the FeatureEncoder's encoding done on Python lists,
    then XGBoost's `inplace_predict` on a float32 matrix with one thread. Equals `pipeline.predict_proba` of the
    frame (same float32 inputs, same trees); for one row ~0.3 ms instead of ~10-100 ms for the pandas path (the
    encoder builds a frame column by column; XGBoost converts the frame to a DMatrix)."""

    def __init__(self, model, feature_columns: Sequence[str]) -> None:
        from xgboost import XGBClassifier

        from paylab.fraud.data import FeatureEncoder

        steps = predict_steps(model)
        encoder, clf = (steps + [None, None])[:2]
        if len(steps) != 2 or not isinstance(encoder, FeatureEncoder) or not isinstance(clf, XGBClassifier):
            raise TypeError("fast path needs FeatureEncoder -> XGBClassifier")
        if list(encoder.columns_) != list(feature_columns):
            raise TypeError("fast path: the encoder was fitted on other columns")
        if getattr(clf, "n_classes_", 2) != 2 or not str(clf.objective).startswith("binary:logistic"):
            raise TypeError("fast path needs a binary:logistic XGBClassifier")
        self.width = len(encoder.feature_names_out_)
        self.numeric: list[tuple[str, int]] = []
        self.categorical: list[tuple[str, dict[str, int]]] = []
        slot = 0
        for col in encoder.columns_:
            if col in encoder.categories_:
                cats = encoder.categories_[col]
                self.categorical.append((col, {v: slot + i for i, v in enumerate(cats)}))
                slot += len(cats)
            else:
                self.numeric.append((col, slot))
                slot += 1
        self.booster = clf.get_booster().copy()
        self.booster.set_param({"nthread": 1})
        best = getattr(clf, "best_iteration", None)
        self.iteration_range = (0, best + 1) if best is not None else (0, 0)
        self.missing = clf.missing

    def encode(self, features: Mapping[str, Any]) -> list[float]:
        values = [0.0] * self.width
        nan = math.nan
        for col, slot in self.numeric:
            v = features[col]
            values[slot] = nan if v is None else float(v)
        for col, slots in self.categorical:
            v = features[col]
            i = slots.get(v) if isinstance(v, str) else None  # the encoder compares values to str categories
            if i is not None:
                values[i] = 1.0
        return values

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        matrix = np.asarray([self.encode(f) for f in rows], dtype=np.float32).reshape(len(rows), self.width)
        out = self.booster.inplace_predict(matrix, iteration_range=self.iteration_range, missing=self.missing)
        return np.asarray(out, dtype=float).reshape(-1)

    def proba(self, features: Mapping[str, Any]) -> float:
        return float(self.predict([features])[0])


# ------------------------------------------------------------------------------------------ the service
class FraudService:
    """Online features (warm state) -> model probability -> decision engine, one transaction at a time.

    model:         a fitted pipeline with `predict_proba(pd.DataFrame[feature_columns])` (column 1 = fraud)
    anomaly_scorer: callable(features frame) -> scores in [0, 1] (one per row), or None (no anomaly layer yet)
    reasons_fn:    callable(model, X features frame) -> one list of reason codes per row, or None; the first
                   `n_reasons` are added to the reasons of rows whose decision is in `reasons_on` (computing them
                   for approved rows would cost latency and explain nothing that is acted on)
    labels_from_requests: keep a `label` found in a request in the state (off: a label arrives later, through
                   `add_label`; on: replaying labelled history, as the batch features do)
    """

    def __init__(self, state, model, feature_columns: Sequence[str], decision_config: Mapping[str, Any] | None = None,
                 anomaly_scorer: AnomalyScorer | None = None, reasons_fn: ReasonsFn | None = None, *,
                 n_reasons: int = 3, reasons_on: Sequence[str] = ("review", "decline"),
                 labels_from_requests: bool = False, fast_path: bool = True) -> None:
        self.state = state
        self.model = model
        self.feature_columns = list(feature_columns)
        self.decision_config = dict(decision_config or {})
        self.engine = DecisionEngine(self.decision_config)
        self.anomaly_scorer = anomaly_scorer
        self.reasons_fn = reasons_fn
        self.n_reasons = n_reasons
        self.reasons_on = tuple(reasons_on)
        self.labels_from_requests = labels_from_requests
        self.fast_path = fast_path
        self.example: dict[str, Any] | None = None  # the last transaction added to the state (an input example)
        self.last_timestamp: datetime | None = None
        self.n_decided = 0
        self.n_out_of_order = 0  # requests older than the newest transaction in the state (features see "later")
        known = set(getattr(state, "names", self.feature_columns))
        unknown = [c for c in self.feature_columns if c not in known]
        if unknown:
            raise ValueError(f"FraudService: feature columns {unknown[:5]} (of {len(unknown)}) are not produced by "
                             f"the online features ({len(known)} features)")
        rule_inputs = known | set(INPUT_COLUMNS)
        absent = [c for c in self.engine.features if c not in rule_inputs]
        if absent:
            raise ValueError(f"FraudService: decision rules read {absent}, neither a feature nor a transaction column "
                             f"(fix or switch off those rules in the decision config)")
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.RLock()
        self._scorer: _RowScorer | None | bool = None  # None: not built yet; False: no fast path

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"], state["_scorer"]  # the lock can't be pickled; the scorer is rebuilt from the model
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    # ---- scoring
    @property
    def scorer(self) -> _RowScorer | None:
        """The fast one-row scorer, when the model allows it (FeatureEncoder -> XGBClassifier)."""
        if self._scorer is None:
            try:
                self._scorer = _RowScorer(self.model, self.feature_columns) if self.fast_path else False
            except (TypeError, ImportError, AttributeError) as err:
                log.info("FraudService: no fast scoring path (%s); using predict_proba on a frame", err)
                self._scorer = False
        return self._scorer or None

    def frame(self, features: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Feature dicts -> the model's input frame (feature_columns, in order)."""
        return pd.DataFrame.from_records(list(features), columns=self.feature_columns)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Fraud probability of each row of a feature frame (the pipeline's own path)."""
        return np.asarray(self.model.predict_proba(X[self.feature_columns]))[:, 1].astype(float)

    def _proba_one(self, features: Mapping[str, Any]) -> float:
        scorer = self.scorer
        if scorer is not None:
            return scorer.proba(features)
        return float(self.predict_proba(self.frame([features]))[0])

    def _proba_many(self, features: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if not features:
            return np.zeros(0)
        scorer = self.scorer
        if scorer is not None:
            return scorer.predict(features)
        return self.predict_proba(self.frame(features))

    def _anomaly(self, X: pd.DataFrame) -> np.ndarray | None:
        if self.anomaly_scorer is None:
            return None
        scores = np.asarray(self.anomaly_scorer(X), dtype=float).reshape(-1)
        if len(scores) != len(X):
            raise ValueError(f"anomaly scorer returned {len(scores)} scores for {len(X)} rows")
        return scores

    def _model_reasons(self, X: pd.DataFrame) -> list[list[str]]:
        if self.reasons_fn is None or not len(X):
            return [[] for _ in range(len(X))]
        try:
            codes = self.reasons_fn(self.model, X)
        except Exception as err:  # an explainer failure must not block the decision; it is said in the reasons
            log.warning("FraudService: reasons_fn failed: %r", err)
            return [[f"model reasons unavailable ({type(err).__name__})"] for _ in range(len(X))]
        codes = [list(c)[: self.n_reasons] for c in codes]
        if len(codes) != len(X):
            raise ValueError(f"reasons_fn returned {len(codes)} rows of reasons for {len(X)} rows")
        return codes

    def _remember(self, txn: dict[str, Any]) -> dict[str, Any]:
        """The state's copy of a served transaction (label dropped unless labels_from_requests)."""
        if not self.labels_from_requests:
            txn = {**txn, "label": None}
        if self.last_timestamp is not None and txn["timestamp"] < self.last_timestamp:
            self.n_out_of_order += 1
        else:
            self.last_timestamp = txn["timestamp"]
        self.state.update(txn)
        self.example = txn
        return txn

    # ---- public API
    def decide(self, txn: Mapping[str, Any], update: bool = True) -> dict[str, Any]:
        """One transaction -> {transaction_id, decision, proba, reasons, anomaly_missing}; then (with `update`) the
        transaction joins the state, so later calls see it in their history."""
        txn = normalise(txn)
        with self._lock:
            features = self.state.features(txn)
            proba = self._proba_one(features)
            X = None
            if self.anomaly_scorer is not None or self.reasons_fn is not None:
                X = self.frame([features])
            anomaly = self._anomaly(X)
            decision = self.engine.decide(txn, features, proba, None if anomaly is None else float(anomaly[0]))
            reasons = list(decision.reasons)
            if decision.action in self.reasons_on and self.reasons_fn is not None:
                reasons += self._model_reasons(X)[0]
            if update:
                self._remember(txn)
            self.n_decided += 1
        return {"transaction_id": txn["transaction_id"], "decision": decision.action, "proba": decision.proba,
                "reasons": reasons, "anomaly_missing": decision.anomaly_missing}

    def decide_batch(self, transactions: pd.DataFrame | pl.DataFrame | Iterable[Mapping[str, Any]],
                     update: bool = True) -> pd.DataFrame:
        """Many transactions, processed in (timestamp, transaction_id) order exactly as successive `decide` calls
        (features from the state, then the state update), with the model and the rules run once on the whole
        batch. Returns one row per input row, in the input's order (index kept for a pandas input). With
        `update=False` every row is scored against the current state only."""
        index = transactions.index if isinstance(transactions, pd.DataFrame) else None
        rows = [normalise(r) for r in _records(transactions)]
        order = sorted(range(len(rows)), key=lambda i: (rows[i]["timestamp"], rows[i]["transaction_id"]))
        features: list[dict[str, Any]] = [{}] * len(rows)
        with self._lock:
            for i in order:
                features[i] = self.state.features(rows[i])
                if update:
                    self._remember(rows[i])
            self.n_decided += len(rows)
        proba = self._proba_many(features)
        anomaly = self._anomaly(self.frame(features)) if self.anomaly_scorer is not None else None
        rule_frame = pd.DataFrame({c: [f[c] if c in f else r[c] for f, r in zip(features, rows, strict=True)]
                                   for c in self.engine.features}, index=range(len(rows)))
        decisions = self.engine.decide_batch(rule_frame, proba, anomaly)
        reasons = [list(r) for r in decisions["reasons"]]
        if self.reasons_fn is not None:
            flagged = np.flatnonzero(decisions["decision"].isin(self.reasons_on).to_numpy())
            for i, codes in zip(flagged, self._model_reasons(self.frame([features[i] for i in flagged])),
                                strict=True):
                reasons[i] += codes
        out = pd.DataFrame({"transaction_id": [r["transaction_id"] for r in rows],
                            "decision": decisions["decision"].to_numpy(), "proba": decisions["proba"].to_numpy(),
                            "reasons": reasons, "anomaly_missing": decisions["anomaly_missing"].to_numpy()})
        if index is not None:
            out.index = index
        return out

    def add_label(self, txn: Mapping[str, Any], label: str) -> bool:
        """Pass a late label to the online state (`OnlineFeatures.add_label`) when it supports that; False (and a
        warning) when it does not."""
        add = getattr(self.state, "add_label", None)
        if add is None:
            log.warning("FraudService.add_label: %s has no add_label: label of %s not recorded",
                        type(self.state).__name__, txn.get("transaction_id"))
            return False
        with self._lock:
            add(normalise({**txn, "label": None}), label)
        return True

    def check_fast_path(self, txn: Mapping[str, Any], tol: float = 1e-6) -> float | None:
        """|fast - pipeline| probability on one transaction (state unchanged); switches the fast path off when
        they disagree by more than `tol`. None when there is no fast path."""
        scorer = self.scorer
        if scorer is None:
            return None
        features = self.state.features(normalise(txn))
        gap = abs(scorer.proba(features) - float(self.predict_proba(self.frame([features]))[0]))
        if gap > tol:
            log.warning("FraudService: fast path off (differs from predict_proba by %.3g)", gap)
            self._scorer = False
        return gap

    def describe(self) -> dict[str, Any]:
        return {"features": len(self.feature_columns), "fast_path": self.scorer is not None,
                "rules": self.engine.describe(), "decided": self.n_decided, "out_of_order": self.n_out_of_order,
                "last_timestamp": None if self.last_timestamp is None else self.last_timestamp.isoformat(),
                "anomaly_layer": self.anomaly_scorer is not None, "model_reasons": self.reasons_fn is not None}


def warm_service(interim_dir: Path | str, model, feature_columns: Sequence[str],
                 decision_config: Mapping[str, Any] | None, params: Mapping[str, Any] | None = None,
                 until: datetime | str | None = None, **service_kwargs: Any) -> FraudService:
    """A FraudService whose online state has replayed data/interim transactions (all, or those with timestamp <
    `until`), labels included: the history before serving starts. `params`: the `features` section."""
    from paylab.features.online import OnlineFeatures

    interim_dir = Path(interim_dir)
    tables = {}
    for name in ("transactions", "cards", "users"):
        path = interim_dir / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"warm_service: missing {path} (run `paylab ingest` first)")
        tables[name] = path
    state = OnlineFeatures(pl.read_parquet(tables["cards"]), pl.read_parquet(tables["users"]), dict(params or {}))
    lf = pl.scan_parquet(tables["transactions"])
    if until is not None:
        lf = lf.filter(pl.col("timestamp") < parse_timestamp(until))
    history = lf.sort("timestamp", "transaction_id").collect()
    service = FraudService(state, model, feature_columns, decision_config, **service_kwargs)
    last = None
    for last in history.iter_rows(named=True):
        state.update(last)
    if last is not None:
        service.example = {**last, "label": None}
        service.last_timestamp = last["timestamp"]
        service.check_fast_path(last)
    return service


# ------------------------------------------------------------------------------------------ MLflow packaging
def dump_service(service: FraudService, path: Path | str) -> int:
    """cloudpickle the whole service (model + warm state) to `path`; its size in bytes."""
    import cloudpickle

    path = Path(path)
    with path.open("wb") as fh:
        cloudpickle.dump(service, fh)
    return path.stat().st_size


def load_service(path: Path | str) -> FraudService:
    import cloudpickle

    with Path(path).open("rb") as fh:
        return cloudpickle.load(fh)


class FraudModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of a pickled FraudService (artifact `service`). Each request is decided and joins the state;
    params {"update_state": false} scores without changing it."""

    def load_context(self, context) -> None:
        self.service = load_service(context.artifacts["service"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        update = bool((params or {}).get("update_state", True))
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        out = self.service.decide_batch(frame, update=update)
        out["reasons"] = [json.dumps(r) for r in out["reasons"]]
        return out


_MODEL_CODE = """from mlflow.models import set_model

from paylab.fraud.service import FraudModel

set_model(FraudModel())
"""


def signature():
    """The pyfunc signature: one interim-format transaction per row (optional columns may be left out)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec(t, c, required=r) for c, (t, r) in INPUT_COLUMNS.items()])
    outputs = Schema([ColSpec("long", "transaction_id"), ColSpec("string", "decision"), ColSpec("double", "proba"),
                      ColSpec("string", "reasons"), ColSpec("boolean", "anomaly_missing")])
    params = ParamSchema([ParamSpec("update_state", "boolean", True)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def example_frame(txn: Mapping[str, Any]) -> pd.DataFrame:
    """One transaction as a one-row input frame (label left out: a request does not know it)."""
    row = {c: txn.get(c) for c in INPUT_COLUMNS if c != "label"}
    row["timestamp"] = parse_timestamp(row["timestamp"])
    return pd.DataFrame([row])


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("mlflow", "cloudpickle", "numpy", "pandas", "polars", "scikit-learn", "imbalanced-learn",
                 "xgboost", "pyarrow"):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return out  # + the paylab package itself (not on PyPI): serve from the project environment (--env-manager local)


def _champion(client, name: str, alias: str) -> tuple[int | None, float | None]:
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None, None
    ap = mv.tags.get(AP_TAG)
    if ap is None and mv.run_id:
        ap = client.get_run(mv.run_id).data.metrics.get(AP_TAG)
    return int(mv.version), None if ap is None else float(ap)


def log_service(service: FraudService, name: str = MODEL_NAME, *, val_average_precision: float,
                metrics: Mapping[str, float] | None = None, input_example: Mapping[str, Any] | None = None,
                alias: str = CHAMPION, root: Path | None = None) -> dict[str, Any]:
    """Log the service as a pyfunc model (artifact: the cloudpickled service) into the active MLflow run (else a
    new run of experiment `paylab-fraud`), register it as model `name` and move `alias` to the new version only when
    its validation average precision beats the current holder's (or there is none; a holder without a recorded AP
    is kept). Returns {version, promoted, champion_version, champion_ap, previous_champion_version, run_id,
    model_uri, service_bytes}."""
    import tempfile
    from contextlib import nullcontext

    import mlflow
    from mlflow import MlflowClient

    from paylab.tracking import git_commit, stage_run

    ap = float(val_average_precision)
    if not math.isfinite(ap):
        raise ValueError(f"log_service: val_average_precision must be a finite number, got {val_average_precision!r}")
    example = input_example if input_example is not None else service.example
    if example is None:
        raise ValueError("log_service: no input_example and the service has seen no transaction")
    active = mlflow.active_run()
    with (nullcontext(active) if active else stage_run("fraud", stage="serve", root=root)) as run, \
            tempfile.TemporaryDirectory(prefix="paylab-service-") as tmp:
        size = dump_service(service, Path(tmp) / "service.pkl")
        code = Path(tmp) / "fraud_model.py"  # models-from-code: the wrapper by import, the service as an artifact
        code.write_text(_MODEL_CODE)
        info = mlflow.pyfunc.log_model(
            name=name, python_model=str(code), artifacts={"service": str(Path(tmp) / "service.pkl")},
            signature=signature(), input_example=example_frame(example), registered_model_name=name,
            pip_requirements=_requirements(),
            metadata={"feature_columns": len(service.feature_columns), "service_bytes": size})
        values = {AP_TAG: ap, "service_bytes": float(size), **{k: float(v) for k, v in (metrics or {}).items()}}
        mlflow.log_metrics(values, model_id=info.model_id)
        run_id = run.info.run_id
    client = MlflowClient()
    version = int(info.registered_model_version)
    client.set_model_version_tag(name, str(version), AP_TAG, repr(ap))
    client.set_model_version_tag(name, str(version), "git_commit", git_commit(root))
    previous, previous_ap = _champion(client, name, alias)
    promoted = previous is None or (previous_ap is not None and ap > previous_ap)
    if previous is not None and previous_ap is None:
        log.warning("log_service: %s@%s (version %s) has no %s: kept", name, alias, previous, AP_TAG)
    if promoted:
        client.set_registered_model_alias(name, alias, str(version))
    champion, champion_ap = (version, ap) if promoted else (previous, previous_ap)
    return {"version": version, "promoted": promoted, "champion_version": champion, "champion_ap": champion_ap,
            "previous_champion_version": previous, "run_id": run_id, "model_uri": f"models:/{name}/{version}",
            "service_bytes": size}


def stop_server(proc) -> None:
    """Stop a `mlflow models serve` subprocess started with `start_new_session=True`: SIGTERM its process group
    (mlflow and its uvicorn child), SIGKILL after 15 s."""
    import contextlib
    import os
    import signal
    import subprocess

    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def load_champion(name: str = "fraud", alias: str = "champion") -> tuple[FraudService, int] | None:
    """(service, version) behind models:/<name>@<alias> in the current MLflow store; None when none is registered."""
    from mlflow.exceptions import MlflowException

    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    model = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
    return model.unwrap_python_model().service, int(version.version)

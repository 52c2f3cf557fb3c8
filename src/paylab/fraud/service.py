"""The online fraud decision service and its MLflow pyfunc packaging.

    service = warm_service(interim_dir, pipeline, feature_columns, decision_config, params["features"], until=cut,
                           history_days=365)
    service.decide(txn)                  # one interim-format transaction (dict; JSON-like is fine) -> decision dict
    service.decide_batch(frame)          # many, processed in time order -> DataFrame (rows in the input's order)
    service.add_label(txn, "fraud")      # a late label, when OnlineFeatures supports it

`decide` computes the transaction's point-in-time features from the online state, scores them with the model,
runs the decision engine (rules -> ML -> anomaly) and then adds the transaction to the state, so successive calls
see their history. The state lives in the process: one serving worker holds one state (serve with one worker).
Requests are parsed by `paylab.fraud.requests`, scored by `paylab.fraud.encoding.RowScorer` when the model allows
it; `paylab.fraud.registry.log_service` registers the service (`FraudModel`, a pyfunc) and keeps the champion.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import polars as pl

from paylab.fraud.decision import DecisionEngine
from paylab.fraud.encoding import RowScorer
from paylab.fraud.requests import INPUT_COLUMNS, normalise, parse_timestamp, records

log = logging.getLogger(__name__)

ReasonsFn = Callable[[Any, pd.DataFrame], Sequence[Sequence[str]]]
AnomalyScorer = Callable[[pd.DataFrame], Any]


class FraudService:
    """Online features (warm state) -> model probability -> decision engine, one transaction at a time.

    model:         a fitted pipeline with `predict_proba(pd.DataFrame[feature_columns])` (column 1 = fraud)
    anomaly_scorer: callable(features frame) -> scores in [0, 1] (one per row), or None (no anomaly layer yet);
                   its `one(feature dict) -> score`, when it has one, scores a single `decide` without a frame
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
        self.warm_rows, self.warm_from = 0, None  # transactions replayed by warm_service, the oldest one's time
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
        self._scorer: RowScorer | None | bool = None  # None: not built yet; False: no fast path

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"], state["_scorer"]  # the lock can't be pickled; the scorer is rebuilt from the model
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    # ---- scoring
    @property
    def scorer(self) -> RowScorer | None:
        """The fast one-row scorer, when the model allows it (see `RowScorer`)."""
        if self._scorer is None:
            try:
                self._scorer = RowScorer(self.model, self.feature_columns) if self.fast_path else False
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

    def _anomaly_one(self, features: Mapping[str, Any]) -> float | None:
        """One row's anomaly score: the scorer's own `one(feature dict)` when it has one (no frame), else a frame."""
        if self.anomaly_scorer is None:
            return None
        one = getattr(self.anomaly_scorer, "one", None) if self.fast_path else None
        if one is not None:
            return float(one(features))
        return float(self._anomaly(self.frame([features]))[0])

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
            decision = self.engine.decide(txn, features, proba, self._anomaly_one(features))
            reasons = list(decision.reasons)
            if decision.action in self.reasons_on and self.reasons_fn is not None:
                reasons += self._model_reasons(self.frame([features]))[0]
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
        rows = [normalise(r) for r in records(transactions)]
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
        """What the service holds and has done: features, fast path, rules, counts, times of the state."""
        return {"features": len(self.feature_columns), "fast_path": self.scorer is not None,
                "rules": self.engine.describe(), "decided": self.n_decided, "out_of_order": self.n_out_of_order,
                "last_timestamp": None if self.last_timestamp is None else self.last_timestamp.isoformat(),
                "anomaly_layer": self.anomaly_scorer is not None, "model_reasons": self.reasons_fn is not None,
                "warm_rows": self.warm_rows,
                "warm_from": None if self.warm_from is None else self.warm_from.isoformat()}


def history_needed(params: Mapping[str, Any] | None = None) -> float:
    """Days of history the windowed online features need to be exact: the longest velocity window, and the label
    delay plus the longest merchant / MCC risk window (`params`: the `features` section)."""
    from paylab.features.spec import FeatureConfig

    cfg = FeatureConfig.from_params(dict(params or {}))
    spans = [w for _, w in cfg.velocity_windows()]
    spans += [cfg.delay_us + w for _, _, w in cfg.risk_specs() if w is not None]
    return max(spans) / 86_400e6


def warm_service(interim_dir: Path | str, model, feature_columns: Sequence[str],
                 decision_config: Mapping[str, Any] | None, params: Mapping[str, Any] | None = None,
                 until: datetime | str | None = None, history_days: float | None = None,
                 **service_kwargs: Any) -> FraudService:
    """A FraudService whose online state has replayed the data/interim transactions before `until` (all when None),
    labels included: the history before serving starts. `params`: the `features` section.

    `history_days`: replay only the last `history_days` days (before `until`, else before the newest transaction), so
    that the warm state and its pickle grow with the traffic of those days, not with the whole history. It must
    cover `history_needed(params)`: velocity and merchant / MCC risk features are then exact. The all-history
    features (card / client n_prior, hist_mean, hist_std, amount_z and the ratios to them, novelty counts and
    first-time flags, the client's home state, card risk over all history, the sequence and time since the previous
    payment of a card idle longer than that) count only the replayed days: a shorter past than the batch features
    the model was trained on. None (default): every transaction, exact and unbounded."""
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
    end = None if until is None else parse_timestamp(until)
    if end is not None:
        lf = lf.filter(pl.col("timestamp") < end)
    if history_days is not None:
        needed = history_needed(params)
        if not history_days >= needed:
            raise ValueError(f"warm_service: history_days={history_days!r} is shorter than the {needed:g} days the "
                             f"windowed features need (longest of features.windows, delay_days + risk_windows)")
        end = end if end is not None else lf.select(pl.col("timestamp").max()).collect().item()
        if end is not None:
            lf = lf.filter(pl.col("timestamp") >= end - timedelta(days=history_days))
    history = lf.sort("timestamp", "transaction_id").collect()
    service = FraudService(state, model, feature_columns, decision_config, **service_kwargs)
    last = None
    for last in history.iter_rows(named=True):
        state.update(last)
    service.warm_rows = history.height
    service.warm_from = history["timestamp"].min() if history.height else None
    if last is not None:
        service.example = {**last, "label": None}
        service.last_timestamp = last["timestamp"]
        service.check_fast_path(last)
    return service


def dump_service(service: FraudService, path: Path | str) -> int:
    """cloudpickle the whole service (model + warm state) to `path`; its size in bytes."""
    import cloudpickle

    path = Path(path)
    with path.open("wb") as fh:
        cloudpickle.dump(service, fh)
    return path.stat().st_size


def load_service(path: Path | str) -> FraudService:
    """The service pickled by `dump_service`."""
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


MODEL_CODE = """from mlflow.models import set_model

from paylab.fraud.service import FraudModel

set_model(FraudModel())
"""


def requirements() -> list[str]:
    """Pinned pip requirements of the pyfunc: the installed versions of what the service imports."""
    from paylab.tracking import pinned

    return pinned("mlflow", "cloudpickle", "numpy", "pandas", "polars", "scikit-learn", "imbalanced-learn", "xgboost",
                  "pyarrow")

"""The fraud service in the MLflow registry: registered model `fraud`, alias `champion` on the version to serve.

    result = log_service(service, X_valid, y_valid, metrics={"test_average_precision": ap}, root=root)
    service, version = load_champion()        # what models:/fraud@champion serves; None when nothing is registered

Promotion: the new service's model and the current champion's model are scored on the same validation rows
(`X_valid`, `y_valid`: the champion's pipeline is loaded from its version's artifact `model.pkl`) with the same
average precision. The new service is registered and takes the alias only when its AP is strictly higher, when there
is no champion, or when the champion cannot be re-scored (a version logged before re-scoring existed has no
`model.pkl`; or X_valid lacks its feature columns): then it cannot be compared and the new one wins, with a warning.
A service that does not win is not registered: its AP and the champion's go to the run's metrics, nothing to the
registry, so versions are only ever champions (current or former).
"""

from __future__ import annotations

import io
import logging
import math
import pickle
import tempfile
from collections.abc import Mapping
from contextlib import nullcontext, redirect_stderr
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from paylab.evaluation import average_precision
from paylab.fraud.requests import example_frame, signature
from paylab.fraud.service import MODEL_CODE, FraudService, dump_service, requirements

log = logging.getLogger(__name__)

MODEL_NAME = "fraud"
CHAMPION = "champion"
AP_TAG = "val_average_precision"
MODEL_FILE = "model.pkl"  # artifact: {"model": pipeline, "feature_columns": [...]}, to re-score without the state
RESCORED_METRIC = "champion_rescored_average_precision"


def _champion(client, name: str, alias: str) -> tuple[int | None, float | None]:
    """(version, AP recorded when it was logged) of name@alias; (None, None) when the alias is not set."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None, None
    ap = mv.tags.get(AP_TAG)
    if ap is None and mv.run_id:
        ap = client.get_run(mv.run_id).data.metrics.get(AP_TAG)
    return int(mv.version), None if ap is None else float(ap)


def load_version_model(name: str, version: int) -> tuple[Any, list[str]]:
    """(fitted pipeline, its feature columns) of a registered version, from its artifact `model.pkl` (the service's
    warm state is not loaded). MlflowException when the version has no such artifact."""
    import cloudpickle
    import mlflow

    with tempfile.TemporaryDirectory(prefix="paylab-champion-") as tmp:
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}/artifacts/{MODEL_FILE}",
                                                   dst_path=tmp)
        with Path(path).open("rb") as fh:
            saved = cloudpickle.load(fh)
    return saved["model"], list(saved["feature_columns"])


def _rescore(name: str, version: int, X_valid: pd.DataFrame, y: np.ndarray) -> tuple[float | None, str | None]:
    """(AP of version on the validation rows, None) or (None, why it cannot be re-scored)."""
    from mlflow.exceptions import MlflowException

    try:
        model, columns = load_version_model(name, version)
    except (MlflowException, OSError, AttributeError, ImportError, EOFError, pickle.UnpicklingError) as err:
        return None, f"its {MODEL_FILE} cannot be loaded ({type(err).__name__}: {str(err)[:200]})"
    missing = [c for c in columns if c not in X_valid.columns]
    if missing:
        return None, f"{len(missing)} of its feature columns are not in the validation rows, e.g. {missing[0]!r}"
    return average_precision(y, np.asarray(model.predict_proba(X_valid[columns]))[:, 1]), None


def _decide(name: str, previous: int | None, ap: float, X_valid: pd.DataFrame,
            y: np.ndarray) -> tuple[bool, float | None, str]:
    """(promoted, the champion's AP on the validation rows or None, why) for a new service of validation AP `ap`."""
    if previous is None:
        return True, None, "no champion"
    rescored, why = _rescore(name, previous, X_valid, y)
    if rescored is None:
        reason = f"{name} v{previous} cannot be re-scored: {why}"
        log.warning("log_service: %s; the new service is promoted", reason)
        return True, None, reason
    promoted = ap > rescored
    return promoted, rescored, (f"validation AP {ap:.4f} {'>' if promoted else '<='} {rescored:.4f} of {name} "
                                f"v{previous} on the same rows")


def log_service(service: FraudService, X_valid: pd.DataFrame, y_valid, *, name: str = MODEL_NAME,
                alias: str = CHAMPION, metrics: Mapping[str, float] | None = None,
                input_example: Mapping[str, Any] | None = None, root: Path | None = None) -> dict[str, Any]:
    """Score the service's model and the champion's on the validation rows (X_valid: at least both models' feature
    columns; y_valid: 1 fraud, 0 legit), log the figures into the active MLflow run (else a new run of experiment
    `paylab-fraud`, tag stage=serve) and, when the new one wins (see the module doc), log the service as a pyfunc,
    register it as `name` and move `alias` to it.

    Returns {version (None when not registered), promoted, champion_version, champion_ap (the champion's AP on these
    rows, after the decision), previous_champion_version, champion_rescored_ap (the previous champion's AP on these
    rows; None without one or when it cannot be re-scored), champion_stored_ap (its AP when it was logged),
    val_average_precision, reason, run_id, model_uri, service_bytes}."""
    import mlflow
    from mlflow import MlflowClient

    from paylab.tracking import git_commit, stage_run

    y = np.asarray(y_valid)
    if len(y) != len(X_valid):
        raise ValueError(f"log_service: y_valid has {len(y)} labels for {len(X_valid)} validation rows")
    ap = average_precision(y, service.predict_proba(X_valid))
    if not math.isfinite(ap):
        raise ValueError(f"log_service: the {len(y)} validation rows need frauds and legitimate rows "
                         f"({int(np.sum(y == 1))} frauds): their average precision is undefined")
    example = input_example if input_example is not None else service.example
    if example is None:
        raise ValueError("log_service: no input_example and the service has seen no transaction")
    active = mlflow.active_run()
    with (nullcontext(active) if active else stage_run("fraud", stage="serve", root=root)) as run, \
            tempfile.TemporaryDirectory(prefix="paylab-service-") as tmp:
        client = MlflowClient()  # after stage_run: it sets the tracking URI when there was no run
        previous, stored = _champion(client, name, alias)
        promoted, rescored, reason = _decide(name, previous, ap, X_valid, y)
        values = {AP_TAG: ap, **{k: float(v) for k, v in (metrics or {}).items()}}
        if rescored is not None:
            values[RESCORED_METRIC] = rescored
        size = dump_service(service, Path(tmp) / "service.pkl")
        values["service_bytes"] = float(size)
        with redirect_stderr(io.StringIO()):  # MLflow prints "Successfully registered ..." there; failures raise
            info = _log_model(service, name, Path(tmp), example, size) if promoted else None
        mlflow.log_metrics(values, model_id=None if info is None else info.model_id)
        mlflow.set_tag("fraud_promotion", reason[:500])
        run_id = run.info.run_id
    version = None
    if info is not None:
        version = int(info.registered_model_version)
        client.set_model_version_tag(name, str(version), AP_TAG, repr(ap))
        client.set_model_version_tag(name, str(version), "git_commit", git_commit(root))
        client.set_registered_model_alias(name, alias, str(version))
    return {"version": version, "promoted": promoted,
            "champion_version": version if promoted else previous, "champion_ap": ap if promoted else rescored,
            "previous_champion_version": previous, "champion_rescored_ap": rescored, "champion_stored_ap": stored,
            "val_average_precision": ap, "reason": reason, "run_id": run_id,
            "model_uri": None if version is None else f"models:/{name}/{version}", "service_bytes": size}


def _log_model(service: FraudService, name: str, tmp: Path, example: Mapping[str, Any], size: int):
    """Log the pyfunc (artifacts: the pickled service, already in tmp, and model.pkl) and register it as `name`."""
    import cloudpickle
    import mlflow

    (tmp / MODEL_FILE).write_bytes(cloudpickle.dumps({"model": service.model,
                                                      "feature_columns": list(service.feature_columns)}))
    code = tmp / "fraud_model.py"  # models-from-code: the wrapper by import, the service as an artifact
    code.write_text(MODEL_CODE)
    return mlflow.pyfunc.log_model(
        name=name, python_model=str(code),
        artifacts={"service": str(tmp / "service.pkl"), "model": str(tmp / MODEL_FILE)},
        signature=signature(), input_example=example_frame(example), registered_model_name=name,
        pip_requirements=requirements(),
        metadata={"feature_columns": len(service.feature_columns), "service_bytes": size})


def load_champion(name: str = MODEL_NAME, alias: str = CHAMPION) -> tuple[FraudService, int] | None:
    """(service, version) behind models:/<name>@<alias> in the current MLflow store; None when none is registered."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    model = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
    return model.unwrap_python_model().service, int(version.version)

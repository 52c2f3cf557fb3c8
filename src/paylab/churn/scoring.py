"""The latest cutoff's predictions as database rows: probability, band, reasons, value at risk."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from paylab.churn.panel import AGGREGATES
from paylab.churn.reasons import top_reasons
from paylab.churn.training import Experiment, hybrid_frame


def model_version(commit: str, params: dict) -> str:
    """`churn-<commit>-<params hash>`: the same code and knobs give the same version, so a rerun of the stage
    replaces its rows (the primary key holds the version) while a changed model adds a version beside them."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"churn-{commit[:8]}-{digest}"


def risk_band(prob: np.ndarray, bands: dict) -> np.ndarray:
    """'high' (p >= bands.high), 'medium' (p >= bands.medium) or 'low'."""
    prob = np.asarray(prob, dtype=float)
    return np.where(prob >= float(bands["high"]), "high", np.where(prob >= float(bands["medium"]), "medium", "low"))


def prediction_rows(exp: Experiment, bands: dict, model_version: str, run_id: str) -> pd.DataFrame:
    """One row per user active at the latest cutoff (the end of the data): the champion's probability, its band,
    three SHAP reasons (the hybrid GBM when it is the champion, else the baseline GBM), expected monthly value at
    risk = probability x recent monthly spend."""
    rows = exp.rows[exp.rows["part"] == "score"].reset_index(drop=True)
    prob = rows[f"p_{exp.champion}"].to_numpy()
    explained, x = (exp.hybrid, hybrid_frame(rows)) if exp.champion == "hybrid" else (exp.gbm, rows[AGGREGATES])
    reasons = top_reasons(explained, x, k=3)
    out = pd.DataFrame({"client_id": rows["client_id"].astype("int64"), "cutoff": rows["cutoff"],
                        "probability": prob, "risk_band": risk_band(prob, bands),
                        "monthly_spend": rows["monthly_spend"].to_numpy(),
                        "value_at_risk": prob * rows["monthly_spend"].to_numpy()})
    for k in range(3):
        out[f"reason_{k + 1}"] = [r[k] if len(r) > k else None for r in reasons]
    out["model_name"] = exp.champion
    out["model_version"] = str(model_version)
    out["mlflow_run_id"] = run_id or None
    out["created_at"] = datetime.now(UTC).replace(tzinfo=None)
    return out.sort_values("value_at_risk", ascending=False, ignore_index=True)

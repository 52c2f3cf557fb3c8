"""The stage's detectors as one suite: which detector runs on which view (params `anomaly.runs`), fitted on a seeded
sample of the training window's rows (labels never read), and scored on any rows.

    suite = fit_suite(frame.iloc[train_rows], params["runs"], params["detectors"], params["fit_rows"], seed)
    raw, pct = score_suite(suite, frame.iloc[test_rows])   # {run: raw scores}, {run: training percentiles}
    run_name("isolation_forest", "global")                 # "isolation_forest/global"
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from paylab.anomaly.detectors import Detector, fit_detector
from paylab.anomaly.views import view_columns


def run_name(detector: str, view: str) -> str:
    return f"{detector}/{view}"


def runs_of(runs: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """params `runs` ({detector: [views]}) -> [(detector, view)] in order."""
    return [(d, v) for d, views in runs.items() for v in views]


def fit_suite(train: pd.DataFrame, runs: Mapping[str, Sequence[str]], detector_params: Mapping[str, Any],
              fit_rows: int, seed: int, available: Sequence[str] | None = None) -> dict[str, Detector]:
    """Every (detector, view) of `runs` fitted on at most `fit_rows` rows of `train` (a seeded sample kept in time
    order; a detector's own `fit_rows` param lowers it, e.g. for LOF). Each detector records its fit seconds."""
    available = list(available if available is not None else train.columns)
    suite, scalers = {}, {}
    for detector, view in runs_of(runs):
        params = dict(detector_params.get(detector) or {})
        n = min(len(train), int(params.get("fit_rows", fit_rows)))
        rows = np.sort(np.random.default_rng(seed).choice(len(train), n, replace=False))
        start = time.perf_counter()
        fitted = fit_detector(detector, view, view_columns(view, available), train.iloc[rows], params, seed,
                              scaler=scalers.get((view, n)))
        scalers[(view, n)] = fitted.scaler  # the same rows and columns: the same scaler, shared
        fitted.fit_seconds, fitted.fit_rows = time.perf_counter() - start, n
        suite[run_name(detector, view)] = fitted
    return suite


def score_suite(suite: Mapping[str, Detector], frame: pd.DataFrame,
                only: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({run: raw anomaly scores}, {run: percentiles of the training scores}) of the rows of `frame`; the scaled
    matrix of a view is computed once for the detectors that share its scaler."""
    raw, pct, matrices = {}, {}, {}
    for name, det in suite.items():
        if only is not None and name not in only:
            continue
        start = time.perf_counter()
        key = (id(det.scaler), tuple(det.columns))
        if key not in matrices:
            matrices[key] = det.matrix(frame)
        raw[name] = det.score(frame, matrices[key])
        pct[name] = det.percentile(raw[name])
        det.score_seconds += time.perf_counter() - start
    return raw, pct


def costs(suite: Mapping[str, Detector]) -> pd.DataFrame:
    """Fit rows, fit and scoring seconds per run."""
    return pd.DataFrame([{"run": n, "fit_rows": d.fit_rows, "fit_s": d.fit_seconds, "score_s": d.score_seconds}
                         for n, d in suite.items()])

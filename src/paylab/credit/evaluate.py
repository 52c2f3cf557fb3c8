"""AUC, Gini and KS with bootstrap intervals (by client), paired differences, and score drift (PSI)."""

from __future__ import annotations

import numpy as np

from paylab import evaluation

METRICS = ("roc_auc", "gini", "ks")


def risk(score) -> np.ndarray:
    """The shared metrics rank by risk: minus a higher-is-safer score."""
    return -np.asarray(score, dtype=float)


def compare(y, scores: dict[str, np.ndarray], blocks, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
            pairs: dict[str, tuple[str, str]] | None = None) -> dict:
    """{'models': {name: {n, n_bad, metric, metric_ci_low, metric_ci_high}}, 'differences': {pair: {metric: ...}}}
    on the same rows and the same bootstrap replicates (blocks = clients, so a client's loans move together).
    Scores are higher = lower risk."""
    y = np.asarray(y).astype(int)
    points, reps = evaluation.bootstrap_scores(y, {k: risk(v) for k, v in scores.items()}, blocks, METRICS,
                                               n_boot=n_boot, seed=seed)
    models = {name: {"n": int(y.size), "n_bad": int(y.sum()), **evaluation.intervals(points[name], reps[name], level)}
              for name in scores}
    diffs = {label: {m: evaluation.paired_difference(points[a][m], points[b][m], reps[a][m], reps[b][m], level)
                     for m in METRICS} for label, (a, b) in (pairs or {}).items()}
    return {"models": models, "differences": diffs}


def drift(development, out_of_time, bins: int = 10) -> dict:
    """Score PSI of the out-of-time window against development (reference deciles) and its band."""
    value = evaluation.psi(development, out_of_time, bins)
    return {"psi": value, "band": evaluation.psi_band(value), "bands": list(evaluation.PSI_BANDS)}

"""Test metrics of every model with bootstrap intervals over users, paired differences and calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab import evaluation as ev

METRICS = ("roc_auc", "average_precision", "lift_at_10pct", "capture_at_10pct", "brier")


def compare(test: pd.DataFrame, scores: dict[str, np.ndarray], n_boot: int = 1000, seed: int = 0,
            level: float = 0.95) -> tuple[dict[str, dict], dict]:
    """({name: flat metrics with intervals, n, churners, users}, {name: replicates}) on the same user blocks."""
    y = test["label"].to_numpy().astype(int)
    points, reps = ev.bootstrap_scores(y, scores, test["client_id"].to_numpy(), metrics=METRICS, n_boot=n_boot,
                                       seed=seed)
    blocks = {}
    for name in scores:
        block = ev.intervals(points[name], reps[name], level)
        block.update({"n": int(len(y)), "churners": int(y.sum()), "users": int(test["client_id"].nunique()),
                      "churn_rate": float(y.mean())})
        blocks[name] = block
    return blocks, reps


def differences(blocks: dict, reps: dict, pairs: list[tuple[str, str]], level: float = 0.95) -> dict:
    """{"a_minus_b": {metric: paired difference a - b with its verdict}}; Brier (lower is better) as
    `brier_reduction` = Brier(b) - Brier(a), so that 'better' always means a is better."""
    out = {}
    for a, b in pairs:
        d = {m: ev.paired_difference(blocks[a][m], blocks[b][m], reps[a][m], reps[b][m], level)
             for m in ("roc_auc", "average_precision", "lift_at_10pct")}
        d["brier_reduction"] = ev.paired_difference(blocks[b]["brier"], blocks[a]["brier"], reps[b]["brier"],
                                                    reps[a]["brier"], level)
        out[f"{a}_minus_{b}"] = d
    return out


def calibration(test: pd.DataFrame, scores: dict[str, np.ndarray], n_bins: int = 10) -> pd.DataFrame:
    """Reliability bins of every model on the test rows (long: model, bin, mean_prob, observed_rate, n)."""
    y = test["label"].to_numpy().astype(int)
    frames = [ev.calibration_table(y, s, n_bins=n_bins).assign(model=name) for name, s in scores.items()]
    return pd.concat(frames, ignore_index=True)

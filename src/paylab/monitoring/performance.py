"""The fraud model's ranking quality per period, on the labels known by the end of the data (a transaction's label
is known `delay_days` after it), with 95% block-bootstrap intervals by day (the shared `paylab.evaluation` helpers),
and the PSI of a score against its reference-window distribution."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from paylab import evaluation

METRICS = ("roc_auc", "average_precision", "ks")


def window_metrics(y, scores: Mapping[str, np.ndarray], day, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95, metrics: Sequence[str] = METRICS) -> dict[str, dict[str, float]]:
    """{score name: {metric, metric_ci_low, metric_ci_high, n, n_positive}} on one set of labelled rows (paired)."""
    y = np.asarray(y, dtype=int)
    points, reps = evaluation.bootstrap_scores(y, {k: np.asarray(v, float) for k, v in scores.items()},
                                               np.asarray(day), metrics=metrics, n_boot=n_boot, seed=seed)
    return {name: {**evaluation.intervals(points[name], reps[name], level), "n": int(y.size),
                   "n_positive": int(y.sum())} for name in scores}


def by_period(frame: pd.DataFrame, scores: Sequence[str], period: str = "period", label: str = "y",
              day: str = "day", n_boot: int = 1000, seed: int = 0, level: float = 0.95,
              min_positives: int = 5) -> pd.DataFrame:
    """One row per (period, score): the metrics of `window_metrics` on the period's labelled rows; a period with
    fewer than `min_positives` frauds gets NaN metrics (its interval would span almost [0, 1])."""
    rows = []
    for i, (name, part) in enumerate(frame.groupby(period, sort=True)):
        part = part[part[label].notna()]
        y = part[label].to_numpy(dtype=int)
        if y.sum() < min_positives or y.sum() == y.size:
            for s in scores:
                rows.append({"period": name, "score": s, "n": int(y.size), "n_positive": int(y.sum())})
            continue
        found = window_metrics(y, {s: part[s].to_numpy() for s in scores}, part[day].to_numpy(), n_boot,
                               seed + i, level)
        rows += [{"period": name, "score": s, **m} for s, m in found.items()]
    return pd.DataFrame(rows)


def score_psi(reference, periods: Mapping[str, np.ndarray], bins: int = 10) -> dict[str, float]:
    """{period: evaluation.psi(reference scores, period scores)} on the reference's deciles."""
    return {name: evaluation.psi(reference, s, bins) for name, s in periods.items()}


def followed(first: Mapping[str, float], last: Mapping[str, float], metric: str) -> str:
    """Did `metric` move between two periods? 'fell' / 'rose' when the two 95% intervals do not overlap (a
    conservative reading: the periods hold different rows, so no paired interval exists), else 'held'."""
    lo1, hi1 = first.get(f"{metric}_ci_low", np.nan), first.get(f"{metric}_ci_high", np.nan)
    lo2, hi2 = last.get(f"{metric}_ci_low", np.nan), last.get(f"{metric}_ci_high", np.nan)
    if not np.all(np.isfinite([lo1, hi1, lo2, hi2])):
        return "unknown"
    return "fell" if hi2 < lo1 else "rose" if lo2 > hi1 else "held"

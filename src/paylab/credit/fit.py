"""Fit the scorecard and the challenger on a stratified holdout of any credit table (`paylab credit fit`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from paylab.credit import decisions, evaluate
from paylab.credit.challenger import MonotoneGBM
from paylab.credit.data import binary_target
from paylab.credit.scorecard import SCORE_DIRECTION, fit_scorecard, points_table, scorecard_score, trends
from paylab.credit.splits import holdout_split

DEFAULTS = {"min_iv": 0.02, "max_corr": 0.7, "max_n_bins": 6, "scaling": {"pdo": 20, "odds": 50, "base_score": 600},
            "gbm": {}, "test_size": 0.3, "n_bands": 10, "bootstrap": {"n_boot": 500, "level": 0.95}}


def fit_pair(X: pd.DataFrame, y, params: dict, seed: int = 0):
    """The scorecard and the monotone GBM on the scorecard's selected features (constraints from its trends)."""
    sc = fit_scorecard(X, y, params, seed)
    gbm = MonotoneGBM(sc.features_, trends(sc), params.get("gbm", {}), seed).fit(X, y)
    return sc, gbm


def read_table(path: Path) -> pd.DataFrame:
    """A CSV with a header; clear errors for a missing or empty file."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file is empty") from None
    if frame.empty:
        raise ValueError(f"{path}: the file has a header but no rows")
    return frame


def fit_table(frame: pd.DataFrame, target: str, out: Path, bad_value=None, seed: int = 0, params: dict | None = None,
              source: str = "data") -> dict:
    """Fit both models on a stratified holdout of `frame`, write points.csv, cutoffs.csv and metrics.json to `out`
    and return the metrics (AUC / Gini / KS of both with bootstrap intervals on the holdout)."""
    params = {**DEFAULTS, **(params or {})}
    y = binary_target(frame, target, bad_value, source).to_numpy()
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise ValueError(f"{source}: no feature columns besides the target {target!r}")
    n_bad = int(y.sum())
    if min(n_bad, y.size - n_bad) < 10:
        raise ValueError(f"{source}: target {target!r} has {n_bad} bad and {y.size - n_bad} good rows: at least 10 "
                         f"of each are needed")
    train, test = holdout_split(y, params["test_size"], seed)
    sc, gbm = fit_pair(X.iloc[train], y[train], params, seed)
    scores = {"scorecard": scorecard_score(sc, X.iloc[test]), "gbm": gbm.score(X.iloc[test])}
    boot = params["bootstrap"]
    report = evaluate.compare(y[test], scores, np.arange(test.size), boot["n_boot"], seed, boot["level"],
                              pairs={"gbm_minus_scorecard": ("gbm", "scorecard")})
    out.mkdir(parents=True, exist_ok=True)
    points_table(sc).to_csv(out / "points.csv", index=False)
    decisions.cutoff_table(scores["scorecard"], y[test], params["n_bands"]).to_csv(out / "cutoffs.csv", index=False)
    metrics = {"score_direction": SCORE_DIRECTION, "n_rows": int(y.size), "n_bad": n_bad, "n_train": int(train.size),
               "n_holdout": int(test.size), "seed": seed, "features": sc.features_,
               "selection": sc.selection_.reset_index(names="feature").to_dict(orient="records"), **report}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    return metrics

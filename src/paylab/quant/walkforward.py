"""Walk-forward LightGBM: retrained every `retrain_every` dates on an expanding (or rolling) window that ends an
embargo before the first date it predicts, and tuned with the shared Optuna helper on an inner validation window
that lies wholly before the first prediction.

Embargo: the label of date d (horizon h, entry at d+1) is known at the close of d+1+h, so a model predicting from
date i trains on dates d <= i - h - 1 (`embargo = h + 1` dates, plus `extra_embargo_days`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from paylab import evaluation, tuning

BASE = {"n_estimators": 100, "learning_rate": 0.03, "num_leaves": 4, "min_child_samples": 1000, "subsample": 0.8,
        "colsample_bytree": 0.5, "reg_lambda": 1.0, "n_jobs": 1}


@dataclass
class Fit:
    """One retraining: the dates it trained on and the dates it predicted."""
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    predict_start: pd.Timestamp
    predict_end: pd.Timestamp
    n_rows: int


@dataclass
class WalkForward:
    predictions: pd.DataFrame          # date, ticker, prediction
    fits: list[Fit] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    model: object = None               # the last fitted LGBMRegressor (the one that would serve tomorrow)
    study: object = None

    def fits_table(self) -> pd.DataFrame:
        return pd.DataFrame([f.__dict__ for f in self.fits])


def _regressor(params: dict, seed: int):
    import lightgbm as lgb

    p = {**BASE, **params}
    return lgb.LGBMRegressor(**p, subsample_freq=1, random_state=seed, deterministic=True, force_row_wise=True,
                             verbose=-1)


def _target(frame: pd.DataFrame, label: str) -> np.ndarray:
    """The training target: the label's per-date percentile rank - 0.5 (robust to fat tails and market moves)."""
    return (frame.groupby("date")[label].rank(pct=True) - 0.5).to_numpy()


def fit_predict(train: pd.DataFrame, test: pd.DataFrame, features: list[str], label: str, params: dict,
                seed: int):
    """Fit on the labelled rows of `train`, return (model, predictions of `test`)."""
    train = train.dropna(subset=[label])
    p = {**BASE, **params}
    params = {**p, "min_child_samples": max(5, min(int(p["min_child_samples"]), len(train) // 20))}  # small panels
    model = _regressor(params, seed).fit(train[features], _target(train, label))
    return model, model.predict(test[features])


def embargo(horizon: int, extra: int = 0) -> int:
    return int(horizon) + 1 + int(extra)


def first_test_index(n_dates: int, warmup: int, min_train_days: int, gap: int) -> int:
    """Index of the first predicted date: factors warm up, then `min_train_days` of training, then the gap."""
    first = warmup + min_train_days + gap
    if first >= n_dates:
        raise ValueError(f"prices too short: {n_dates} dates, but the longest factor window ({warmup}), "
                         f"min_train_days ({min_train_days}) and the embargo ({gap}) need more than {first}")
    return first


def _space(trial) -> dict:
    return {"num_leaves": trial.suggest_int("num_leaves", 4, 48, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 50, 1000, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True)}


def tune_params(data: pd.DataFrame, features: list[str], label: str, dates: np.ndarray, end: int, gap: int,
                valid_days: int, base: dict, tune: dict, storage: str | Path, seed: int, mlflow_parent: bool):
    """Optuna on the inner window: train on dates[:end - valid_days - gap], validate (rank IC) on
    dates[end - valid_days:end]; `end` is the first predicted date's index minus the gap, so nothing of the
    walk-forward's test period is seen. Returns (params, study) or (base, None) with n_trials 0."""
    if not tune.get("n_trials"):
        return dict(base), None
    v0 = end - int(valid_days)
    if v0 - gap < 50:
        raise ValueError(f"quant tune.valid_days={valid_days} leaves too little inner training before the first "
                         f"prediction (need 50 dates)")
    inner = data[data["date"] < dates[v0 - gap]]
    valid = data[(data["date"] >= dates[v0]) & (data["date"] < dates[end])].dropna(subset=[label])

    def objective(params: dict) -> float:
        _, pred = fit_predict(inner, valid, features, label, {**base, **params}, seed)
        score = evaluation.rank_ic(valid["date"], pred, valid[label])
        return score if np.isfinite(score) else -1.0

    key = hashlib.sha1(json.dumps([len(data), str(dates[0]), str(dates[end]), features, label, base, seed,
                                   float(np.nansum(valid[label]))], default=str).encode()).hexdigest()[:10]
    study = tuning.tune(objective, _space, f"quant-{key}", storage, n_trials=int(tune["n_trials"]),
                        timeout_s=tune.get("timeout_s"), seed=seed, mlflow_parent=mlflow_parent, module="quant",
                        total=True)
    return {**base, **study.best_params}, study


def walk_forward(data: pd.DataFrame, features: list[str], horizon: int = 1, *, warmup: int = 60,
                 min_train_days: int = 250, retrain_every: int = 60, window: str = "expanding",
                 train_days: int = 750, extra_embargo_days: int = 0, model: dict | None = None,
                 tune: dict | None = None, storage: str | Path = "optuna-studies/quant.db", seed: int = 0,
                 mlflow_parent: bool = False) -> WalkForward:
    """Out-of-sample predictions for every date from the first test date on (see the module docstring)."""
    if window not in ("expanding", "rolling"):
        raise ValueError(f"quant walk_forward.window must be 'expanding' or 'rolling', got {window!r}")
    label = f"ret_{int(horizon)}d"
    if label not in data.columns:
        raise ValueError(f"quant: no label column {label!r} (horizon {horizon} must be one of the horizons)")
    dates = np.sort(data["date"].unique())
    gap = embargo(horizon, extra_embargo_days)
    first = first_test_index(len(dates), warmup, min_train_days, gap)
    params, study = tune_params(data, features, label, dates, first - gap, gap, (tune or {}).get("valid_days", 120),
                                dict(model or {}), tune or {}, storage, seed, mlflow_parent)
    out, fits, last = [], [], None
    for i in range(first, len(dates), int(retrain_every)):
        hi = i - gap  # train on dates[lo..hi]
        lo = max(0, hi - int(train_days) + 1) if window == "rolling" else warmup
        train = data[(data["date"] >= dates[lo]) & (data["date"] <= dates[hi])]
        j = min(i + int(retrain_every), len(dates)) - 1
        test = data[(data["date"] >= dates[i]) & (data["date"] <= dates[j])]
        last, pred = fit_predict(train, test, features, label, params, seed)
        out.append(pd.DataFrame({"date": test["date"].to_numpy(), "ticker": test["ticker"].to_numpy(),
                                 "prediction": pred}))
        fits.append(Fit(pd.Timestamp(dates[lo]), pd.Timestamp(dates[hi]), pd.Timestamp(dates[i]),
                        pd.Timestamp(dates[j]), int(train[label].notna().sum())))
    return WalkForward(pd.concat(out, ignore_index=True), fits, params, last, study)

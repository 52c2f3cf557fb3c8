"""Time-aware fraud training: prequential comparison of models x imbalance strategies, Optuna tuning on the same
folds, the final fit on the training window and its evaluation on validation and test.

    folds = prequential(table, params["compare"], delay_days)
    results = compare(table, folds, runs_of(params["compare"]["runs"]), params["models"], seed)  # run x fold
    summary = summarise(results)                                                  # mean/std per run, best first
    study = tune(table, folds, "xgboost", "class_weight:5", params, seed, storage)
    split = final_split(table, params["split"], delay_days)
    fitted = fit(table, split.train, "xgboost", strategy, model_params, seed)
    scores = predict(fitted, table, split.test)

Only labeled rows are trained on or scored (`table.labeled`); unlabeled transactions are never legitimate.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from paylab import evaluation
from paylab.data.splits import Fold, TimeSplit, prequential_folds, time_split
from paylab.fraud.data import FraudTable
from paylab.fraud.models import build

Params = dict[str, Any]


def prequential(table: FraudTable, cfg: Params, delay_days: float, end=None) -> list[Fold]:
    """Shifted train | delay | test folds over the labeled rows, the last one ending at `end` (default: with the
    data; the stage ends them a delay before the validation window, so validation and test stay unseen)."""
    return list(prequential_folds(table.frame["timestamp"], n_folds=int(cfg["n_folds"]),
                                  train_days=cfg["train_days"], delay_days=delay_days, test_days=cfg["test_days"],
                                  end=end, labeled=table.labeled))


def days_needed(split_cfg: Params, compare_cfg: Params, delay_days: float) -> float:
    """Days of data, back from the end, that the final split and the prequential folds before it cover."""
    head = split_cfg["test_days"] + delay_days + split_cfg["valid_days"] + delay_days
    folds = delay_days + compare_cfg["n_folds"] * compare_cfg["test_days"] + delay_days + compare_cfg["train_days"]
    return head + max(split_cfg["train_days"], folds) + 1


def final_split(table: FraudTable, cfg: Params, delay_days: float) -> TimeSplit:
    """train | delay | valid | delay | test, laid out backwards from the end of the data; labeled rows only."""
    return time_split(table.frame["timestamp"], train_days=cfg["train_days"], delay_days=delay_days,
                      test_days=cfg["test_days"], valid_days=cfg["valid_days"], labeled=table.labeled)


def _training_rows(table: FraudTable, idx: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and 0/1 labels of training rows `idx`; a window without any fraud cannot be learned from."""
    part = table.frame.iloc[idx]
    y = part["y"].to_numpy(dtype=int)
    if y.sum() == 0:
        window = (part["timestamp"].min(), part["timestamp"].max()) if len(part) else "(empty)"
        raise ValueError(f"fraud training window {window} holds no fraud among {len(y)} labeled rows: "
                         f"widen train_days")
    return part[table.features], y


def fit(table: FraudTable, idx: np.ndarray, name: str, strategy: str, model_params: Params | None, seed: int,
        n_jobs: int = 2):
    """The pipeline of `name` + `strategy` fitted on rows `idx` (labeled rows only)."""
    X, y = _training_rows(table, idx)
    return build(name, strategy, y, model_params, seed, n_jobs).fit(X, y)


def predict(pipeline, table: FraudTable, idx: np.ndarray) -> np.ndarray:
    """Fraud probability of rows `idx`."""
    return pipeline.predict_proba(table.frame.iloc[idx][table.features])[:, 1]


def _report(keys: pd.DataFrame, proba: np.ndarray, k: int) -> dict[str, float]:
    """The shared classification metrics of `proba` against keys `y`, with Card Precision@k per (card_id, day) under
    names that do not change with k (`card_precision_at_k`, `card_precision_at_k_normalised`) and `k` itself."""
    report = evaluation.classification_report(keys["y"].to_numpy(dtype=int), proba,
                                              card_id=keys["card_id"].to_numpy(), day=keys["day"].to_numpy(), k=k)
    return {key.replace(f"card_precision_at_{k}", "card_precision_at_k"): v for key, v in report.items()} | {"k": k}


def score(table: FraudTable, idx: np.ndarray, proba: np.ndarray, k: int) -> dict[str, float]:
    """The shared classification metrics of `proba` on rows `idx`, with Card Precision@k per day."""
    return _report(table.frame.iloc[idx], proba, k)


def _fit_score(X_train, y_train, X_test, test_keys: pd.DataFrame, name: str, strategy: str,
               model_params: Params | None, seed: int, k: int) -> dict[str, Any]:
    """One fold in a worker process: a single-threaded fit, then the fold's metrics."""
    start = time.perf_counter()
    pipeline = build(name, strategy, y_train, model_params, seed, n_jobs=1).fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    metrics = _report(test_keys, pipeline.predict_proba(X_test)[:, 1], k)
    return {"fit_seconds": fit_s, **{m: metrics[m] for m in ("n", "n_positive", "roc_auc", "average_precision",
                                                             "card_precision_at_k", "card_precision_at_k_normalised",
                                                             "recall_at_fpr_1pct")}}


def run_folds(table: FraudTable, folds: Sequence[Fold], name: str, strategy: str, model_params: Params | None,
              seed: int, k: int, n_jobs: int = 2) -> list[dict[str, Any]]:
    """Fit and score one model + strategy on every fold (folds in `n_jobs` processes, each fit single-threaded:
    threads of one small fit stall each other on a busy machine); one row per fold."""
    from joblib import Parallel, delayed

    jobs, frauds = [], []
    for fold in folds:
        X_train, y_train = _training_rows(table, fold.train)
        frauds.append(int(y_train.sum()))
        test = table.frame.iloc[fold.test]
        jobs.append(delayed(_fit_score)(X_train, y_train, test[table.features], test[["y", "card_id", "day"]], name,
                                        strategy, model_params, seed, k))
    results = Parallel(n_jobs=min(n_jobs, len(jobs)) or 1)(jobs)
    return [{"model": name, "strategy": strategy, "fold": i, "train_rows": len(fold.train), "train_frauds": n, **r}
            for i, (fold, n, r) in enumerate(zip(folds, frauds, results, strict=True))]


def compare(table: FraudTable, folds: Sequence[Fold], runs: Sequence[tuple[str, str]], models: Params, seed: int,
            k: int = 100, n_jobs: int = 2, progress: bool = True) -> pd.DataFrame:
    """Every (model, strategy) of `runs` on the same prequential folds; one row per run and fold."""
    rows = []
    for name, strategy in tqdm(runs, desc="compare", disable=not progress, file=sys.stdout):  # text bar: the
        # executed notebook keeps its last state (no widgets needed), on stdout rather than red stderr
        rows += run_folds(table, folds, name, strategy, models.get(name), seed, k, n_jobs)
    return pd.DataFrame(rows)


def runs_of(cfg: dict[str, Sequence[str]]) -> list[tuple[str, str]]:
    """params `compare.runs` ({model: [strategy, ...]}) as (model, strategy) pairs."""
    return [(model, strategy) for model, strategies in cfg.items() for strategy in strategies]


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over folds per model + strategy, best mean average precision first."""
    metrics = [c for c in results.columns if c not in ("model", "strategy", "fold", "n", "n_positive", "train_rows",
                                                       "train_frauds")]
    out = results.groupby(["model", "strategy"], sort=False)[metrics].agg(["mean", "std"])
    out.columns = [f"{m}_{stat}" for m, stat in out.columns]
    return out.sort_values("average_precision_mean", ascending=False).reset_index()


def fold_differences(results: pd.DataFrame, metric: str = "average_precision") -> pd.DataFrame:
    """Each run against the best one (highest mean `metric`) fold by fold: the mean and the range of the paired
    per-fold differences, and the verdict ('worse' only when every fold says so, else 'no measurable difference':
    a few folds cannot show more)."""
    wide = results.pivot_table(index="fold", columns=["model", "strategy"], values=metric, sort=False)
    best = wide.mean().idxmax()
    diff = wide.sub(wide[best], axis=0)
    out = pd.DataFrame({f"{metric}_mean": wide.mean(), f"{metric}_std": wide.std(),
                        "difference_to_best": diff.mean(), "difference_min": diff.min(), "difference_max": diff.max()})
    out["verdict"] = np.where(out["difference_max"] < 0, "worse", "no measurable difference")
    out.loc[best, "verdict"] = "best"
    return out.sort_values(f"{metric}_mean", ascending=False).reset_index()


def best_strategy(summary: pd.DataFrame, model: str) -> str:
    """The strategy with the best mean average precision for `model`."""
    rows = summary[summary["model"] == model]
    if rows.empty:
        raise ValueError(f"model {model!r} is not in the comparison (models: {sorted(summary['model'].unique())})")
    return str(rows.iloc[0]["strategy"])


# --- tuning -----------------------------------------------------------------------------------------------------

def search_space(name: str):
    """The Optuna search space of a model: trial -> params."""
    def xgboost(trial) -> Params:
        return {"n_estimators": trial.suggest_int("n_estimators", 100, 300, step=50),
                "max_depth": trial.suggest_int("max_depth", 3, 8),
                "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
                "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20, log=True),
                "subsample": trial.suggest_float("subsample", 0.6, 1.0),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
                "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10, log=True)}

    def lightgbm(trial) -> Params:
        return {"n_estimators": trial.suggest_int("n_estimators", 100, 300, step=50),
                "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
                "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
                "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
                "subsample": trial.suggest_float("subsample", 0.6, 1.0), "subsample_freq": 1,
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
                "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10, log=True)}

    def catboost(trial) -> Params:
        return {"iterations": trial.suggest_int("iterations", 100, 300, step=50),
                "depth": trial.suggest_int("depth", 4, 8),
                "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
                "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 1, 20, log=True)}

    def logreg(trial) -> Params:
        return {"C": trial.suggest_float("C", 1e-3, 10, log=True)}

    spaces = {"xgboost": xgboost, "lightgbm": lightgbm, "catboost": catboost, "logreg": logreg}
    if name not in spaces:
        raise ValueError(f"no search space for model {name!r} (known: {sorted(spaces)})")
    return spaces[name]


def file_digest(path, chunk: int = 1 << 24) -> str:
    """sha1 of a file's bytes (read in chunks): what a study or a cache is keyed on."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def tune(table: FraudTable, folds: Sequence[Fold], name: str, strategy: str, base_params: Params | None,
         cfg: Params, seed: int, storage_path, k: int = 100, n_jobs: int = 2, inputs: Params | None = None):
    """Optuna study maximising the mean prequential average precision of `name` + `strategy` (each trial's params
    override `base_params`) up to `cfg["n_trials"]` trials in all (`timeout_s` caps one session). The study is named
    after its inputs (model, strategy, base params, folds, features, seed, and `inputs`: the stage passes the
    features file's digest and the feature params, so a changed feature set never reuses a stale study): rerunning
    with the same inputs reuses the stored study (same result), an interrupted run resumes it. Returns the study."""
    from paylab.tuning import tune as run_study

    fingerprint = json.dumps([name, strategy, base_params, [[str(t) for w in f.windows.values() for t in w]
                                                            for f in folds], len(table.frame), table.features, seed,
                              k, inputs or {}], sort_keys=True, default=str)
    study_name = f"fraud-{name}-{hashlib.sha1(fingerprint.encode()).hexdigest()[:10]}"

    def objective(params: Params) -> float:
        rows = run_folds(table, folds, name, strategy, {**(base_params or {}), **params}, seed, k, n_jobs)
        values = [r["average_precision"] for r in rows if not np.isnan(r["average_precision"])]
        if not values:
            raise ValueError("tuning: no prequential test fold holds a fraud; widen fraud.compare.test_days")
        return float(np.mean(values))  # a fold without fraud has no AP: the others decide

    return run_study(objective, search_space(name), study_name, storage_path, n_trials=cfg.get("n_trials"),
                     timeout_s=cfg.get("timeout_s"), seed=seed, module="fraud", total=True)


# --- final evaluation -------------------------------------------------------------------------------------------

def curves(y, scores: dict[str, np.ndarray], points: int = 201) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ROC (tpr per model on a common fpr grid) and PR (interpolated precision per model on a recall grid) tables,
    the DVC plots of the stage."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    grid_ = np.linspace(0, 1, points)
    roc, pr = pd.DataFrame({"fpr": grid_}), pd.DataFrame({"recall": grid_})
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        roc[f"tpr_{name}"] = np.interp(grid_, fpr, tpr)
        precision, recall, _ = precision_recall_curve(y, s)
        # interpolated precision: the best precision among the operating points with recall >= r (a step curve)
        order = np.argsort(recall, kind="stable")
        best = np.maximum.accumulate(precision[order][::-1])[::-1]
        first = np.searchsorted(recall[order], grid_ - 1e-12, side="left")
        pr[f"precision_{name}"] = best[np.minimum(first, len(best) - 1)]
    return roc.round(6), pr.round(6)


def business_view(y, proba, amount, review_cost: float, threshold: float) -> dict[str, float]:
    """Reviews needed and fraud amount caught when every transaction at or above `threshold` is reviewed (the cost
    of `evaluation.review_outcome`: refunds count 0)."""
    out = evaluation.review_outcome(y, np.asarray(proba) >= threshold, amount, review_cost)
    return {"threshold": float(threshold), "reviews": int(out["reviews"]), "review_rate": out["review_rate"],
            "frauds_caught": int(out["frauds_caught"]), "fraud_amount_caught": out["fraud_amount_caught"],
            "fraud_amount": out["fraud_amount_caught"] + out["fraud_amount_missed"], "cost": out["cost"]}


# --- honest test-window figures ---------------------------------------------------------------------------------

BOOTSTRAP_METRICS = ("roc_auc", "average_precision", "recall_at_fpr_1pct")


def label_delay(feature_params: Params, fraud_delay: float | None = None) -> float:
    """The one label delay of the pipeline, params.yaml `features.delay_days`; a `fraud.delay_days` that disagrees
    stops the stage (features and model windows must assume the same investigation time)."""
    delay = float(feature_params.get("delay_days", 7))
    if fraud_delay is not None and float(fraud_delay) != delay:
        raise ValueError(f"params.yaml: fraud.delay_days ({fraud_delay}) disagrees with features.delay_days ({delay}): "
                         f"the label delay is one setting, features.delay_days; remove fraud.delay_days")
    return delay


def window_figures(table: FraudTable, idx: np.ndarray, scores: dict[str, np.ndarray], k: int, n_boot: int, seed: int,
                 pairs: Sequence[tuple[str, str]] = (), ratios: Sequence[tuple[str, str]] = (),
                 level: float = 0.95) -> dict[str, Any]:
    """Every named score on rows `idx`: the shared metrics with 95% intervals by day (block bootstrap) for ROC-AUC,
    AP, recall at 1% FPR and both Card Precision@k figures; `pairs` (a, b) get the paired difference a - b of each
    of these with its verdict, `ratios` (a, b) the paired ratio a / b of AP and recall.

    Returns {"scores": {name: flat metrics}, "differences": {"a_minus_b": {metric: {...}}}, "ratios": {...}}.
    """
    keys = table.frame.iloc[idx]
    y, days = keys["y"].to_numpy(dtype=int), keys["day"].to_numpy()
    points, reps = evaluation.bootstrap_scores(y, scores, days, BOOTSTRAP_METRICS, n_boot=n_boot, seed=seed)
    per_day = {name: evaluation.card_precision_by_day(s, y, keys["card_id"].to_numpy(), days, k=k).set_index("day")
               for name, s in scores.items()}
    out: dict[str, Any] = {"scores": {}, "differences": {}, "ratios": {}}
    cp = {"card_precision_at_k": "precision", "card_precision_at_k_normalised": "normalised"}
    for name, s in scores.items():
        flat = _report(keys, s, k) | evaluation.intervals(points[name], reps[name], level)
        for metric, column in cp.items():
            ci = evaluation.bootstrap_mean(per_day[name][column], n_boot=n_boot, seed=seed, level=level)
            flat |= {f"{metric}_ci_low": ci["ci_low"], f"{metric}_ci_high": ci["ci_high"]}
        out["scores"][name] = flat
    for a, b in pairs:
        diffs = {m: evaluation.paired_difference(points[a][m], points[b][m], reps[a][m], reps[b][m], level)
                 for m in BOOTSTRAP_METRICS}
        for metric, column in cp.items():
            delta = per_day[a][column] - per_day[b][column]  # the same days: paired
            ci = evaluation.bootstrap_mean(delta, n_boot=n_boot, seed=seed, level=level)
            diffs[metric] = {"difference": out["scores"][a][metric] - out["scores"][b][metric],
                             "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                             "verdict": evaluation.verdict(ci["ci_low"], ci["ci_high"])}
        out["differences"][f"{a}_minus_{b}"] = diffs
    for a, b in ratios:
        out["ratios"][f"{a}_over_{b}"] = {m: evaluation.paired_ratio(points[a][m], points[b][m], reps[a][m],
                                                                     reps[b][m], level)
                                          for m in ("average_precision", "recall_at_fpr_1pct")}
    return out


def history_rows(table: FraudTable, end, train_days: float) -> np.ndarray:
    """Labeled rows of the `train_days` days before `end` (the end of the final training window)."""
    ts = table.frame["timestamp"]
    inside = ((ts >= end - pd.Timedelta(days=train_days)) & (ts < end)).to_numpy()
    return np.flatnonzero(inside & table.labeled)


def learning_curve(table: FraudTable, end, train_days: Sequence[float], idx_test: np.ndarray, name: str,
                   strategy: str, model_params: Params | None, seed: int, n_jobs: int = 2,
                   known: dict[float, np.ndarray] | None = None,
                   progress: bool = True) -> tuple[pd.DataFrame, dict[float, np.ndarray]]:
    """The same pipeline fitted on ever longer histories ending at `end`, each scored on the test rows: one row per
    window (train_days, train_rows, train_frauds, fit_seconds) and the test scores per window. A window longer than
    the labeled history is the whole history (listed once); `known` test scores ({train_days: scores}, e.g. the
    final model's) are reused instead of fitted again."""
    known = dict(known or {})
    rows, scores, seen = [], {}, set()
    for days in tqdm(sorted(set(train_days) | set(known)), desc="learning curve", disable=not progress,
                     file=sys.stdout):
        idx = history_rows(table, end, days)
        if len(idx) in seen:
            continue
        seen.add(len(idx))
        start = time.perf_counter()
        if days in known:
            scores[days], seconds = known[days], float("nan")
        else:
            scores[days] = predict(fit(table, idx, name, strategy, model_params, seed, n_jobs), table, idx_test)
            seconds = time.perf_counter() - start
        rows.append({"train_days": days, "train_rows": len(idx), "train_frauds": int(table.frame["y"].iloc[idx].sum()),
                     "fit_seconds": seconds})
    return pd.DataFrame(rows), scores

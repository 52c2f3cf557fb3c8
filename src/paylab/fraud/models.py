"""The fraud model zoo: a logistic-regression baseline and three gradient-boosted tree libraries, each wrapped with
its preprocessing and an imbalance strategy in one imbalanced-learn pipeline.

    pipeline = build("xgboost", "class_weight:full", y_train, params["fraud"]["models"], seed=42)
    pipeline.fit(X_train, y_train); pipeline.predict_proba(X_test)[:, 1]

Strategies are those of `paylab.fraud.imbalance` plus "class_weight:full" (negatives / positives of the fold).
SMOTE interpolates between rows, so it needs complete rows: with SMOTE, the tree models get median imputation too.
"""

from __future__ import annotations

from typing import Any

from paylab.fraud.data import preprocessor
from paylab.fraud.imbalance import full_ratio, make_pipeline, parse_strategy

MODELS = ("logreg", "xgboost", "lightgbm", "catboost")


def estimator(name: str, params: dict[str, Any] | None = None, seed: int = 0, n_jobs: int = 2):
    """A fresh classifier of the library `name` with `params` (its section of params.yaml fraud.models)."""
    params = dict(params or {})
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(**{"max_iter": 1000, "C": 1.0, **params}, random_state=seed)
    if name == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(**{"tree_method": "hist", "eval_metric": "aucpr", **params}, random_state=seed,
                             n_jobs=n_jobs)
    if name == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(**{"verbose": -1, **params}, random_state=seed, n_jobs=n_jobs, deterministic=True,
                              force_row_wise=True)
    if name == "catboost":
        from catboost import CatBoostClassifier

        return CatBoostClassifier(**{"verbose": 0, "allow_writing_files": False, **params}, random_seed=seed,
                                  thread_count=n_jobs)
    raise ValueError(f"params.yaml fraud: unknown model {name!r} (known: {', '.join(MODELS)})")


def resolve_strategy(strategy: str, y) -> str:
    """"class_weight:full" -> "class_weight:<negatives/positives of y>"; anything else as it is (validated)."""
    if str(strategy) == "class_weight:full":
        return f"class_weight:{full_ratio(y):.6g}"
    parse_strategy(strategy)
    return str(strategy)


def build(name: str, strategy: str, y_train, params: dict[str, Any] | None = None, seed: int = 0,
          n_jobs: int = 2):
    """The unfitted pipeline preprocess -> [resample] -> model for training labels `y_train`."""
    strategy = resolve_strategy(strategy, y_train)
    kind = "linear" if name == "logreg" else "impute" if strategy.startswith("smote") else "trees"
    return make_pipeline(estimator(name, params, seed, n_jobs), strategy, preprocessor=preprocessor(kind),
                         random_state=seed)


def predict_steps(model) -> list:
    """The estimators a fitted (imbalanced-learn or scikit-learn) pipeline applies at predict time, in order: nested
    pipelines flattened, samplers (fit-time only) and passthrough steps left out; the model itself is the last."""
    if not hasattr(model, "steps"):
        return [model]
    out = []
    for _, step in model.steps:
        if step is None or step == "passthrough" or (hasattr(step, "fit_resample") and not hasattr(step, "transform")):
            continue
        out.extend(predict_steps(step))
    return out

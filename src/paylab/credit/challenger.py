"""The challenger: LightGBM with monotone constraints that agree with the scorecard's binned trends."""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab.credit.scorecard import categorical_columns


def gbm_frame(X: pd.DataFrame, categories: dict[str, list] | None = None) -> tuple[pd.DataFrame, dict[str, list]]:
    """X with text columns as pandas categoricals (the training categories reused when given)."""
    X = X.copy()
    categories = dict(categories or {})
    for c in categorical_columns(X):
        cats = categories.setdefault(c, sorted(X[c].dropna().astype(str).unique()))
        X[c] = pd.Categorical(X[c].astype(str).where(X[c].notna()), categories=cats)
    return X.astype({c: float for c in X.columns if pd.api.types.is_bool_dtype(X[c])}), categories


class MonotoneGBM:
    """LightGBM classifier on `features` with monotone_constraints from `trends` (+1 = risk rises with the feature).
    `score` is on the scorecard's scale direction: higher = lower risk (minus the log-odds)."""

    def __init__(self, features: list[str], trends: dict[str, int], params: dict, seed: int = 0):
        self.features, self.trends, self.params, self.seed = list(features), dict(trends), dict(params), seed

    def fit(self, X: pd.DataFrame, y):
        import lightgbm as lgb

        frame, self.categories_ = gbm_frame(X[self.features])
        self.model_ = lgb.LGBMClassifier(**{"n_estimators": 300, "learning_rate": 0.03, "num_leaves": 8,
                                            "min_child_samples": 40, "subsample": 0.8, "subsample_freq": 1,
                                            "colsample_bytree": 0.8, "reg_lambda": 1.0, **self.params},
                                         monotone_constraints=[self.trends.get(f, 0) for f in self.features],
                                         monotone_constraints_method="advanced", random_state=self.seed,
                                         n_jobs=1, verbose=-1)
        self.model_.fit(frame, np.asarray(y).astype(int))
        return self

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(gbm_frame(X[self.features], self.categories_)[0])[:, 1]

    def score(self, X: pd.DataFrame) -> np.ndarray:
        p = np.clip(self.predict_pd(X), 1e-9, 1 - 1e-9)
        return np.log((1 - p) / p)

"""The matrix a fitted fraud pipeline's model sees (preprocess -> [resample] -> model; `paylab.fraud.models`): for a
frame through the pipeline's own steps, and for a few rows without pandas: the one fast per-row path, shared by the
online service (scoring) and by reason codes (contributions).

    Z = transform(model, X)                    # DataFrame: X through every step but samplers and the model
    encoder = RowEncoder(model)                # FeatureEncoder + SimpleImputer / StandardScaler replayed in numpy
    encoder.encode([features, ...])            # float32 (n, width), equal to transform(model, frame).to_numpy()
    RowScorer(model).predict([features, ...])  # XGBoost inplace_predict on one thread == predict_proba(frame)[:, 1]

Why: the pipeline's `predict_proba` on a one-row frame costs 10-100 ms (the encoder builds a frame column by column,
XGBoost converts the frame to a DMatrix); the per-row path costs ~0.3 ms for the 200-tree model of the service.
tests/test_fraud_encoding.py checks both against the pipeline on rows with nulls, unseen categories and bools.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from paylab.fraud.data import FeatureEncoder
from paylab.fraud.models import predict_steps

Replay = Callable[[np.ndarray], np.ndarray]


def final_estimator(model):
    """The pipeline's last step (the model itself when it is not a pipeline)."""
    return predict_steps(model)[-1]


def estimator_kind(final) -> str:
    """"xgboost", "lightgbm", "catboost" or "linear" (a fitted estimator with coef_ and predict_proba)."""
    library = type(final).__module__.split(".")[0]
    if library in ("xgboost", "lightgbm", "catboost"):
        return library
    if hasattr(final, "coef_") and hasattr(final, "predict_proba"):
        return "linear"
    raise TypeError(f"unsupported final estimator {type(final).__name__} (expected XGBClassifier, LGBMClassifier, "
                    f"CatBoostClassifier or LogisticRegression)")


def transform(model, X: pd.DataFrame) -> pd.DataFrame:
    """The matrix the final estimator sees: X through every pipeline step except samplers and the model."""
    Z: Any = X
    names = None
    for step in predict_steps(model)[:-1]:
        Z = step.transform(Z)
        if not isinstance(Z, pd.DataFrame) and hasattr(step, "get_feature_names_out"):
            names = list(step.get_feature_names_out())
    if isinstance(Z, pd.DataFrame):
        return Z
    Z = np.asarray(Z)
    if names is None or len(names) != Z.shape[1]:
        names = [f"x{i}" for i in range(Z.shape[1])]
    return pd.DataFrame(Z, index=X.index, columns=names)


def _replay(step, width: int) -> Replay | None:
    """A numpy replay of a fitted SimpleImputer / StandardScaler on float32 rows (None: not replayable)."""
    name = type(step).__name__
    if name == "SimpleImputer":
        stats = np.asarray(step.statistics_, dtype=np.float64)
        missing = step.missing_values
        if (step.add_indicator or len(stats) != width or not (isinstance(missing, float) and math.isnan(missing))
                or np.isnan(stats).any()):
            return None
        fill = stats.astype(np.float32)
        return lambda Z: np.where(np.isnan(Z), fill, Z)
    if name == "StandardScaler" and getattr(step, "n_features_in_", None) == width:
        mean, scale = step.mean_, step.scale_

        def scaled(Z: np.ndarray) -> np.ndarray:  # as sklearn: in float64, cast back to float32 after each op
            if mean is not None:
                Z = (Z.astype(np.float64) - mean).astype(np.float32)
            if scale is not None:
                Z = (Z.astype(np.float64) / scale).astype(np.float32)
            return Z

        return scaled
    return None


class RowEncoder:
    """Feature mappings -> the final estimator's input, without pandas: the pipeline's FeatureEncoder on Python lists
    (strings one-hot over the fitted categories, an unseen one all zeros; bools 1/0; None / NaN / pd.NA -> NaN), then
    its SimpleImputer / StandardScaler replayed with numpy. When another step follows the encoder, `fast` is False and
    `encode` uses the pipeline's own transform on a frame."""

    def __init__(self, model) -> None:
        steps = predict_steps(model)[:-1]
        if not steps or not isinstance(steps[0], FeatureEncoder):
            raise TypeError("RowEncoder: the pipeline's first step must be a FeatureEncoder (paylab.fraud.data)")
        encoder = steps[0]
        self.model = model
        self.columns: list[str] = list(encoder.columns_)  # the raw feature columns, in order
        self.names: list[str] = list(encoder.feature_names_out_)  # the encoded columns
        self.width = len(self.names)
        self.numeric: list[tuple[str, int]] = []  # (column, slot)
        self.categorical: list[tuple[str, dict[str, int]]] = []  # (column, {category: slot})
        self.source: list[str] = []  # the raw column of each encoded column
        for column in self.columns:
            categories = encoder.categories_.get(column)
            slot = len(self.source)
            if categories is None:
                self.numeric.append((column, slot))
                self.source.append(column)
            else:
                self.categorical.append((column, {v: slot + i for i, v in enumerate(categories)}))
                self.source.extend([column] * len(categories))
        replays = [_replay(step, self.width) for step in steps[1:]]
        self._replays = None if any(r is None for r in replays) else replays

    @property
    def fast(self) -> bool:
        """True when every step is replayed without pandas."""
        return self._replays is not None

    def row(self, features: Mapping[str, Any]) -> list[float]:
        """One mapping -> the FeatureEncoder's values (before any imputer / scaler)."""
        values = [0.0] * self.width
        nan, na = math.nan, pd.NA
        column, value = "", None
        try:
            for column, slot in self.numeric:
                value = features[column]
                values[slot] = nan if value is None or value is na else float(value)
            for column, slots in self.categorical:
                value = features[column]
                i = slots.get(value) if isinstance(value, str) else None  # the encoder compares to str categories
                if i is not None:
                    values[i] = 1.0
        except KeyError:
            raise KeyError(f"feature {column!r} missing from the transaction") from None
        except (TypeError, ValueError):
            raise ValueError(f"feature {column!r} must be numeric, got {value!r}") from None
        return values

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Mappings -> (n, width) matrix, equal to `transform(model, frame of the rows).to_numpy()`."""
        rows = list(rows)
        if self._replays is None:
            return transform(self.model, pd.DataFrame(rows)).to_numpy()
        Z = np.asarray([self.row(r) for r in rows], dtype=np.float32).reshape(len(rows), self.width)
        for replay in self._replays:
            Z = replay(Z)
        return Z


class RowScorer:
    """Fraud probabilities of feature mappings: `RowEncoder`, then XGBoost's `inplace_predict` on a float32 matrix
    with one thread. Equal to `model.predict_proba(frame)[:, 1]` (same float32 input, same trees). Raises TypeError
    for other pipelines (they score through `predict_proba` on a frame)."""

    def __init__(self, model, feature_columns: Sequence[str] | None = None) -> None:
        from xgboost import XGBClassifier

        self.encoder = RowEncoder(model)
        clf = final_estimator(model)
        if not self.encoder.fast or not isinstance(clf, XGBClassifier):
            raise TypeError("fast path needs FeatureEncoder [-> SimpleImputer -> StandardScaler] -> XGBClassifier")
        if feature_columns is not None and list(feature_columns) != self.encoder.columns:
            raise TypeError("fast path: the encoder was fitted on other columns")
        if getattr(clf, "n_classes_", 2) != 2 or not str(clf.objective).startswith("binary:logistic"):
            raise TypeError("fast path needs a binary:logistic XGBClassifier")
        self.booster = clf.get_booster().copy()
        self.booster.set_param({"nthread": 1})
        best = getattr(clf, "best_iteration", None)  # early stopping: score as predict_proba does
        self.iteration_range = (0, best + 1) if best is not None else (0, 0)
        self.missing = clf.missing

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """One probability per mapping."""
        matrix = self.encoder.encode(rows)
        out = self.booster.inplace_predict(matrix, iteration_range=self.iteration_range, missing=self.missing)
        return np.asarray(out, dtype=float).reshape(-1)

    def proba(self, features: Mapping[str, Any]) -> float:
        return float(self.predict([features])[0])

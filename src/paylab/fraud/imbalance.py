"""Imbalance strategies as imbalanced-learn pipelines: resampling happens in `fit` only, so inside training folds.

    make_pipeline(XGBClassifier(), "class_weight:10")     # scale_pos_weight = 10 (not only the full ratio)
    make_pipeline(LogisticRegression(), "smote:0.1")      # minority oversampled to 10% of the majority
    make_pipeline(model, "undersample:0.05", preprocessor=SimpleImputer())

Strategies: "none", "class_weight:<ratio>", "smote:<sampling_strategy>", "undersample:<sampling_strategy>"; a
sampling strategy is a float (minority / majority after resampling) or an imbalanced-learn keyword ("auto", ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import clone
from sklearn.pipeline import Pipeline as SkPipeline

SAMPLERS = {"smote": SMOTE, "undersample": RandomUnderSampler}
STRATEGIES = ("none", "class_weight", *SAMPLERS)


def full_ratio(y) -> float:
    """negatives / positives: the "full" class-weight ratio of a training fold."""
    y = np.asarray(y).astype(bool)
    if not y.any():
        raise ValueError("full_ratio: the training labels hold no positive")
    return float((~y).sum() / y.sum())


def parse_strategy(strategy: str) -> tuple[str, Any]:
    """"smote:0.1" -> ("smote", 0.1); "none" -> ("none", None)."""
    kind, _, arg = str(strategy).partition(":")
    if kind not in STRATEGIES or (kind == "none") != (arg == ""):
        raise ValueError(f"imbalance strategy must be one of none, class_weight:<ratio>, smote:<sampling_strategy>, "
                         f"undersample:<sampling_strategy>; got {strategy!r}")
    if kind == "none":
        return kind, None
    try:
        value: Any = float(arg)
    except ValueError:
        value = arg
    if kind == "class_weight" and not (isinstance(value, float) and value > 0):
        raise ValueError(f"class_weight ratio must be a positive number, got {strategy!r}")
    return kind, value


def with_class_weight(model, ratio: float):
    """A clone of `model` weighting the positive class `ratio` times the negative one: `scale_pos_weight` where the
    model has it (XGBoost, LightGBM, CatBoost), else scikit-learn's `class_weight`."""
    model = clone(model)
    params = model.get_params(deep=False)
    if "scale_pos_weight" in params or type(model).__name__.startswith("CatBoost"):
        return model.set_params(scale_pos_weight=ratio)
    if "class_weight" in params:
        return model.set_params(class_weight={0: 1.0, 1: ratio})
    raise ValueError(f"{type(model).__name__} has neither scale_pos_weight nor class_weight: "
                     f"use a resampling strategy instead")


def make_pipeline(model, strategy: str = "none", *, preprocessor=None, random_state: int = 0) -> Pipeline:
    """An imbalanced-learn Pipeline [preprocessor] -> [sampler] -> model (clones; the inputs are not modified).
    A scikit-learn Pipeline preprocessor is spliced in step by step."""
    kind, value = parse_strategy(strategy)
    steps: list[tuple[str, Any]] = []
    if isinstance(preprocessor, SkPipeline):  # imblearn wants a flat chain: splice the preprocessing steps in
        steps += clone(preprocessor).steps
    elif preprocessor is not None:
        steps.append(("preprocess", clone(preprocessor)))
    if kind in SAMPLERS:
        steps.append(("resample", SAMPLERS[kind](sampling_strategy=value, random_state=random_state)))
    steps.append(("model", with_class_weight(model, value) if kind == "class_weight" else clone(model)))
    return Pipeline(steps)

"""One interface over both model kinds: score (higher = lower risk) and PD of a fitted scorecard or MonotoneGBM."""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab.credit.challenger import MonotoneGBM
from paylab.credit.scorecard import scorecard_pd, scorecard_score


def score(model, X: pd.DataFrame) -> np.ndarray:
    """Higher = lower risk: scorecard points, or the GBM's minus log-odds."""
    return model.score(X) if isinstance(model, MonotoneGBM) else scorecard_score(model, X)


def probability(model, X: pd.DataFrame) -> np.ndarray:
    """Probability of default."""
    return model.predict_pd(X) if isinstance(model, MonotoneGBM) else scorecard_pd(model, X)


def oracle_score(default_probability) -> np.ndarray:
    """The oracle's probability on the same direction: log(good odds)."""
    p = np.clip(np.asarray(default_probability, dtype=float), 1e-12, 1 - 1e-12)
    return np.log((1 - p) / p)


def score_all(models: dict, X: pd.DataFrame, default_probability=None) -> dict[str, np.ndarray]:
    """{name: score} of every model on X, plus 'oracle' when its probabilities are given."""
    out = {name: score(m, X) for name, m in models.items()}
    if default_probability is not None:
        out["oracle"] = oracle_score(default_probability)
    return out

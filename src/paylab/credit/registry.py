"""The scorer served from the MLflow registry as pyfunc `credit` (alias champion)."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd

from paylab.credit.models import probability, score


class CreditScorer(mlflow.pyfunc.PythonModel):
    """Scores applications with the recommended model: `score` (higher = lower risk), `pd` and `approve` (score at
    or above the cutoff)."""

    def __init__(self, model, cutoff: float):
        self.model, self.cutoff = model, float(cutoff)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        s = score(self.model, model_input)
        return pd.DataFrame({"score": s, "pd": probability(self.model, model_input),
                             "approve": np.asarray(s) >= self.cutoff})

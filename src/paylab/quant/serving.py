"""The quant model as an MLflow pyfunc: the last walk-forward LightGBM (the one that scores tomorrow).

Input: one row per (date, ticker) with the factor columns, cross-sectionally normalised as in training
(`paylab.quant.build_dataset`); output: the score (higher = expected to outperform the next day)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd


class QuantScorer(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        import lightgbm as lgb

        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        self.features = json.loads(Path(context.artifacts["features"]).read_text())

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        missing = [c for c in self.features if c not in model_input.columns]
        if missing:
            raise ValueError(f"quant model input lacks factor column(s) {missing[:5]} (of {len(missing)})")
        return self.booster.predict(model_input[self.features].astype(float))


def save_artifacts(model, features: list[str], out: Path) -> dict[str, str]:
    """Write the booster and the feature list; returns the pyfunc's `artifacts` map."""
    out.mkdir(parents=True, exist_ok=True)
    booster, names = out / "booster.txt", out / "features.json"
    model.booster_.save_model(str(booster))
    names.write_text(json.dumps(list(features)))
    return {"booster": str(booster), "features": str(names)}

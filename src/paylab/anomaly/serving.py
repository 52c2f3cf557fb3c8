"""The served detector as an MLflow pyfunc (`anomaly` @champion): a feature frame in, the anomaly percentile out."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd


class AnomalyModel(mlflow.pyfunc.PythonModel):
    """Artifact `detector`: a cloudpickled `paylab.anomaly.detectors.Detector`."""

    def load_context(self, context) -> None:
        import cloudpickle

        with open(context.artifacts["detector"], "rb") as fh:
            self.detector = cloudpickle.load(fh)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return pd.DataFrame({"anomaly_percentile": self.detector(model_input)}, index=model_input.index)

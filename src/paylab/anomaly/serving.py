"""The served detector as an MLflow pyfunc (`anomaly` @champion): a feature frame in, the anomaly percentile out."""

from __future__ import annotations

from pathlib import Path
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


def load_detector(path) -> Any:
    """The served detector the anomaly stage wrote (models/anomaly/detector.pkl)."""
    import cloudpickle

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no served anomaly detector (run the `anomaly` stage: `dvc repro anomaly`)")
    return cloudpickle.loads(path.read_bytes())


def layer_setting(setting: Any, verdict: dict[str, Any] | None) -> dict[str, Any] | None:
    """params fraud.decision.anomaly -> the decision engine's anomaly config (None: the layer is off).

    "auto" follows the anomaly stage's verdict (reports/metrics/anomaly.json `ablation_layer`): the layer at the review
    percentile chosen on validation when it lowered the test cost measurably, else off; a mapping is used as given."""
    if setting is None or isinstance(setting, dict):
        return setting
    if setting != "auto":
        raise ValueError(f"params.yaml fraud.decision.anomaly: expected null, auto or {{review, decline}}, "
                         f"got {setting!r}")
    if not verdict:
        raise ValueError("fraud.decision.anomaly is auto but reports/metrics/anomaly.json has no `ablation_layer` "
                         "(run the `anomaly` stage first)")
    return {"review": float(verdict["review"]), "decline": None} if verdict.get("keep") else None

"""The fraud model being monitored: the pipeline of the registered champion (models:/fraud@champion, its artifact
`model.pkl` via `paylab.fraud.registry.load_version_model`: the fitted pipeline and its feature columns, without the
service's warm online state)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from paylab import tracking


@dataclass
class Champion:
    model: object
    features: list[str]
    version: int

    def score(self, frame: pd.DataFrame, batch: int = 200_000) -> np.ndarray:
        """Fraud probability of every row (in batches: bounded memory at the kaggle scale)."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ValueError(f"fraud champion v{self.version} needs feature {missing[0]!r}, absent from the rows")
        parts = [self.model.predict_proba(frame.iloc[i:i + batch][self.features])[:, 1]
                 for i in range(0, len(frame), batch)]
        return np.concatenate(parts) if parts else np.zeros(0)


def fraud_champion(root: Path, name: str = "fraud", alias: str = "champion") -> Champion:
    """The champion's pipeline from the project's MLflow store; a clear error when nothing is registered."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from paylab.fraud.registry import load_version_model

    mlflow.set_tracking_uri(tracking.tracking_uri(Path(root)))
    try:
        version = int(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException as err:
        raise FileNotFoundError(f"no models:/{name}@{alias} in {tracking.tracking_uri(Path(root))}: run the fraud "
                                f"stage with fraud.register: true first") from err
    model, features = load_version_model(name, version)
    return Champion(model=model, features=features, version=version)

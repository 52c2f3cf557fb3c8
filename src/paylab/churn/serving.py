"""The churn scorer as an MLflow pyfunc: a frame of aggregates + the flattened weekly sequence in, the champion's
churn probability out (`churn` @champion in the registry)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from paylab.churn import models
from paylab.churn.panel import AGGREGATES, WEEK_FEATURES


def sequence_columns(weeks: int) -> list[str]:
    """seq_<channel>_<k>: week k (0 = the oldest of the window) of each channel."""
    return [f"seq_{f}_{k}" for k in range(weeks) for f in WEEK_FEATURES]


def flat_inputs(rows: pd.DataFrame, seq: np.ndarray) -> pd.DataFrame:
    """The scorer's input frame: the aggregates then the sequence flattened week by week."""
    flat = pd.DataFrame(seq.reshape(len(seq), -1), columns=sequence_columns(seq.shape[1]), index=rows.index)
    return pd.concat([rows[AGGREGATES], flat], axis=1).reset_index(drop=True)


def save_artifacts(exp, folder: Path) -> dict[str, str]:
    """The LSTM (.keras), the GBMs and scalers (pickle) and the champion's name; returns pyfunc artifacts."""
    folder.mkdir(parents=True, exist_ok=True)
    exp.lstm.save(folder / "lstm.keras")
    with open(folder / "gbm.pkl", "wb") as f:
        pickle.dump({"gbm": exp.gbm, "hybrid": exp.hybrid, "scalers": exp.scalers}, f)
    (folder / "meta.json").write_text(json.dumps({"champion": exp.champion, "weeks": int(exp.panel.seq.shape[1])}))
    return {"lstm": str(folder / "lstm.keras"), "gbm": str(folder / "gbm.pkl"), "meta": str(folder / "meta.json")}


def pip_requirements() -> list[str]:
    """The installed versions of what the scorer imports (given to MLflow: its own inference would load the model
    with TensorFlow in a subprocess, tens of seconds)."""
    from paylab.tracking import pinned

    return pinned("mlflow", "numpy", "pandas", "lightgbm", "keras", "tensorflow-cpu")


def _python_model_base():
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel


class ChurnScorer(_python_model_base()):
    """pyfunc: predict(frame of `flat_inputs` columns) -> DataFrame(probability, lstm, gbm)."""

    def load_context(self, context):
        import keras

        self.lstm = keras.saving.load_model(context.artifacts["lstm"])
        with open(context.artifacts["gbm"], "rb") as f:
            saved = pickle.load(f)
        self.gbm, self.hybrid, self.scalers = saved["gbm"], saved["hybrid"], saved["scalers"]
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.champion, self.weeks = meta["champion"], int(meta["weeks"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        x = model_input[AGGREGATES].astype(float)
        seq = model_input[sequence_columns(self.weeks)].to_numpy(float).reshape(len(x), self.weeks, -1)
        p_lstm = models.predict_lstm(self.lstm, models.scale_sequence(seq, self.scalers["seq"]),
                                     models.scale_side(x, self.scalers["side"]))
        p_gbm = models.predict_gbm(self.gbm, x)
        p_hybrid = models.predict_gbm(self.hybrid, x.assign(**{models.LSTM_FEATURE: models.logit(p_lstm)}))
        prob = p_hybrid if self.champion == "hybrid" else p_lstm
        return pd.DataFrame({"probability": prob, "lstm": p_lstm, "gbm": p_gbm, "hybrid": p_hybrid})

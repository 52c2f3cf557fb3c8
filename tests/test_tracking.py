"""The shared MLflow registration helper."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from paylab import tracking


class _Sum(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input.sum(axis=1)


def test_register_model_moves_the_alias_to_each_new_version(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    example = pd.DataFrame({"a": [1.0], "b": [2.0]})
    with pytest.raises(RuntimeError, match="no active MLflow run"):
        tracking.register_model("demo", _Sum(), input_example=example)
    versions = []
    for _ in range(2):
        with tracking.stage_run("demo", root=tmp_path):
            versions.append(tracking.register_model("demo", _Sum(), input_example=example, metrics={"auc": 0.7}))
    assert versions == [1, 2]
    alias = mlflow.MlflowClient().get_model_version_by_alias("demo", "champion")
    assert int(alias.version) == 2
    assert mlflow.pyfunc.load_model("models:/demo@champion").predict(example).tolist() == [3.0]
    # pinned requirements (no inference subprocess): the base distributions + `requires`, at their installed versions
    with tracking.stage_run("demo", root=tmp_path):
        version = tracking.register_model("demo", _Sum(), input_example=example, requires=("scikit-learn",))
    folder = mlflow.artifacts.download_artifacts(f"models:/demo/{version}", dst_path=str(tmp_path / "dl"))
    lines = (Path(folder) / "requirements.txt").read_text().split()
    assert f"numpy=={np.__version__}" in lines and any(line.startswith("scikit-learn==") for line in lines)


def test_pinned_gives_installed_versions_and_skips_absent_ones():
    assert tracking.pinned("numpy", "no-such-dist-xyz", "numpy") == [f"numpy=={np.__version__}"]

"""MLflow conventions: one sqlite store at the project root, one experiment per module, runs tagged with the
git commit and the stage."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from paylab.paths import project_root


def tracking_uri(root: Path | None = None) -> str:
    """`MLFLOW_TRACKING_URI` when set, else an absolute sqlite URI at the project root (shared by `dvc exp` runs)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(root or project_root()) / 'mlflow.db'}"


def git_commit(root: Path | None = None) -> str:
    """The checkout's HEAD commit, or "unknown" outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root or project_root(), capture_output=True,
                             text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def quiet_libraries() -> None:
    """Keep library chatter out of stage reports: MLflow's and Optuna's INFO lines."""
    import logging

    for name in ("mlflow", "optuna", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING if name != "mlflow" else logging.ERROR)


def setup(module: str, root: Path | None = None) -> str:
    """Point MLflow at the project store and select the module's experiment; returns the experiment name."""
    import mlflow

    quiet_libraries()
    root = root or project_root()
    mlflow.set_tracking_uri(tracking_uri(root))
    name = f"paylab-{module}"
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=(root / "mlruns" / module).as_uri())
    mlflow.set_experiment(name)
    return name


@contextmanager
def stage_run(module: str, stage: str | None = None, root: Path | None = None, **tags: str):
    """An MLflow run of one stage, tagged with the git commit and the stage name."""
    import mlflow

    root = root or project_root()
    setup(module, root)
    with mlflow.start_run(run_name=stage or module) as run:
        mlflow.set_tags({"git_commit": git_commit(root), "stage": stage or module, **tags})
        yield run


def attach(module: str, run_id: str = "", root: Path | None = None, stage: str | None = None):
    """Make a run active inside a notebook: the stage's run `run_id` when the stage runner passed one, else a new
    run (interactive use). End it with `mlflow.end_run()` in the notebook's last cell."""
    import mlflow

    root = root or project_root()
    setup(module, root)
    if run_id:
        return mlflow.start_run(run_id=run_id)
    run = mlflow.start_run(run_name=stage or module)
    mlflow.set_tags({"git_commit": git_commit(root), "stage": stage or module, "interactive": "true"})
    return run


PYFUNC_BASE = ("mlflow", "cloudpickle", "numpy", "pandas")  # what every PayLab pyfunc imports


def pinned(*dists: str) -> list[str]:
    """`dist==version` of each installed distribution (absent ones skipped): a pyfunc's pip requirements. Given to
    MLflow, they spare its inference, which loads the model in a subprocess (15-20 s a model, more with TensorFlow).
    The paylab package itself is not on PyPI: serve from the project environment (`--env-manager local`)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in dict.fromkeys(dists):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return out


def register_model(name: str, python_model, *, artifacts: dict[str, str] | None = None, input_example=None,
                   metrics: dict[str, float] | None = None, alias: str = "champion", requires: Sequence[str] = (),
                   pip_requirements: list[str] | None = None) -> int:
    """Log `python_model` (an mlflow.pyfunc.PythonModel instance, or a models-from-code file path) as a pyfunc into
    the active run, register it as `name` and move `alias` to the new version; returns the version number.

    Its pip requirements: `pip_requirements` when given, else the installed versions of `PYFUNC_BASE` + `requires`
    (the distributions the model imports beyond the base).

    For modules whose newest model always serves (anomaly, recsys, churn, credit, quant). The fraud service has its
    own promotion rule (`paylab.fraud.registry`)."""
    import io
    from contextlib import redirect_stderr

    import mlflow

    if mlflow.active_run() is None:
        raise RuntimeError(f"register_model({name!r}): no active MLflow run (use tracking.attach or stage_run)")
    if metrics:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    with redirect_stderr(io.StringIO()):  # MLflow prints "Successfully registered ..." there; failures raise
        info = mlflow.pyfunc.log_model(name=name, python_model=python_model, artifacts=artifacts,
                                       input_example=input_example, registered_model_name=name,
                                       pip_requirements=pip_requirements or pinned(*PYFUNC_BASE, *requires))
    version = int(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_model_version_tag(name, str(version), "git_commit", git_commit())
    client.set_registered_model_alias(name, alias, str(version))
    return version

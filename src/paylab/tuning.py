"""Optuna studies stored in sqlite (resumable) with one nested MLflow run per trial.

    study = tune(objective, space, "fraud-xgb", "reports/optuna.db", n_trials=50, timeout_s=600, seed=42)

`space(trial) -> params` draws the parameters; `objective(params) -> float` scores them (maximised by default).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from paylab import tracking

Params = dict[str, Any]


def _mlflow_value(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) else str(value)


@contextlib.contextmanager
def _parent_run(module: str, study_name: str, enabled: bool):
    """The active MLflow run (the stage's), else a new run of the module's experiment; nothing when disabled."""
    if not enabled:
        yield None
        return
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        mlflow.set_tag("optuna_study", study_name)
        yield active
        return
    with tracking.stage_run(module, stage=f"tune-{study_name}", optuna_study=study_name) as run:
        yield run


def tune(objective: Callable[[Params], float], params_space_fn: Callable[[optuna.Trial], Params], study_name: str,
         storage_path: str | Path, n_trials: int | None = None, timeout_s: float | None = None, seed: int = 42,
         mlflow_parent: bool = True, *, direction: str = "maximize", module: str = "tuning",
         total: bool = False) -> optuna.Study:
    """Run `n_trials` more trials (and/or for `timeout_s` seconds) of the study `study_name` stored in the sqlite
    file `storage_path` (created, or resumed when it exists) with a seeded TPE sampler.

    With `mlflow_parent`, each trial is a nested MLflow run (its params, `value` and trial number) under the
    active run, or under a new run `tune-<study_name>` of experiment `paylab-<module>` when none is active; the
    parent gets the metrics `best_value`, `n_trials` and the tag `best_params` (JSON). Without it, nothing is
    logged to MLflow.

    With `total`, `n_trials` is the study's target size: only the missing trials run (none when the stored study
    is complete), so a pipeline stage that names its study after its inputs is resumable and deterministic.
    """
    if n_trials is None and timeout_s is None:
        raise ValueError(f"tune({study_name!r}): give n_trials and/or timeout_s, else the study never stops")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one INFO line a trial would flood the stage's report
    storage_path = Path(storage_path)
    storage_path.parent.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{storage_path.resolve()}"
    done = _n_trials_stored(study_name, storage)
    if total and n_trials is not None:
        n_trials = max(0, n_trials - done)
    # A resumed study gets a shifted seed: the same seed would replay the first session's random start-up trials.
    sampler = optuna.samplers.TPESampler(seed=seed + done)
    study = optuna.create_study(study_name=study_name, storage=storage, sampler=sampler, direction=direction,
                                load_if_exists=True)

    def run_trial(trial: optuna.Trial) -> float:
        params = params_space_fn(trial)
        if not mlflow_parent:
            return objective(params)
        import mlflow

        with mlflow.start_run(run_name=f"{study_name}-trial-{trial.number}", nested=True) as run:
            mlflow.set_tags({"optuna_study": study_name, "optuna_trial": str(trial.number)})
            mlflow.log_params({k: _mlflow_value(v) for k, v in params.items()})
            trial.set_user_attr("mlflow_run_id", run.info.run_id)
            value = float(objective(params))
            mlflow.log_metric("value", value)
        return value

    with _parent_run(module, study_name, mlflow_parent):
        if n_trials != 0:
            study.optimize(run_trial, n_trials=n_trials, timeout=timeout_s)
        if mlflow_parent and _has_complete_trial(study):
            import mlflow

            mlflow.log_metrics({"best_value": study.best_value, "n_trials": len(study.trials)})
            mlflow.set_tag("best_params", json.dumps(study.best_params, default=str))
    return study


def _n_trials_stored(study_name: str, storage: str) -> int:
    try:
        return len(optuna.load_study(study_name=study_name, storage=storage).trials)
    except KeyError:  # no such study yet
        return 0


def _has_complete_trial(study: optuna.Study) -> bool:
    return any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)

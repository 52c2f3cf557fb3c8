"""Optuna + MLflow: a resumable sqlite study whose trials are nested MLflow runs under one parent."""

from __future__ import annotations

import mlflow
import optuna
import pytest

from paylab.tuning import tune


def _space(trial: optuna.Trial) -> dict:
    return {"x": trial.suggest_float("x", -5.0, 5.0), "depth": trial.suggest_int("depth", 1, 4)}


def _objective(params: dict) -> float:
    return -((params["x"] - 2.0) ** 2) - params["depth"]


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    """One temporary MLflow store for the module (creating one costs seconds); tests use their own experiments."""
    root = tmp_path_factory.mktemp("tuning")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv("PAYLAB_ROOT", str(root))
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        yield root
        while mlflow.active_run():
            mlflow.end_run()


def _runs(experiment: str):
    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


def test_study_is_resumable_and_trials_are_nested(mlflow_store):
    storage = mlflow_store / "optuna" / "studies.db"
    first = tune(_objective, _space, "toy", storage, n_trials=3, seed=1, module="toy")
    assert len(first.trials) == 3 and storage.exists()
    second = tune(_objective, _space, "toy", storage, n_trials=2, seed=1, module="toy")
    assert len(second.trials) == 5  # the same study continued
    assert [t.number for t in second.trials] == [0, 1, 2, 3, 4]
    assert len({t.params["x"] for t in second.trials}) == 5  # the resumed sampler does not replay trials 0-1
    assert second.best_value == max(t.value for t in second.trials)

    runs = _runs("paylab-toy")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 2 and len(children) == 5
    assert all(p.data.tags["optuna_study"] == "toy" for p in parents)
    per_parent = sorted(sum(c.data.tags["mlflow.parentRunId"] == p.info.run_id for c in children) for p in parents)
    assert per_parent == [2, 3]
    by_trial = {int(c.data.tags["optuna_trial"]): c for c in children}
    for trial in second.trials:
        run = by_trial[trial.number]
        assert run.data.metrics["value"] == pytest.approx(trial.value)
        assert float(run.data.params["x"]) == pytest.approx(trial.params["x"])
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
    assert max(p.data.metrics["best_value"] for p in parents) == pytest.approx(second.best_value)


def test_trials_nest_under_the_active_stage_run_or_skip_mlflow(mlflow_store):
    from paylab import tracking

    storage = mlflow_store / "s.db"
    with tracking.stage_run("toy2", stage="fraud") as stage:
        tune(_objective, _space, "inner", storage, n_trials=2, seed=0)
    runs = _runs("paylab-toy2")
    assert len(runs) == 3
    assert sum(r.data.tags.get("mlflow.parentRunId") == stage.info.run_id for r in runs) == 2
    study = tune(_objective, _space, "quiet", storage, n_trials=1, seed=0, mlflow_parent=False, module="toy3")
    assert len(study.trials) == 1 and mlflow.get_experiment_by_name("paylab-toy3") is None
    with pytest.raises(ValueError, match="n_trials"):
        tune(_objective, _space, "endless", storage)

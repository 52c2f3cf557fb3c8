"""The stage runner and `dvc repro` of the whole pipeline on tiny data, in a temporary copy of the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from paylab.report import build_index
from paylab.stages import StageFailed, flat_metrics, run_notebook
from paylab.story import number

ROOT = Path(__file__).resolve().parents[1]


def _env(root: Path) -> dict:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    env["PAYLAB_ROOT"] = str(root)
    return env


def _write_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "paylab", "display_name": "PayLab", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(cells[0], metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells[1:]]
    nbformat.write(nb, path)


@pytest.mark.slow
def test_failing_cell_stops_the_stage_and_names_the_cell(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_notebook(tmp_path / "notebooks" / "09_demo.ipynb",
                    ["root = '.'\nlimit = 1", "x = limit + 1", "raise ValueError(f'limit too small: {limit}')"])
    with pytest.raises(StageFailed, match=r"stage 'demo' failed in cell 3 .*ValueError: limit too small: 5"):
        run_notebook("demo", root=tmp_path, params={"limit": 5}, track=False)
    assert (tmp_path / "reports" / "notebooks" / "09_demo.html").exists()


@pytest.mark.slow
def test_dead_kernel_names_the_cell_memory_and_knobs(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_notebook(tmp_path / "notebooks" / "09_demo.ipynb", [
        "root = '.'\nsample_rows = 1000", "x = sample_rows * 2",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does"])
    with pytest.raises(StageFailed) as err:
        run_notebook("demo", root=tmp_path, params={"sample_rows": 5}, track=False)
    message = str(err.value)
    assert message.startswith("stage demo: the kernel died in cell 4 (`import os, signal`)")  # cell 1: injected
    assert "most likely out of memory (peak RSS" in message and "`demo.sample_rows`" in message
    assert (tmp_path / "reports" / "notebooks" / "09_demo.html").exists()


@pytest.mark.slow
def test_stage_injects_params_and_exports_html(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_notebook(tmp_path / "notebooks" / "09_demo.ipynb", [
        "root = '.'\nlimit = 1",
        "import json, pathlib\np = pathlib.Path(root) / 'reports' / 'metrics'\np.mkdir(parents=True, exist_ok=True)\n"
        "(p / 'demo.json').write_text(json.dumps({'model': {'limit': limit}}))"])
    html = run_notebook("demo", root=tmp_path, params={"limit": 5}, track=False)
    assert json.loads((tmp_path / "reports" / "metrics" / "demo.json").read_text()) == {"model": {"limit": 5}}
    cost = json.loads((tmp_path / "reports" / "costs" / "demo.json").read_text())
    assert cost["seconds"] > 0 and cost["peak_rss_mb"] > 50  # the kernel's memory is counted too
    assert "limit" in html.read_text()
    index = build_index(tmp_path / "reports").read_text()
    assert 'href="notebooks/09_demo.html"' in index and "<td>limit</td><td>5</td>" in index
    assert "Stage cost" in index and f"<td>demo</td><td>{number(cost['seconds'])}</td>" in index


@pytest.mark.slow
def test_tracked_stage_is_one_mlflow_run_shared_with_the_notebook(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "notebooks").mkdir()
    _write_notebook(tmp_path / "notebooks" / "09_demo.ipynb", [
        "root = '.'\nmlflow_run_id = ''",
        "import json, pathlib, mlflow\nfrom paylab import tracking\n"
        "run = tracking.attach('demo', mlflow_run_id, pathlib.Path(root))\nmlflow.log_param('inside', 'notebook')\n"
        "p = pathlib.Path(root) / 'reports' / 'metrics'\np.mkdir(parents=True, exist_ok=True)\n"
        "(p / 'demo.json').write_text(json.dumps({'model': {'auc': 0.75}, 'run': run.info.run_id}))\n"
        "mlflow.end_run()"])
    run_notebook("demo", root=tmp_path, params={}, track=True)
    run_id = json.loads((tmp_path / "reports" / "metrics" / "demo.json").read_text())["run"]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        run = mlflow.get_run(run_id)
        assert run.data.params["inside"] == "notebook"  # logged by the notebook
        assert run.data.metrics["model.auc"] == 0.75 and run.data.tags["stage"] == "demo"  # logged by the runner
        assert [a.path for a in mlflow.MlflowClient().list_artifacts(run_id)] == ["09_demo.html"]
    finally:
        mlflow.set_tracking_uri(None)
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_flat_metrics():
    assert flat_metrics({"a": {"b": 1, "c": "x", "d": True}, "e": 2.5}) == {"a.b": 1.0, "a.d": 1.0, "e": 2.5}


@pytest.mark.slow
def test_pipeline_benchmark_dvc_repro_and_a_sweep_on_tiny_data(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pipeline.py"), "--scale", "tiny", "--workdir",
                          str(tmp_path), "--keep"], capture_output=True, text=True, env=_env(tmp_path / "paylab"))
    log = tmp_path / "pipeline.log"
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:] + (log.read_text()[-3000:] if log.exists()
                                                                           else "")
    bench = json.loads(run.stdout.strip().splitlines()[-1])  # a benchmark's last line is one JSON object
    assert list(bench["stages"]) == ["data", "ingest", "eda", "features", "anomaly", "fraud", "credit", "quant",
                                     "recsys", "churn", "monitoring", "report"]
    assert all(s["seconds"] > 0 and s["peak_mb"] > 50 for s in bench["stages"].values())
    assert bench["total_seconds"] == pytest.approx(sum(s["seconds"] for s in bench["stages"].values()), abs=0.5)
    root = tmp_path / "paylab"
    env = _env(root)

    ingest = json.loads((root / "reports" / "metrics" / "ingest.json").read_text())
    for name, f in ingest["files"].items():
        if f.get("read") is not None:
            assert f["read"] == f["accepted"] + f["quarantined"], name
    eda = json.loads((root / "reports" / "metrics" / "eda.json").read_text())
    assert eda
    fraud = json.loads((root / "reports" / "metrics" / "fraud.json").read_text())
    assert {"model", "baseline", "latent_ceiling", "reference", "differences", "ratios", "learning_curve",
            "comparison", "decision", "registry"} <= set(fraud)
    n = fraud["model"]["n"]
    assert n == fraud["baseline"]["n"] == fraud["latent_ceiling"]["n"] == fraud["reference"]["n"] > 0  # same rows
    assert fraud["latent_ceiling"]["roc_auc"] >= 0.9 and 0 < fraud["model"]["roc_auc"] <= 1
    model = fraud["model"]
    assert model["average_precision_ci_low"] <= model["average_precision"] <= model["average_precision_ci_high"]
    assert 0 <= model["card_precision_at_k_normalised"] <= 1 and model["k"] >= 1
    assert fraud["differences"]["model_minus_baseline"]["average_precision"]["verdict"] in (
        "better", "worse", "no measurable difference")
    pr = pd.read_csv(root / "reports" / "plots" / "fraud_pr.csv")
    assert pr["precision_model"].is_monotonic_decreasing and pr["precision_model"].iloc[-1] < 1  # a curve, not flat
    assert fraud["registry"]["version"] == 1 and fraud["registry"]["promoted"]
    for plot in ("fraud_roc.csv", "fraud_pr.csv"):
        assert (root / "reports" / "plots" / plot).stat().st_size > 0
    anomaly = json.loads((root / "reports" / "metrics" / "anomaly.json").read_text())
    assert {"model", "baseline", "oracle", "detectors", "by_scenario", "ablation_features",
            "ablation_layer"} <= set(anomaly)
    assert anomaly["model"]["n"] == anomaly["baseline"]["n"] == anomaly["supervised"]["n"] == fraud["model"]["n"]
    assert anomaly["baseline"]["name"] == "isolation_forest/raw" and anomaly["serve"]["version"] >= 1
    assert (root / "models" / "anomaly" / "detector.pkl").stat().st_size > 0
    credit = json.loads((root / "reports" / "metrics" / "credit.json").read_text())
    assert {"model", "baseline", "oracle", "differences", "psi", "cutoff", "limits"} <= set(credit)
    assert credit["model"]["name"] in ("scorecard", "gbm") and credit["model"]["n"] == credit["oracle"]["n"] > 0
    assert credit["model"]["roc_auc_ci_low"] <= credit["model"]["roc_auc"] <= credit["model"]["roc_auc_ci_high"]
    quant = json.loads((root / "reports" / "metrics" / "quant.json").read_text())
    assert {"model", "baseline", "oracle", "differences"} <= set(quant) and quant["registry"]["alias"] == "champion"
    assert quant["oracle"]["rank_ic_ci_low"] <= quant["oracle"]["rank_ic"] <= quant["oracle"]["rank_ic_ci_high"]
    assert (root / "reports" / "plots" / "quant_equity.csv").stat().st_size > 0
    recsys = json.loads((root / "reports" / "metrics" / "recsys.json").read_text())
    assert {"model", "baseline", "oracle", "differences", "targeting"} <= set(recsys)
    assert recsys["model"]["name"] == "wide_deep" and recsys["baseline"]["name"] != "wide_deep"
    model = recsys["model"]
    assert model["ndcg_at_10_ci_low"] <= model["ndcg_at_10"] <= model["ndcg_at_10_ci_high"]
    assert recsys["registry"]["alias"] == "champion" and (root / "models" / "recsys" / "recommender.pkl").exists()
    churn = json.loads((root / "reports" / "metrics" / "churn.json").read_text())
    assert {"model", "baseline", "oracle", "gbm", "lstm", "hybrid", "differences", "database"} <= set(churn)
    assert churn["model"]["name"] in ("lstm", "hybrid") and churn["baseline"]["name"] == "gbm"
    assert churn["model"]["n"] == churn["baseline"]["n"] == churn["oracle"]["n"] > 0 and churn["registry"]["version"]
    assert churn["model"]["roc_auc_ci_low"] <= churn["model"]["roc_auc"] <= churn["model"]["roc_auc_ci_high"]
    from paylab.churn.retention import at_risk
    view = at_risk(f"sqlite:///{root / 'data' / 'churn' / 'churn.db'}", limit=5)
    assert len(view) == 5 and view["value_at_risk"].is_monotonic_decreasing and view["reason_1"].notna().any()
    monitoring = json.loads((root / "reports" / "metrics" / "monitoring.json").read_text())
    assert {"model", "baseline", "oracle", "summary", "psi_reference_deciles", "psi_evidently", "by_month",
            "by_year", "reports"} <= set(monitoring)
    mon = monitoring["model"]
    assert mon["roc_auc_ci_low"] <= mon["roc_auc"] <= mon["roc_auc_ci_high"] and mon["n_positive"] > 0
    assert set(monitoring["psi_evidently"]) >= set(monitoring["psi_reference_deciles"]) - {"fraud_score"}
    assert monitoring["reports"] and all((root / "reports" / p).exists() for p in monitoring["reports"].values())
    assert (root / "reports" / "figures" / "monitoring" / "alert_queue.csv").stat().st_size > 0
    index = (root / "reports" / "index.html").read_text()
    assert "01_eda" in index and "ingest" in index and "03_fraud" in index
    assert "<b>Answer.</b>" in index and 'href="drift/drift_' in index  # the walkthrough's monitoring story
    assert 'href="slides/03_fraud.slides.html"' in index
    assert (root / "reports" / "slides" / "09_monitoring.slides.html").exists()
    assert (root / "mlflow.db").exists()
    status = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=root, env=env, capture_output=True,
                            text=True)
    assert "up to date" in status.stdout.lower(), status.stdout

    # a sweep as the README types it, with no venv on PATH: stage commands find the checkout's .venv themselves
    (root / ".venv").symlink_to(Path(sys.executable).parents[1])
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "tiny"], cwd=root, check=True)
    bare = dict(env, PATH="/usr/local/bin:/usr/bin:/bin")
    exp = subprocess.run([sys.executable, "-m", "dvc", "exp", "run", "-S", "fraud.tune.n_trials=3"], cwd=root,
                         env=bare, capture_output=True, text=True)
    assert exp.returncode == 0, exp.stdout[-3000:] + exp.stderr[-3000:]
    assert json.loads((root / "reports" / "metrics" / "fraud.json").read_text())["tuning"]["n_trials"] == 3
    show = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--csv"], cwd=root, env=bare,
                          capture_output=True, text=True)
    assert show.returncode == 0 and "fraud.tune.n_trials" in show.stdout.splitlines()[0], show.stderr

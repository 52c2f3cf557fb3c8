"""The stage runner and `dvc repro` of the whole pipeline on tiny data, in a temporary copy of the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from paylab.report import build_index
from paylab.stages import StageFailed, flat_metrics, run_notebook

ROOT = Path(__file__).resolve().parents[1]


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


def _checkout_copy(dest: Path) -> Path:
    """The files git sees (tracked or not ignored) copied to dest, with tiny-scale params."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    tiny = yaml.safe_load((ROOT / "tests" / "tiny_params.yaml").read_text())
    (dest / "params.yaml").write_text(yaml.safe_dump(_merge(params, tiny), sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


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
def test_stage_injects_params_and_exports_html(tmp_path):
    (tmp_path / "notebooks").mkdir()
    _write_notebook(tmp_path / "notebooks" / "09_demo.ipynb", [
        "root = '.'\nlimit = 1",
        "import json, pathlib\np = pathlib.Path(root) / 'reports' / 'metrics'\np.mkdir(parents=True, exist_ok=True)\n"
        "(p / 'demo.json').write_text(json.dumps({'model': {'limit': limit}}))"])
    html = run_notebook("demo", root=tmp_path, params={"limit": 5}, track=False)
    assert json.loads((tmp_path / "reports" / "metrics" / "demo.json").read_text()) == {"model": {"limit": 5}}
    assert "limit" in html.read_text()
    index = build_index(tmp_path / "reports").read_text()
    assert 'href="notebooks/09_demo.html"' in index and "<td>limit</td><td>5</td>" in index


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
def test_dvc_repro_on_tiny_data(tmp_path, tiny_raw):
    root = _checkout_copy(tmp_path / "paylab")
    shutil.copytree(tiny_raw, root / "data" / "raw")
    env = _env(root)
    add = subprocess.run([sys.executable, "-m", "dvc", "commit", "-f", "-q", "data.dvc"], cwd=root, env=env,
                         capture_output=True, text=True)  # as a user does after dropping in new raw files
    assert add.returncode == 0, add.stderr
    run = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=root, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    ingest = json.loads((root / "reports" / "metrics" / "ingest.json").read_text())
    for name, f in ingest["files"].items():
        if f.get("read") is not None:
            assert f["read"] == f["accepted"] + f["quarantined"], name
    eda = json.loads((root / "reports" / "metrics" / "eda.json").read_text())
    assert eda
    fraud = json.loads((root / "reports" / "metrics" / "fraud.json").read_text())
    assert {"model", "baseline", "oracle", "comparison", "decision", "registry"} <= set(fraud)
    assert fraud["model"]["n"] == fraud["baseline"]["n"] == fraud["oracle"]["n"] > 0  # the same test rows
    assert fraud["oracle"]["roc_auc"] >= 0.9 and 0 < fraud["model"]["roc_auc"] <= 1
    assert fraud["registry"]["version"] == 1 and fraud["registry"]["promoted"]
    for plot in ("fraud_roc.csv", "fraud_pr.csv"):
        assert (root / "reports" / "plots" / plot).stat().st_size > 0
    index = (root / "reports" / "index.html").read_text()
    assert "01_eda" in index and "ingest" in index and "03_fraud" in index
    assert (root / "mlflow.db").exists()
    status = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=root, env=env, capture_output=True,
                            text=True)
    assert "up to date" in status.stdout.lower(), status.stdout

"""Run one notebook as a DVC stage: papermill with the stage's params, then an HTML export for people."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from paylab.params import stage_params
from paylab.paths import project_root
from paylab.tracking import stage_run

KERNEL = "paylab"


class StageFailed(RuntimeError):
    """A cell of a stage notebook raised; the message names the stage, the cell and the error."""


def notebook_for(stage: str, root: Path) -> Path:
    """notebooks/NN_<stage>.ipynb."""
    found = sorted((root / "notebooks").glob(f"[0-9][0-9]_{stage}.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one notebooks/NN_{stage}.ipynb, found {[p.name for p in found]}")
    return found[0]


def export_html(executed: Path, html: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    html.write_text(body, encoding="utf-8")


def flat_metrics(data: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested metrics JSON as `a.b.c` -> value."""
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_metrics(value, name + "."))
        elif isinstance(value, bool | int | float):
            out[name] = float(value)
    return out


def log_stage(stage: str, root: Path, html: Path) -> None:
    """Log the stage's metrics JSON (if any) and the executed notebook into the active MLflow run."""
    import mlflow

    metrics_path = root / "reports" / "metrics" / f"{stage}.json"
    if metrics_path.exists():
        metrics = flat_metrics(json.loads(metrics_path.read_text()))
        mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in metrics.items()})
    mlflow.log_artifact(str(html))


def run_notebook(stage: str, root: Path | None = None, params: dict | None = None, track: bool = True) -> Path:
    """Execute notebooks/NN_<stage>.ipynb with params.yaml[stage] (+ seed, root); returns the HTML path.

    The executed notebook and its HTML go to reports/notebooks/. A failing cell raises StageFailed after the
    partial notebook and HTML are written, so the error can be read there too. With `track`, the stage is one
    MLflow run: the notebook gets its id as `mlflow_run_id` (to nest Optuna trials and log models there), then the
    metrics JSON and the HTML are logged into it.
    """
    import papermill as pm

    root = (root or project_root()).resolve()
    nb = notebook_for(stage, root)
    parameters = dict(params if params is not None else stage_params(stage, root / "params.yaml"))
    parameters["root"] = str(root)
    out_dir = root / "reports" / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    executed, html = out_dir / nb.name, out_dir / f"{nb.stem}.html"
    with stage_run(stage, stage=stage, root=root) if track else contextlib.nullcontext() as run:
        parameters["mlflow_run_id"] = run.info.run_id if run else ""
        try:
            pm.execute_notebook(str(nb), str(executed), parameters=parameters, kernel_name=KERNEL, cwd=str(root),
                                progress_bar=False)
        except pm.PapermillExecutionError as err:
            export_html(executed, html)
            raise StageFailed(f"stage '{stage}' failed in cell {err.cell_index} (execution count {err.exec_count}) "
                              f"of {nb.relative_to(root)}: {err.ename}: {err.evalue}; see {html}") from None
        export_html(executed, html)
        if track:
            log_stage(stage, root, html)
    return html

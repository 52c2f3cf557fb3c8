"""Run one notebook as a DVC stage: papermill with the stage's params, then an HTML export for people."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import psutil
from nbclient.exceptions import DeadKernelError

from paylab.params import stage_params
from paylab.paths import project_root
from paylab.resources import Cost
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
    """The executed notebook, its stream outputs coalesced (a text progress bar keeps only its last state), and
    its HTML export."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    nb, _ = CoalesceStreamsPreprocessor().preprocess(nbformat.read(executed, as_version=4), {})
    nbformat.write(nb, executed)
    body, _ = HTMLExporter().from_notebook_node(nb)
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

    # the kernel inherits these: without ipywidgets, tqdm's text bars are what a report shows, not a warning; and
    # MLflow's artifact-download bars are chatter in a report
    quiet = "ignore:IProgress not found"
    if quiet not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), quiet]))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    root = (root or project_root()).resolve()
    nb = notebook_for(stage, root)
    parameters = dict(params if params is not None else stage_params(stage, root / "params.yaml"))
    parameters["root"] = str(root)
    out_dir = root / "reports" / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    executed, html = out_dir / nb.name, out_dir / f"{nb.stem}.html"
    with stage_run(stage, stage=stage, root=root) if track else contextlib.nullcontext() as run:
        parameters["mlflow_run_id"] = run.info.run_id if run else ""
        cost = Cost()
        try:
            with cost:
                pm.execute_notebook(str(nb), str(executed), parameters=parameters, kernel_name=KERNEL,
                                    cwd=str(root), progress_bar=False)
        except pm.PapermillExecutionError as err:
            export_html(executed, html)
            raise StageFailed(f"stage '{stage}' failed in cell {err.cell_index} (execution count {err.exec_count}) "
                              f"of {nb.relative_to(root)}: {err.ename}: {err.evalue}; see {html}") from None
        except DeadKernelError:
            if executed.exists():
                export_html(executed, html)
            raise StageFailed(dead_kernel_message(stage, executed if executed.exists() else nb, cost.peak_mb,
                                                  parameters)) from None
        export_html(executed, html)
        write_cost(stage, root, cost)
        if track:
            log_stage(stage, root, html)
            import mlflow

            mlflow.log_metrics({"stage_seconds": cost.seconds, "stage_peak_rss_mb": cost.peak_mb})
    return html


def write_cost(stage: str, root: Path, cost: Cost) -> Path:
    """reports/costs/<stage>.json: the stage's wall time and peak RSS (process tree, kernel included)."""
    path = root / "reports" / "costs" / f"{stage}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    from datetime import UTC, datetime

    from paylab.tracking import git_commit

    path.write_text(json.dumps({"seconds": round(cost.seconds, 1), "peak_rss_mb": round(cost.peak_mb),
                                "finished_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                                "commit": git_commit(root)}) + "\n")
    return path


def _size_knobs(params: dict, prefix: str = "") -> list[str]:
    """Names of the stage's params that set how much data it touches (rows, samples, sizes)."""
    out = []
    for key, value in params.items():
        if isinstance(value, dict):
            out += _size_knobs(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool) and any(
                word in key for word in ("rows", "sample", "size", "max_", "n_boot", "background")):
            out.append(f"{prefix}{key}")
    return out


def dead_kernel_message(stage: str, executed: Path, peak_mb: float, params: dict) -> str:
    """What to tell a user whose stage kernel died: the cell it was running, its first line, the peak memory and
    the knobs to turn."""
    import nbformat

    cell_no, first = None, ""
    nb = nbformat.read(executed, as_version=4)
    for i, cell in enumerate(nb.cells, start=1):  # the last cell papermill started is the one that was running
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            cell_no, first = i, next((line for line in cell.source.splitlines() if line.strip()), "")
    where = f"in cell {cell_no} (`{first.strip()}`)" if cell_no else "before any cell ran"
    knobs = [k for k in _size_knobs({k: v for k, v in params.items() if k not in ("root", "mlflow_run_id")})]
    hint = f"reduce {', '.join(f'`{stage}.{k}`' for k in knobs[:4])} in params.yaml" if knobs else (
        "reduce the data (params.yaml `data.scale`)")
    return (f"stage {stage}: the kernel died {where} of {executed.name} - most likely out of memory (peak RSS "
            f"{peak_mb:,.0f} MB of {psutil.virtual_memory().total / 2**20:,.0f} MB); {hint} or use the Spark engine "
            f"(`features.engine: spark`)")

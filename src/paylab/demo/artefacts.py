"""Pipeline artefacts as the demo shows them: each module's metrics JSON, the stage status (dvc.lock + the stage
runner's reports/costs/<stage>.json), and one headline metric per module as model vs baseline vs ceiling."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from paylab.story import MODULES as STORIES
from paylab.story import ceiling, number, with_ci  # noqa: F401  (number: used by the pages)

# module -> (business question, headline metric): the modules with a model
MODULES = {name: (m.question, m.metric) for name, m in STORIES.items() if name not in ("eda", "features")}
STAGES = ("ingest", "eda", "features", "fraud", "anomaly", "recsys", "churn", "credit", "quant", "monitoring",
          "report")


def read_json(path: Path) -> dict | None:
    """A JSON file as a dict, or None when it is missing."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def metrics(root: Path, module: str) -> dict | None:
    """reports/metrics/<module>.json, or None before the stage has run."""
    return read_json(Path(root) / "reports" / "metrics" / f"{module}.json")


_ci = with_ci


def headline(root: Path) -> pd.DataFrame:
    """One row per module: its question, the headline metric, model / baseline / ceiling with 95% intervals (empty
    when a block has no such metric) and whether the stage has run."""
    rows = []
    for module, (question, metric) in MODULES.items():
        data = metrics(root, module)
        if data is None:
            rows.append({"module": module, "question": question, "metric": metric, "model": "",
                         "baseline": "", "ceiling": "", "status": "run `make repro` first"})
            continue
        rows.append({"module": module, "question": question, "metric": metric,
                     "model": _ci(data.get("model", {}), metric), "baseline": _ci(data.get("baseline", {}), metric),
                     "ceiling": _ci(ceiling(data), metric), "status": "built"})
    return pd.DataFrame(rows).set_index("module")


def stage_status(root: Path) -> pd.DataFrame:
    """One row per stage of dvc.yaml: whether dvc.lock records it, when it last finished, from which commit, its
    wall seconds and peak memory (the stage runner's reports/costs/<stage>.json)."""
    root = Path(root)
    declared = list((yaml.safe_load((root / "dvc.yaml").read_text()) or {}).get("stages", {})) \
        if (root / "dvc.yaml").exists() else list(STAGES)
    locked = set((yaml.safe_load((root / "dvc.lock").read_text()) or {}).get("stages", {})) \
        if (root / "dvc.lock").exists() else set()
    rows = []
    for stage in declared:
        cost = read_json(root / "reports" / "costs" / f"{stage}.json") or {}
        metrics_file = root / "reports" / "metrics" / f"{stage}.json"
        ran = stage in locked or bool(cost) or metrics_file.exists()
        finished = cost.get("finished_utc")
        if finished is None and metrics_file.exists():
            finished = pd.Timestamp(metrics_file.stat().st_mtime, unit="s").strftime("%Y-%m-%d %H:%M:%S")
        rows.append({"stage": stage, "ran": "yes" if ran else "no", "in dvc.lock": stage in locked,
                     "finished (UTC)": finished or "", "commit": (cost.get("commit") or "")[:8],
                     "seconds": cost.get("seconds"), "peak MB": cost.get("peak_rss_mb")})
    return pd.DataFrame(rows).set_index("stage")


def figures(root: Path, module: str) -> list[Path]:
    """reports/figures/<module>/*.png, sorted."""
    return sorted((Path(root) / "reports" / "figures" / module).glob("*.png"))


def signature(root: Path, *parts: str) -> tuple:
    """(path, mtime) of the given files or directories under root: a cache key that changes with the artefacts."""
    out = []
    for part in parts:
        p = Path(root) / part
        out.append((part, p.stat().st_mtime if p.exists() else None))
    return tuple(out)

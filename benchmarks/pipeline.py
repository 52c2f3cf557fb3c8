"""The whole pipeline's cost: `dvc repro` in a temporary copy of this checkout at one scale, one stage at a time.

    python benchmarks/pipeline.py --scale {tiny,default,kaggle} [--workdir DIR] [--keep]

Copies the files git sees (not data/, reports/, mlflow.db) into a fresh folder, sets `data.scale` (and, at `tiny`,
the test budgets of tests/tiny_params.yaml), generates the raw data, then runs `dvc repro --single-item <stage>` for
each stage of dvc.yaml in order. Each step's wall time and peak RSS are measured over its whole process tree
(dvc, the stage's Python, the notebook's kernel, Spark's JVM, joblib workers). Prints a table as it goes; the last
line is one JSON object: {"scale", "total_seconds", "max_peak_mb", "stages": {stage: {"seconds", "peak_mb"}}}.
Targets on a 2-core, 24 GB machine: default <= 10 minutes in all; kaggle <= 60 minutes, every stage < 16 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import yaml

from paylab.resources import Cost

ROOT = Path(__file__).resolve().parents[1]


def checkout_copy(dest: Path, scale: str) -> Path:
    """The files git sees (tracked or untracked but not ignored) copied to dest, with `data.scale` set."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if scale == "tiny":
        params = merge(params, yaml.safe_load((ROOT / "tests" / "tiny_params.yaml").read_text()))
    params["data"]["scale"] = scale
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


def run_measured(cmd: list[str], cwd: Path, env: dict, log) -> dict:
    """Run `cmd`, sampling the peak RSS of its process tree every 0.2 s; raises on a non-zero exit."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    with Cost(interval_s=0.2, process=psutil.Process(proc.pid)) as cost:
        proc.wait()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}; see {log.name}")
    return {"seconds": round(cost.seconds, 1), "peak_mb": round(cost.peak_mb)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default", choices=["tiny", "default", "kaggle"])
    parser.add_argument("--workdir", type=Path, help="where the copy goes (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the copy (its reports, metrics and log)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"paylab-pipeline-{args.scale}-"))
    root = checkout_copy(workdir / "paylab", args.scale)
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}", PYTHONHASHSEED="0")
    env.pop("MLFLOW_TRACKING_URI", None)
    env["PAYLAB_ROOT"] = str(root)
    stages = list(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])
    results: dict[str, dict] = {}
    print(f"pipeline at scale {args.scale} in {root}")
    print(f"{'step':<10} {'wall s':>9} {'peak MB':>9}")
    try:
        with open(workdir / "pipeline.log", "w") as log:
            steps = [("data", [sys.executable, "-m", "paylab.cli", "synth", "--scale", args.scale, "--out",
                               "data/raw"])]
            steps += [(stage, [sys.executable, "-m", "dvc", "repro", "--single-item", stage]) for stage in stages]
            for name, cmd in steps:
                results[name] = run_measured(cmd, root, env, log)
                if name == "data":  # data.dvc records the snapshot the copy now holds, as after dropping in files
                    run_measured([sys.executable, "-m", "dvc", "commit", "-f", "-q", "data.dvc"], root, env, log)
                print(f"{name:<10} {results[name]['seconds']:>9,.1f} {results[name]['peak_mb']:>9,}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    total = round(sum(r["seconds"] for r in results.values()), 1)
    peak = max(r["peak_mb"] for r in results.values())
    print(f"{'total':<10} {total:>9,.1f} {peak:>9,}")
    print(json.dumps({"scale": args.scale, "total_seconds": total, "max_peak_mb": peak, "stages": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

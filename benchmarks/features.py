"""Feature engines on the same data: default engine, Spark engine, online engine and a pandas groupby-rolling
baseline of the window features. Prints what it measures; the last line is one JSON object of the figures.

    python benchmarks/features.py --scale {tiny,default,kaggle} [--spark-rows N] [--online-rows N]

Per core: rows/s divided by the cores the engine was given, the same 2 for both on this machine: the default
engine's polars thread pool (`pl.thread_pool_size()`; its numba sweeps run on one of them) and Spark's
`defaultParallelism` (`local[*]`: every core). Each engine's CPU seconds (its process tree) are printed beside.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import psutil

from paylab.resources import Cost

SCALES = ("tiny", "default", "kaggle")
WINDOWS = ("1h", "24h", "7d", "30d")


def make_data(scale: str, work: Path) -> tuple[Path, str]:
    """Interim tables from the project generator + ingest."""
    from paylab.data.ingest import ingest
    from paylab.data.synth import generate

    interim = work / "interim"
    generate(scale=scale, seed=42, out=work / "raw", progress=False)
    ingest(work / "raw", interim, None)
    return interim, "paylab.data.synth + ingest"


def measure(engine: str, interim: Path, out: Path, online_rows: int) -> dict:
    """Run one engine in this (fresh) process; seconds, rows and peak memory."""
    from paylab.features import build_features

    rows = pl.scan_parquet(interim / "transactions.parquet").select(pl.len()).collect().item()
    warm = _warm_imports(engine, interim, out.parent)
    cpu = _tree_cpu()
    with Cost(interval_s=0.05) as mem:
        start = time.perf_counter()
        extra = {}
        if engine in ("polars", "spark"):
            build_features(interim, out, {"engine": engine, "spark": {"master": "local[*]"}})
        elif engine == "polars_windows":
            extra = _default_windows(interim)
        elif engine == "pandas":
            _pandas_windows(interim)
        elif engine == "online":
            extra = _online(interim, online_rows)
        seconds = time.perf_counter() - start
    cpu = _tree_cpu() - cpu
    if engine == "online":
        rows = extra["warm"] + extra["measured"]
    return {"seconds": seconds, "rows": rows, "peak_mb": mem.peak / 2**20, "cpu_s": cpu, **warm, **extra}


def _tree_cpu() -> float:
    """CPU seconds (user + system) of this process and its live descendants (Spark's JVM and Python workers)."""
    total = 0.0
    for p in (psutil.Process(), *psutil.Process().children(recursive=True)):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _warm_imports(engine: str, interim: Path, work: Path) -> dict:
    """Imports, the numba cache load and, for Spark, the session (JVM) start and the first Python workers are not
    part of the measured work (warmed on the data's first 200 rows, like the default engine); returns the cores the
    engine is given and, for Spark, the seconds of that start."""
    if engine == "pandas":
        import pandas  # noqa: F401

        return {"cores": 1}  # pandas groupby-rolling runs on one thread
    if engine == "spark":
        from paylab.features import build_features
        from paylab.features.spark_engine import spark_session
        from paylab.features.spec import FeatureConfig

        start = time.perf_counter()
        spark = spark_session(FeatureConfig(spark={"master": "local[*]"}))
        session_s = time.perf_counter() - start
        first = subset(interim, 200, work / "spark_warm")
        build_features(first, work / "spark_warm.parquet", {"engine": "spark", "spark": {"master": "local[*]"}})
        return {"cores": spark.sparkContext.defaultParallelism, "session_s": session_s,
                "warm_s": time.perf_counter() - start - session_s}
    from paylab.features import compute_features, online  # noqa: F401

    tables = {n: pl.read_parquet(interim / f"{n}.parquet") for n in ("cards", "users")}
    compute_features({**tables, "transactions": pl.scan_parquet(interim / "transactions.parquet").head(200)
                      .collect()})
    return {"cores": 1 if engine == "online" else pl.thread_pool_size()}  # online: one transaction at a time


def _pandas_windows(interim: Path) -> None:
    """Baseline: pandas groupby-rolling count/sum/mean/max of amount per card and client over 4 windows."""
    import pandas as pd

    tx = pd.read_parquet(interim / "transactions.parquet", columns=["timestamp", "card_id", "client_id", "amount"])
    for key in ("card_id", "client_id"):
        df = tx.sort_values([key, "timestamp"], kind="stable")
        for window in WINDOWS:
            rolling = df.groupby(key).rolling(window, on="timestamp", closed="left")["amount"]
            rolling.agg(["count", "sum", "mean", "max"])


def _default_windows(interim: Path) -> dict:
    """The default engine on the same window work (plus distinct merchants and MCCs)."""
    from paylab.features import polars_engine
    from paylab.features.spec import ENTITIES, FeatureConfig

    cfg = FeatureConfig(windows=WINDOWS)
    ctx = polars_engine.Context(polars_engine.prepare(pl.read_parquet(interim / "transactions.parquet")), cfg)
    for entity in ENTITIES:
        for window, width in cfg.velocity_windows():
            polars_engine.velocity_block(ctx, entity, window, width)
    return {}


def _online(interim: Path, online_rows: int) -> dict:
    """Warm the state on the preceding rows, then time features() of `online_rows` transactions: wall clock and
    thread CPU time (the machine is shared: CPU time leaves out time spent descheduled)."""
    import gc

    from paylab.features import OnlineFeatures

    tx = pl.read_parquet(interim / "transactions.parquet")
    warm = min(tx.height - online_rows, 300_000)
    rows = list(tx.tail(warm + online_rows).iter_rows(named=True))
    engine = OnlineFeatures(pl.read_parquet(interim / "cards.parquet"), pl.read_parquet(interim / "users.parquet"))
    for txn in rows[:warm]:
        engine.update(txn)
    gc.collect()
    gc.freeze()  # a long-lived service moves its warm state out of the collector's way
    wall, cpu = [], []
    for txn in rows[warm:]:
        w, c = time.perf_counter(), time.thread_time()
        engine.features(txn)
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
        engine.update(txn)
    return {"p50_ms": float(np.percentile(wall, 50) * 1e3), "p99_ms": float(np.percentile(wall, 99) * 1e3),
            "p99_cpu_ms": float(np.percentile(cpu, 99) * 1e3), "measured": len(wall), "warm": warm}


def run_child(engine: str, interim: Path, out: Path, online_rows: int) -> dict:
    cmd = [sys.executable, __file__, "--measure", engine, "--interim", str(interim), "--out", str(out),
           "--online-rows", str(online_rows)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{engine} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def subset(interim: Path, rows: int, out: Path) -> Path:
    """The first `rows` transactions (time order) with all cards and users."""
    out.mkdir(parents=True, exist_ok=True)
    pl.scan_parquet(interim / "transactions.parquet").head(rows).sink_parquet(out / "transactions.parquet")
    for name in ("cards", "users"):
        (out / f"{name}.parquet").write_bytes((interim / f"{name}.parquet").read_bytes())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="tiny")
    parser.add_argument("--spark-rows", type=int, default=None, help="Spark runs on the first N rows (default: all)")
    parser.add_argument("--online-rows", type=int, default=20_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--interim", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from paylab.features import feature_names

    if args.measure:
        print(json.dumps(measure(args.measure, Path(args.interim), Path(args.out), args.online_rows)))
        return

    with tempfile.TemporaryDirectory(prefix="paylab-bench-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        interim, source = make_data(args.scale, work)
        n = pl.scan_parquet(interim / "transactions.parquet").select(pl.len()).collect().item()
        print(f"data: {n:,} transactions from {source} in {time.perf_counter() - start:.1f}s", flush=True)
        figures: dict = {"scale": args.scale, "rows": n, "data_source": source}
        for engine in ("polars", "polars_windows", "pandas", "online", "spark"):
            data = interim
            if engine == "spark" and args.spark_rows and n > args.spark_rows:
                data = subset(interim, args.spark_rows, work / "spark_interim")
            r = run_child(engine, data, work / f"{engine}.parquet", args.online_rows)
            rate = r["rows"] / r["seconds"]
            figures[engine] = {"rows": r["rows"], "seconds": round(r["seconds"], 2), "rows_per_s": round(rate),
                               "peak_mb": round(r["peak_mb"]), "cpu_s": round(r["cpu_s"], 1), "cores": r["cores"]}
            line = (f"{engine:15s} {r['rows']:>11,} rows {r['seconds']:8.2f}s {rate:>12,.0f} rows/s "
                    f"peak {r['peak_mb']:,.0f} MB, {r['cpu_s']:.1f} CPU s on {r['cores']} cores")
            if engine == "spark":
                figures[engine].update(session_s=round(r["session_s"], 2), warm_s=round(r["warm_s"], 2))
                line += (f"  (before it, not timed: session start {r['session_s']:.1f}s, warm-up on 200 rows "
                         f"{r['warm_s']:.1f}s)")
            if engine == "online":
                figures[engine].update({k: round(r[k], 4) for k in ("p50_ms", "p99_ms", "p99_cpu_ms")})
                line += (f"  features() of {r['measured']:,} after {r['warm']:,} warm: p50 {r['p50_ms']:.3f} ms, "
                         f"p99 {r['p99_ms']:.3f} ms wall, {r['p99_cpu_ms']:.3f} ms CPU")
            print(line, flush=True)
        base = figures["pandas"]["rows_per_s"]
        figures["ratio_engine_vs_baseline"] = round(figures["polars"]["rows_per_s"] / base, 2)
        figures["ratio_windows_vs_baseline"] = round(figures["polars_windows"]["rows_per_s"] / base, 2)
        print(f"default engine (all {len(feature_names())} features, "
              f"read + write) / pandas baseline (32 window aggregates): {figures['ratio_engine_vs_baseline']}x; "
              f"same window work: {figures['ratio_windows_vs_baseline']}x", flush=True)
        spark, default = figures["spark"], figures["polars"]
        per_core = {e: figures[e]["rows_per_s"] / figures[e]["cores"] for e in ("spark", "polars")}
        figures["ratio_spark_vs_default_per_core"] = round(per_core["spark"] / per_core["polars"], 3)
        cold = spark["rows"] / (spark["seconds"] + spark["session_s"]) / spark["cores"]
        figures["ratio_spark_vs_default_per_core_with_session_start"] = round(cold / per_core["polars"], 3)
        print(f"spark / default engine, rows/s per core: {per_core['spark']:,.0f} / {per_core['polars']:,.0f} = "
              f"{figures['ratio_spark_vs_default_per_core']} ({spark['rows']:,} vs {default['rows']:,} rows; cores: "
              f"Spark defaultParallelism {spark['cores']}, polars thread pool {default['cores']}); counting the "
              f"session start: {figures['ratio_spark_vs_default_per_core_with_session_start']}", flush=True)
        print(json.dumps(figures))


if __name__ == "__main__":
    main()

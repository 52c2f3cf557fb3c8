"""Recommender serving latency: `recommend(user_id, k)` and `target_users(merchant_id, k)` per call, in-process, on
the object the recsys stage wrote (models/recsys/recommender.pkl; run `dvc repro recsys` first), plus the same
through the MLflow pyfunc wrapper. Goal: p99 < 50 ms per call at the default scale. Prints what it measures; the last
line is one JSON object.

    python benchmarks/recsys_latency.py [--path models/recsys/recommender.pkl] [--calls 2000] [--k 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
GOAL_MS = 50.0


def timed(fn, ids, k: int) -> np.ndarray:
    out = np.empty(len(ids))
    for i, x in enumerate(ids):
        t = time.perf_counter()
        fn(int(x), k)
        out[i] = (time.perf_counter() - t) * 1000
    return out


def summary(name: str, ms: np.ndarray) -> dict:
    row = {"calls": int(len(ms)), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
           "max_ms": float(ms.max())}
    print(f"{name}: {row['calls']} calls, p50 {row['p50_ms']:.3f} ms, p99 {row['p99_ms']:.3f} ms, "
          f"max {row['max_ms']:.3f} ms")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=str(ROOT / "models" / "recsys" / "recommender.pkl"))
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from paylab.recsys import serving

    try:
        rec = serving.load(args.path)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    users = rng.choice(np.array(list(rec.users)), args.calls)
    merchants = rng.choice(np.array(sorted(rec.targets)), args.calls)
    print(f"{len(rec.users):,} users ({len(rec.cold):,} cold start), {len(rec.merchants):,} merchants, "
          f"{len(rec.targets):,} with target lists")
    results = {"recommend": summary("recommend", timed(rec.recommend, users, args.k)),
               "target_users": summary("target_users", timed(rec.target_users, merchants, args.k))}

    import mlflow.pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        mlflow.pyfunc.save_model(str(Path(tmp) / "pyfunc"), python_model=serving.RecommenderModel(),
                                 artifacts={"recommender": args.path})
        model = mlflow.pyfunc.load_model(str(Path(tmp) / "pyfunc"))
        n = min(args.calls, 300)
        frames = [pd.DataFrame({"kind": ["user"], "id": [int(u)], "k": [args.k]}) for u in users[:n]]
        ms = np.empty(n)
        for i, frame in enumerate(frames):
            t = time.perf_counter()
            model.predict(frame)
            ms[i] = (time.perf_counter() - t) * 1000
        results["pyfunc_recommend"] = summary("pyfunc recommend", ms)
    worst = max(r["p99_ms"] for r in results.values())
    print(f"worst p99 {worst:.3f} ms: {'within' if worst < GOAL_MS else 'OVER'} the {GOAL_MS:.0f} ms goal")
    print(json.dumps({"k": args.k, **results, "worst_p99_ms": worst, "goal_ms": GOAL_MS, "ok": worst < GOAL_MS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

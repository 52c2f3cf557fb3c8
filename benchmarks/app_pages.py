"""Render time of every demo page (app/pages/*.py) on this checkout's artefacts, cold (first run in the process:
imports, registry loads) and warm (a second run: the cached artefacts). Goal: each page within 2 s warm.

    python benchmarks/app_pages.py [--runs 3]
Last line: one JSON object {"pages": {page: {"cold_s", "warm_s"}}, "max_warm_s"}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGES = sorted((Path(__file__).resolve().parents[1] / "app" / "pages").glob("*.py"))


def _run(page: Path) -> tuple[float, bool]:
    start = time.perf_counter()
    at = AppTest.from_file(str(page)).run(timeout=300)
    return time.perf_counter() - start, bool(at.exception)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="warm runs per page (the median is reported)")
    args = parser.parse_args()
    results = {}
    for page in PAGES:
        cold, failed = _run(page)
        warm = sorted(_run(page)[0] for _ in range(args.runs))[args.runs // 2]
        results[page.stem] = {"cold_s": round(cold, 2), "warm_s": round(warm, 2), "exception": failed}
        print(f"{page.stem:20s} cold {cold:6.2f} s   warm {warm:5.2f} s{'   EXCEPTION' if failed else ''}",
              flush=True)
    print(json.dumps({"pages": results, "max_warm_s": max(r["warm_s"] for r in results.values())}))


if __name__ == "__main__":
    main()

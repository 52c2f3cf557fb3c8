"""spark-submit entry point of the Spark feature engine.

    spark-submit --master spark://host:7077 --py-files paylab.zip pipelines/spark_features.py \
        --interim data/interim --out data/processed/features.parquet [--params params.yaml]

The master given to spark-submit wins; without spark-submit, `features.spark.master` from params.yaml is used.
The executors run the default engine's code on merchant, MCC and client partitions: their Python (PYSPARK_PYTHON)
needs paylab itself (--py-files paylab.zip, or installed) and what it imports there: polars, numba, numpy, pyarrow
and pyspark (requirements.lock), e.g. a packed venv shipped with --archives. With the single-file output (the
default) the executors write part files next to --out, which the driver merges: that directory must be shared.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from paylab.features import build_features
from paylab.params import stage_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interim", default="data/interim")
    parser.add_argument("--out", default="data/processed/features.parquet")
    parser.add_argument("--params", default=None, help="params.yaml (default: the project's)")
    args = parser.parse_args(argv)
    params = {**stage_params("features", args.params), "engine": "spark"}
    build_features(Path(args.interim), Path(args.out), params)


if __name__ == "__main__":
    main()

"""Read the interim layer for EDA (polars, low-cardinality strings as categoricals; or Spark for the merchant
analytics with `eda.engine: spark`) and write metrics JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

INTERIM_TABLES = ("transactions", "cards", "users", "mcc")
ENGINES = ("polars", "spark")  # params.yaml eda.engine
# String columns stored as categoricals: a few bytes per row instead of a string each (13M rows).
CATEGORICAL = ("channel", "merchant_city", "merchant_state", "zip", "errors", "label")


def load_table(path: str | Path, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """One parquet file as polars; `columns` that the file lacks are skipped; string columns named in
    CATEGORICAL become Categorical."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"interim table not found: {path} (run `paylab ingest` first)")
    schema = pl.read_parquet_schema(path)
    cols = [c for c in columns if c in schema] if columns else list(schema)
    lf = pl.scan_parquet(path).select(cols)
    casts = [pl.col(c).cast(pl.Categorical) for c in cols if c in CATEGORICAL and schema[c] == pl.String]
    return lf.with_columns(casts).collect()


def load_interim(
    interim_dir: str | Path,
    tables: Sequence[str] = INTERIM_TABLES,
    transaction_columns: Sequence[str] | None = None,
) -> dict[str, pl.DataFrame]:
    """The interim tables that exist under `interim_dir` (transactions is required)."""
    interim_dir = Path(interim_dir)
    out = {}
    for name in tables:
        path = interim_dir / f"{name}.parquet"
        if name == "transactions" or path.exists():
            out[name] = load_table(path, transaction_columns if name == "transactions" else None)
    return out


def analytics_frame(
    interim_dir: str | Path, engine: str = "polars", spark: Any = None, tx: pl.DataFrame | None = None
) -> Any:
    """The transactions the merchant analytics (`paylab.eda.merchants`, `paylab.eda.segments`) run on, by `engine`:

    - `polars`: `tx` when given, else interim transactions.parquet read with `load_table`;
    - `spark`: interim transactions.parquet as a Spark DataFrame; `spark` is a SparkSession or the `eda.spark`
      params (master, driver_memory, shuffle_partitions) to build one from.
    """
    if engine not in ENGINES:
        raise ValueError(f"params.yaml eda.engine must be one of {ENGINES}, got {engine!r}")
    if engine == "polars":
        return tx if tx is not None else load_table(Path(interim_dir) / "transactions.parquet")
    from paylab.eda import spark as eda_spark

    if spark is None or isinstance(spark, Mapping):
        spark = eda_spark.session(spark)
    return eda_spark.read_transactions(spark, interim_dir)


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write metrics as JSON (NaN/inf -> null, numpy scalars -> Python), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(_clean(metrics), fh, indent=2, sort_keys=False)
        fh.write("\n")
    return path

"""Data quality: the ingest ledger (read / accepted / quarantined) plus null and duplicate counts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from paylab.eda.frames import Frame, lazy

# The natural key of each interim table (duplicates of it are a data problem).
TABLE_KEYS = {"transactions": "transaction_id", "cards": "card_id", "users": "client_id", "mcc": "mcc"}


def load_ingest_metrics(path: str | Path) -> dict[str, Any]:
    """reports/metrics/ingest.json as a dict; a clear error when it is missing."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ingest metrics not found: {path} (run `paylab ingest` first)")
    with open(path) as fh:
        metrics = json.load(fh)
    if "files" not in metrics:
        raise ValueError(
            f"{path}: no 'files' key (expected {{'files': {{name: {{read, accepted, quarantined}}}}}})"
        )
    return metrics


def ingest_summary(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """One row per raw file plus a `total` row: read, accepted, quarantined, quarantine_rate, consistent.

    `consistent` checks the ledger (read == accepted + quarantined). The total row uses the file's own
    `totals` when present, else the column sums.
    """
    rows = [
        {"file": name, **{k: int(v.get(k, 0)) for k in ("read", "accepted", "quarantined")}}
        for name, v in metrics["files"].items()
    ]
    table = pd.DataFrame(rows, columns=["file", "read", "accepted", "quarantined"])
    totals = metrics.get("totals") or {}
    total = {k: int(totals.get(k, table[k].sum())) for k in ("read", "accepted", "quarantined")}
    table = pd.concat([table, pd.DataFrame([{"file": "total", **total}])], ignore_index=True)
    read = table["read"].where(table["read"] > 0)
    table["quarantine_rate"] = (table["quarantined"] / read).astype(float)
    table["consistent"] = table["read"] == table["accepted"] + table["quarantined"]
    return table


def null_counts(df: Frame) -> pd.DataFrame:
    """Per column: dtype, n_null, null_share (one pass)."""
    lf = lazy(df)
    schema = lf.collect_schema()
    stats = lf.select(pl.len().alias("__n"), *[pl.col(c).null_count() for c in schema.names()]).collect()
    n = int(stats["__n"][0])
    out = pd.DataFrame(
        {
            "column": schema.names(),
            "dtype": [str(t) for t in schema.dtypes()],
            "n_null": [int(stats[c][0]) for c in schema.names()],
        }
    )
    out["null_share"] = out["n_null"] / n if n else float("nan")
    return out


def duplicate_counts(df: Frame, key: str | None = None, *, full_rows: bool = True) -> dict[str, int]:
    """n_rows, duplicate_keys (rows past the first per `key`), duplicate_rows (repeats of a whole row)."""
    lf = lazy(df)
    exprs = [pl.len().alias("n_rows")]
    if key is not None:
        exprs.append(pl.col(key).n_unique().alias("n_keys"))
    if full_rows:
        # 64-bit row hashes: a tenth of the memory of comparing whole rows on 13M rows
        exprs.append(pl.struct(pl.all()).hash(seed=0).n_unique().alias("n_distinct_rows"))
    stats = lf.select(exprs).collect().row(0, named=True)
    n = int(stats["n_rows"])
    out = {"n_rows": n}
    if key is not None:
        out["duplicate_keys"] = n - int(stats["n_keys"])
    if full_rows:
        out["duplicate_rows"] = n - int(stats["n_distinct_rows"])
    return out


def quality_report(tables: Mapping[str, Frame], keys: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per table: n_rows, n_columns, null cells, columns with nulls, duplicate keys and rows."""
    keys = TABLE_KEYS if keys is None else keys
    rows = []
    for name, df in tables.items():
        nulls = null_counts(df)
        key = keys.get(name)
        key = key if key in set(nulls["column"]) else None
        dups = duplicate_counts(df, key)
        rows.append(
            {
                "table": name,
                "n_rows": dups["n_rows"],
                "n_columns": len(nulls),
                "null_cells": int(nulls["n_null"].sum()),
                "columns_with_nulls": int((nulls["n_null"] > 0).sum()),
                "key": key,
                "duplicate_keys": dups.get("duplicate_keys"),
                "duplicate_rows": dups["duplicate_rows"],
            }
        )
    return pd.DataFrame(rows)


def null_table(tables: Mapping[str, Frame], *, only_with_nulls: bool = True) -> pd.DataFrame:
    """Long table (table, column, dtype, n_null, null_share) over several tables."""
    parts = [null_counts(df).assign(table=name) for name, df in tables.items()]
    out = pd.concat(parts, ignore_index=True)[["table", "column", "dtype", "n_null", "null_share"]]
    return out[out["n_null"] > 0].reset_index(drop=True) if only_with_nulls else out

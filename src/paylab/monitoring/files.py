"""`paylab drift` on any two tables: the PSI of every shared column (both binnings) and one Evidently report.

    summary = drift_files("ref.parquet", "cur.parquet", "out/")   # out/drift_current.html, out/psi.csv
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from paylab import evaluation
from paylab.monitoring import drift

SKIP = ("transaction_id", "timestamp", "label")  # keys and the target are not features to monitor


def read_table(path: Path | str) -> pd.DataFrame:
    """A parquet or CSV file as pandas; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow / parser errors: one line naming the file
        raise ValueError(f"{path}: not a readable parquet/CSV table ({type(err).__name__}: "
                         f"{str(err).splitlines()[0][:120]})") from err


def drift_files(reference: Path | str, current: Path | str, out: Path | str, columns: Sequence[str] | None = None,
                sample_rows: int | None = 20000, seed: int = 0) -> pd.DataFrame:
    """PSI of `columns` (default: every column the two tables share, but keys and the label) of `current` against
    `reference`; writes out/drift_current.html and out/psi.csv; returns the PSI table (one row per column)."""
    ref, cur = read_table(reference), read_table(current)
    if columns is None:
        columns = [c for c in ref.columns if c in cur.columns and c not in SKIP and not c.endswith("_id")]
        if not columns:
            raise ValueError(f"{reference} and {current} share no column to compare (reference has e.g. "
                             f"{list(ref.columns)[:5]}, current {list(cur.columns)[:5]})")
    drift.check_columns(ref, columns, str(reference))
    drift.check_columns(cur, columns, str(current))
    result = drift.compare(ref, {"current": cur}, columns, out_dir=Path(out), sample_rows=sample_rows, seed=seed)
    table = pd.DataFrame({"psi_evidently": result.evidently["current"],
                          "psi_reference_deciles": result.deciles["current"].reindex(result.evidently.index)})
    table["band"] = [evaluation.psi_band(v) if pd.notna(v) else "" for v in table["psi_reference_deciles"]]
    table.index.name = "column"
    table.to_csv(Path(out) / "psi.csv")
    return table

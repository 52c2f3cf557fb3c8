"""PSI of every monitored column, one period at a time, with two binnings side by side:

- Evidently 0.7 (`Report([DataDriftPreset(method="psi")]).run(current, reference)`): one HTML report per period and
  the PSI read back from its snapshot (`snapshot.dict()["metrics"]`, the `ValueDrift` values). Evidently bins a
  numeric column on equal-width bins over both samples together;
- `paylab.evaluation.psi`: bins on the reference's deciles, as credit-risk teams do (and as the credit module does).
  The 0.1 / 0.25 bands (`evaluation.PSI_BANDS`) are the industry rule for that binning.

Large periods are sampled (seeded) before Evidently sees them; the decile PSI uses every row it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from paylab import evaluation


@dataclass
class DriftResult:
    evidently: pd.DataFrame        # column x period: Evidently's PSI (equal-width bins over both samples)
    deciles: pd.DataFrame          # column x period: evaluation.psi on the reference deciles (numeric columns only)
    reports: dict[str, Path]       # period -> Evidently HTML report
    sample_rows: dict[str, int]    # period -> rows Evidently saw (reference under "reference")


def _column_kinds(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns: strings, categories and bools are categorical."""
    numeric, categorical = [], []
    for c in columns:
        dtype = frame[c].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            categorical.append(c)
        else:
            numeric.append(c)
    return numeric, categorical


def check_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """A missing column names the table, the column and the columns there are."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: column {missing[0]!r} missing (has e.g. {list(frame.columns)[:8]})")
    if frame.empty:
        raise ValueError(f"{name}: no rows")


def sample(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    """At most `rows` rows, a seeded sample (all rows when `rows` is None or the frame is smaller)."""
    if rows is None or len(frame) <= rows:
        return frame
    return frame.sample(n=int(rows), random_state=seed).sort_index()


def _prepare(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> pd.DataFrame:
    """Numeric columns as float (nullable ints and bools break Evidently's binning), categorical as strings."""
    out = pd.DataFrame(index=frame.index)
    for c in numeric:
        out[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    for c in categorical:
        out[c] = frame[c].astype("string").fillna("(missing)").astype(str)
    return out


_VALUE_DRIFT = re.compile(r"ValueDrift\(column=(?P<column>[^,)]+)")


def evidently_psi(reference: pd.DataFrame, current: pd.DataFrame, numeric: Sequence[str],
                  categorical: Sequence[str], html: Path | None = None, threshold: float = 0.1) -> dict[str, float]:
    """{column: PSI} from one Evidently report (current vs reference); the HTML report is saved when `html` is given."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(numeric), categorical_columns=list(categorical))
    ref = Dataset.from_pandas(_prepare(reference, numeric, categorical), data_definition=definition)
    cur = Dataset.from_pandas(_prepare(current, numeric, categorical), data_definition=definition)
    report = Report([DataDriftPreset(columns=[*numeric, *categorical], method="psi", threshold=threshold)])
    snapshot = report.run(cur, ref)  # current first
    if html is not None:
        Path(html).parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html))
    return snapshot_psi(snapshot.dict())


def snapshot_psi(snapshot: Mapping) -> dict[str, float]:
    """{column: drift score} of the `ValueDrift` metrics of an Evidently snapshot dict."""
    out = {}
    for metric in snapshot.get("metrics", []):
        config = metric.get("config") or {}
        column = config.get("column")
        if column is None:
            found = _VALUE_DRIFT.match(str(metric.get("metric_id", "")))
            column = found and found["column"]
        if column is None or not str(config.get("type", metric.get("metric_id", ""))).count("ValueDrift"):
            continue
        value = metric.get("value")
        if isinstance(value, Mapping):
            value = value.get("value")
        if isinstance(value, int | float):
            out[str(column)] = float(value)
    return out


def decile_psi(reference: pd.DataFrame, current: pd.DataFrame, numeric: Sequence[str],
               bins: int = 10) -> dict[str, float]:
    """{column: evaluation.psi on the reference's quantile bins}; NaN for a column empty on either side."""
    out = {}
    for c in numeric:
        ref = pd.to_numeric(reference[c], errors="coerce").to_numpy(dtype=float)
        cur = pd.to_numeric(current[c], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(ref).any() or not np.isfinite(cur).any():
            out[c] = float("nan")
        else:
            out[c] = evaluation.psi(ref, cur, bins)
    return out


def compare(reference: pd.DataFrame, periods: Mapping[str, pd.DataFrame], columns: Sequence[str],
            out_dir: Path | None = None, sample_rows: int | None = 20000, seed: int = 0, bins: int = 10,
            threshold: float = 0.1) -> DriftResult:
    """PSI of `columns` in every period against `reference`, with both binnings; one Evidently HTML per period in
    `out_dir` (as `drift_<period>.html`). Evidently sees seeded samples of at most `sample_rows` rows a side."""
    check_columns(reference, columns, "reference")
    numeric, categorical = _column_kinds(reference, columns)
    ref_sample = sample(reference, sample_rows, seed)
    evid, dec, reports, rows = {}, {}, {}, {"reference": len(ref_sample)}
    for i, (name, current) in enumerate(periods.items()):
        check_columns(current, columns, f"period {name}")
        cur_sample = sample(current, sample_rows, seed + 1 + i)
        html = None if out_dir is None else Path(out_dir) / f"drift_{name}.html"
        evid[name] = evidently_psi(ref_sample, cur_sample, numeric, categorical, html, threshold)
        dec[name] = decile_psi(reference, current, numeric, bins)
        rows[name] = len(cur_sample)
        if html is not None:
            reports[name] = html
    evidently = pd.DataFrame(evid).reindex(list(columns))
    deciles = pd.DataFrame(dec).reindex(numeric)
    return DriftResult(evidently=evidently, deciles=deciles, reports=reports, sample_rows=rows)


def band_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Per period: how many columns are stable (< 0.1), moderate (0.1-0.25) and significant (>= 0.25)."""
    low, high = evaluation.PSI_BANDS
    return pd.DataFrame({"stable": (table < low).sum(), "moderate": ((table >= low) & (table < high)).sum(),
                         "significant": (table >= high).sum()})


def top_drifted(table: pd.DataFrame, n: int = 5) -> pd.Series:
    """The `n` columns with the largest maximum PSI over the periods (descending)."""
    return table.max(axis=1).dropna().sort_values(ascending=False).head(n)

"""The rows monitoring reads: the reference window and the months after it from data/processed/features.parquet
(lazy scan, only the needed columns), labels as 1 / 0 / NaN, the generator's fraud scenario when the oracle exists,
and a seeded cap on the reference rows (its distribution, not every row, is what PSI needs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import polars as pl

from paylab.fraud.data import LABELS
from paylab.monitoring.windows import Periods


def load_rows(features_path: Path, periods: Periods, columns: Sequence[str], oracle_path: Path | None = None,
              reference_rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Keys, `y`, `day`, `period` ("reference" or "YYYY-MM"), `columns` (+ `oracle_scenario`, `oracle_proba`) of
    the rows from the reference start to the end of the data, in time order; the reference capped at
    `reference_rows` (a seeded sample)."""
    path = Path(features_path)
    schema = pl.read_parquet_schema(path)
    missing = [c for c in columns if c not in schema]
    if missing:
        raise ValueError(f"{path}: column {missing[0]!r} missing (monitoring.columns or the fraud model's "
                         f"features); the file has e.g. {list(schema)[:8]}")
    keys = ["transaction_id", "timestamp", "card_id", "merchant_id", "label"]
    wanted = list(dict.fromkeys([*keys, *columns]))
    lf = (pl.scan_parquet(path).select(wanted)
          .filter(pl.col("timestamp") >= periods.reference[0]))
    lf = lf.with_columns(y=pl.col("label").replace_strict(LABELS, default=None, return_dtype=pl.Float64),
                         day=pl.col("timestamp").dt.date())
    if oracle_path is not None and Path(oracle_path).exists():
        oracle_schema = pl.read_parquet_schema(oracle_path)
        extra = {"oracle_proba": pl.col("fraud_probability")}
        if "scenario" in oracle_schema:
            extra["oracle_scenario"] = pl.col("scenario").cast(pl.String)
        lf = lf.join(pl.scan_parquet(oracle_path).select("transaction_id", **extra), on="transaction_id", how="left")
    frame = lf.sort("timestamp", "transaction_id").collect().to_pandas()
    frame["period"] = periods.label(frame["timestamp"])
    ref = frame["period"] == "reference"
    if reference_rows is not None and ref.sum() > reference_rows:
        keep = frame.index[ref].to_series().sample(n=int(reference_rows), random_state=seed)
        frame = frame[~ref | frame.index.isin(keep)]
    return frame[frame["period"] != ""].reset_index(drop=True)


def shares_by_period(frame: pd.DataFrame, column: str, period: str = "period") -> pd.DataFrame:
    """Rows: periods; columns: the values of `column`; cells: share of the period's rows."""
    return pd.crosstab(frame[period], frame[column], normalize="index")


def load_history(features_path: Path, columns: Sequence[str], oracle_path: Path | None = None) -> pd.DataFrame:
    """`timestamp`, `year`, `y` and `columns` (+ `oracle_scenario`) of every row of the file: the long view across
    years (a few columns only: it stays small at the kaggle scale)."""
    path = Path(features_path)
    lf = pl.scan_parquet(path).select("transaction_id", "timestamp", "label", *columns)
    lf = lf.with_columns(y=pl.col("label").replace_strict(LABELS, default=None, return_dtype=pl.Float64),
                         year=pl.col("timestamp").dt.year()).drop("label")
    if oracle_path is not None and Path(oracle_path).exists() and "scenario" in pl.read_parquet_schema(oracle_path):
        lf = lf.join(pl.scan_parquet(oracle_path).select("transaction_id", oracle_scenario=pl.col("scenario")
                                                         .cast(pl.String)), on="transaction_id", how="left",
                     maintain_order="left")  # the file's order: the per-year means add up the same way every run
    return lf.drop("transaction_id").collect().to_pandas()


def by_year(history: pd.DataFrame, reference: pd.DataFrame, columns: Sequence[str], bins: int = 10) -> pd.DataFrame:
    """Per calendar year: rows, fraud rate (labelled rows), mean amount of legit and of fraud payments, the
    reference-decile PSI of each numeric column and the PSI of the fraud scenario mix (`evaluation.psi_shares`)
    against the reference window."""
    from paylab import evaluation

    ref_frauds = reference[reference["y"] == 1]
    ref_mix = ref_frauds["oracle_scenario"].value_counts(normalize=True) if "oracle_scenario" in reference else None
    rows = {}
    for year, part in history.groupby("year", sort=True):
        labelled = part[part["y"].notna()]
        row = {"rows": len(part), "fraud_rate": float(labelled["y"].mean()) if len(labelled) else float("nan"),
               "mean_amount_legit": float(labelled.loc[labelled["y"] == 0, "amount"].mean()),
               "mean_amount_fraud": float(labelled.loc[labelled["y"] == 1, "amount"].mean())}
        for c in columns:
            row[f"psi_{c}"] = evaluation.psi(reference[c], part[c], bins)
        if ref_mix is not None:
            mix = labelled.loc[labelled["y"] == 1, "oracle_scenario"].value_counts(normalize=True)
            names = sorted(set(ref_mix.index) | set(mix.index))
            row["psi_scenario_mix"] = evaluation.psi_shares(ref_mix.reindex(names, fill_value=0).to_numpy(),
                                                            mix.reindex(names, fill_value=0).to_numpy())
        rows[int(year)] = row
    return pd.DataFrame(rows).T

"""Implicit feedback from transactions and the one global chronological split (history | gap | test period)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import polars as pl

COLUMNS = ["timestamp", "client_id", "merchant_id", "amount", "errors", "label"]


def require_columns(path: Path, columns, example: str) -> None:
    """A clear error naming the file, the missing columns and an example row when `path` lacks any of `columns`."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (run the ingest stage first)")
    schema = pl.scan_parquet(path).collect_schema()
    missing = [c for c in columns if c not in schema]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected e.g. {example}")


def load_interactions(path: str | Path, extra=()) -> pd.DataFrame:
    """Paid purchases (refunds, attempts with errors and fraud excluded) as (client_id, merchant_id, timestamp,
    *extra columns).

    Reads only the needed columns lazily, so it also runs on the kaggle-scale file.
    """
    path = Path(path)
    extra = [c for c in extra if c not in ("client_id", "merchant_id", "timestamp")]
    require_columns(path, list(dict.fromkeys(COLUMNS + extra)),
                    "timestamp=2019-03-14 10:00, client_id=825, merchant_id=59935, amount=12.5, errors=null, "
                    "label='legit', merchant_city='Houston', mcc=5411")
    lazy = (pl.scan_parquet(path).select(list(dict.fromkeys(COLUMNS + extra)))
            .filter((pl.col("amount") > 0) & pl.col("errors").is_null() & (pl.col("label") != "fraud"))
            .select("client_id", "merchant_id", "timestamp", *extra))
    return lazy.collect().to_pandas()


@dataclass(frozen=True)
class Split:
    """History before `cutoff`; test interactions in [cutoff + gap, cutoff + gap + test)."""

    history: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def chronological_split(events: pd.DataFrame, test_days: int, gap_days: int = 0,
                        end: pd.Timestamp | None = None) -> Split:
    """One global split: the test period is the last `test_days` days before `end` (default: the last event),
    separated from the history by `gap_days`. `test` is de-duplicated to (client_id, merchant_id)."""
    if test_days <= 0 or gap_days < 0:
        raise ValueError(f"test_days must be > 0 and gap_days >= 0, got test_days={test_days}, gap_days={gap_days}")
    ts = pd.to_datetime(events["timestamp"])
    test_end = (pd.Timestamp(end) if end is not None else ts.max().normalize() + pd.Timedelta(days=1))
    test_start = test_end - pd.Timedelta(days=test_days)
    cutoff = test_start - pd.Timedelta(days=gap_days)
    history = events[ts < cutoff].reset_index(drop=True)
    test = (events[(ts >= test_start) & (ts < test_end)][["client_id", "merchant_id"]]
            .drop_duplicates().reset_index(drop=True))
    return Split(history, test, cutoff, test_start, test_end)


def user_item_counts(history: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """(client_id, merchant_id, count, days_since_last) from the history only."""
    grouped = history.groupby(["client_id", "merchant_id"])["timestamp"].agg(["size", "max"]).reset_index()
    grouped["days_since_last"] = (pd.Timestamp(cutoff) - grouped["max"]).dt.total_seconds() / 86400.0
    return grouped.rename(columns={"size": "count"}).drop(columns="max")


def discovery_truth(test: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Test pairs whose merchant the user never paid in the history (the discovery task)."""
    seen = history[["client_id", "merchant_id"]].drop_duplicates().assign(_seen=True)
    merged = test.merge(seen, on=["client_id", "merchant_id"], how="left")
    return merged[merged["_seen"].isna()].drop(columns="_seen").reset_index(drop=True)


def cold_start_users(test: pd.DataFrame, history: pd.DataFrame) -> pd.Index:
    """Test users with no history (reported apart)."""
    return pd.Index(sorted(set(test["client_id"]) - set(history["client_id"])), name="client_id")

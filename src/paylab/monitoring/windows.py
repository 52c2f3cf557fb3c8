"""The monitoring calendar: the reference is the fraud model's training window (`fraud.split` laid out backwards
from the end of the data, with the label delay, exactly as `paylab.data.splits.time_split` does for the fraud stage);
the current periods are the calendar months after it, the first one starting where the training window ends.

Only the timestamps' range is read (a lazy scan): the windows do not depend on the rows in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from paylab.data.splits import time_split


@dataclass(frozen=True)
class Periods:
    reference: tuple[pd.Timestamp, pd.Timestamp]              # [start, end) of the fraud training window
    months: dict[str, tuple[pd.Timestamp, pd.Timestamp]]      # "YYYY-MM" -> [start, end) after the reference
    data_end: pd.Timestamp                                    # midnight after the last timestamp
    labels_known_until: pd.Timestamp                          # data_end - delay: later labels are not known yet
    test: tuple[pd.Timestamp, pd.Timestamp] | None = None     # the fraud stage's test window (its alert queue)

    def label(self, timestamps) -> np.ndarray:
        """The month label of each timestamp ("reference" inside the reference window, "" elsewhere)."""
        ts = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps)))
        out = np.full(len(ts), "", dtype=object)
        out[(ts >= self.reference[0]) & (ts < self.reference[1])] = "reference"
        for name, (start, end) in self.months.items():
            out[(ts >= start) & (ts < end)] = name
        return out


def timestamp_range(features_path: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first, last) timestamp of a parquet file, from a lazy scan of one column."""
    path = Path(features_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no features file (run the `features` stage first)")
    lo, hi = pl.scan_parquet(path).select(pl.col("timestamp").min().alias("lo"),
                                          pl.col("timestamp").max().alias("hi")).collect().row(0)
    if lo is None:
        raise ValueError(f"{path}: column `timestamp` has no values")
    return pd.Timestamp(lo), pd.Timestamp(hi)


def monitoring_periods(features_path: Path, split: dict, delay_days: float) -> Periods:
    """The fraud training window of `split` (train_days, valid_days, test_days) and the months after it."""
    first, last = timestamp_range(features_path)
    windows = time_split(np.array([last]), train_days=split["train_days"], delay_days=delay_days,
                         test_days=split["test_days"], valid_days=split.get("valid_days")).windows
    ref_start, ref_end = windows["train"]
    if ref_start < first.floor("D"):
        raise ValueError(f"{features_path}: the fraud training window starts {ref_start.date()}, before the data "
                         f"({first.date()}): shorten fraud.split")
    data_end = last.floor("D") + pd.Timedelta(days=1)
    months, start = {}, ref_end
    while start < data_end:
        end = min(start.to_period("M").to_timestamp() + pd.offsets.MonthBegin(1), data_end)
        months[start.strftime("%Y-%m")] = (start, end)
        start = end
    return Periods(reference=(ref_start, ref_end), months=months, data_end=data_end,
                   labels_known_until=data_end - pd.Timedelta(days=delay_days), test=windows["test"])

"""Time splits with a label-delay gap (Fraud Detection Handbook, ch. 5).

A label is known only `delay_days` after its transaction, so every window that follows a training window starts
`delay_days` after the training window ends. Windows are half-open `[start, end)` intervals of timestamps.

    time_split(ts, train_days=90, delay_days=7, test_days=30)         # -> TimeSplit(train, valid, test, windows)
    prequential_folds(ts, n_folds=4, train_days=90, delay_days=7, test_days=30)   # -> Fold(train, test, windows)...

Both return sorted integer positions into `timestamps` and drop the rows where `labeled` is False (unlabeled
transactions are neither legitimate nor fraud: they are neither trained on nor scored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

Window = tuple[pd.Timestamp, pd.Timestamp]


@dataclass(frozen=True)
class TimeSplit:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    windows: dict[str, Window] = field(default_factory=dict)


@dataclass(frozen=True)
class Fold:
    train: np.ndarray
    test: np.ndarray
    windows: dict[str, Window] = field(default_factory=dict)


def _prepare(timestamps, labeled) -> tuple[pd.DatetimeIndex, np.ndarray]:
    ts = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps)))
    if ts.hasnans:
        raise ValueError(f"timestamps has {int(ts.isna().sum())} missing values (e.g. at position "
                         f"{int(np.flatnonzero(ts.isna())[0])})")
    keep = np.ones(len(ts), bool) if labeled is None else np.asarray(labeled, dtype=bool)
    if keep.shape != (len(ts),):
        raise ValueError(f"labeled must be a boolean mask of length {len(ts)}, got shape {keep.shape}")
    return ts, keep


def _days(x: float) -> pd.Timedelta:
    if x < 0:
        raise ValueError(f"window lengths must be >= 0 days, got {x!r}")
    return pd.Timedelta(days=x)


def _default_end(ts: pd.DatetimeIndex, end) -> pd.Timestamp:
    """`end` as given, else midnight after the last timestamp (the last window ends with the data)."""
    if end is not None:
        return pd.Timestamp(end)
    if len(ts) == 0:
        raise ValueError("no timestamps to split")
    return ts.max().floor("D") + pd.Timedelta(days=1)


def _select(ts: pd.DatetimeIndex, keep: np.ndarray, window: Window) -> np.ndarray:
    inside = keep & (ts >= window[0]) & (ts < window[1])
    return np.flatnonzero(inside)


def time_split(timestamps, train_days: float, delay_days: float, test_days: float, valid_days: float | None = None,
               *, end=None, labeled=None) -> TimeSplit:
    """Train | delay | valid | delay | test, laid out backwards from `end` (exclusive; default: midnight after the
    last timestamp). `valid_days` defaults to `test_days`; 0 gives an empty validation window and no second gap."""
    ts, keep = _prepare(timestamps, labeled)
    train, delay, test = _days(train_days), _days(delay_days), _days(test_days)
    valid = test if valid_days is None else _days(valid_days)
    test_end = _default_end(ts, end)
    test_start = test_end - test
    valid_end = test_start - delay if valid > pd.Timedelta(0) else test_start
    valid_start = valid_end - valid
    train_end = valid_start - delay
    windows = {"train": (train_end - train, train_end), "valid": (valid_start, valid_end),
               "test": (test_start, test_end)}
    return TimeSplit(**{name: _select(ts, keep, w) for name, w in windows.items()}, windows=windows)


def prequential_folds(timestamps, n_folds: int, train_days: float, delay_days: float, test_days: float,
                      step_days: float | None = None, *, end=None, labeled=None) -> Iterator[Fold]:
    """`n_folds` folds of train | delay | test; fold 0 ends at `end` (default: midnight after the last timestamp)
    and fold i is shifted back in time by i * `step_days` (default `test_days`).

    Raises when a fold's training window would start before the first timestamp (it would silently be shorter).
    """
    ts, keep = _prepare(timestamps, labeled)
    if n_folds < 1:
        raise ValueError(f"n_folds must be >= 1, got {n_folds!r}")
    train, delay, test = _days(train_days), _days(delay_days), _days(test_days)
    step = test if step_days is None else _days(step_days)
    last_end = _default_end(ts, end)
    first_start = last_end - (n_folds - 1) * step - test - delay - train
    if len(ts) and first_start < ts.min().floor("D"):
        raise ValueError(f"{n_folds} folds of {train_days}+{delay_days}+{test_days} days stepping "
                         f"{step / pd.Timedelta(days=1):g} days need data from {first_start.date()}, "
                         f"but timestamps start at {ts.min()}")
    for i in range(n_folds):
        test_end = last_end - i * step
        test_start = test_end - test
        train_end = test_start - delay
        windows = {"train": (train_end - train, train_end), "test": (test_start, test_end)}
        yield Fold(train=_select(ts, keep, windows["train"]), test=_select(ts, keep, windows["test"]), windows=windows)

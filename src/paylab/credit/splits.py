"""Development / out-of-time split by application date (with a gap), and a stratified holdout inside development."""

from __future__ import annotations

import numpy as np
import pandas as pd


def time_split(dates, oot_months: int, gap_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of development (application before the out-of-time start minus the gap) and out-of-time (the
    last `oot_months` months of applications)."""
    dates = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
    start = dates.max() - pd.DateOffset(months=oot_months)
    dev = np.flatnonzero(dates < start - pd.Timedelta(days=gap_days))
    oot = np.flatnonzero(dates >= start)
    if not dev.size or not oot.size:
        raise ValueError(f"time split: {dev.size} development and {oot.size} out-of-time rows (oot_months "
                         f"{oot_months}, gap_days {gap_days}, dates {dates.min().date()}..{dates.max().date()})")
    return dev, oot


def holdout_split(y, test_size: float, seed: int, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train / holdout positions; with `groups` (client ids) a client's rows stay on one side."""
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    y = np.asarray(y).astype(int)
    idx = np.arange(y.size)
    if groups is None:
        train, test = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
        return np.sort(train), np.sort(test)
    folds = StratifiedGroupKFold(n_splits=max(2, round(1 / test_size)), shuffle=True, random_state=seed)
    train, test = next(folds.split(idx, y, groups))
    return train, test

"""Time splits with a label-delay gap: exact windows, no overlap, the gap, unlabeled rows excluded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from paylab.data.splits import prequential_folds, time_split

DAY = pd.Timedelta(days=1)
# hourly transactions over 100 days: 2020-01-01 00:00 .. 2020-04-09 23:00
TS = pd.date_range("2020-01-01", periods=100 * 24, freq="h")


def _ts(idx):
    return TS[idx]


def test_time_split_windows_known_answer():
    split = time_split(TS, train_days=30, delay_days=7, test_days=10, valid_days=10)
    end = pd.Timestamp("2020-04-10")
    assert split.windows["test"] == (end - 10 * DAY, end)
    assert split.windows["valid"] == (end - 27 * DAY, end - 17 * DAY)
    assert split.windows["train"] == (end - 64 * DAY, end - 34 * DAY)
    assert len(split.train) == 30 * 24 and len(split.valid) == 10 * 24 and len(split.test) == 10 * 24
    assert _ts(split.test).min() == end - 10 * DAY and _ts(split.test).max() == end - pd.Timedelta(hours=1)


def test_time_split_gap_and_no_overlap():
    split = time_split(TS, train_days=30, delay_days=7, test_days=10, valid_days=5)
    assert not set(split.train) & set(split.valid) and not set(split.valid) & set(split.test)
    assert _ts(split.valid).min() - _ts(split.train).max() > 7 * DAY - pd.Timedelta(hours=1)
    assert _ts(split.test).min() - _ts(split.valid).max() > 7 * DAY - pd.Timedelta(hours=1)
    # nothing inside the gaps
    gap = TS.to_series().between(split.windows["train"][1], split.windows["valid"][0], inclusive="left").to_numpy()
    assert gap.sum() == 7 * 24 and not set(np.flatnonzero(gap)) & (set(split.train) | set(split.valid))


def test_time_split_without_validation_and_explicit_end():
    split = time_split(TS, train_days=20, delay_days=3, test_days=5, valid_days=0, end="2020-03-01")
    assert len(split.valid) == 0
    assert split.windows["test"] == (pd.Timestamp("2020-02-25"), pd.Timestamp("2020-03-01"))
    assert split.windows["train"][1] == pd.Timestamp("2020-02-22")


def test_unlabeled_rows_are_excluded_and_order_does_not_matter():
    rng = np.random.default_rng(0)
    labeled = rng.random(len(TS)) < 0.6
    split = time_split(TS, 30, 7, 10, labeled=labeled)
    for idx in (split.train, split.valid, split.test):
        assert labeled[idx].all() and len(idx) > 0
    full = time_split(TS, 30, 7, 10)
    assert len(split.test) == labeled[full.test].sum()
    perm = rng.permutation(len(TS))  # shuffled input: same timestamps selected, positions into the shuffled array
    shuffled = time_split(TS[perm], 30, 7, 10, labeled=labeled[perm])
    assert set(TS[perm][shuffled.test]) == set(TS[split.test])
    again = time_split(TS[perm], 30, 7, 10, labeled=labeled[perm])
    assert np.array_equal(again.train, shuffled.train)  # deterministic


def test_prequential_folds_shift_back_with_gap():
    folds = list(prequential_folds(TS, n_folds=3, train_days=30, delay_days=7, test_days=10))
    assert len(folds) == 3
    end = pd.Timestamp("2020-04-10")
    for i, fold in enumerate(folds):
        assert fold.windows["test"] == (end - (10 * i + 10) * DAY, end - 10 * i * DAY)
        assert fold.windows["train"][1] == fold.windows["test"][0] - 7 * DAY
        assert _ts(fold.test).min() - _ts(fold.train).max() == 7 * DAY + pd.Timedelta(hours=1)
        assert len(fold.train) == 30 * 24 and len(fold.test) == 10 * 24
    tests = [set(f.test) for f in folds]
    assert not (tests[0] & tests[1]) and not (tests[1] & tests[2])  # step = test_days: disjoint test windows
    overlapping = list(prequential_folds(TS, 2, 30, 7, 10, step_days=5))
    assert len(set(overlapping[0].test) & set(overlapping[1].test)) == 5 * 24


def test_prequential_folds_exclude_unlabeled_and_refuse_missing_history():
    labeled = np.arange(len(TS)) % 3 != 0
    for fold in prequential_folds(TS, 2, 30, 7, 10, labeled=labeled):
        assert labeled[fold.train].all() and labeled[fold.test].all()
    with pytest.raises(ValueError, match="need data from"):
        list(prequential_folds(TS, n_folds=8, train_days=30, delay_days=7, test_days=10))
    with pytest.raises(ValueError, match="labeled"):
        time_split(TS, 30, 7, 10, labeled=labeled[:-1])

"""Train / validation / test by cutoff date, with a gap of the horizon between them: the labels of every earlier
part are known (its label windows have closed) before the next part's first cutoff."""

from __future__ import annotations

import pandas as pd


def split_cutoffs(cutoffs, horizon_days: int, test_cutoffs: int, valid_cutoffs: int) -> dict[str, list]:
    """{train, valid, test}: the last `test_cutoffs` labelled cutoffs, the `valid_cutoffs` before them whose label
    windows close by the first test cutoff, and every earlier cutoff whose window closes by the first valid one."""
    cuts = sorted(pd.Timestamp(c) for c in set(cutoffs))
    gap = pd.Timedelta(days=horizon_days)
    if len(cuts) < test_cutoffs + valid_cutoffs + 1:
        raise ValueError(f"churn: {len(cuts)} labelled cutoffs, need more than test_cutoffs + valid_cutoffs "
                         f"({test_cutoffs} + {valid_cutoffs}): shorten churn.horizon_days or churn.weeks")
    test = cuts[-test_cutoffs:]
    valid = [c for c in cuts if c + gap <= test[0]][-valid_cutoffs:]
    train = [c for c in cuts if c + gap <= valid[0]]
    if not train:
        raise ValueError("churn: no training cutoff before the validation cutoffs and their gap")
    return {"train": train, "valid": valid, "test": test}


def assign(rows: pd.DataFrame, parts: dict[str, list]) -> pd.Series:
    """The part (train / valid / test / none) of each row by its cutoff."""
    of = {pd.Timestamp(c): name for name, cuts in parts.items() for c in cuts}
    return rows["cutoff"].map(lambda c: of.get(pd.Timestamp(c), "none"))

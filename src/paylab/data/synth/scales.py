"""Data scales: how many users, merchants, days and tickers each scale generates."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Scale:
    """Size knobs of one scale; behaviour (rates, ratios, drift) is the same at every scale."""

    name: str
    n_users: int
    n_merchants: int
    n_cities: int  # the most populous US cities users live in (tiny keeps merchants dense)
    start: str
    end: str
    daily_rate: float  # mean transactions per active user per day
    n_tickers: int
    price_start: str
    fraud_boost: float = 1.0  # tiny multiplies the fraud rate so that small tests see every scenario

    @property
    def days(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, self.end, freq="D")


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 300, 1500, 12, "2018-11-01", "2019-10-31", 0.5, 20, "2018-01-01", fraud_boost=4.0),
    "default": Scale("default", 2000, 15000, 52, "2017-01-01", "2019-10-31", 1.0, 100, "2015-01-01"),
    "kaggle": Scale("kaggle", 2000, 74831, 52, "2010-01-01", "2019-10-31", 6.1, 100, "2010-01-01"),
}
# The real set's "today": ages in users_data.csv are counted to this year.
REFERENCE_YEAR = 2019
ACTIVE_SHARE = 0.61  # 1,219 of the real set's 2,000 users have transactions


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise ValueError(f"unknown scale '{name}' (choose from {', '.join(SCALES)})")
    return SCALES[name]

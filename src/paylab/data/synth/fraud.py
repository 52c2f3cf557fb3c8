"""Fraud scenarios injected into legitimate activity, with the true probability that each row is labelled fraud.

Per calendar year the number of fraud transactions follows the real set's yearly rate (YEARLY_FRAUD_RATE), split
across scenarios (SCENARIO_SHARE):
- card_not_present: a compromised card is tested with a few tiny online payments (often with bad CVV / card
  number / expiration errors), then drained by a burst of larger online purchases at merchants new to the card;
- account_takeover: a user's account is used at night (00:00-05:59) for a few large online payments;
- cloned_abroad: a cloned card is used in person at merchants of one foreign city over a few days;
- terminal: a US terminal is compromised for 2-6 weeks and about half of its payments are fraudulent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab.data.synth.activity import (
    ONLINE,
    amount_level,
    choose_channel,
    draw_amounts,
    draw_errors,
)
from paylab.data.synth.population import Population
from paylab.data.synth.reference import CATEGORY_NAMES, FRAUD_CATEGORIES, SCENARIO_SHARE, YEARLY_FRAUD_RATE
from paylab.data.synth.scales import Scale

DETECTION = 0.97  # share of fraud that is eventually reported (labelled Yes)
TERMINAL_SHARE = 0.5  # share of a compromised terminal's payments that are fraudulent
DISPUTE = {"in_person": 2e-5, "online": 6e-5}  # legitimate payments later reported as fraud
EPISODE_LENGTH = {"card_not_present": 6.5, "account_takeover": 2.5, "cloned_abroad": 5.0}


class FraudInjector:
    """Adds fraud episodes to the legitimate transactions of one population."""

    def __init__(self, rng: np.random.Generator, pop: Population, scale: Scale):
        self.rng, self.pop, self.scale = rng, pop, scale
        m = pop.merchants
        cat = np.array(CATEGORY_NAMES)[m["category"].to_numpy()]
        online = m["online"].to_numpy()
        self.weights = m["popularity"].to_numpy()
        self.mcc = m["mcc"].to_numpy()
        self.testing = np.flatnonzero(online & np.isin(cat, ["digital", "money_transfer", "retail"]))
        self.draining = np.flatnonzero(online & np.isin(cat, FRAUD_CATEGORIES))
        self.takeover = np.flatnonzero(online & np.isin(cat, ["money_transfer", "electronics", "digital", "luxury"]))
        self.foreign_idx = m["foreign_idx"].to_numpy()
        self.end_minute = len(scale.days) * 1440 - 1

    def _merchants(self, pool: np.ndarray, n: int) -> np.ndarray:
        w = self.weights[pool]
        return self.rng.choice(pool, n, p=w / w.sum())

    def _rows(self, anchor: pd.Series, minutes, merchants, factor: float, errors: dict, channel=None) -> dict:
        """Fraud rows of one episode on the anchor's card."""
        n = len(minutes)
        minutes = np.minimum(np.asarray(minutes, dtype=np.int64), self.end_minute)
        day = minutes // 1440
        level = amount_level(self.scale.days[day]) * factor
        return {
            "minute": minutes, "client_id": np.full(n, anchor.client_id), "card_row": np.full(n, anchor.card_row),
            "merchant_row": merchants, "amount": draw_amounts(self.rng, self.mcc[merchants], level),
            "channel": np.full(n, ONLINE) if channel is None else channel,
            "errors": draw_errors(self.rng, n, errors),
        }

    def card_not_present(self, anchor: pd.Series, drift: float) -> list[dict]:
        rng = self.rng
        t0 = anchor.minute + rng.integers(60, 3 * 1440)
        n_test = 1 + rng.binomial(2, 0.5)
        test_t = t0 + np.cumsum(rng.integers(1, 30, n_test))
        test = self._rows(anchor, test_t, self._merchants(self.testing, n_test), 1.0,
                          {"Bad CVV": 100, "Bad Card Number": 80, "Bad Expiration": 80})
        test["amount"] = np.round(rng.uniform(0.5, 9.99, n_test), 2)
        n_burst = 1 + rng.poisson(3.5)
        burst_t = test_t[-1] + rng.exponential(360) + np.cumsum(rng.exponential(40, n_burst))
        burst = self._rows(anchor, burst_t, self._merchants(self.draining, n_burst), 1.8 * drift,
                           {"Bad CVV": 30, "Insufficient Balance": 3})
        return [test, burst]

    def account_takeover(self, anchor: pd.Series, drift: float) -> list[dict]:
        rng = self.rng
        n = 1 + rng.poisson(1.5)
        night = (anchor.minute // 1440 + rng.integers(1, 10)) * 1440 + rng.integers(0, 6 * 60)
        minutes = night + np.cumsum(rng.integers(2, 20, n))
        return [self._rows(anchor, minutes, self._merchants(self.takeover, n), 2.5 * drift,
                           {"Bad Zipcode": 200, "Bad PIN": 5})]

    def cloned_abroad(self, anchor: pd.Series, drift: float) -> list[dict]:
        rng, pop = self.rng, self.pop
        city = rng.integers(0, self.foreign_idx.max() + 1)
        pool = np.flatnonzero(self.foreign_idx == city)
        if not len(pool):
            pool = np.flatnonzero(self.foreign_idx >= 0)
        n = 2 + rng.poisson(3)
        first_day = anchor.minute // 1440 + rng.integers(5, 40)
        minutes = (first_day + rng.integers(0, 3, n)) * 1440 + rng.integers(9 * 60, 22 * 60, n)
        minutes.sort()
        user = pop.users.iloc[anchor.client_id]
        has_chip = np.full(n, pop.cards.loc[anchor.card_row, "has_chip"] == "YES")
        channel = choose_channel(rng, np.zeros(n, bool), has_chip, minutes // 1440 >= user.chip_day)
        return [self._rows(anchor, minutes, self._merchants(pool, n), 1.5 * drift, {"Bad PIN": 15}, channel)]

    def compromise_terminals(self, legit: pd.DataFrame, rows: np.ndarray, target: float) -> np.ndarray:
        """Indices of legit rows at terminals compromised until `target` fraud rows are expected."""
        rng, hit, expected = self.rng, [], 0.0
        in_person = rows[(legit["channel"].to_numpy()[rows] != ONLINE)
                         & ~self.pop.merchants["foreign"].to_numpy()[legit["merchant_row"].to_numpy()[rows]]]
        if not len(in_person):
            return np.array([], dtype=np.int64)
        by_merchant = legit.iloc[in_person].sort_values(["merchant_row", "minute"])
        mer = by_merchant["merchant_row"].to_numpy()
        minute = by_merchant["minute"].to_numpy()
        idx = by_merchant.index.to_numpy()
        for _ in range(10_000):  # bounded: a busy terminal may never fit a small remaining target
            if expected >= target:
                break
            a = rng.integers(0, len(idx))
            lo = np.searchsorted(mer, mer[a], "left")
            hi = np.searchsorted(mer, mer[a], "right")
            window = (minute[lo:hi] >= minute[a]) & (minute[lo:hi] < minute[a] + rng.integers(14, 46) * 1440)
            if TERMINAL_SHARE * window.sum() > max(target - expected, 5):
                continue
            hit.append(idx[lo:hi][window])
            expected += TERMINAL_SHARE * window.sum()
        if not hit:
            return np.array([], dtype=np.int64)
        return np.unique(np.concatenate(hit))

    def inject(self, legit: pd.DataFrame) -> pd.DataFrame:
        """Legitimate plus fraud transactions with `scenario` and `fraud_probability` (the oracle)."""
        rng = self.rng
        legit = legit.reset_index(drop=True)
        years = self.scale.days.year.to_numpy()[legit["minute"].to_numpy() // 1440]
        legit["fraud_probability"] = np.where(legit["channel"] == ONLINE, DISPUTE["online"], DISPUTE["in_person"])
        episodes = []
        for year in np.unique(years):
            rows = np.flatnonzero(years == year)
            rate = YEARLY_FRAUD_RATE.get(int(year), YEARLY_FRAUD_RATE[max(YEARLY_FRAUD_RATE)])
            target = self.scale.fraud_boost * rate / (1 - rate) * len(rows) / DETECTION
            drift = 1 + 0.04 * (int(year) - 2010)
            for name, length in EPISODE_LENGTH.items():
                scenario = getattr(self, name)
                for a in rng.choice(rows, rng.poisson(target * SCENARIO_SHARE[name] / length)):
                    for part in scenario(legit.iloc[a], drift):
                        part["scenario"] = np.full(len(part["minute"]), name)
                        episodes.append(part)
            hit = self.compromise_terminals(legit, rows, target * SCENARIO_SHARE["terminal"])
            legit.loc[hit, "scenario"] = "terminal"
            legit.loc[hit, "fraud_probability"] = TERMINAL_SHARE
        fraud = pd.DataFrame({k: np.concatenate([e[k] for e in episodes]) for k in episodes[0]}) if episodes \
            else legit.iloc[:0].drop(columns="fraud_probability")
        fraud["fraud_probability"] = 1.0
        tx = pd.concat([legit, fraud], ignore_index=True)
        tx["fraud_probability"] *= np.where(tx["scenario"] == "none", 1.0, DETECTION)
        return tx

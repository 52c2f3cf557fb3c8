"""Fraud scenarios as fraud teams describe them, injected into legitimate activity, with the true probability that
each row is labelled fraud and its scenario (the oracle).

Per calendar year the number of fraud rows follows the real set's yearly rate (YEARLY_FRAUD_RATE); the mix of
scenarios shifts from 2010 to 2019 (SCENARIO_MIX):
- card_not_present: a card's details leak; it is sometimes tested first (small payments, often with bad CVV / number /
  expiration errors, now and then at the victim's own online merchants), then drained online after a variable gap,
  partly at popular merchants the victim already uses and partly at amounts within the victim's own range;
- account_takeover: the account is used online for a few large payments, more often at night (not only), by someone
  whose channel mix is not the victim's;
- counterfeit: a cloned card is swiped (magnetic-stripe fallback on chip cards) in person, in the victim's region or
  abroad, while the genuine card keeps being used;
- compromised_terminal: a skimmer on a US terminal copies the cards that pay there for a few weeks; some of them are
  defrauded later, elsewhere (counterfeit or online): the shared earlier merchant is the clue;
- coordinated_testing: many cards test tiny payments at one merchant within minutes; a few are drained later;
- first_party: the cardholder disputes a normal-looking payment (first-party fraud, friendly chargeback).
After a confirmed fraud the card is blocked (later rows on it are cut) and reissued with a new card id after a few
days. Episodes that would run past the end of the data are cut.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab.data.synth.activity import CHIP, LEGIT, ONLINE, SWIPE, amount_level, draw_amounts, draw_errors, pick_open
from paylab.data.synth.population import Population, reissue_cards
from paylab.data.synth.reference import CATEGORY_NAMES, FRAUD_CATEGORIES, SCENARIO_MIX, YEARLY_FRAUD_RATE
from paylab.data.synth.scales import Scale

DETECTION = 0.97  # share of fraud that is eventually reported (labelled Yes)
FIRST_PARTY_REPORTED = 0.9  # share of disputed payments accepted as fraud
FIRST_PARTY_ONLINE = 0.6  # share of first-party disputes on online payments
FALLBACK = 0.17  # share of a cloned chip card's payments that fall back to the magnetic stripe (legit: 8%)
OWN_MERCHANT = 0.45  # share of a card-not-present drain at merchants the victim already uses
OWN_RANGE = 0.25  # share of drained amounts within the victim's own range
SKIM_DEFRAUDED = 0.3  # share of the cards copied by a skimmer that are defrauded later
DAY = 1440


def _span(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Positions of [lo, hi) in sorted `values` (keys cast to its dtype: a mixed-dtype search copies the array)."""
    return np.searchsorted(values, np.array([lo, hi], dtype=values.dtype))


def scenario_mix(year: int) -> dict[str, float]:
    """Share of fraud rows per scenario in a year: linear from the 2010 mix to the 2019 mix."""
    w = float(np.clip((year - 2010) / 9, 0, 1))
    mix = {name: (1 - w) * a + w * b for name, (a, b) in SCENARIO_MIX.items()}
    total = sum(mix.values())
    return {name: v / total for name, v in mix.items()}


class FraudInjector:
    """Adds fraud episodes to the legitimate transactions of one population."""

    def __init__(self, rng: np.random.Generator, pop: Population, scale: Scale):
        self.rng, self.pop, self.scale = rng, pop, scale
        m = pop.merchants
        cat = np.array(CATEGORY_NAMES)[m["category"].to_numpy()]
        online = m["online"].to_numpy()
        self.mcc = m["mcc"].to_numpy()
        self.testing = np.flatnonzero(online & np.isin(cat, ["digital", "money_transfer", "retail", "services"]))
        self.draining = np.flatnonzero(online & np.isin(cat, FRAUD_CATEGORIES))
        self.takeover = np.flatnonzero(online & np.isin(cat, ["money_transfer", "electronics", "digital", "luxury"]))
        in_person = ~online & ~m["foreign"].to_numpy()
        self.city = m["city_idx"].to_numpy()
        self.by_city = {c: np.flatnonzero(in_person & (self.city == c)) for c in range(scale.n_cities)}
        self.by_city = {c: v for c, v in self.by_city.items() if len(v)}
        self.foreign_idx = m["foreign_idx"].to_numpy()
        self.n_minutes = len(scale.days) * DAY
        users = pop.users
        self.home = users["home_city"].to_numpy()
        self.chip_day = users["chip_day"].to_numpy()
        self.has_chip = pop.cards["has_chip"].to_numpy() == "YES"
        self.card_client = pop.cards["client_id"].to_numpy()

    # --- the legitimate history a scenario reads ---------------------------------------------------------------
    def _index(self, legit: pd.DataFrame) -> None:
        self.legit = legit
        self.minute = legit["minute"].to_numpy()
        self.card = legit["card_row"].to_numpy()
        self.client = legit["client_id"].to_numpy()
        self.merchant = legit["merchant_row"].to_numpy()
        self.channel = legit["channel"].to_numpy()
        self.amount = legit["amount"].to_numpy()
        self.card = self.card.copy()  # the card each payment is made with: changes when a card is reissued
        self.lineage = np.arange(len(self.has_chip))  # card row -> the original card it replaces (itself if none)
        self.by_card = np.lexsort((self.minute, self.card))
        self.card_sorted = self.card[self.by_card]
        self.blocked_at: dict[int, int] = {}
        self.reissued: list[tuple[int, int, int]] = []  # (new card row, original card row, issue minute)
        self.in_gap = np.zeros(len(legit), dtype=bool)  # made after a block, before the new card arrives
        self.by_time = np.argsort(self.minute, kind="stable")
        self.time_sorted = self.minute[self.by_time]
        self.by_merchant = np.lexsort((self.minute, self.merchant))
        self.merchant_sorted = self.merchant[self.by_merchant]

    def _history(self, card: int, before: int, last: int = 200) -> np.ndarray:
        """Rows of the card's (and the cards it replaces') legitimate payments before a minute (the latest `last`)."""
        first = self.lineage[card]
        lo, hi = _span(self.card_sorted, first, first + 1)
        rows = self.by_card[lo:hi]
        return rows[self.minute[rows] < before][-last:]

    def _own_online(self, card: int, before: int) -> np.ndarray:
        rows = self._history(card, before)
        return self.merchant[rows[self.channel[rows] == ONLINE]]

    # --- building blocks ----------------------------------------------------------------------------------------
    def _open(self, pool: np.ndarray, minutes: np.ndarray) -> np.ndarray:
        return pick_open(self.rng, pool, np.asarray(minutes) // DAY, self.pop.merchants)

    def _rows(self, card: int, client: int, minutes, merchants, amounts, channel, errors: dict) -> dict:
        minutes = np.asarray(minutes, dtype=np.int64)
        n = len(minutes)
        return {"minute": minutes, "client_id": np.full(n, client), "card_row": np.full(n, card),
                "merchant_row": np.asarray(merchants, dtype=np.int64), "amount": np.asarray(amounts, dtype=float),
                "channel": np.broadcast_to(channel, n).copy(), "errors": draw_errors(self.rng, n, errors)}

    def _level(self, minutes) -> np.ndarray:
        day = np.minimum(np.asarray(minutes) // DAY, len(self.scale.days) - 1)
        return amount_level(self.scale.days[day])

    def _start(self, day: int) -> int:
        """A fraudster's start minute on a day: evenings more often, any hour possible."""
        hour = self.rng.integers(0, 24) if self.rng.random() < 0.5 else self.rng.integers(15, 24)
        return int(day * DAY + hour * 60 + self.rng.integers(0, 60))

    def _test_amounts(self, n: int, median: float) -> np.ndarray:
        return np.round(np.clip(self.rng.lognormal(np.log(median), 0.8, n), 0.5, 60), 2)

    def drain(self, card: int, client: int, start: int, factor: float) -> dict:
        """Online purchases on a compromised card: some at the victim's own merchants and within their range."""
        rng = self.rng
        n = 1 + rng.poisson(2.5)
        gap = np.where(rng.random(n) < 0.5, rng.exponential(25, n), rng.exponential(8 * 60, n))
        gap[0] = 0
        minutes = start + np.cumsum(gap).astype(np.int64)
        merchants = self._open(self.draining, minutes)
        own = self._own_online(card, start)
        use_own = (rng.random(n) < OWN_MERCHANT) & (len(own) > 0)
        if use_own.any():
            merchants[use_own] = rng.choice(own, int(use_own.sum()))
        amounts = draw_amounts(rng, self.mcc[merchants], factor * self._level(minutes))
        past = self.amount[self._history(card, start)]
        past = past[past > 0]
        in_range = (rng.random(n) < OWN_RANGE) & (len(past) > 0)
        if in_range.any():
            amounts[in_range] = np.round(rng.choice(past, int(in_range.sum())) * rng.uniform(0.8, 2.0), 2)
        return self._rows(card, client, minutes, merchants, amounts, ONLINE, {"Bad CVV": 20, "Insufficient Balance": 3})

    def clone(self, card: int, client: int, start: int, region: int, factor: float) -> dict:
        """In-person payments with a cloned card in a US city (region >= 0) or abroad (region < 0)."""
        rng = self.rng
        if region >= 0 and region in self.by_city:
            pool = self.by_city[region]
        else:
            city = rng.integers(0, self.foreign_idx.max() + 1)
            pool = np.flatnonzero(self.foreign_idx == city)
            if not len(pool):
                pool = np.flatnonzero(self.foreign_idx >= 0)
        n = 2 + rng.poisson(2.5)
        minutes = np.sort((start // DAY + rng.integers(0, 4, n)) * DAY + rng.integers(9 * 60, 23 * 60, n))
        merchants = self._open(pool, minutes)
        chip = self.has_chip[card] & (minutes // DAY >= self.chip_day[client]) & (rng.random(n) >= FALLBACK)
        amounts = draw_amounts(rng, self.mcc[merchants], factor * self._level(minutes))
        return self._rows(card, client, minutes, merchants, amounts, np.where(chip, CHIP, SWIPE), {"Bad PIN": 10})

    def _clone_region(self, client: int) -> int:
        r = self.rng.random()
        if r < 0.15:
            return int(self.home[client])
        if r < 0.2:
            return int(self.rng.choice(list(self.by_city)))
        return -1

    # --- scenarios: each returns the parts of one episode (rows of one card or of many) --------------------------
    def card_not_present(self, a: int, drift: float) -> list[dict]:
        rng = self.rng
        card, client = int(self.card[a]), int(self.client[a])
        start = self._start(self.minute[a] // DAY + rng.integers(0, 4))
        parts = []
        if rng.random() < 0.65:  # tested first
            n = 1 + rng.binomial(2, 0.3)
            minutes = start + np.cumsum(rng.integers(1, 30, n))
            merchants = self._open(self.testing, minutes)
            own = self._own_online(card, start)
            if len(own) and rng.random() < 0.35:
                merchants[:] = rng.choice(own)
            parts.append(self._rows(card, client, minutes, merchants, self._test_amounts(n, 4.0), ONLINE,
                                    {"Bad CVV": 110, "Bad Card Number": 60, "Bad Expiration": 60}))
            if rng.random() < 0.2:  # tested, never drained
                return parts
            start = int(minutes[-1] + rng.lognormal(np.log(12 * 60), 1.3))
        parts.append(self.drain(card, client, start, 3.0 * drift))
        return parts

    def account_takeover(self, a: int, drift: float) -> list[dict]:
        rng = self.rng
        card, client = int(self.card[a]), int(self.client[a])
        day = self.minute[a] // DAY + rng.integers(1, 20)
        hour = rng.integers(0, 6) if rng.random() < 0.35 else rng.integers(7, 24)
        n = 1 + rng.poisson(1.5)
        minutes = day * DAY + hour * 60 + rng.integers(0, 60) + np.cumsum(rng.exponential(30, n)).astype(np.int64)
        merchants = self._open(self.takeover, minutes)
        own = self._own_online(card, minutes[0])
        use_own = (rng.random(n) < 0.3) & (len(own) > 0)
        if use_own.any():
            merchants[use_own] = rng.choice(own, int(use_own.sum()))
        amounts = draw_amounts(rng, self.mcc[merchants], 2.2 * drift * self._level(minutes))
        return [self._rows(card, client, minutes, merchants, amounts, ONLINE, {"Bad Zipcode": 40, "Bad PIN": 3})]

    def counterfeit(self, a: int, drift: float) -> list[dict]:
        card, client = int(self.card[a]), int(self.client[a])
        start = int(self.minute[a] + self.rng.integers(5, 40) * DAY)
        return [self.clone(card, client, start, self._clone_region(client), 1.8 * drift)]

    def compromised_terminal(self, a: int, drift: float, budget: float) -> list[dict]:
        """A skimmer at the anchor's (in-person, US) merchant for 2-6 weeks; some copied cards are defrauded later."""
        rng = self.rng
        m = int(self.merchant[a])
        lo, hi = _span(self.merchant_sorted, m, m + 1)
        rows = self.by_merchant[lo:hi]
        t0 = self.minute[a]
        rows = rows[(self.minute[rows] >= t0) & (self.minute[rows] < t0 + rng.integers(14, 46) * DAY)]
        cards, first = np.unique(self.card[rows], return_index=True)
        parts, made = [], 0
        for card, row in zip(cards, rows[first], strict=True):
            if made >= budget:
                break
            if rng.random() >= SKIM_DEFRAUDED:
                continue
            client = int(self.client[row])
            start = int(self.minute[row] + rng.lognormal(np.log(20 * DAY), 0.6))
            if rng.random() < 0.7:
                part = self.clone(int(card), client, start, int(self.city[m]) if rng.random() < 0.4 else -1,
                                  1.8 * drift)
            else:
                part = self.drain(int(card), client, self._start(start // DAY), 3.0 * drift)
            parts.append(part)
            made += len(part["minute"])
        return parts

    def coordinated_testing(self, a: int, drift: float) -> list[dict]:
        """Tiny payments from many cards at one small online merchant within minutes."""
        rng = self.rng
        t0 = int(self.minute[a])
        merchant = int(self._open(self.testing[rng.integers(0, len(self.testing), 50)], np.full(50, t0))[0])
        lo, hi = _span(self.time_sorted, t0 - 30 * DAY, t0 + 30 * DAY)
        active = np.unique(self.card[self.by_time[lo:hi]])
        cards = rng.choice(active, min(len(active), 6 + rng.poisson(6)), replace=False)
        parts = []
        for card in cards:
            n = 1 + int(rng.random() < 0.3)
            minutes = t0 + np.sort(rng.integers(0, 25, n))
            parts.append(self._rows(int(card), int(self.card_client[card]), minutes, np.full(n, merchant),
                                    self._test_amounts(n, 1.5), ONLINE,
                                    {"Bad CVV": 90, "Bad Card Number": 60, "Bad Expiration": 60}))
        return parts

    def first_party(self, rows: np.ndarray, n: int) -> np.ndarray:
        """Legitimate rows the cardholder later disputes: mostly online, otherwise ordinary."""
        online = rows[self.channel[rows] == ONLINE]
        n_online = min(len(online), int(round(n * FIRST_PARTY_ONLINE)))
        picked = [self.rng.choice(online, n_online, replace=False)] if n_online else []
        rest = np.setdiff1d(rows, online)
        picked.append(self.rng.choice(rest, min(len(rest), n - n_online), replace=False))
        return np.concatenate(picked)

    # --- the whole period --------------------------------------------------------------------------------------
    def _block(self, parts: list[dict]) -> list[dict]:
        """A confirmed episode gets its card blocked a day or so after the first noticeable payment: later rows on
        the card are cut, and the client's payments move to a new card a few days later. Rows past the end of the
        data are cut too."""
        rng, kept = self.rng, []
        for part in parts:
            card = int(part["card_row"][0])
            noticed = part["minute"][part["amount"] >= 20]
            if card not in self.blocked_at and rng.random() < (0.85 if len(noticed) else 0.2):
                at = (noticed[0] if len(noticed) else part["minute"][0]) + int(rng.lognormal(np.log(1.5 * DAY), 0.8))
                self._reissue(card, int(at))
            keep = (part["minute"] < self.n_minutes) & (part["minute"] < self.blocked_at.get(card, self.n_minutes))
            if keep.any():
                kept.append({k: v[keep] for k, v in part.items()})
        return kept

    def _reissue(self, card: int, at: int) -> None:
        """Block the card at minute `at`; a new card (new row) takes over the client's payments 3-10 days later."""
        self.blocked_at[card] = at
        issue = at + int(self.rng.integers(3, 11)) * DAY
        new = len(self.has_chip)
        self.reissued.append((new, int(self.lineage[card]), issue))
        self.has_chip = np.append(self.has_chip, self.has_chip[card])
        self.card_client = np.append(self.card_client, self.card_client[card])
        self.lineage = np.append(self.lineage, self.lineage[card])
        rows = self._history(card, self.n_minutes, last=len(self.minute))
        rows = rows[(self.card[rows] == card) & (self.minute[rows] >= at)]
        later = self.minute[rows] >= issue
        self.card[rows[later]] = new
        self.in_gap[rows[~later]] = True

    def inject(self, legit: pd.DataFrame) -> pd.DataFrame:
        """Legitimate plus fraud transactions with `scenario` and `fraud_probability` (the oracle); blocked cards
        reissued (new rows in pop.cards)."""
        rng = self.rng
        legit = legit.reset_index(drop=True)
        self._index(legit)
        years = self.scale.days.year.to_numpy()[self.minute // DAY]
        in_person_us = (self.channel != ONLINE) & (self.city[self.merchant] >= 0)
        online = self.channel == ONLINE
        episodes = []
        for year in np.unique(years):
            rows = np.flatnonzero(years == year)
            rate = YEARLY_FRAUD_RATE.get(int(year), YEARLY_FRAUD_RATE[max(YEARLY_FRAUD_RATE)])
            target = self.scale.fraud_boost * rate / (1 - rate) * len(rows) / DETECTION
            drift = 1 + 0.04 * (int(year) - 2010)
            mix = scenario_mix(int(year))
            terminals = rows[in_person_us[rows]]
            leaks = rows[online[rows]]  # card details and accounts leak where the victim pays online
            for name, share in mix.items():
                goal = target * share
                if name == "first_party":
                    hit = self.first_party(rows, int(rng.poisson(goal)))
                    legit.loc[hit, "scenario"] = name
                    continue
                made = 0
                for _ in range(int(10 * goal) + 50):  # bounded: an episode may be cut to nothing
                    if made >= goal:
                        break
                    if name == "compromised_terminal":
                        if not len(terminals):
                            break
                        parts = self.compromised_terminal(rng.choice(terminals), drift, goal - made)
                    else:
                        anchors = leaks if name in ("card_not_present", "account_takeover") and len(leaks) else rows
                        parts = getattr(self, name)(rng.choice(anchors), drift)
                    for part in self._block(parts):
                        part["scenario"] = np.full(len(part["minute"]), name)
                        episodes.append(part)
                        made += len(part["minute"])
        fraud = pd.DataFrame({k: np.concatenate([e[k] for e in episodes]) for k in episodes[0]}) if episodes \
            else legit.iloc[:0]
        fraud = fraud[fraud["minute"].to_numpy() < self._block_minute(fraud["card_row"].to_numpy())]
        legit["card_row"] = self.card
        legit = self._between_cards(legit)
        tx = pd.concat([legit, fraud], ignore_index=True)
        scenario = tx["scenario"].to_numpy()
        tx["fraud_probability"] = np.select([scenario == LEGIT, scenario == "first_party"],
                                            [0.0, FIRST_PARTY_REPORTED], DETECTION)
        return tx

    def _block_minute(self, card: np.ndarray) -> np.ndarray:
        at = np.full(len(self.has_chip), np.iinfo(np.int64).max)
        at[list(self.blocked_at)] = list(self.blocked_at.values())
        return at[card]

    def _between_cards(self, legit: pd.DataFrame) -> pd.DataFrame:
        """Payments made between a block and the new card: on another open card of the client, else not made.
        The new cards join pop.cards."""
        cards = self.pop.cards
        new = np.array([r[0] for r in self.reissued], dtype=np.int64)
        issue = np.array([r[2] for r in self.reissued], dtype=np.int64)
        if len(new):
            self.pop.cards = pd.concat([cards, reissue_cards(self.rng, cards, self.lineage[new], issue // DAY,
                                                            new, self.scale.start)])
        opens = np.r_[cards["open_day"].to_numpy() * DAY, issue]
        blocked = self._block_minute(np.arange(len(opens)))
        by_client = pd.Series(np.arange(len(opens))).groupby(self.card_client).indices
        keep = np.ones(len(legit), dtype=bool)
        card = legit["card_row"].to_numpy().copy()
        for i in np.flatnonzero(self.in_gap):
            t = self.minute[i]
            others = [c for c in by_client[self.client[i]] if c != card[i] and opens[c] <= t < blocked[c]]
            if others:
                card[i] = others[0]
            else:
                keep[i] = False
        legit["card_row"] = card
        return legit[keep].reset_index(drop=True)

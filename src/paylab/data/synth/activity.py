"""Legitimate card activity: when, where, how much, with which card; and the true user x merchant affinity."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from paylab.data.synth.population import Population
from paylab.data.synth.reference import CATEGORIES, ERRORS, FOREIGN_CITIES, HOUR_PROFILES, MCCS
from paylab.data.synth.scales import Scale

EXPLORE_LOCAL, EXPLORE_ONLINE = 0.12, 0.10  # share of purchases at a merchant outside the user's repertoire
TOP_EXPLORE = 20  # explore-only merchants kept per user in the affinity oracle
SWIPE, CHIP, ONLINE = 0, 1, 2
LEGIT_AMOUNT_SCALE = 0.72  # brings the legitimate median amount to the real set's $28.95
ABROAD_SHARE = 0.45  # share of trips that go abroad
ERROR_NAMES = list(ERRORS)


def calendar_factor(days: pd.DatetimeIndex) -> np.ndarray:
    """Yearly seasonality with the holiday peak: multiplies every user's activity."""
    doy = days.dayofyear.to_numpy()
    holiday = (days.month == 12) & (days.day >= 8) & (days.day <= 24)
    black_friday = (days.month == 11) & (days.day >= 23) & (days.day <= 30)
    return 1 + 0.08 * np.sin(2 * np.pi * (doy - 100) / 365.25) + 0.3 * holiday + 0.15 * black_friday


def amount_level(days: pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Price level drift: 2.5% inflation a year from 2010."""
    years = (pd.DatetimeIndex(days).year - 2010) + pd.DatetimeIndex(days).dayofyear / 365.25
    return np.asarray(1.025 ** years)


_MCC_MEDIAN = np.zeros(10_000)
_MCC_SIGMA = np.zeros(10_000)
for _code, (_, _, _median, _sigma) in MCCS.items():
    _MCC_MEDIAN[_code], _MCC_SIGMA[_code] = _median, _sigma


def draw_amounts(rng: np.random.Generator, mcc: np.ndarray, scale_factor: np.ndarray) -> np.ndarray:
    """Lognormal amounts around each MCC's median, times a per-transaction factor (income, inflation)."""
    return np.maximum(np.round(_MCC_MEDIAN[mcc] * scale_factor * np.exp(rng.normal(0, _MCC_SIGMA[mcc])), 2), 0.5)


def draw_errors(rng: np.random.Generator, n: int, multipliers: dict[str, np.ndarray | float] | None = None):
    """Bitmask of errors (bit k = ERROR_NAMES[k]) drawn independently at the base rates."""
    multipliers = multipliers or {}
    mask = np.zeros(n, dtype=np.int64)
    for k, (name, rate) in enumerate(ERRORS.items()):
        mask |= (rng.random(n) < rate * multipliers.get(name, 1.0)).astype(np.int64) << k
    return mask


def choose_channel(rng: np.random.Generator, online: np.ndarray, has_chip: np.ndarray, chip_era: np.ndarray):
    """Online purchases are online; in person a chip card in the chip era dips (92%), otherwise swipes."""
    chip = has_chip & chip_era & (rng.random(len(online)) < 0.92)
    return np.where(online, ONLINE, np.where(chip, CHIP, SWIPE))


class ActivityGenerator:
    """Generates each active user's legitimate transactions."""

    def __init__(self, rng: np.random.Generator, pop: Population, scale: Scale):
        self.rng, self.pop, self.scale = rng, pop, scale
        self.days = scale.days
        self.n_days = len(self.days)
        self.calendar = calendar_factor(self.days)
        self.dow = self.days.dayofweek.to_numpy()
        self.level = amount_level(self.days)
        m = pop.merchants
        self.m_online = np.flatnonzero(m["online"].to_numpy())
        self.m_foreign = np.flatnonzero(m["foreign"].to_numpy())
        self.foreign_city = m["foreign_idx"].to_numpy()
        city = m["city_idx"].to_numpy()
        self.m_by_city = {c: np.flatnonzero(city == c) for c in range(scale.n_cities)}
        self.log_pop = np.log(m["popularity"].to_numpy())
        self.m_cat = m["category"].to_numpy()
        self.m_mcc = m["mcc"].to_numpy()
        cards = pop.cards
        self.cards_by_client = {c: g.index.to_numpy() for c, g in cards.groupby("client_id")}
        self.refund_rate = np.array([c[3] for c in CATEGORIES])

    def _scores(self, user: int, cand: np.ndarray) -> np.ndarray:
        p = self.pop
        return (np.log(p.prefs[user, self.m_cat[cand]]) + self.log_pop[cand]
                + 0.8 * p.merchant_vec[cand] @ p.user_vec[user])

    def _repertoire(self, user: int, cand: np.ndarray, size: int):
        """The user's habitual merchants among candidates (Gumbel top-k) with their choice probabilities."""
        s = self._scores(user, cand)
        size = min(size, len(cand))
        top = np.argsort(-(s + self.rng.gumbel(size=len(cand))))[:size]
        rep_p = np.exp(s[top] - s[top].max())
        exp_p = np.exp(s - s.max())
        return cand[top], rep_p / rep_p.sum(), exp_p / exp_p.sum()

    def _local_candidates(self, home: int) -> np.ndarray:
        cand = self.m_by_city[home]
        if len(cand) >= 40:
            return cand
        others = np.concatenate([v for c, v in self.m_by_city.items() if c != home])
        return np.concatenate([cand, self.rng.choice(others, 40 - len(cand), replace=False)])

    def _pick(self, n: int, rep, rep_p, cand, exp_p, explore: float) -> np.ndarray:
        use_rep = self.rng.random(n) >= explore
        out = self.rng.choice(cand, n, p=exp_p)
        out[use_rep] = self.rng.choice(rep, int(use_rep.sum()), p=rep_p)
        return out

    def _trip_days(self, u: pd.Series) -> np.ndarray:
        """Destination per day: -1 at home, a US city index, or 1000 + a foreign city index."""
        rng, dest = self.rng, np.full(self.n_days, -1)
        n_trips = rng.poisson(u.trips_per_year * self.n_days / 365.25)
        other_cities = [c for c in self.m_by_city if c != u.home_city and len(self.m_by_city[c])]
        for start in rng.integers(0, self.n_days, n_trips):
            length = 2 + rng.geometric(0.3)
            abroad = rng.random() < ABROAD_SHARE
            if abroad:
                place = 1000 + rng.integers(0, len(FOREIGN_CITIES))
            elif other_cities:
                place = rng.choice(other_cities)
            else:
                continue
            dest[start:start + length] = place
        return dest

    def _trip_merchants(self, places: np.ndarray) -> np.ndarray:
        """In-person merchants at each trip destination, by popularity."""
        out = np.empty(len(places), dtype=np.int64)
        for place in np.unique(places):
            idx = np.flatnonzero(places == place)
            if place >= 1000:
                cand = self.m_foreign[self.foreign_city[self.m_foreign] == place - 1000]
                if not len(cand):
                    cand = self.m_foreign
            else:
                cand = self.m_by_city[place]
            w = np.exp(self.log_pop[cand])
            out[idx] = self.rng.choice(cand, len(idx), p=w / w.sum())
        return out

    def user_transactions(self, user: int) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
        """One user's legitimate transactions (column arrays) and true merchant affinity (rows)."""
        rng, pop = self.rng, self.pop
        u = pop.users.iloc[user]
        alive = np.arange(self.n_days) >= u.start_day
        if not np.isnan(u.churn_day):
            d = np.arange(self.n_days)
            decay = np.clip((u.churn_day - d) / 60.0, 0.15, 1.0)
            alive = alive & (d < u.churn_day)
            alive = alive * decay
        weekly = np.where(self.dow >= 5, u.weekend_factor, 1.0)
        lam = u.rate * self.calendar * weekly / weekly.mean() * alive
        day = np.repeat(np.arange(self.n_days), rng.poisson(lam))
        n = len(day)

        hour_p = HOUR_PROFILES[u.hours] / HOUR_PROFILES[u.hours].sum()
        minute = day * 1440 + rng.choice(24, n, p=hour_p) * 60 + rng.integers(0, 60, n)
        online = rng.random(n) < u.online_share

        local = self._local_candidates(u.home_city)
        rep_l, rep_lp, exp_lp = self._repertoire(user, local, 15 + rng.poisson(20))
        rep_o, rep_op, exp_op = self._repertoire(user, self.m_online, 4 + rng.poisson(8))
        merchant = np.empty(n, dtype=np.int64)
        merchant[online] = self._pick(int(online.sum()), rep_o, rep_op, self.m_online, exp_op, EXPLORE_ONLINE)
        place = self._trip_days(u)[day]
        home = ~online & (place < 0)
        merchant[home] = self._pick(int(home.sum()), rep_l, rep_lp, local, exp_lp, EXPLORE_LOCAL)
        away = ~online & (place >= 0)
        merchant[away] = self._trip_merchants(place[away])

        card = self._choose_cards(user, day)
        c = pop.cards.loc[card]
        chip_era = day >= u.chip_day
        channel = choose_channel(rng, online, c["has_chip"].to_numpy() == "YES", chip_era)
        income_factor = LEGIT_AMOUNT_SCALE * (u.yearly_income / 50000) ** 0.2
        amount = draw_amounts(rng, self.m_mcc[merchant], income_factor * self.level[day])
        refund = rng.random(n) < self.refund_rate[self.m_cat[merchant]] * 1.4
        amount = np.where(refund, -amount, amount)
        errors = draw_errors(rng, n, {"Insufficient Balance": np.exp(0.8 * u.financial_stress) / 1.6})

        cols = {"minute": minute, "client_id": np.full(n, user), "card_row": card, "merchant_row": merchant,
                "amount": amount, "channel": channel, "errors": errors}
        affinity = self._affinity(user, u.online_share, (rep_l, rep_lp, local, exp_lp, EXPLORE_LOCAL),
                                  (rep_o, rep_op, self.m_online, exp_op, EXPLORE_ONLINE))
        return cols, affinity

    def _choose_cards(self, user: int, day: np.ndarray) -> np.ndarray:
        rows = self.cards_by_client[user]
        cards = self.pop.cards.loc[rows]
        w = cards["use_weight"].to_numpy()[None, :] * (cards["open_day"].to_numpy()[None, :] <= day[:, None])
        w[w.sum(axis=1) == 0, 0] = 1.0
        cum = np.cumsum(w, axis=1)
        pick = (self.rng.random(len(day))[:, None] * cum[:, -1:] > cum).sum(axis=1)
        return rows[pick]

    def _affinity(self, user: int, online_share: float, local: tuple, online: tuple) -> pd.DataFrame:
        """P(the user's next at-home purchase is at merchant j), for habitual and likeliest other merchants."""
        parts = []
        for (rep, rep_p, cand, exp_p, explore), weight in ((local, 1 - online_share), (online, online_share)):
            top = np.argsort(-exp_p)[:TOP_EXPLORE]
            keep = np.union1d(rep, cand[top])
            p = explore * pd.Series(exp_p, index=cand).reindex(keep).to_numpy()
            p += (1 - explore) * pd.Series(rep_p, index=rep).reindex(keep, fill_value=0.0).to_numpy()
            parts.append(pd.DataFrame({"merchant_row": keep, "affinity": weight * p}))
        aff = pd.concat(parts).groupby("merchant_row", as_index=False)["affinity"].sum()
        aff.insert(0, "client_id", user)
        return aff

    def generate(self, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        """All active users' legitimate transactions and the affinity oracle."""
        users = np.flatnonzero(self.pop.users["active"].to_numpy())
        chunks, affinities = [], []
        for user in tqdm(users, desc="users", disable=not progress, leave=False):
            cols, aff = self.user_transactions(int(user))
            chunks.append(cols)
            affinities.append(aff)
        tx = pd.DataFrame({k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})
        tx["scenario"] = "none"
        return tx, pd.concat(affinities, ignore_index=True)

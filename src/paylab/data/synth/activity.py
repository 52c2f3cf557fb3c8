"""Legitimate card activity: when, where, how much, with which card; and the true user x merchant affinity.

Payments come in shopping sessions (several payments within an hour or two, one card, one channel), plus recurring
payments (subscriptions and bills: same merchant and card, near-fixed day of month and amount). Each user's habitual
merchants are slots (a grocery store, a takeaway, a streaming service) whose merchant changes now and then, and when it
closes; explored merchants are first visits. On trips, in-person spending moves to the destination but online payments
and some spending at home (a household member, standing orders) go on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from paylab.data.synth.population import Population
from paylab.data.synth.reference import CATEGORIES, CATEGORY_NAMES, ERRORS, FOREIGN_CITIES, HOUR_PROFILES, MCCS
from paylab.data.synth.scales import Scale

EXPLORE_LOCAL, EXPLORE_ONLINE = 0.12, 0.10  # share of purchases at a merchant outside the user's repertoire
TOP_EXPLORE = 20  # explore-only merchants kept per user in the affinity oracle
SWIPE, CHIP, ONLINE = 0, 1, 2
LEGIT = "legit"  # the oracle scenario of legitimate rows
LEGIT_AMOUNT_SCALE = 0.72  # brings the legitimate median amount to the real set's $28.95
ABROAD_SHARE = 0.45  # share of trips that go abroad
SESSION_SIZE = 1.5  # mean payments per shopping session (geometric)
SESSION_GAP = 18.0  # mean minutes between two payments of a session (exponential)
SLOT_LIFE = 2.5 * 365.25  # mean days a habitual merchant stays in a user's repertoire
HOME_WHILE_AWAY = 0.2  # share of in-person spending that stays at home merchants during a trip
RECURRING_MEAN = 1.6  # recurring payments (subscriptions, bills) per user
RECURRING_CATEGORIES = ("utilities", "digital", "entertainment", "services")
RECURRING_LIFE = 3 * 365.25  # mean days a subscription runs
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


def pick_open(rng: np.random.Generator, cand: np.ndarray, day: np.ndarray, merchants: pd.DataFrame) -> np.ndarray:
    """For each day, a candidate merchant open that day drawn by popularity (left as drawn if none is open)."""
    w = merchants["popularity"].to_numpy()[cand]
    opens, closes = merchants["open_day"].to_numpy(), merchants["close_day"].to_numpy()
    out = rng.choice(cand, len(day), p=w / w.sum())
    for _ in range(4):
        closed = np.flatnonzero((opens[out] > day) | (day >= closes[out]))
        if not len(closed):
            return out
        out[closed] = rng.choice(cand, len(closed), p=w / w.sum())
    for i in np.flatnonzero((opens[out] > day) | (day >= closes[out])):  # rare: few candidates open that day
        ok = (opens[cand] <= day[i]) & (day[i] < closes[cand])
        if ok.any():
            out[i] = rng.choice(cand[ok], p=w[ok] / w[ok].sum())
    return out


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
        self.open_day = m["open_day"].to_numpy()
        self.close_day = m["close_day"].to_numpy()
        recurring = np.isin(np.array(CATEGORY_NAMES)[self.m_cat], RECURRING_CATEGORIES)
        self.m_recurring = np.flatnonzero(m["online"].to_numpy() & recurring)
        cards = pop.cards
        self.cards_by_client = {c: g.index.to_numpy() for c, g in cards.groupby("client_id")}
        self.refund_rate = np.array([c[3] for c in CATEGORIES])

    def is_open(self, merchant: np.ndarray, day) -> np.ndarray:
        return (self.open_day[merchant] <= day) & (day < self.close_day[merchant])

    def _scores(self, user: int, cand: np.ndarray) -> np.ndarray:
        p = self.pop
        return (np.log(p.prefs[user, self.m_cat[cand]]) + self.log_pop[cand]
                + 0.8 * p.merchant_vec[cand] @ p.user_vec[user])

    def _draw_open(self, user: int, cand: np.ndarray, day: int, exclude=()) -> int:
        """One merchant among the candidates open on `day` (Gumbel-max on the user's scores), -1 if none."""
        ok = self.is_open(cand, day) & ~np.isin(cand, exclude)
        if not ok.any():
            return -1
        c = cand[ok]
        return int(c[np.argmax(self._scores(user, c) + self.rng.gumbel(size=len(c)))])

    def _repertoire(self, user: int, cand: np.ndarray, size: int, first_day: int) -> Repertoire:
        """The user's habitual merchants among candidates: `size` slots, each a merchant until it is dropped or closes,
        then the user's likeliest other open merchant of the same category."""
        rng = self.rng
        s = self._scores(user, cand)
        ok = self.is_open(cand, first_day)
        pool = np.flatnonzero(ok) if ok.any() else np.arange(len(cand))
        top = pool[np.argsort(-(s[pool] + rng.gumbel(size=len(pool))))[:min(size, len(pool))]]
        weight = np.exp(s[top] - s[top].max())
        cat = self.m_cat[cand]
        opens, closes = self.open_day[cand], self.close_day[cand]
        starts, merchants = [], []
        for i in top:
            t, st, ms = first_day, [first_day], [i]
            same = np.flatnonzero(cat == cat[i])
            while True:
                t = int(min(t + 1 + rng.exponential(SLOT_LIFE), max(closes[i], t + 1)))
                if t >= self.n_days:
                    break
                for among in (same, np.arange(len(cand))):  # another of the category, else any open candidate
                    score = s[among] + rng.gumbel(size=len(among))
                    score[(opens[among] > t) | (closes[among] <= t) | (among == i)] = -np.inf
                    j = int(np.argmax(score))
                    if np.isfinite(score[j]):
                        break
                if not np.isfinite(score[j]):
                    break
                i = among[j]
                st.append(t)
                ms.append(i)
            starts.append(np.array(st))
            merchants.append(cand[np.array(ms)])
        exp_p = np.exp(s - s.max())
        return Repertoire(weight / weight.sum(), starts, merchants, cand, exp_p / exp_p.sum())

    def _pick(self, day: np.ndarray, rep: Repertoire, explore: float) -> np.ndarray:
        """Habitual merchants (the slot's merchant of the day) or, with probability `explore`, a first visit to any
        candidate open that day."""
        rng, n = self.rng, len(day)
        out = rep.at(rng.choice(len(rep.slot_p), n, p=rep.slot_p), day)
        alt = np.flatnonzero(rng.random(n) < explore)
        for _ in range(3):  # explored merchants must be open; closed draws are drawn again, then left habitual
            if not len(alt):
                break
            m = rng.choice(rep.cand, len(alt), p=rep.exp_p)
            ok = self.is_open(m, day[alt])
            out[alt[ok]] = m[ok]
            alt = alt[~ok]
        return out

    def _local_candidates(self, home: int) -> np.ndarray:
        cand = self.m_by_city[home]
        if len(cand) >= 40:
            return cand
        others = np.concatenate([v for c, v in self.m_by_city.items() if c != home])
        return np.concatenate([cand, self.rng.choice(others, 40 - len(cand), replace=False)])

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

    def _trip_merchants(self, places: np.ndarray, day: np.ndarray) -> np.ndarray:
        """In-person merchants open at each trip destination, by popularity."""
        out = np.empty(len(places), dtype=np.int64)
        for place in np.unique(places):
            idx = np.flatnonzero(places == place)
            if place >= 1000:
                cand = self.m_foreign[self.foreign_city[self.m_foreign] == place - 1000]
                if not len(cand):
                    cand = self.m_foreign
            else:
                cand = self.m_by_city[place]
            out[idx] = pick_open(self.rng, cand, day[idx], self.pop.merchants)
        return out

    def _sessions(self, u: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Minute of each payment, its session number and each session's day: sessions arrive as a Poisson process
        per day."""
        rng = self.rng
        alive = (np.arange(self.n_days) >= u.start_day).astype(float)
        if not np.isnan(u.churn_day):
            d = np.arange(self.n_days)
            alive *= (d < u.churn_day) * np.clip((u.churn_day - d) / 60.0, 0.15, 1.0)  # thins before it stops
        weekly = np.where(self.dow >= 5, u.weekend_factor, 1.0)
        lam = u.rate * self.calendar * weekly / weekly.mean() * alive / SESSION_SIZE
        day = np.repeat(np.arange(self.n_days), rng.poisson(lam))
        hour_p = HOUR_PROFILES[u.hours] / HOUR_PROFILES[u.hours].sum()
        start = day * 1440 + rng.choice(24, len(day), p=hour_p) * 60 + rng.integers(0, 60, len(day))
        if not len(day):
            return day, day, day
        size = rng.geometric(1 / SESSION_SIZE, len(day))
        session = np.repeat(np.arange(len(day)), size)
        first = np.r_[0, np.cumsum(size)[:-1]]
        gap = rng.exponential(SESSION_GAP, len(session)).round().astype(np.int64) + 1
        gap[first] = 0
        offset = np.cumsum(gap) - np.repeat(np.cumsum(gap)[first], size)
        return start[session] + offset, session, day

    def _recurring(self, user: int, u: pd.Series) -> dict[str, np.ndarray] | None:
        """Subscriptions and bills: monthly at one online merchant, near-fixed day and amount, on one card."""
        rng, rows = self.rng, []
        end_user = self.n_days if np.isnan(u.churn_day) else int(u.churn_day)
        for _ in range(rng.poisson(RECURRING_MEAN)):
            first = int(u.start_day + rng.exponential(200))
            if first >= end_user:
                continue
            m = self._draw_open(user, self.m_recurring, first)
            if m < 0:
                continue
            last = min(end_user, self.close_day[m], first + int(rng.exponential(RECURRING_LIFE)))
            months = pd.date_range(self.days[first].to_period("M").to_timestamp(), self.days[-1], freq="MS")
            dom = rng.integers(1, 29)
            day = ((months - self.days[0]).days.to_numpy() + dom - 1 + (rng.random(len(months)) < 0.2))
            day = day[(day >= first) & (day < last)]
            if not len(day):
                continue
            bill = CATEGORY_NAMES[self.m_cat[m]] == "utilities"
            base = draw_amounts(rng, self.m_mcc[[m]], self._income_factor(u) * self.level[day[:1]])[0]
            amount = base * (1.03 ** ((day - day[0]) // 365)) * (rng.lognormal(0, 0.08, len(day)) if bill else 1)
            night = rng.random(len(day)) < 0.45  # billing runs are often overnight
            hour = np.where(night, rng.integers(0, 6, len(day)), rng.integers(6, 24, len(day)))
            rows.append({"minute": day * 1440 + hour * 60 + rng.integers(0, 60, len(day)),
                         "merchant_row": np.full(len(day), m), "amount": np.round(amount, 2),
                         "card_row": np.full(len(day), self._choose_cards(user, day[:1])[0])})
        if not rows:
            return None
        return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}

    @staticmethod
    def _income_factor(u: pd.Series) -> float:
        return LEGIT_AMOUNT_SCALE * (u.yearly_income / 50000) ** 0.2

    def user_transactions(self, user: int) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
        """One user's legitimate transactions (column arrays) and true merchant affinity (rows)."""
        rng, pop = self.rng, self.pop
        u = pop.users.iloc[user]
        minute, session, s_day = self._sessions(u)
        s_online = rng.random(len(s_day)) < u.online_share
        s_card = self._choose_cards(user, s_day)
        s_place = self._trip_days(u)[s_day]
        day = np.minimum(minute // 1440, self.n_days - 1)
        online, card, place = s_online[session], s_card[session], s_place[session]

        first_day = int(u.start_day)
        rep_l = self._repertoire(user, self._local_candidates(u.home_city), 15 + rng.poisson(20), first_day)
        rep_o = self._repertoire(user, self.m_online, 4 + rng.poisson(8), first_day)
        merchant = np.empty(len(minute), dtype=np.int64)
        merchant[online] = self._pick(day[online], rep_o, EXPLORE_ONLINE)
        home = ~online & ((place < 0) | (rng.random(len(minute)) < HOME_WHILE_AWAY))
        merchant[home] = self._pick(day[home], rep_l, EXPLORE_LOCAL)
        away = ~online & ~home
        merchant[away] = self._trip_merchants(place[away], day[away])

        income_factor = self._income_factor(u)
        amount = draw_amounts(rng, self.m_mcc[merchant], income_factor * self.level[day])
        refund = rng.random(len(minute)) < self.refund_rate[self.m_cat[merchant]] * 1.4
        amount = np.where(refund, -amount, amount)
        rec = self._recurring(user, u)
        if rec is not None:
            minute, merchant = np.r_[minute, rec["minute"]], np.r_[merchant, rec["merchant_row"]]
            amount, card = np.r_[amount, rec["amount"]], np.r_[card, rec["card_row"]]
            online = np.r_[online, np.ones(len(rec["minute"]), bool)]
            day = np.minimum(minute // 1440, self.n_days - 1)
        n = len(minute)
        c = pop.cards.loc[card]
        channel = choose_channel(rng, online, c["has_chip"].to_numpy() == "YES", day >= u.chip_day)
        errors = draw_errors(rng, n, {"Insufficient Balance": np.exp(0.8 * u.financial_stress) / 1.6})

        cols = {"minute": minute, "client_id": np.full(n, user), "card_row": card, "merchant_row": merchant,
                "amount": amount, "channel": channel, "errors": errors}
        last_day = self.n_days - 1 if np.isnan(u.churn_day) else int(u.churn_day) - 1
        affinity = self._affinity(user, u.online_share, rep_l, rep_o, max(last_day, first_day))
        return cols, affinity

    def _choose_cards(self, user: int, day: np.ndarray) -> np.ndarray:
        rows = self.cards_by_client[user]
        cards = self.pop.cards.loc[rows]
        w = cards["use_weight"].to_numpy()[None, :] * (cards["open_day"].to_numpy()[None, :] <= day[:, None])
        w[w.sum(axis=1) == 0, 0] = 1.0
        cum = np.cumsum(w, axis=1)
        pick = (self.rng.random(len(day))[:, None] * cum[:, -1:] > cum).sum(axis=1)
        return rows[pick]

    def _affinity(self, user: int, online_share: float, local: Repertoire, online: Repertoire,
                  day: int) -> pd.DataFrame:
        """P(the user's next at-home purchase is at merchant j) on the user's last day: the slots' merchants of that
        day and the likeliest other merchants open then."""
        parts = []
        for rep, explore, weight in ((local, EXPLORE_LOCAL, 1 - online_share), (online, EXPLORE_ONLINE, online_share)):
            habit = rep.at(np.arange(len(rep.slot_p)), np.full(len(rep.slot_p), day))
            exp_p = rep.exp_p * self.is_open(rep.cand, day)
            exp_p = exp_p / exp_p.sum() if exp_p.sum() > 0 else rep.exp_p
            top = rep.cand[np.argsort(-exp_p)[:TOP_EXPLORE]]
            keep = np.union1d(habit, top)
            p = explore * pd.Series(exp_p, index=rep.cand).reindex(keep).to_numpy()
            p += (1 - explore) * pd.Series(rep.slot_p, index=habit).groupby(level=0).sum().reindex(
                keep, fill_value=0.0).to_numpy()
            parts.append(pd.DataFrame({"merchant_row": keep, "affinity": weight * p}))
        aff = pd.concat(parts).groupby("merchant_row", as_index=False)["affinity"].sum()
        aff.insert(0, "client_id", user)
        return aff

    def generate(self, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        """All active users' legitimate transactions (within the data's period) and the affinity oracle."""
        users = np.flatnonzero(self.pop.users["active"].to_numpy())
        chunks, affinities = [], []
        for user in tqdm(users, desc="users", disable=not progress, leave=False):
            cols, aff = self.user_transactions(int(user))
            chunks.append(cols)
            affinities.append(aff)
        tx = pd.DataFrame({k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})
        tx = tx[tx["minute"] < self.n_days * 1440].reset_index(drop=True)  # sessions running past the end are cut
        tx = tx.astype({"minute": np.int32, "client_id": np.int32, "card_row": np.int32, "merchant_row": np.int32,
                        "channel": np.int8, "errors": np.int16})
        tx["scenario"] = LEGIT
        return tx, pd.concat(affinities, ignore_index=True)


class Repertoire:
    """Habitual merchants over time: slot k holds merchants[k][i] from day starts[k][i]; slot_p are the slots' choice
    probabilities; cand / exp_p the candidates and their probabilities for exploring."""

    def __init__(self, slot_p, starts, merchants, cand, exp_p):
        self.slot_p, self.starts, self.merchants, self.cand, self.exp_p = slot_p, starts, merchants, cand, exp_p

    def at(self, slot: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The merchant of each (slot, day)."""
        out = np.empty(len(slot), dtype=np.int64)
        for k in np.unique(slot):
            idx = np.flatnonzero(slot == k)
            pos = np.searchsorted(self.starts[k], day[idx], "right") - 1
            out[idx] = self.merchants[k][np.maximum(pos, 0)]
        return out

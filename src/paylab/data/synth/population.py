"""Who transacts where: users, cards and merchants with their latent traits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from paylab.data.synth.reference import CATEGORIES, CATEGORY_NAMES, FOREIGN_CITIES, MCCS, SEGMENTS, US_CITIES
from paylab.data.synth.scales import ACTIVE_SHARE, REFERENCE_YEAR, Scale

LATENT_DIM = 4
MONTH_DAYS = 30.44
MERCHANT_OPENINGS = 0.045  # per year of data, new merchants as a share of all merchants (capped at 45%)
MERCHANT_CLOSE_RATE = 0.04  # yearly hazard of a merchant closing
_STREETS = ["Rose", "Oak", "Maple", "Cedar", "Pine", "Elm", "Lake", "Hill", "Park", "Main", "Washington",
            "Lincoln", "Sunset", "River", "Spruce", "Birch", "Willow", "Highland", "Forest", "Valley"]
_SUFFIXES = ["Lane", "Street", "Avenue", "Drive", "Boulevard", "Court", "Way", "Road"]


@dataclass
class Population:
    """Users (public columns + latents), cards, merchants and the latent vectors behind affinity."""

    users: pd.DataFrame
    cards: pd.DataFrame
    merchants: pd.DataFrame
    prefs: np.ndarray  # users x categories, category preference (rows sum to 1)
    user_vec: np.ndarray  # users x LATENT_DIM
    merchant_vec: np.ndarray  # merchants x LATENT_DIM


def make_population(rng: np.random.Generator, scale: Scale) -> Population:
    users, prefs, user_vec = _make_users(rng, scale)
    cards = _make_cards(rng, users, scale)
    users["num_credit_cards"] = cards.groupby("client_id").size().reindex(users["id"]).to_numpy()
    merchants, merchant_vec = _make_merchants(rng, scale)
    return Population(users, cards, merchants, prefs, user_vec, merchant_vec)


def _make_users(rng: np.random.Generator, scale: Scale) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    n, n_days = scale.n_users, len(scale.days)
    names = list(SEGMENTS)
    seg_idx = rng.choice(len(names), size=n, p=[SEGMENTS[s]["share"] for s in names])
    seg = [SEGMENTS[names[i]] for i in seg_idx]

    lo = np.array([s["age"][0] for s in seg])
    hi = np.array([s["age"][1] for s in seg])
    age = rng.integers(lo, hi + 1)
    stress = np.array([s["stress"] for s in seg]) + rng.normal(0, 0.5, n)
    income = np.round(np.array([s["income"] for s in seg]) * rng.lognormal(0, 0.35, n))
    debt_ratio = np.exp(rng.normal(0.2 + 0.5 * stress, 0.6)) * (rng.random(n) > 0.1)
    credit_score = np.clip(np.round(710 - 55 * stress + 25 * np.log(income / 50000) + rng.normal(0, 40, n)),
                           480, 850)

    cities = US_CITIES[: scale.n_cities]
    city_w = np.array([c[5] for c in cities])
    home = rng.choice(len(cities), size=n, p=city_w / city_w.sum())

    active = rng.random(n) < ACTIVE_SHARE
    start_day = np.where(rng.random(n) < 0.85, 0, rng.integers(0, int(n_days * 0.8), n))
    hazard = 0.012 * np.array([s["churn"] for s in seg]) * np.exp(rng.normal(0, 0.4, n))
    hazard *= 1 + 0.3 * np.clip(stress, 0, None)
    churn_day = start_day + rng.exponential(MONTH_DAYS / hazard)
    churn_day = np.where(churn_day < n_days, np.floor(churn_day), np.nan)
    churned = ~np.isnan(churn_day)
    churn_date = pd.Series(pd.Timestamp(scale.start) + pd.to_timedelta(np.where(churned, churn_day, 0), unit="D"))
    churn_date = churn_date.where(churned)

    alpha = np.array([s["prefs"] for s in seg], dtype=float)
    prefs = np.vstack([rng.dirichlet(a * 3.0) for a in alpha])
    user_vec = rng.normal(0, 0.6, (n, LATENT_DIM))

    users = pd.DataFrame({
        "id": np.arange(n),
        "current_age": age,
        "retirement_age": rng.integers(62, 71, n),
        "birth_year": REFERENCE_YEAR - age,
        "birth_month": rng.integers(1, 13, n),
        "gender": np.where(rng.random(n) < 0.51, "Female", "Male"),
        "address": [f"{num} {st} {sf}" for num, st, sf in zip(
            rng.integers(1, 9999, n), rng.choice(_STREETS, n), rng.choice(_SUFFIXES, n), strict=True)],
        "latitude": np.round(np.array([cities[h][2] for h in home]) + rng.normal(0, 0.04, n), 2),
        "longitude": np.round(np.array([cities[h][3] for h in home]) + rng.normal(0, 0.04, n), 2),
        "per_capita_income": np.round(income * rng.uniform(0.45, 0.65, n)),
        "yearly_income": income,
        "total_debt": np.round(income * debt_ratio),
        "credit_score": credit_score.astype(int),
        # latents (not written to users_data.csv)
        "segment": [names[i] for i in seg_idx],
        "active": active,
        "financial_stress": stress,
        "home_city": home,
        "rate": scale.daily_rate * rng.lognormal(-0.125, 0.5, n),
        "online_share": np.clip(np.array([s["online"] for s in seg]) * rng.lognormal(0, 0.3, n), 0.01, 0.6),
        "hours": [s["hours"] for s in seg],
        "trips_per_year": np.array([s["trips"] for s in seg]) * rng.lognormal(0, 0.4, n),
        "weekend_factor": rng.uniform(0.85, 1.3, n),
        "start_day": start_day,
        "churn_hazard": hazard,
        "churn_day": churn_day,
        "churn_date": churn_date,
        "chip_day": (pd.Timestamp("2015-10-01") - pd.to_datetime(scale.start)).days
        + rng.normal(60, 150, n).round(),
    })
    return users, prefs, user_vec


def _luhn_complete(prefix_digits: np.ndarray) -> np.ndarray:
    """Append the Luhn check digit to each row of digits (all rows the same length)."""
    digits = prefix_digits[:, ::-1].copy()
    doubled = digits[:, 0::2] * 2
    digits[:, 0::2] = np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - digits.sum(axis=1) % 10) % 10
    return np.hstack([prefix_digits, check[:, None]])


def _card_numbers(rng: np.random.Generator, brands: np.ndarray) -> np.ndarray:
    first = {"Visa": 4, "Mastercard": 5, "Amex": 3, "Discover": 6}
    out = np.empty(len(brands), dtype=np.int64)
    for brand, lead in first.items():
        idx = np.flatnonzero(brands == brand)
        length = 15 if brand == "Amex" else 16
        body = rng.integers(0, 10, (len(idx), length - 1))
        body[:, 0] = lead
        if brand == "Amex":
            body[:, 1] = rng.choice([4, 7], len(idx))
        full = _luhn_complete(body)
        out[idx] = full @ (10 ** np.arange(length - 1, -1, -1, dtype=np.int64))
    return out


def _make_cards(rng: np.random.Generator, users: pd.DataFrame, scale: Scale) -> pd.DataFrame:
    n_cards = 1 + np.minimum(rng.poisson(2.07, len(users)), 8)
    client = np.repeat(users["id"].to_numpy(), n_cards)
    n = len(client)
    u = users.set_index("id").loc[client]
    brand = rng.choice(["Mastercard", "Visa", "Amex", "Discover"], n, p=[0.52, 0.38, 0.07, 0.03])
    ctype = rng.choice(["Debit", "Credit", "Debit (Prepaid)"], n, p=[0.58, 0.34, 0.08])

    # months since 1990-01; the first card of a user is open before the user's first transaction
    start_month = (pd.Timestamp(scale.start).year - 1990) * 12 + u["start_day"].to_numpy() // 30
    adult_month = np.maximum((u["birth_year"].to_numpy() + 18 - 1990) * 12, 12)
    open_month = np.floor(adult_month + rng.random(n) * np.maximum(start_month + 24 - adult_month, 1))
    first = np.r_[True, client[1:] != client[:-1]]
    open_month = np.where(first, np.minimum(open_month, start_month - 1), open_month).astype(int)
    expire_month = open_month + rng.integers(36, 121, n)

    income = u["yearly_income"].to_numpy()
    score = u["credit_score"].to_numpy()
    limit = np.where(ctype == "Credit", income * rng.uniform(0.1, 0.45, n) * (score / 700) ** 2,
                     income * rng.uniform(0.15, 0.55, n))
    limit = np.where(ctype == "Debit (Prepaid)", rng.integers(0, 150, n), limit)
    limit = np.where(rng.random(n) < 0.005, 0, np.round(limit))
    open_year = 1990 + open_month // 12
    pin_year = np.minimum(open_year + rng.integers(0, 12, n), REFERENCE_YEAR + 1)

    cards = pd.DataFrame({
        "id": rng.permutation(n),
        "client_id": client,
        "card_brand": brand,
        "card_type": ctype,
        "card_number": _card_numbers(rng, brand),
        "expires": _month_str(expire_month),
        "cvv": rng.integers(1, 1000, n),
        "has_chip": np.where(rng.random(n) < 0.89, "YES", "NO"),
        "num_cards_issued": rng.choice([1, 2, 3], n, p=[0.5, 0.45, 0.05]),
        "credit_limit": limit.astype(int),
        "acct_open_date": _month_str(open_month),
        "year_pin_last_changed": pin_year,
        "card_on_dark_web": "No",
        # latents
        "open_day": (pd.to_datetime(_month_str(open_month), format="%m/%Y") - pd.Timestamp(scale.start)).days,
        "use_weight": rng.dirichlet(np.ones(n)) * n * np.where(ctype == "Debit (Prepaid)", 0.15, 1.0),
    })
    return cards


def reissue_cards(rng: np.random.Generator, cards: pd.DataFrame, original: np.ndarray, days: np.ndarray,
                  rows: np.ndarray, start: str) -> pd.DataFrame:
    """Replacement cards issued on `days` (from the scale's start) for blocked cards whose original card rows are
    `original`: new id, number, CVV, expiry and PIN year; same client, brand, type, chip and account. Indexed `rows`."""
    old = cards.loc[original]
    n = len(old)
    new = old.copy()
    new.index = rows
    new["id"] = cards["id"].max() + 1 + np.arange(n)
    new["card_number"] = _card_numbers(rng, old["card_brand"].to_numpy())
    new["cvv"] = rng.integers(1, 1000, n)
    issue = pd.Timestamp(start) + pd.to_timedelta(days, unit="D")
    issue_month = (issue.year.to_numpy() - 1990) * 12 + issue.month.to_numpy() - 1
    new["expires"] = _month_str(issue_month + rng.integers(36, 61, n))
    generation = pd.Series(original).groupby(original).cumcount().to_numpy() + 1
    new["num_cards_issued"] = old["num_cards_issued"].to_numpy() + generation
    new["year_pin_last_changed"] = issue.year.to_numpy()
    new["open_day"] = days
    return new


def _month_str(months_since_1990: np.ndarray) -> np.ndarray:
    year = 1990 + months_since_1990 // 12
    month = months_since_1990 % 12 + 1
    return np.char.add(np.char.add(np.char.zfill(month.astype(str), 2), "/"), year.astype(str))


def _make_merchants(rng: np.random.Generator, scale: Scale) -> tuple[pd.DataFrame, np.ndarray]:
    n = scale.n_merchants
    cat = rng.choice(len(CATEGORIES), n, p=[c[1] for c in CATEGORIES])
    codes_by_cat = {i: [m for m, v in MCCS.items() if v[1] == name] for i, name in enumerate(CATEGORY_NAMES)}
    pick = rng.integers(0, 1_000_000, n)
    mcc = np.array([codes_by_cat[c][k % len(codes_by_cat[c])] for c, k in zip(cat, pick, strict=True)])
    online = rng.random(n) < np.array([CATEGORIES[c][2] for c in cat])
    foreign = ~online & (rng.random(n) < 0.03)

    cities = US_CITIES[: scale.n_cities]
    w = np.array([c[5] for c in cities]) ** 0.8 + 0.3
    city = rng.choice(len(cities), n, p=w / w.sum())
    foreign_city = rng.integers(0, len(FOREIGN_CITIES), n)
    us_city = np.array([c[0] for c in cities])[city]
    us_state = np.array([c[1] for c in cities])[city]
    zip_code = np.array([c[4] for c in cities])[city] + rng.integers(0, 60, n)

    n_days = len(scale.days)
    new = rng.random(n) < min(0.45, MERCHANT_OPENINGS * n_days / 365.25)
    open_day = np.where(new, rng.integers(0, n_days, n), -1)
    close_day = np.maximum(open_day, 0) + np.floor(rng.exponential(365.25 / MERCHANT_CLOSE_RATE, n)).astype(int)

    merchants = pd.DataFrame({
        "merchant_id": np.sort(rng.choice(100_500, n, replace=False)),
        "mcc": mcc,
        "category": cat,
        "online": online,
        "foreign": foreign,
        "city_idx": np.where(online | foreign, -1, city),
        "foreign_idx": np.where(foreign, foreign_city, -1),
        "merchant_city": np.where(online, "ONLINE",
                                  np.where(foreign, np.array([c[0] for c in FOREIGN_CITIES])[foreign_city],
                                           us_city)),
        "merchant_state": np.where(online, None,
                                   np.where(foreign, np.array([c[1] for c in FOREIGN_CITIES])[foreign_city],
                                            us_state)),
        "zip": np.where(online | foreign, np.nan, zip_code.astype(float)),
        "popularity": rng.lognormal(0, 1.2, n),
        # latents: days (from the scale's start) the merchant opens and closes; -1 = open before the data starts
        "open_day": open_day,
        "close_day": close_day,
    })
    merchant_vec = rng.normal(0, 0.6, (n, LATENT_DIM))
    return merchants, merchant_vec

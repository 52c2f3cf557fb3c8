"""Interim-shaped tables (docs/DATA.md) for the feature tests: random ones with ties, all three labels, refunds and
errors (`make_interim`); hand-written rows (`make_rows`) and the compromised-merchant case with its expected risk."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

_STATES = ["CA", "TX", "NY", "FL", "IL", "OH", "WA", "ND", "IA", "Italy", "Canada"]
_ERRORS = ["Bad CVV", "Bad Card Number", "Bad Expiration", "Bad PIN", "Bad Zipcode", "Insufficient Balance",
           "Technical Glitch"]
_ERROR_COLS = ["err_bad_cvv", "err_bad_card_number", "err_bad_expiration", "err_bad_pin", "err_bad_zipcode",
               "err_insufficient_balance", "err_technical_glitch"]


def make_interim(n_rows: int = 20_000, n_cards: int = 300, seed: int = 0, days: int = 365) -> dict[str, pl.DataFrame]:
    """Random transactions/cards/users following the interim contract, with ties and all three labels."""
    rng = np.random.default_rng(seed)
    n_clients = max(1, n_cards // 2)
    card_client = rng.integers(0, n_clients, n_cards)
    n_merchants = max(10, n_rows // 40)
    merchant_mcc = rng.choice(np.arange(5000, 5040), n_merchants)
    merchant_state = rng.choice(len(_STATES), n_merchants, p=_state_probs())
    merchant_online = rng.random(n_merchants) < 0.2

    card = rng.choice(n_cards, n_rows, p=_zipf(n_cards, rng))
    minutes = np.sort(rng.integers(0, days * 1440, n_rows))
    minutes = _with_ties(minutes, rng)
    same = np.flatnonzero(np.diff(minutes) == 0) + 1
    burst = same[rng.random(same.size) < 0.5]
    card[burst] = card[burst - 1]  # the same card twice in one minute: ties inside a card's history
    # a card reuses its recent merchants most of the time
    merchant = rng.integers(0, n_merchants, n_rows)
    home = rng.integers(0, n_merchants, (n_cards, 8))
    reuse = rng.random(n_rows) < 0.7
    merchant[reuse] = home[card[reuse], rng.integers(0, 8, reuse.sum())]
    online = merchant_online[merchant]
    chip = ~online & (rng.random(n_rows) < 0.6)
    amount = np.round(rng.lognormal(3.3, 1.0, n_rows), 2)
    amount[rng.random(n_rows) < 0.03] *= -1
    amount[rng.random(n_rows) < 0.01] = 10.0  # repeated values: zero-variance histories
    err_hits = rng.random((n_rows, len(_ERRORS))) < 0.01
    labels = np.where(rng.random(n_rows) < 0.3, "unlabeled", np.where(rng.random(n_rows) < 0.03, "fraud", "legit"))
    state = np.array(_STATES, dtype=object)[merchant_state[merchant]]
    state[online] = None
    city = np.where(online, "ONLINE", np.char.add("City", (merchant % 97).astype(str)))
    errors = np.full(n_rows, None, dtype=object)
    for i in np.flatnonzero(err_hits.any(axis=1)):
        errors[i] = ",".join(e for e, hit in zip(_ERRORS, err_hits[i], strict=True) if hit)

    start = datetime(2015, 1, 1)
    tx = pl.DataFrame({
        "transaction_id": np.arange(1_000_000, 1_000_000 + n_rows, dtype=np.int64),
        "timestamp": pl.Series(minutes.astype("int64") * 60_000_000).cast(pl.Duration("us")) + start,
        "client_id": card_client[card].astype(np.int64) + 100,
        "card_id": card.astype(np.int64) + 5000,
        "merchant_id": merchant.astype(np.int64) + 10_000,
        "amount": amount,
        "channel": np.where(online, "online", np.where(chip, "chip", "swipe")),
        "merchant_city": city,
        "merchant_state": pl.Series(state.tolist(), dtype=pl.String),
        "zip": None,
        "mcc": merchant_mcc[merchant].astype(np.int32),
        "errors": pl.Series(errors.tolist(), dtype=pl.String),
        **{col: err_hits[:, i] for i, col in enumerate(_ERROR_COLS)},
        "is_online": online,
        "is_international": np.isin(state, ["Italy", "Canada"]) & ~online,
        "is_refund": amount < 0,
        "label": labels,
    }, schema_overrides={"zip": pl.String})
    # shuffle ids within a timestamp so that (timestamp, id) order differs from insertion order
    tx = tx.with_columns(pl.col("transaction_id").shuffle(seed).over("timestamp")).sort("timestamp", "transaction_id")
    return {"transactions": tx, "cards": _cards(n_cards, card_client, rng), "users": _users(n_clients, rng)}


def write_interim(out_dir: Path, tables: dict[str, pl.DataFrame] | None = None, **kwargs) -> Path:
    """Write `tables` (default: make_interim(**kwargs)) as interim parquet files into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in (make_interim(**kwargs) if tables is None else tables).items():
        frame.write_parquet(out_dir / f"{name}.parquet")
    return out_dir


def make_rows(rows: list[dict]) -> dict[str, pl.DataFrame]:
    """Hand-written transactions: each dict sets some columns (timestamp, transaction_id, merchant_id, label, ...) of
    an otherwise valid interim row; cards and users from a small make_interim (card_id 5000.., client_id 100..)."""
    base = make_interim(n_rows=max(50, len(rows)), n_cards=3, seed=3)
    tx = base["transactions"].head(len(rows)).with_columns(pl.lit(5000, pl.Int64).alias("card_id"),
                                                           pl.lit(base["cards"]["client_id"][0]).alias("client_id"))
    columns = {c: [r.get(c, v) for r, v in zip(rows, tx[c].to_list(), strict=True)] for c in tx.columns}
    tx = pl.DataFrame(columns, schema=tx.schema).sort("timestamp", "transaction_id")
    return {**base, "transactions": tx}


def _day(d: float, hour: int) -> datetime:
    return datetime(2016, 3, 1) + timedelta(days=d, hours=hour)


def compromised_merchant() -> dict[str, pl.DataFrame]:
    """Merchant 1 (MCC 5411) has 2 frauds, 1 legit and 1 unlabeled payment on day 0; merchant 2 (same MCC) 1 fraud;
    transactions 6-9 then pay at merchant 1 on days 6-15 (unlabeled)."""
    m1, m2 = {"merchant_id": 1, "mcc": 5411}, {"merchant_id": 2, "mcc": 5411}
    return make_rows([
        {"transaction_id": 1, "timestamp": _day(0, 10), **m1, "label": "fraud"},
        {"transaction_id": 2, "timestamp": _day(0, 11), **m1, "label": "fraud"},
        {"transaction_id": 3, "timestamp": _day(0, 12), **m1, "label": "legit"},
        {"transaction_id": 4, "timestamp": _day(0, 12.5), **m1, "label": "unlabeled"},
        {"transaction_id": 5, "timestamp": _day(0, 13), **m2, "label": "fraud"},
        {"transaction_id": 6, "timestamp": _day(6, 23), **m1, "label": "unlabeled"},
        {"transaction_id": 7, "timestamp": _day(7, 11), **m1, "label": "unlabeled"},
        {"transaction_id": 8, "timestamp": _day(8, 10), **m1, "label": "unlabeled"},
        {"transaction_id": 9, "timestamp": _day(15, 11), **m1, "label": "unlabeled"},
    ])


# transaction_id -> window -> (nfraud, nlabeled, rate) of merchant 1 and of MCC 5411 (delay 7 d: the window of a
# payment at t holds known labels in (t - 7d - w, t - 7d]; both ends matter: 7 and 8 sit on them)
COMPROMISED_MERCHANT = {
    6: {w: ((0, 0, None), (0, 0, None)) for w in ("1d", "7d", "30d", "90d")},
    7: {w: ((2, 2, 1.0), (2, 2, 1.0)) for w in ("1d", "7d", "30d", "90d")},  # 2 of 2: not 200 of 200
    8: {"1d": ((1, 2, 0.5), (2, 3, 2 / 3)), **{w: ((2, 3, 2 / 3), (3, 4, 0.75)) for w in ("7d", "30d", "90d")}},
    9: {**{w: ((0, 0, None), (0, 0, None)) for w in ("1d", "7d")},
        **{w: ((2, 3, 2 / 3), (3, 4, 0.75)) for w in ("30d", "90d")}},
}


def assert_compromised_merchant(features: pl.DataFrame) -> None:
    rows = {r["transaction_id"]: r for r in features.iter_rows(named=True)}
    for tid, windows in COMPROMISED_MERCHANT.items():
        for window, expected in windows.items():
            for entity, want in zip(("merchant", "mcc"), expected, strict=True):
                got = tuple(rows[tid][f"{entity}_risk_{stat}_{window}"] for stat in ("nfraud", "nlabeled", "rate"))
                assert got == pytest.approx(want), (tid, entity, window)


def _with_ties(minutes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dup = np.flatnonzero(rng.random(minutes.size - 1) < 0.05) + 1
    minutes = minutes.copy()
    minutes[dup] = minutes[dup - 1]
    return np.maximum.accumulate(minutes)


def _zipf(n: int, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** 0.8
    rng.shuffle(w)
    return w / w.sum()


def _state_probs() -> np.ndarray:
    p = np.array([10, 8, 8, 6, 5, 5, 4, 3, 3, 1, 1], dtype=float)
    return p / p.sum()


def _cards(n_cards: int, card_client: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    months = rng.integers(0, 240, n_cards)
    open_dates = [datetime(1998 + m // 12, m % 12 + 1, 1).date() for m in months]
    exp = rng.integers(0, 180, n_cards)
    expires = [datetime(2012 + m // 12, m % 12 + 1, 1).date() for m in exp]
    limit = np.round(rng.lognormal(9, 1, n_cards))
    limit[rng.random(n_cards) < 0.05] = 0.0
    return pl.DataFrame({
        "card_id": np.arange(n_cards, dtype=np.int64) + 5000,
        "client_id": card_client.astype(np.int64) + 100,
        "card_brand": rng.choice(["Visa", "Mastercard", "Amex", "Discover"], n_cards),
        "card_type": rng.choice(["Debit", "Credit", "Debit (Prepaid)"], n_cards),
        "card_number": [str(x) for x in rng.integers(10**15, 10**16 - 1, n_cards)],
        "expires": expires,
        "cvv": rng.integers(100, 999, n_cards),
        "has_chip": rng.random(n_cards) < 0.9,
        "num_cards_issued": rng.integers(1, 4, n_cards),
        "credit_limit": limit,
        "acct_open_date": open_dates,
        "year_pin_last_changed": rng.integers(2005, 2020, n_cards),
        "card_on_dark_web": np.zeros(n_cards, dtype=bool),
    })


def _users(n_clients: int, rng: np.random.Generator) -> pl.DataFrame:
    income = np.round(rng.lognormal(10.8, 0.5, n_clients))
    income[rng.random(n_clients) < 0.03] = 0.0
    birth_year = rng.integers(1940, 2000, n_clients)
    return pl.DataFrame({
        "client_id": np.arange(n_clients, dtype=np.int64) + 100,
        "current_age": 2020 - birth_year,
        "retirement_age": rng.integers(60, 70, n_clients),
        "birth_year": birth_year,
        "birth_month": rng.integers(1, 13, n_clients),
        "gender": rng.choice(["Female", "Male"], n_clients),
        "address": [f"{i} Main St" for i in range(n_clients)],
        "latitude": np.round(rng.uniform(25, 48, n_clients), 2),
        "longitude": np.round(rng.uniform(-122, -70, n_clients), 2),
        "per_capita_income": np.round(income * 0.5),
        "yearly_income": income,
        "total_debt": np.round(rng.lognormal(10, 1.5, n_clients)),
        "credit_score": rng.integers(480, 850, n_clients),
        "num_credit_cards": rng.integers(1, 9, n_clients),
    })

"""A daily OHLCV panel with market and sector factors, regimes and a small planted predictable component."""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab.data.synth.scales import Scale

SECTORS = ["Technology", "Financials", "Health Care", "Consumer Discretionary", "Consumer Staples", "Energy",
           "Industrials", "Materials", "Utilities", "Communication Services"]
# regimes: calm and stressed markets (daily mean, daily vol) and the chance of switching each day
REGIMES = np.array([[0.0005, 0.008], [-0.0008, 0.02]])
SWITCH = np.array([0.01, 0.04])
SIGNAL_STRENGTH = 0.06  # expected next-day return per unit of signal, in units of idiosyncratic vol


def _tickers(rng: np.random.Generator, n: int) -> list[str]:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    seen: list[str] = []
    while len(seen) < n:
        t = "".join(rng.choice(letters, rng.integers(3, 5)))
        if t not in seen:
            seen.append(t)
    return seen


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def make_prices(rng: np.random.Generator, scale: Scale) -> tuple[pd.DataFrame, pd.DataFrame]:
    """prices.csv rows and the oracle: E[next close-to-close return] for each (date, ticker)."""
    dates = pd.bdate_range(scale.price_start, scale.end)
    n_t, n_d = scale.n_tickers, len(dates)
    sector = rng.integers(0, len(SECTORS), n_t)
    beta = rng.normal(1.0, 0.3, n_t)
    gamma = rng.normal(1.0, 0.2, n_t)
    idio_vol = rng.uniform(0.01, 0.025, n_t)

    regime = np.zeros(n_d, dtype=int)
    for t in range(1, n_d):
        stay = rng.random() >= SWITCH[regime[t - 1]]
        regime[t] = regime[t - 1] if stay else 1 - regime[t - 1]
    mkt = rng.normal(REGIMES[regime, 0], REGIMES[regime, 1])
    sec = rng.normal(0, 0.006, (n_d, len(SECTORS))) * (1 + regime[:, None])
    next_mkt_mean = (1 - SWITCH[regime]) * REGIMES[regime, 0] + SWITCH[regime] * REGIMES[1 - regime, 0]

    ret = np.zeros((n_d, n_t))
    idio = np.zeros((n_d, n_t))
    planted = np.zeros((n_d, n_t))  # part of ret[t + 1] known at t
    for t in range(n_d):
        idio[t] = rng.normal(0, idio_vol)
        carried = planted[t - 1] if t else 0.0
        ret[t] = beta * mkt[t] + gamma * sec[t, sector] + idio[t] + carried
        if t >= 60:
            reversal = -_zscore(idio[t - 4:t + 1].sum(axis=0))
            momentum = _zscore(ret[t - 60:t - 4].sum(axis=0))
            planted[t] = SIGNAL_STRENGTH * idio_vol * (0.6 * reversal + 0.4 * momentum)
    expected = planted + beta * next_mkt_mean[:, None]

    close = rng.uniform(20, 300, n_t) * np.cumprod(1 + ret, axis=0)
    prev = np.vstack([close[:1] / (1 + ret[0]), close[:-1]])
    open_ = prev * (1 + ret * rng.uniform(0.2, 0.6, ret.shape))
    total_vol = np.sqrt(beta**2 * 0.01**2 + idio_vol**2)
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.4 * total_vol, ret.shape)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.4 * total_vol, ret.shape)))
    volume = np.round(rng.lognormal(13, 1, n_t) * rng.lognormal(0, 0.25, ret.shape) * (1 + 8 * np.abs(ret) / total_vol))

    tickers = np.array(_tickers(rng, n_t))
    long = {"date": np.repeat(dates.strftime("%Y-%m-%d").to_numpy(), n_t), "ticker": np.tile(tickers, n_d)}
    prices = pd.DataFrame({
        **long, "sector": np.tile(np.array(SECTORS)[sector], n_d),
        "open": open_.ravel().round(2), "high": high.ravel().round(2), "low": low.ravel().round(2),
        "close": close.ravel().round(2), "volume": volume.ravel().astype(np.int64),
    })
    oracle = pd.DataFrame({"date": pd.to_datetime(long["date"]), "ticker": long["ticker"],
                           "expected_return": expected.ravel()})
    return prices, oracle

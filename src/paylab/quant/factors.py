"""Alpha158-style factors from each ticker's own past rows (a halted day is no row, so windows count trading days).

k-bar shape (KMID, KLEN, KMID2, KUP, KLOW, KSFT) and, over each window w: rate of change (ROC), reversal (REV),
moving average and volatility (MA, STD), range position (MAX, MIN, RSV), price-volume correlation (CORR, CORD),
volume ratios (VMA, VSTD, WVMA), volume-weighted price (VWAP) and skip-recent momentum (MOM<w>_5). Every value at
date t reads rows dated <= t only (rolling windows end at t; no centring, no backfill).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

EPS = 1e-12


def _kbar(o, h, l, c) -> dict[str, pd.Series]:  # noqa: E741 (l = low, as in Alpha158)
    return {
        "KMID": (c - o) / o, "KLEN": (h - l) / o, "KMID2": (c - o) / (h - l + EPS),
        "KUP": (h - np.maximum(o, c)) / o, "KLOW": (np.minimum(o, c) - l) / o, "KSFT": (2 * c - h - l) / o,
    }


def _ticker_factors(d: pd.DataFrame, windows: Sequence[int]) -> pd.DataFrame:
    o, h, l, c, v = (d[k] for k in ("open", "high", "low", "close", "volume"))  # noqa: E741
    ret = c / c.shift(1) - 1
    logv = np.log1p(v)
    dlogv = np.log1p(v / v.shift(1).replace(0, np.nan))
    absv = ret.abs() * v
    out = _kbar(o, h, l, c)
    for w in windows:
        mp = w  # a full window of the ticker's own rows
        hi, lo = h.rolling(w, mp).max(), l.rolling(w, mp).min()
        out[f"ROC{w}"] = c / c.shift(w) - 1
        out[f"REV{w}"] = -(c / c.shift(w) - 1) if w <= 5 else None
        out[f"MA{w}"] = c.rolling(w, mp).mean() / c
        out[f"STD{w}"] = ret.rolling(w, mp).std()
        out[f"MAX{w}"] = hi / c
        out[f"MIN{w}"] = lo / c
        out[f"RSV{w}"] = (c - lo) / (hi - lo + EPS)
        out[f"CORR{w}"] = c.rolling(w, mp).corr(logv)
        out[f"CORD{w}"] = ret.rolling(w, mp).corr(dlogv)
        out[f"VMA{w}"] = v.rolling(w, mp).mean() / (v + EPS)
        out[f"VSTD{w}"] = v.rolling(w, mp).std() / (v + EPS)
        out[f"WVMA{w}"] = absv.rolling(w, mp).std() / (absv.rolling(w, mp).mean() + EPS)
        out[f"VWAP{w}"] = (c * v).rolling(w, mp).sum() / (v.rolling(w, mp).sum() + EPS) / c
        if w > 5:
            out[f"MOM{w}_5"] = c.shift(5) / c.shift(w) - 1
    frame = pd.DataFrame({k: s for k, s in out.items() if s is not None}, index=d.index)
    return frame.replace([np.inf, -np.inf], np.nan)


def factor_names(windows: Sequence[int]) -> list[str]:
    """The factor columns `compute_factors` returns for these windows, in order."""
    toy = pd.DataFrame({k: np.ones(3) for k in ("open", "high", "low", "close", "volume")})
    return list(_ticker_factors(toy, windows).columns)


def compute_factors(panel: pd.DataFrame, windows: Sequence[int] = (5, 10, 20, 60)) -> pd.DataFrame:
    """Raw factors: one row per panel row (date, ticker, factor columns), from each ticker's past rows only."""
    windows = sorted({int(w) for w in windows})
    if not windows or windows[0] < 2:
        raise ValueError(f"quant windows must be integers >= 2, got {list(windows)}")
    parts = []
    for ticker, d in panel.sort_values(["ticker", "date"], kind="stable").groupby("ticker", sort=True):
        f = _ticker_factors(d.reset_index(drop=True), windows)
        f.insert(0, "ticker", ticker)
        f.insert(0, "date", d["date"].to_numpy())
        parts.append(f)
    return pd.concat(parts, ignore_index=True).sort_values(["date", "ticker"], kind="stable").reset_index(drop=True)


def cross_sectional(frame: pd.DataFrame, columns: Sequence[str], method: str = "rank") -> pd.DataFrame:
    """Per-date normalisation of `columns`: "rank" (percentile rank - 0.5) or "zscore" (clipped at +-3); NaN kept."""
    g = frame.groupby("date", sort=False)[list(columns)]
    if method == "rank":
        values = g.rank(pct=True) - 0.5
    elif method == "zscore":
        values = ((frame[list(columns)] - g.transform("mean")) / g.transform("std").where(lambda s: s > 0)).clip(-3, 3)
    else:
        raise ValueError(f"quant normalise must be 'rank' or 'zscore', got {method!r}")
    out = frame.copy()
    out[list(columns)] = values.astype("float32")
    return out

"""A small vectorised backtester: top-k long-short or long-only portfolios from a daily score, costs per side.

The score of date t (known at t's close) sets weights traded at the next date's close; they earn the label
`ret_1d` of date t (close t+1 -> close t+2). Turnover is sum |w_t - w_{t-1}|; buys pay `cost_bps.buy` and sells
(short sales too) `cost_bps.sell` on the traded weight. Weights can be held for `rebalance_every` days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab.quant.signal import ratio_with_interval

DAYS = 252


def weights(date, ticker, score, top_k: int, mode: str = "long_short", rebalance_every: int = 1) -> pd.DataFrame:
    """dates x tickers target weights: long the top k scores (sum +1), short the bottom k (sum -1) in long_short."""
    if mode not in ("long_short", "long_only"):
        raise ValueError(f"quant backtest mode must be 'long_short' or 'long_only', got {mode!r}")
    s = pd.DataFrame({"date": np.asarray(date), "ticker": np.asarray(ticker), "s": np.asarray(score, dtype=float)})
    s = s.dropna().pivot(index="date", columns="ticker", values="s").sort_index()
    n = s.notna().sum(axis=1)
    k = np.minimum(int(top_k), (n // 2 if mode == "long_short" else n)).clip(lower=1)
    top = s.rank(axis=1, ascending=False, method="first")
    w = (top <= k.to_numpy()[:, None]).astype(float).div(k, axis=0)
    if mode == "long_short":
        bottom = s.rank(axis=1, ascending=True, method="first")
        w = w - (bottom <= k.to_numpy()[:, None]).astype(float).div(k, axis=0)
    w = w.where(s.notna(), 0.0)
    if rebalance_every > 1:
        keep = np.arange(len(w)) % int(rebalance_every) == 0
        w = w.where(pd.Series(keep, index=w.index), np.nan).ffill()
    return w


def backtest(date, ticker, score, returns, top_k: int = 10, mode: str = "long_short", cost_bps=None,
             rebalance_every: int = 1) -> pd.DataFrame:
    """Per date: gross, cost, net return, turnover, and (long-only) the equal-weight universe `benchmark`."""
    cost_bps = {"buy": 5.0, "sell": 15.0, **(cost_bps or {})}
    w = weights(date, ticker, score, top_k, mode, rebalance_every)
    r = pd.DataFrame({"date": np.asarray(date), "ticker": np.asarray(ticker), "r": np.asarray(returns, dtype=float)})
    r = r.pivot(index="date", columns="ticker", values="r").reindex(index=w.index, columns=w.columns)
    gross = (w * r.fillna(0.0)).sum(axis=1)
    dw = w.diff().fillna(w)
    buys, sells = dw.clip(lower=0).sum(axis=1), (-dw).clip(lower=0).sum(axis=1)
    cost = (buys * cost_bps["buy"] + sells * cost_bps["sell"]) / 1e4
    out = pd.DataFrame({"gross": gross, "cost": cost, "net": gross - cost, "turnover": buys + sells})
    out["benchmark"] = r.mean(axis=1).fillna(0.0)
    return out[r.notna().any(axis=1)]


def max_drawdown(returns: pd.Series) -> float:
    """Largest peak-to-trough fall of the compounded equity curve (a negative number, 0 when it never falls)."""
    equity = (1 + returns).cumprod()
    return float((equity / equity.cummax().clip(lower=1.0) - 1).min()) if len(equity) else float("nan")


def performance(returns: pd.Series, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                turnover: pd.Series | None = None) -> tuple[dict[str, float], np.ndarray]:
    """({cumulative_return, annual_return, annual_vol, sharpe, sharpe_ci_low/high, max_drawdown, turnover},
    Sharpe replicates by month blocks for paired differences)."""
    r = returns.dropna()
    sharpe, reps = ratio_with_interval(r.to_numpy(), r.index, n_boot, seed, level, scale=np.sqrt(DAYS))
    years = len(r) / DAYS
    nan = float("nan")
    cumulative = float((1 + r).prod() - 1) if len(r) else nan
    out = {"cumulative_return": cumulative,
           "annual_return": float((1 + cumulative) ** (1 / years) - 1) if years > 0 and cumulative > -1 else nan,
           "annual_vol": float(r.std(ddof=1) * np.sqrt(DAYS)) if len(r) > 1 else float("nan"),
           "sharpe": sharpe["point"], "sharpe_ci_low": sharpe["ci_low"], "sharpe_ci_high": sharpe["ci_high"],
           "max_drawdown": max_drawdown(r), "n_days": int(len(r))}
    if turnover is not None:
        out["turnover"] = float(turnover.reindex(r.index).mean())
    return out, reps

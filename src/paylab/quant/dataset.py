"""Factors + forward-return labels on one (date, ticker) frame.

Label `ret_<h>d` of the row dated t: the return from the close (or open) of the next panel date t+1 to the one h
dates later, t+1+h: one day between the signal (known at t's close) and the trade. NaN when the ticker has no row at
the entry or the exit date.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from paylab.quant.factors import compute_factors, cross_sectional
from paylab.quant.panel import wide


def forward_returns(panel: pd.DataFrame, horizons: Sequence[int], price: str = "close") -> pd.DataFrame:
    """(date, ticker, ret_<h>d ...) with entry at `price` of date t+1 and exit h panel dates later."""
    if price not in ("open", "close"):
        raise ValueError(f"quant label_price must be 'open' or 'close', got {price!r}")
    px = wide(panel, price)
    entry = px.shift(-1)
    labels = {f"ret_{h}d": (px.shift(-1 - int(h)) / entry - 1).stack(future_stack=True) for h in horizons}
    out = pd.DataFrame(labels)
    out.index.names = ["date", "ticker"]
    return out.reset_index()


def label_name(horizon: int) -> str:
    return f"ret_{int(horizon)}d"


def build_dataset(panel: pd.DataFrame, windows: Sequence[int] = (5, 10, 20, 60), horizons: Sequence[int] = (1, 5, 20),
                  label_price: str = "close", normalise: str = "rank") -> tuple[pd.DataFrame, list[str]]:
    """(one frame of date, ticker, the per-date normalised factors and the raw forward-return labels; the factor
    names)."""
    raw = compute_factors(panel, windows)
    names = [c for c in raw.columns if c not in ("date", "ticker")]
    data = cross_sectional(raw, names, normalise)
    labels = forward_returns(panel, horizons, label_price)
    data = data.merge(labels, on=["date", "ticker"], how="left", validate="one_to_one")
    return data, names

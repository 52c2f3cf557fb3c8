"""Load long-format daily prices (CSV or parquet) into a validated panel.

Column names match regardless of case, spaces and underscores (`Adj Close` = `adj_close`); a file without a ticker
column is one ticker named after the file. With an adjusted close, open/high/low/close are scaled by
adj_close / close and volume divided by it, so a split is not a -50% day.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

REQUIRED = ("date", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")
ALIASES = {"adjclose": "adj_close", "adjustedclose": "adj_close", "symbol": "ticker", "asset": "ticker",
           "timestamp": "date", "vol": "volume"}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def normalise_columns(frame: pd.DataFrame, source: str = "prices") -> pd.DataFrame:
    """Rename columns to date, ticker, open, high, low, close, volume, adj_close (others kept, lower-cased)."""
    names = {"date", "ticker", "sector", "open", "high", "low", "close", "volume"}
    mapping = {}
    for col in frame.columns:
        k = _key(col)
        new = ALIASES.get(k, k if k in names else str(col).strip().lower().replace(" ", "_"))
        if new in mapping.values():
            raise ValueError(f"{source}: columns {col!r} and another both mean {new!r}")
        mapping[col] = new
    return frame.rename(columns=mapping)


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"prices file not found: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".txt", ".gz"):
        return pd.read_csv(path)
    raise ValueError(f"{path}: expected a .csv or .parquet file, got suffix {path.suffix!r}")


def validate(frame: pd.DataFrame, source: str = "prices") -> pd.DataFrame:
    """Typed, checked panel sorted by (date, ticker); errors name the file, the column and an example value."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; found {list(frame.columns)} (names match "
                         f"regardless of case, spaces and underscores)")
    out = frame.copy()
    dates = pd.to_datetime(out["date"], errors="coerce")
    if dates.isna().any():
        bad = out.loc[dates.isna(), "date"].iloc[0]
        raise ValueError(f"{source}: column 'date' has {int(dates.isna().sum())} unparseable value(s), e.g. {bad!r}")
    out["date"] = dates.dt.tz_localize(None) if dates.dt.tz is not None else dates
    out["ticker"] = out["ticker"].astype(str)
    cols = [*PRICES, "volume"] + (["adj_close"] if "adj_close" in out.columns else [])
    for col in cols:
        values = pd.to_numeric(out[col], errors="coerce")
        if values.isna().any():
            bad = out.loc[values.isna(), col].iloc[0]
            raise ValueError(f"{source}: column {col!r} has {int(values.isna().sum())} missing or non-numeric "
                             f"value(s), e.g. {bad!r}")
        nonpos = values < 0 if col == "volume" else values <= 0
        if nonpos.any():
            row = out.loc[nonpos].iloc[0]
            kind = "negative" if col == "volume" else "non-positive"
            raise ValueError(f"{source}: column {col!r} has {int(nonpos.sum())} {kind} value(s), e.g. "
                             f"{float(values[nonpos].iloc[0]):g} on {row['date']:%Y-%m-%d} for ticker "
                             f"{row['ticker']!r}")
        out[col] = values.astype(float)
    dup = out.duplicated(["date", "ticker"], keep=False)
    if dup.any():
        row = out.loc[dup].iloc[0]
        raise ValueError(f"{source}: {int(dup.sum())} rows share a (date, ticker), e.g. "
                         f"({row['date']:%Y-%m-%d}, {row['ticker']!r})")
    if "adj_close" in out.columns:
        factor = out["adj_close"] / out["close"]
        out[list(PRICES)] = out[list(PRICES)].mul(factor, axis=0)
        out["volume"] = out["volume"] / factor
        out = out.drop(columns="adj_close")
    keep = ["date", "ticker"] + (["sector"] if "sector" in out.columns else []) + [*PRICES, "volume"]
    return out[keep].sort_values(["date", "ticker"], kind="stable").reset_index(drop=True)


def load_prices(*paths: str | Path) -> pd.DataFrame:
    """One validated long panel from one or more files (each file without a ticker column is a ticker named after
    its file stem, so several Yahoo-style exports make a panel)."""
    if not paths:
        raise ValueError("load_prices: give at least one prices file")
    frames = []
    for p in map(Path, paths):
        frame = normalise_columns(_read(p), str(p))
        if "ticker" not in frame.columns:
            frame["ticker"] = p.stem.upper()
        frames.append(validate(frame, str(p)))
    if len(frames) == 1:
        return frames[0]
    return validate(pd.concat(frames, ignore_index=True), ", ".join(map(str, paths)))


def wide(panel: pd.DataFrame, column: str) -> pd.DataFrame:
    """dates x tickers of one column; NaN where a ticker has no row (halted, not yet listed)."""
    return panel.pivot(index="date", columns="ticker", values=column).sort_index()


def tradable(panel: pd.DataFrame) -> pd.DataFrame:
    """dates x tickers: True where the ticker has a row (traded) that day."""
    return wide(panel, "close").notna()


def n_tickers(panel: pd.DataFrame) -> int:
    return int(panel["ticker"].nunique())


__all__ = ["load_prices", "validate", "normalise_columns", "wide", "tradable", "n_tickers"]

"""How good a signal is: IC, RankIC and ICIR with block-bootstrap intervals, paired IC differences, quantile mean
forward returns (alphalens' definition) and the time-series IC per ticker (for cross-sections too small to rank).

Blocks are calendar months of the signal date: overlapping multi-day labels and regimes make neighbouring days
dependent, so days are not resampled one by one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab import evaluation

NAN = float("nan")


def month_blocks(dates) -> np.ndarray:
    """One block id per calendar month of `dates`."""
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))).to_period("M").astype(str).to_numpy()


def ratio_with_interval(values, dates, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                        scale: float = 1.0) -> tuple[dict[str, float], np.ndarray]:
    """({point, ci_low, ci_high}, replicates) of scale * mean / sd of per-date values, by month blocks."""
    s = pd.Series(np.asarray(values, dtype=float), index=pd.to_datetime(np.asarray(dates))).dropna()
    ratio, reps = evaluation.bootstrap_ratio(s.to_numpy(), month_blocks(s.index), n_boot, seed, level, scale)
    return {"point": ratio["ratio"], "ci_low": ratio["ci_low"], "ci_high": ratio["ci_high"]}, reps


def ic_summary(date, prediction, target, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """ic, rank_ic, icir (of the rank IC) with `_ci_low` / `_ci_high`, and n_dates (dates with an IC)."""
    out: dict[str, float] = {}
    for name, method in (("ic", "pearson"), ("rank_ic", "spearman")):
        s = evaluation.ic_series(date, prediction, target, method).dropna()
        mean = evaluation.bootstrap_mean(s.to_numpy(), month_blocks(s.index), n_boot, seed, level)
        out.update({name: mean["mean"], f"{name}_ci_low": mean["ci_low"], f"{name}_ci_high": mean["ci_high"]})
        if method == "spearman":
            ratio, _ = ratio_with_interval(s.to_numpy(), s.index, n_boot, seed, level)
            out.update({"icir": ratio["point"], "icir_ci_low": ratio["ci_low"], "icir_ci_high": ratio["ci_high"]})
            out["n_dates"] = int(len(s))
    return out


def ic_difference(date, prediction_a, prediction_b, target, n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95) -> dict[str, float | str]:
    """Rank IC of a minus rank IC of b on the same dates, with its paired interval (month blocks) and verdict."""
    a = evaluation.ic_series(date, prediction_a, target, "spearman")
    b = evaluation.ic_series(date, prediction_b, target, "spearman")
    diff = (a - b).dropna()
    mean = evaluation.bootstrap_mean(diff.to_numpy(), month_blocks(diff.index), n_boot, seed, level)
    return {"difference": mean["mean"], "ci_low": mean["ci_low"], "ci_high": mean["ci_high"],
            "verdict": evaluation.verdict(mean["ci_low"], mean["ci_high"])}


def quantile_returns(date, factor, target, quantiles: int = 5) -> pd.Series:
    """Mean forward return per factor quantile, as alphalens' `mean_return_by_quantile(demeaned=False)`: per date,
    rows are cut into `quantiles` equal-count bins of the factor (pandas qcut: right-closed bins between linearly
    interpolated quantiles; 1 = lowest); each bin's mean per date is averaged over dates."""
    frame = pd.DataFrame({"date": np.asarray(date), "f": np.asarray(factor, dtype=float),
                          "y": np.asarray(target, dtype=float)}).dropna()
    inner = np.linspace(0, 1, quantiles + 1)[1:-1]
    edges = frame.groupby("date")["f"].quantile(inner).unstack()
    e = edges.reindex(frame["date"]).to_numpy()
    frame["quantile"] = (frame["f"].to_numpy()[:, None] > e).sum(axis=1) + 1
    by_date = frame.groupby(["quantile", "date"])["y"].mean()
    return by_date.groupby(level="quantile").mean().rename("mean_return")


def time_series_ic(ticker, prediction, target, method: str = "spearman") -> pd.Series:
    """Per ticker, the correlation over time of prediction and target (a cross-section too small to rank)."""
    frame = pd.DataFrame({"ticker": np.asarray(ticker), "x": np.asarray(prediction, dtype=float),
                          "y": np.asarray(target, dtype=float)}).dropna()
    return frame.groupby("ticker").apply(lambda g: g["x"].corr(g["y"], method=method) if len(g) > 2 else NAN,
                                         include_groups=False).rename(f"ts_ic_{method}")


def factor_ics(data: pd.DataFrame, names, target: str) -> pd.DataFrame:
    """Rank IC and ICIR of every single factor against `target` on the rows where every factor and the target are
    known (one row per factor, sorted by |rank IC|): Spearman = Pearson of per-date ranks, all factors at once."""
    cols = [*names, target]
    frame = data.dropna(subset=cols)
    ranks = frame.groupby("date")[cols].rank()
    dev = ranks - ranks.groupby(frame["date"]).transform("mean")
    y = dev.pop(target)
    sxy = dev.mul(y, axis=0).groupby(frame["date"]).sum()
    sxx = (dev**2).groupby(frame["date"]).sum()
    syy = (y**2).groupby(frame["date"]).sum()
    daily = sxy / np.sqrt(sxx.mul(syy, axis=0)).where(lambda d: d > 1e-12)
    table = pd.DataFrame({"factor": list(names), "rank_ic": daily.mean().to_numpy(),
                          "icir": (daily.mean() / daily.std(ddof=1)).to_numpy()})
    return table.reindex(table["rank_ic"].abs().sort_values(ascending=False).index).reset_index(drop=True)

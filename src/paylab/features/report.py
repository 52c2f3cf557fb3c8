"""What notebook 02_features shows: the dictionary, distributions, fraud lift / information value, checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from paylab.features.spec import FeatureConfig, feature_list


def _seeded_share(share: float, seed: int) -> pl.Expr:
    """True for a seeded pseudo-random `share` of rows, by transaction id (the same rows on every run)."""
    return pl.col("transaction_id").hash(seed) < pl.lit(int(min(share, 1.0) * (2**64 - 1)), pl.UInt64)


def labelled_sample(path: Path | str, rows: int, seed: int) -> pl.DataFrame:
    """Every labelled fraud of a features file and a seeded sample of about `rows` labelled-legit rows (all of them
    when fewer), in file order, read lazily: what notebook 02 profiles, at any scale. Unlabeled rows are left out
    (they are not legitimate). Figures that condition on the class (information value, ROC-AUC, recall at a fixed
    false-positive rate) are unbiased on it; rates such as a bin's fraud rate are those of the sample."""
    scan = pl.scan_parquet(path)
    legit = pl.col("label") == "legit"
    n_legit = scan.filter(legit).select(pl.len()).collect().item()
    keep = legit & _seeded_share(rows / n_legit, seed) if n_legit > rows else legit
    return scan.filter((pl.col("label") == "fraud") | keep).collect(engine="streaming")


def row_sample(path: Path | str, rows: int, seed: int) -> pl.DataFrame:
    """A seeded sample of about `rows` rows of a features file (all when fewer), labelled or not, read lazily."""
    scan = pl.scan_parquet(path)
    n = scan.select(pl.len()).collect().item()
    return scan.filter(_seeded_share(rows / max(n, 1), seed)).collect(engine="streaming") if n > rows \
        else scan.collect()


def dictionary(params: dict[str, Any] | None = None) -> pl.DataFrame:
    """One row per feature: name, dtype, group, definition."""
    cfg = FeatureConfig.from_params(params)
    return pl.DataFrame([vars(f) for f in feature_list(cfg)])


def summary(features: pl.DataFrame, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """Null share and numeric moments of every feature."""
    rows = []
    for f in feature_list(FeatureConfig.from_params(params)):
        col = features[f.name]
        num = col.cast(pl.Float64) if f.dtype != "str" else None
        rows.append({"feature": f.name, "group": f.group, "null_share": col.null_count() / max(features.height, 1),
                     "mean": num.mean() if num is not None else None, "std": num.std() if num is not None else None,
                     "min": num.min() if num is not None else None, "max": num.max() if num is not None else None,
                     "n_unique": col.n_unique()})
    return pl.DataFrame(rows)


def _bins(col: pl.Series, dtype: str, n_bins: int) -> pl.Series:
    """Quantile bins for numbers, values for bool/str, and its own bin for null."""
    if dtype in ("bool", "str") or col.n_unique() <= n_bins:
        return col.cast(pl.String).fill_null("null")
    edges = np.unique(np.nanquantile(col.cast(pl.Float64).drop_nulls().to_numpy(), np.linspace(0, 1, n_bins + 1)))
    binned = np.searchsorted(edges[1:-1], col.cast(pl.Float64).fill_null(np.nan).to_numpy(), side="right")
    return pl.Series(np.where(col.is_not_null().to_numpy(), binned, -1))  # -1: null (integers: no string per row)


def information_value(features: pl.DataFrame, params: dict[str, Any] | None = None, n_bins: int = 10) -> pl.DataFrame:
    """Per feature on labeled rows only (unlabeled excluded): information value and the fraud lift of its riskiest
    bin (bin fraud rate / base rate, bins with >= 1% of rows). On a `labelled_sample` the information value is
    unbiased (it compares the two classes' distributions); the lift is the sample's."""
    labeled = features.filter(pl.col("label").is_in(["fraud", "legit"]))
    fraud = (labeled["label"] == "fraud").to_numpy()
    base = fraud.mean() if fraud.size else float("nan")
    rows = []
    for f in feature_list(FeatureConfig.from_params(params)):
        table = (pl.DataFrame({"bin": _bins(labeled[f.name], f.dtype, n_bins), "fraud": fraud})
                 .group_by("bin").agg(pl.len().alias("n"), pl.col("fraud").sum().alias("f")))
        n_f, n_l = max(int(fraud.sum()), 1), max(int((~fraud).sum()), 1)
        pf = (table["f"].to_numpy() + 0.5) / n_f
        pl_ = (table["n"].to_numpy() - table["f"].to_numpy() + 0.5) / n_l
        big = table["n"].to_numpy() >= 0.01 * max(labeled.height, 1)
        rates = table["f"].to_numpy() / table["n"].to_numpy()
        lift = float(rates[big].max() / base) if big.any() and base > 0 else float("nan")
        rows.append({"feature": f.name, "group": f.group, "iv": float(np.sum((pf - pl_) * np.log(pf / pl_))),
                     "max_bin_lift": lift, "bins": table.height})
    return pl.DataFrame(rows).sort("iv", descending=True)


def plot_distributions(features: pl.DataFrame, names: list[str], path: Path) -> Path:
    """Histograms of `names` for fraud vs legit (labeled rows; densities), saved to `path`."""
    import matplotlib.pyplot as plt

    labeled = features.filter(pl.col("label").is_in(["fraud", "legit"]))
    cols = 4
    fig, axes = plt.subplots(int(np.ceil(len(names) / cols)), cols, figsize=(16, 3 * np.ceil(len(names) / cols)))
    for ax, name in zip(np.ravel(axes), names, strict=False):
        for label, color in (("legit", "tab:blue"), ("fraud", "tab:red")):
            values = labeled.filter(pl.col("label") == label)[name].cast(pl.Float64).drop_nulls().to_numpy()
            if values.size:
                lo, hi = np.nanquantile(values, [0.005, 0.995])
                ax.hist(np.clip(values, lo, hi), bins=40, density=True, alpha=0.5, color=color, label=label)
        ax.set_title(name, fontsize=9)
    for ax in np.ravel(axes)[len(names):]:
        ax.axis("off")
    np.ravel(axes)[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_information_value(iv: pl.DataFrame, path: Path, top: int = 30) -> Path:
    """Horizontal bars of the `top` features by information value, coloured by group."""
    import matplotlib.pyplot as plt

    head = iv.head(top).reverse()
    groups = sorted(set(head["group"]))
    colors = dict(zip(groups, plt.get_cmap("tab10").colors, strict=False))
    fig, ax = plt.subplots(figsize=(8, 0.28 * head.height + 1))
    ax.barh(head["feature"], head["iv"], color=[colors[g] for g in head["group"]])
    ax.set_xlabel("information value (labeled rows)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[g]) for g in groups]
    ax.legend(handles, groups, fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

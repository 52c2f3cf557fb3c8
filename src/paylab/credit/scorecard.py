"""The generic core: optimal binning (monotone where it makes sense), WoE, IV, selection by IV and correlation, a
logistic scorecard scaled by PDO / odds / base score, and its points table. Higher score = lower risk."""

from __future__ import annotations

import numpy as np
import pandas as pd

SCORE_DIRECTION = "higher score = lower risk"


def categorical_columns(X: pd.DataFrame) -> list[str]:
    """Columns that are not numeric (strings, categories, booleans kept as numbers)."""
    return [c for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]


def _binning_process(columns: list[str], categorical: list[str], params: dict, selection: dict | None = None):
    from optbinning import BinningProcess

    fit_params = {c: {"monotonic_trend": None if c in categorical else params.get("monotonic_trend", "auto_asc_desc")}
                  for c in columns}
    return BinningProcess(variable_names=columns, categorical_variables=categorical,
                          max_n_prebins=params.get("max_n_prebins", 20), min_prebin_size=params.get("min_prebin_size",
                                                                                                    0.05),
                          max_n_bins=params.get("max_n_bins", 6), selection_criteria=selection,
                          binning_fit_params=fit_params)


def _numeric(X: pd.DataFrame) -> pd.DataFrame:
    return X.astype({c: float for c in X.columns if pd.api.types.is_bool_dtype(X[c])})


def select_features(X: pd.DataFrame, y, params: dict) -> tuple[list[str], pd.DataFrame]:
    """Columns kept: information value >= `min_iv`, then of each pair whose WoE correlation exceeds `max_corr` the one
    with the lower IV is dropped. Returns (kept, table of every column: iv, kept, reason)."""
    X = _numeric(X)
    columns, cats = list(X.columns), categorical_columns(X)
    bp = _binning_process(columns, cats, params).fit(X, np.asarray(y))
    summary = bp.summary().set_index("name")
    iv = summary["iv"].astype(float).reindex(columns).fillna(0.0)
    reason = pd.Series("", index=columns, dtype=object)
    reason[iv < params.get("min_iv", 0.02)] = f"iv < {params.get('min_iv', 0.02)}"
    candidates = iv[reason == ""].sort_values(ascending=False).index.tolist()
    if candidates:
        corr = bp.transform(X[columns], metric="woe")[candidates].corr().abs()
        kept: list[str] = []
        for c in candidates:
            worse = [k for k in kept if corr.loc[c, k] > params.get("max_corr", 0.7)]
            if worse:
                reason[c] = f"|corr| > {params.get('max_corr', 0.7)} with {worse[0]}"
            else:
                kept.append(c)
    else:
        kept = []
    table = pd.DataFrame({"iv": iv, "kept": reason == "", "reason": reason}).sort_values("iv", ascending=False)
    if not kept:
        raise ValueError(f"no feature has information value >= {params.get('min_iv', 0.02)} "
                         f"(best: {iv.idxmax()} = {iv.max():.4f})")
    return kept, table


def fit_scorecard(X: pd.DataFrame, y, params: dict, seed: int = 0):
    """Select features (IV, correlation) then fit an optbinning `Scorecard` (WoE logistic regression, `pdo_odds`
    scaling from params: pdo, odds, base score) on them. Returns the fitted Scorecard; its
    `selection_` attribute holds the selection table."""
    from optbinning import Scorecard
    from sklearn.linear_model import LogisticRegression

    kept, table = select_features(X, y, params)
    X = _numeric(X[kept])
    scaling = params.get("scaling", {"pdo": 20, "odds": 50, "base_score": 600})
    sc = Scorecard(binning_process=_binning_process(kept, categorical_columns(X), params),
                   estimator=LogisticRegression(C=params.get("C", 1.0), max_iter=1000, random_state=seed),
                   scaling_method="pdo_odds",
                   scaling_method_params={"pdo": scaling["pdo"], "odds": scaling["odds"],
                                          "scorecard_points": scaling["base_score"]})
    sc.fit(X, np.asarray(y).astype(int))
    sc.selection_ = table
    sc.features_ = kept
    return sc


def scorecard_score(sc, X: pd.DataFrame) -> np.ndarray:
    """Points of each row (sum of its bins' points); higher score = lower risk."""
    return np.asarray(sc.score(_numeric(X[sc.features_])), dtype=float)


def scorecard_pd(sc, X: pd.DataFrame) -> np.ndarray:
    """Probability of default of each row from the scorecard's logistic regression."""
    return np.asarray(sc.predict_proba(_numeric(X[sc.features_]))[:, 1], dtype=float)


def points_table(sc) -> pd.DataFrame:
    """One row per feature and bin: bin, count, event rate, WoE, IV and points (higher points = lower risk)."""
    table = sc.table(style="detailed")
    keep = ["Variable", "Bin", "Count", "Count (%)", "Event", "Event rate", "WoE", "IV", "Points"]
    table = table[[c for c in keep if c in table.columns]].rename(columns=lambda c: c.lower().replace(" (%)", "_share")
                                                                   .replace(" ", "_"))
    table["bin"] = table["bin"].astype(str)
    return table.reset_index(drop=True)


def trends(sc) -> dict[str, int]:
    """Per numeric feature, the binned bad rate's direction: +1 rising, -1 falling, 0 otherwise (not monotone or
    categorical); the GBM challenger's monotone constraints."""
    out = {}
    bp = sc.binning_process_
    for name in sc.features_:
        optb = bp.get_binned_variable(name)
        if optb.dtype != "numerical":
            out[name] = 0
            continue
        rates = optb.binning_table.build().iloc[:-1]
        rates = rates[~rates["Bin"].astype(str).isin(["Special", "Missing"])]["Event rate"].astype(float).to_numpy()
        diff = np.diff(rates)
        out[name] = 1 if diff.size and (diff >= 0).all() else -1 if diff.size and (diff <= 0).all() else 0
    return out

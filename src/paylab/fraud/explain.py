"""Explanations of a fitted fraud pipeline for people (preprocess -> [resample] -> model; see
`paylab.fraud.imbalance`): SHAP values and plots, and LIME for one row. Reason codes in plain words (for analysts and
the online service) are in `paylab.fraud.reasons`.

    ex = shap_explanation(model, X, max_rows=5000)        # SHAP values of the fraud class, in log-odds
    plot_global(ex, out_dir); plot_waterfall(ex, 0, out_dir / "alert_0.png")
    conditions, html = lime_explanation(model, X_train, X.iloc[[7]], seed=0)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from paylab.fraud.encoding import estimator_kind, final_estimator, transform


def _sample(X: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most max_rows rows, drawn without replacement with `seed`, in their original order (index kept)."""
    if max_rows is None or len(X) <= max_rows:
        return X
    positions = np.sort(np.random.default_rng(seed).choice(len(X), size=int(max_rows), replace=False))
    return X.iloc[positions]


def _one_row(x) -> pd.DataFrame:
    if isinstance(x, pd.DataFrame):
        frame = x
    elif isinstance(x, pd.Series):  # a row Series is object: give the columns their dtypes back
        frame = x.to_frame().T.infer_objects()
    elif isinstance(x, Mapping):
        frame = pd.DataFrame([dict(x)])
    else:
        raise TypeError(f"expected one row as a DataFrame, Series or mapping, got {type(x).__name__}")
    if len(frame) != 1:
        raise ValueError(f"expected one row, got {len(frame)}")
    return frame


# --- SHAP ----------------------------------------------------------------------------------------------------------

def shap_explanation(model, X: pd.DataFrame, max_rows: int | None = None, seed: int = 0, *,
                     background: pd.DataFrame | None = None, background_rows: int = 1000):
    """SHAP values of the fraud class in log-odds for the rows of X (a deterministic sample of `max_rows` when given).

    Tree models: `shap.TreeExplainer` (path-dependent TreeSHAP, exact). Logistic regression: `shap.LinearExplainer`
    with a background sample of `background` (default: X) of `background_rows` rows. The explanation's `data` is the
    transformed matrix; `instance_names` holds the index labels of the explained rows.
    """
    import shap

    X = _sample(X, max_rows, seed)
    Z = transform(model, X)
    final = final_estimator(model)
    if estimator_kind(final) == "linear":
        bg = transform(model, _sample(X if background is None else background, background_rows, seed))
        explainer = shap.LinearExplainer(final, shap.maskers.Independent(bg.to_numpy(np.float64),
                                                                         max_samples=len(bg)))
        raw = explainer(Z.to_numpy(np.float64))
    else:
        raw = shap.TreeExplainer(final)(Z)
    values, base = np.asarray(raw.values), np.asarray(raw.base_values)
    if values.ndim == 3:  # one slice per class: keep the fraud class
        values, base = values[..., 1], base[..., 1]
    return shap.Explanation(values=values, base_values=np.broadcast_to(base, (len(Z),)).copy(),
                            data=Z.to_numpy(), feature_names=list(Z.columns), instance_names=list(X.index),
                            output_names="fraud log-odds")


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _draw(draw: Callable[[], Any], path: Path) -> Path:
    """Run a shap plot (pyplot, current figure) on a new figure, save it as PNG and close every figure it opened.
    The backend is left as it is: headless runs get Agg by default, notebooks keep inline."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    plt.figure()
    try:
        with warnings.catch_warnings():  # beeswarm colours the "other features" row from an all-NaN column
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            draw()
        return _save(plt.gcf(), path)
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


def plot_global(explanation, out_dir: Path, max_display: int = 20) -> list[Path]:
    """SHAP beeswarm and mean-|SHAP| bar charts as PNGs in out_dir: [shap_beeswarm.png, shap_bar.png]."""
    import shap

    out_dir = Path(out_dir)
    return [_draw(lambda: shap.plots.beeswarm(explanation, max_display=max_display, show=False),
                  out_dir / "shap_beeswarm.png"),
            _draw(lambda: shap.plots.bar(explanation, max_display=max_display, show=False), out_dir / "shap_bar.png")]


def plot_waterfall(explanation, i: int, path: Path, max_display: int = 12) -> Path:
    """The SHAP waterfall of the explanation's i-th row (a position; `instance_names[i]` is its index label)."""
    import shap

    return _draw(lambda: shap.plots.waterfall(explanation[int(i)], max_display=max_display, show=False), path)


# --- LIME ----------------------------------------------------------------------------------------------------------

def lime_explanation(model, X_background: pd.DataFrame, x_row, seed: int, num_features: int = 10, *,
                     num_samples: int = 2000, max_background: int = 2000, out: Path | None = None,
                     ) -> tuple[list[tuple[str, float]], str | Path]:
    """LIME for one row on the transformed matrix: ([(condition, weight), ...] for the fraud class, the explanation
    as HTML text, or the path written when `out` ends in .html or .png). Deterministic for a given seed.

    LIME's sampling statistics cannot hold missing values: NaN cells (kept by the tree preprocessing) are filled
    with the background median, in the background and in the row, so LIME explains the model at the filled row.
    0/1 columns (bools, one-hot) are categorical for LIME: conditions read `card_new_merchant=True`.
    """
    from lime.lime_tabular import LimeTabularExplainer

    final = final_estimator(model)
    bg = transform(model, _sample(X_background, max_background, seed))
    row = transform(model, _one_row(x_row))
    names = list(bg.columns)
    B, r = bg.to_numpy(np.float64), row.to_numpy(np.float64)[0]
    with np.errstate(all="ignore"):
        fill = np.nan_to_num(np.nanmedian(np.where(np.isnan(B).all(axis=0), 0.0, B), axis=0))
    B = np.where(np.isnan(B), fill, B)
    r = np.where(np.isnan(r), fill, r)
    binary = [j for j in range(B.shape[1]) if np.isin(B[:, j], (0.0, 1.0)).all() and r[j] in (0.0, 1.0)]
    labels, categorical_names = list(names), {}
    for j in binary:
        column, _, value = names[j].partition("=")
        if value:  # one-hot column `col=value`
            labels[j], categorical_names[j] = column, [f"not {value}", value]
        else:
            categorical_names[j] = ["False", "True"]
    explainer = LimeTabularExplainer(B, mode="classification", feature_names=labels, class_names=["legit", "fraud"],
                                     categorical_features=binary, categorical_names=categorical_names,
                                     discretize_continuous=True, random_state=seed)
    dtype = row.dtypes.iloc[0] if len(set(row.dtypes)) == 1 else np.float64

    def predict(A: np.ndarray) -> np.ndarray:
        return np.asarray(final.predict_proba(pd.DataFrame(A.astype(dtype), columns=names)))

    exp = explainer.explain_instance(r, predict, labels=(1,), num_features=num_features, num_samples=num_samples)
    conditions = [(str(c), float(w)) for c, w in exp.as_list(label=1)]
    if out is None:
        return conditions, exp.as_html(labels=(1,))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".png":
        _draw(lambda: exp.as_pyplot_figure(label=1), out)
    else:
        exp.save_to_file(str(out), labels=(1,))
    return conditions, out


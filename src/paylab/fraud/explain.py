"""Explanations of a fitted fraud pipeline (preprocess -> [resample] -> model; see `paylab.fraud.imbalance`): SHAP
values and plots for people, LIME for one row, and reason codes in plain words for analysts and the online service.

    Z = transform(model, X)                               # the matrix the final estimator sees, named columns
    ex = shap_explanation(model, X, max_rows=5000)        # SHAP values of the fraud class, in log-odds
    plot_global(ex, out_dir); plot_waterfall(ex, 0, out_dir / "alert_0.png")
    conditions, html = lime_explanation(model, X_train, X.iloc[[7]], seed=0)
    coder = ReasonCoder(model, feature_list(FeatureConfig.from_params(params["features"])))
    coder.reasons(X, n=3)          # [["12 payments on this card in the last hour", ...], ...]   (a batch)
    coder.reasons(features)        # one transaction as a mapping (the online engine's output): the fast path
    coder.reason_codes(X)          # DataFrame reason_1 .. reason_3 for the notebook
    FraudService(..., reasons_fn=ServiceReasons(features, n=3))

Reason codes use each library's own exact TreeSHAP (XGBoost `pred_contribs`, LightGBM `pred_contrib`, CatBoost
`ShapValues`: the same path-dependent algorithm as `shap.TreeExplainer`, without its per-call Python overhead), or
coef * (x - background mean) for logistic regression. Contributions of columns that carry one raw feature (one-hot
columns `col=value`, `hour_sin`/`hour_cos` with `hour`, `amount_log_abs` with `amount`, `card_new_merchant` with
`card_merchant_n_prior`, ...) are summed (SHAP values add up), so a reason speaks of the raw feature and its value.

Cost: exact TreeSHAP is O(trees x leaves x depth^2) per row, far more than scoring. Measured on this project's 145
feature columns, XGBoost 300 trees of depth 6, 2 busy shared cores: one row 0.3-2 ms (one thread; the booster's
own threads made it ~15x slower on one row), `shap.TreeExplainer` on one row ~40x that; a batch ~0.3-1.3 ms a row
(100k rows: minutes; explain the alerted rows rather than the whole window). XGBoost's approximate (Saabas)
contributions are ~7x cheaper in a batch but picked the same top reason in only 64% of rows: not used.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from paylab.features.spec import NIGHT_HOURS, Feature, FeatureConfig, feature_list
from paylab.fraud.models import predict_steps

CHUNK_ROWS = 20_000  # rows per native-contribution call in a batch (bounds memory: rows x columns x 4 bytes)
SMALL_FRAME = 8  # frames up to this many rows take the per-row path (no pandas transform)


# --- the pipeline --------------------------------------------------------------------------------------------------

def _transformers(model) -> list[Any]:
    """The steps before the final estimator, nested pipelines flattened, samplers (fit-time only) left out."""
    return predict_steps(model)[:-1]


def final_estimator(model):
    """The pipeline's last step (the model itself when it is not a pipeline)."""
    return predict_steps(model)[-1]


def _kind(final) -> str:
    library = type(final).__module__.split(".")[0]
    if library in ("xgboost", "lightgbm", "catboost"):
        return library
    if hasattr(final, "coef_") and hasattr(final, "predict_proba"):
        return "linear"
    raise TypeError(f"explain: unsupported final estimator {type(final).__name__} (expected XGBClassifier, "
                    f"LGBMClassifier, CatBoostClassifier or LogisticRegression)")


def transform(model, X: pd.DataFrame) -> pd.DataFrame:
    """The matrix the final estimator sees: X through every pipeline step except samplers and the model."""
    Z: Any = X
    names = None
    for step in _transformers(model):
        Z = step.transform(Z)
        if not isinstance(Z, pd.DataFrame) and hasattr(step, "get_feature_names_out"):
            names = list(step.get_feature_names_out())
    if isinstance(Z, pd.DataFrame):
        return Z
    Z = np.asarray(Z)
    if names is None or len(names) != Z.shape[1]:
        names = [f"x{i}" for i in range(Z.shape[1])]
    return pd.DataFrame(Z, index=X.index, columns=names)


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
    if _kind(final) == "linear":
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


# --- reason codes: words ---------------------------------------------------------------------------------------------

Phrase = Callable[[Any], str]  # a raw value (never null) -> a sentence


def _isnull(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float | np.floating) and math.isnan(v))


def _count(v, noun: str, plural: str | None = None) -> str:
    n = int(round(float(v)))
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def _money(v) -> str:
    return f"${float(v):,.2f}"


def _pct(v) -> str:
    return f"{100 * float(v):.1f}%"


def _times(v) -> str:
    return f"{float(v):.1f}x"


def _duration(seconds) -> str:
    s = float(seconds)
    if s < 120:
        return _count(s, "second")
    if s < 7200:
        return _count(s / 60, "minute")
    if s < 172_800:
        return f"{s / 3600:.1f} hours"
    return _count(s / 86400, "day")


def _span(window: str) -> str:
    """'1h' -> 'the last hour', '24h' -> 'the last 24 hours', '90d' -> 'the last 90 days'."""
    match = re.fullmatch(r"(\d+)([smhd])", window)
    if not match:
        return f"the last {window}"
    n, unit = int(match[1]), {"s": "second", "m": "minute", "h": "hour", "d": "day"}[match[2]]
    return f"the last {unit}" if n == 1 else f"the last {n} {unit}s"


def _flag(yes: str, no: str) -> Phrase:
    return lambda v: yes if bool(v) else no


_THIS = {"card": "this card", "client": "this client", "merchant": "this merchant", "mcc": "this merchant category"}
_ON = {"card": "on this card", "client": "by this client", "merchant": "at this merchant",
       "mcc": "in this merchant category"}
_OWNER = {"card": "the card's", "client": "the client's", "merchant": "the merchant's",
          "mcc": "the merchant category's"}
_PLACE = {"merchant": "at this merchant", "mcc": "in this merchant category", "city": "in this city",
          "state": "in this state"}
_ERRORS = {"bad_cvv": "bad CVV", "bad_card_number": "bad card number", "bad_expiration": "bad expiration date",
           "bad_pin": "bad PIN", "bad_zipcode": "bad ZIP code", "insufficient_balance": "insufficient balance",
           "technical_glitch": "technical glitch"}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Transaction flags, card and user attributes, calendar: feature -> sentence (bool features: (if true, if false)).
_FLAGS: dict[str, tuple[str, str]] = {
    "is_online": ("online payment", "in-person payment"),
    "is_international": ("international payment", "domestic payment"),
    "is_refund": ("payment is a refund", "payment is not a refund"),
    "has_error": ("an error was reported on this payment", "no error reported on this payment"),
    "is_chip": ("chip payment", "not a chip payment"),
    "is_swipe": ("card was swiped", "card was not swiped"),
    "is_night": (f"night-time payment ({NIGHT_HOURS[0]:02d}:00-{NIGHT_HOURS[1]:02d}:00)", "daytime payment"),
    "is_weekend": ("weekend payment", "payment on a weekday"),
    "client_out_of_home_state": ("in-person payment outside the client's home state",
                                 "payment not outside the client's home state"),
    "card_has_chip": ("card has a chip", "card has no chip"),
    "card_on_dark_web": ("card was seen on the dark web", "card was not seen on the dark web"),
    "card_chip_mismatch": ("card swiped although it has a chip", "no chip mismatch"),
}
_VALUES: dict[str, Phrase] = {
    "amount": lambda v: f"refund of {_money(-v)}" if v < 0 else f"amount is {_money(v)}",
    "amount_log_abs": lambda v: f"amount is {_money(math.expm1(v))}",
    "mcc": lambda v: f"merchant category code {int(v)}",
    "hour": lambda v: f"payment between {int(v):02d}:00 and {int(v) + 1:02d}:00",
    "weekday": lambda v: f"payment on a {_DAYS[int(v) % 7]}",
    "hour_sin": lambda v: f"time of day (cyclic code {v:.2f})",
    "hour_cos": lambda v: f"time of day (cyclic code {v:.2f})",
    "weekday_sin": lambda v: f"day of the week (cyclic code {v:.2f})",
    "weekday_cos": lambda v: f"day of the week (cyclic code {v:.2f})",
    "card_brand": lambda v: f"card brand is {v}",
    "card_type": lambda v: f"card type is {v}",
    "card_credit_limit": lambda v: f"card credit limit is {_money(v)}",
    "card_num_cards_issued": lambda v: f"{_count(v, 'card')} issued on this account",
    "card_age_days": lambda v: f"card opened {_count(v, 'day')} ago",
    "card_months_to_expiry": lambda v: (f"card expires in {_count(v, 'month')}" if v >= 0
                                        else f"card expired {_count(-v, 'month')} ago"),
    "card_pin_age_years": lambda v: f"PIN last changed {_count(v, 'year')} ago",
    "user_yearly_income": lambda v: f"client's yearly income is {_money(v)}",
    "user_per_capita_income": lambda v: f"per-capita income where the client lives is {_money(v)}",
    "user_total_debt": lambda v: f"client's total debt is {_money(v)}",
    "user_credit_score": lambda v: f"client's credit score is {int(v)}",
    "user_num_credit_cards": lambda v: f"client holds {_count(v, 'credit card')}",
    "user_gender": lambda v: f"client's gender is {v}",
    "user_age": lambda v: f"client is {_count(v, 'year')} old",
    "user_years_to_retirement": lambda v: (f"client is {_count(v, 'year')} from retirement age" if v >= 0
                                           else "client is past retirement age"),
    "user_debt_to_income": lambda v: f"client's debt is {_times(v)} their yearly income",
    "amount_to_limit": lambda v: f"amount is {_pct(v)} of the card's credit limit",
    "card_seq_amount_mean": lambda v: f"the card's recent payments average {_money(v)}",
    "card_seq_amount_trend": lambda v: (f"amounts on this card are {'rising' if v >= 0 else 'falling'} by "
                                        f"{_money(abs(v))} per payment"),
    "card_seq_share_online": lambda v: f"{_pct(v)} of the card's recent payments were online",
    "card_seq_merchant_change_rate": lambda v: f"the card changed merchant on {_pct(v)} of its recent payments",
}
_NULLS: dict[str, str] = {
    "client_out_of_home_state": "client has no home state yet (no earlier in-person payment)",
    "card_age_days": "card's opening date is after this payment",
    "card_pin_age_years": "PIN change date unknown",
    "card_seq_amount_mean": "no earlier payment on this card",
    "card_seq_amount_trend": "fewer than 2 earlier payments on this card",
    "card_seq_share_online": "no earlier payment on this card",
    "card_seq_merchant_change_rate": "fewer than 2 earlier payments on this card",
    "amount_to_limit": "card has no credit limit",
}


_VELOCITY: dict[str, Callable[[str], Phrase]] = {  # stat -> (where and when: "on this card in the last hour")
    "cnt": lambda where: lambda v: f"{_count(v, 'payment')} {where}",
    "sum": lambda where: lambda v: f"{_money(v)} spent {where}",
    "mean": lambda where: lambda v: f"average payment {where} is {_money(v)}",
    "max": lambda where: lambda v: f"largest payment {where} is {_money(v)}",
    "nmerch": lambda where: lambda v: f"{_count(v, 'different merchant')} {where}",
    "nmcc": lambda where: lambda v: f"{_count(v, 'merchant category', 'merchant categories')} {where}",
    "badcvv": lambda where: lambda v: f"{_count(v, 'payment')} with a bad CVV {where}",
}


def _velocity(m: re.Match) -> tuple[Phrase, str | None]:
    entity, stat, window = m.groups()
    none = f"no payment {_ON[entity]} in {_span(window)}"  # mean / max are null on an empty window
    return _VELOCITY[stat](f"{_ON[entity]} in {_span(window)}"), none


def _risk(m: re.Match) -> tuple[Phrase, str | None]:
    entity, stat, window = m.groups()
    period = "so far" if window == "all" else f"over {_span(window)}"
    subject = {"merchant": "merchant's", "mcc": "merchant category's", "card": "card's"}[entity]
    return {
        "rate": (lambda v: f"{subject} fraud rate {period} is {_pct(v)}",
                 f"no labelled payment {_ON[entity]} {period}"),
        "nfraud": (lambda v: f"{_count(v, 'known fraud')} {_ON[entity]} {period}", None),
        "nlabeled": (lambda v: f"{_count(v, 'labelled payment')} {_ON[entity]} {period}", None),
    }[stat]


def _novelty_count(m: re.Match) -> tuple[Phrase, str | None]:
    this, place = _THIS[m[1]], _PLACE[m[2]]
    return (lambda v: f"first time {this} pays {place}" if v == 0
            else f"{this} paid {place} {_count(v, 'time')} before"), None


def _history(m: re.Match) -> tuple[Phrase, str | None]:
    entity, stat = m.groups()
    on, owner = _ON[entity], _OWNER[entity]
    first = f"first payment {on}"
    return {
        "secs_since_prev": (lambda v: f"{_duration(v)} since {owner} previous payment", first),
        "n_prior": (lambda v: first if v == 0 else f"{_count(v, 'earlier payment')} {on}", None),
        "hist_mean": (lambda v: f"{owner} average payment is {_money(v)}", first),
        "hist_std": (lambda v: f"{owner} payment amounts vary by {_money(v)} (standard deviation)",
                     f"fewer than 2 earlier payments {on}"),
        "amount_z": (lambda v: (f"amount is {abs(v):.1f} standard deviations {'above' if v >= 0 else 'below'} "
                                f"{owner} average"), f"not enough history {on} to compare the amount"),
    }[stat]


# Feature families by name: velocity, risk, novelty, history, ratios (names as in paylab.features.spec).
_PATTERNS: list[tuple[str, Callable[[re.Match], tuple[Phrase, str | None]]]] = [
    (rf"(card|client)_({'|'.join(_VELOCITY)})_(\d+[smhd])", _velocity),
    (r"(merchant|mcc|card)_risk_(rate|nfraud|nlabeled)_(\w+)", _risk),
    (r"(card|client)_(merchant|mcc|city|state)_n_prior", _novelty_count),
    (r"(card|client)_new_(merchant|mcc|city|state)",
     lambda m: (_flag(f"first time {_THIS[m[1]]} pays {_PLACE[m[2]]}", f"{_THIS[m[1]]} paid {_PLACE[m[2]]} before"),
                None)),
    (r"(card|client)_(secs_since_prev|n_prior|hist_mean|hist_std|amount_z)", _history),
    (r"(card|client)_amount_ratio",
     lambda m: (lambda v: f"amount is {_times(v)} {_OWNER[m[1]]} average", f"no earlier payment {_ON[m[1]]}")),
    (r"amount_to_card_mean_(\w+)",
     lambda m: (lambda v: f"amount is {_times(v)} the card's average over {_span(m[1])}",
                f"no payment on this card in {_span(m[1])}")),
    (r"card_(merchant|mcc)_share",
     lambda m: (lambda v: f"{_pct(v)} of the card's earlier payments were {_PLACE[m[1]]}",
                "no earlier payment on this card")),
    (r"err_(\w+)",
     lambda m: (_flag(f"{_ERRORS.get(m[1], m[1].replace('_', ' '))} error on this payment",
                      f"no {_ERRORS.get(m[1], m[1].replace('_', ' '))} error on this payment"), None)),
]


def _label(name: str, doc: str | None) -> str:
    """A feature's description for the generic sentence: its doc, or its name in words when the doc names columns
    (`cards.parquet `x``, `retirement_age - user_age`)."""
    if doc and "`" not in doc and "_" not in doc:
        return doc
    return name.replace("_", " ")


def _show(v) -> str:
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer) or (isinstance(v, float | np.floating) and float(v).is_integer()):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        return f"{float(v):.4g}"
    return str(v)


def phrase(name: str, doc: str | None = None) -> Callable[[Any], str]:
    """The sentence function of feature `name`: value (may be null) -> plain words. Falls back to "<doc>: <value>"."""
    label = _label(name, doc)
    fmt: Phrase | None = None
    null = _NULLS.get(name)
    if name in _FLAGS:
        fmt = _flag(*_FLAGS[name])
    elif name in _VALUES:
        fmt = _VALUES[name]
    else:
        for pattern, build in _PATTERNS:
            match = re.fullmatch(pattern, name)
            if match:
                fmt, null = build(match)
                null = _NULLS.get(name, null)
                break
    null = null or f"{label}: not known"

    def generic(v) -> str:
        return f"{label}: {_show(v)}"

    chosen = fmt or generic

    def say(v) -> str:
        if _isnull(v):
            return null
        try:
            return chosen(v)
        except (TypeError, ValueError, IndexError, KeyError):  # an unexpected value: never lose the reason
            return generic(v)

    return say


# --- reason codes: numbers -------------------------------------------------------------------------------------------

def _display_column(column: str, columns: set[str]) -> str:
    """The raw column a column's contribution is reported under (its partner that says the same, when present)."""
    partners = [(r"(hour|weekday)_(sin|cos)", r"\1"), (r"amount_log_abs", "amount"),
                (r"(card|client)_new_(\w+)", r"\1_\2_n_prior")]
    for pattern, target in partners:
        if re.fullmatch(pattern, column):
            partner = re.sub(pattern, target, column)
            if partner in columns:
                return partner
    return column


def _find_encoder(transformers: list[Any]):
    for position, step in enumerate(transformers):
        if hasattr(step, "categories_") and hasattr(step, "columns_") and hasattr(step, "feature_names_out_"):
            return position, step
    raise TypeError("ReasonCoder: the pipeline has no FeatureEncoder (paylab.fraud.data) before the model")


def _compile(step, width: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """A numpy replay of a fitted SimpleImputer / StandardScaler on float32 rows (None: not replayable)."""
    name = type(step).__name__
    if name == "SimpleImputer":
        stats = np.asarray(step.statistics_, dtype=np.float64)
        missing = step.missing_values
        if (step.add_indicator or len(stats) != width or not (isinstance(missing, float) and math.isnan(missing))
                or np.isnan(stats).any()):
            return None
        fill = stats.astype(np.float32)
        return lambda Z: np.where(np.isnan(Z), fill, Z)
    if name == "StandardScaler" and getattr(step, "n_features_in_", None) == width:
        mean, scale = step.mean_, step.scale_

        def scaled(Z: np.ndarray) -> np.ndarray:  # as sklearn: in float64, cast back to float32 after each op
            if mean is not None:
                Z = (Z.astype(np.float64) - mean).astype(np.float32)
            if scale is not None:
                Z = (Z.astype(np.float64) / scale).astype(np.float32)
            return Z

        return scaled
    return None


class ReasonCoder:
    """For each transaction, the n features pushing its fraud score up the most, in plain words.

    `features`: the spec's feature list (`feature_list(cfg)`, default config when None) for the docs of the generic
    sentences. `background`: raw rows whose transformed mean is the reference of a logistic regression's
    contributions (default: the scaler's training mean, i.e. 0 in the scaled space).
    """

    def __init__(self, model, features: Iterable[Feature] | None = None, *, background: pd.DataFrame | None = None):
        self.model = model
        self.final = final_estimator(model)
        self.kind = _kind(self.final)
        docs = {f.name: f.doc for f in (feature_list(FeatureConfig()) if features is None else features)}
        steps = _transformers(model)
        position, encoder = _find_encoder(steps)
        if position != 0:
            raise TypeError("ReasonCoder: the FeatureEncoder must be the pipeline's first step")
        self.columns: list[str] = list(encoder.columns_)
        self.names: list[str] = list(encoder.feature_names_out_)
        # per raw column: (name, first position, {category: offset} or None for a numeric column)
        self._plan: list[tuple[str, int, dict[str, int] | None]] = []
        offset = 0
        for c in self.columns:
            cats = encoder.categories_.get(c)
            self._plan.append((c, offset, None if cats is None else {v: k for k, v in enumerate(cats)}))
            offset += 1 if cats is None else len(cats)
        replay = [_compile(s, len(self.names)) for s in steps[1:]]
        self._replay = None if any(r is None for r in replay) else replay
        # grouping: transformed column -> the raw column it is reported under
        source = [c for c in self.columns for _ in range(1 if c not in encoder.categories_
                                                          else len(encoder.categories_[c]))]
        present = set(self.columns)
        display = [_display_column(c, present) for c in source]
        self.reasons_of: list[str] = list(dict.fromkeys(display))  # the reported raw columns, in column order
        where = {c: k for k, c in enumerate(self.reasons_of)}
        self._group = np.zeros((len(self.names), len(self.reasons_of)), dtype=np.float64)
        self._group[np.arange(len(self.names)), [where[c] for c in display]] = 1.0
        self._say = [phrase(c, docs.get(c)) for c in self.reasons_of]
        self._setup_contributions(background)

    # -- contributions ----------------------------------------------------------------------------------------------

    def _setup_contributions(self, background: pd.DataFrame | None) -> None:
        final = self.final
        if self.kind == "xgboost":
            self._booster = final.get_booster()
            self._single = self._booster.copy()  # one-thread copy for one-row calls (threads only cost there)
            self._single.set_param({"nthread": 1})
            best = getattr(final, "best_iteration", None)  # early stopping: score as predict_proba does
            self._iterations = (0, int(best) + 1) if best is not None else (0, 0)
        elif self.kind == "linear":
            self._coef = np.asarray(final.coef_, dtype=np.float64).reshape(-1)
            if len(self._coef) != len(self.names):
                raise ValueError("ReasonCoder: a binary logistic regression on the encoded columns is expected")
            if background is not None:
                self._mean = np.nan_to_num(np.nanmean(transform(self.model, background).to_numpy(np.float64),
                                                      axis=0))
            else:
                scaler = _transformers(self.model)[-1]
                if type(scaler).__name__ != "StandardScaler" or not scaler.with_mean:
                    raise ValueError("ReasonCoder: give `background` rows for a linear model without a centring "
                                     "StandardScaler last")
                self._mean = np.zeros(len(self.names))

    def _native(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-column log-odds contributions (n, columns) + bias (n,) of the final estimator on transformed rows."""
        if self.kind == "xgboost":
            from xgboost import DMatrix

            single = len(Z) == 1
            booster = self._single if single else self._booster
            dm = DMatrix(Z, feature_names=self._booster.feature_names, nthread=1 if single else -1)
            out = booster.predict(dm, pred_contribs=True, iteration_range=self._iterations)
        elif self.kind == "lightgbm":
            out = self.final.booster_.predict(Z, pred_contrib=True, num_threads=1 if len(Z) == 1 else 0)
        elif self.kind == "catboost":
            from catboost import Pool

            out = self.final.get_feature_importance(Pool(Z), type="ShapValues",
                                                    thread_count=1 if len(Z) == 1 else -1)
        else:
            phi = (Z.astype(np.float64) - self._mean) * self._coef
            bias = float(np.asarray(self.final.intercept_).reshape(-1)[0]) + float(self._mean @ self._coef)
            return phi, np.full(len(Z), bias)
        out = np.asarray(out, dtype=np.float64)
        return out[:, :-1], out[:, -1]

    def encode(self, rows: list[Mapping[str, Any]]) -> np.ndarray:
        """Raw rows (mappings) -> the final estimator's float32 input, without pandas: the FeatureEncoder (strings
        one-hot, unseen -> zeros; bools 1/0; null -> NaN) then the imputer/scaler replayed with numpy (other steps:
        the pipeline's own transform on a frame)."""
        if self._replay is None:
            return transform(self.model, pd.DataFrame(list(rows))).to_numpy()
        Z = np.zeros((len(rows), len(self.names)), dtype=np.float32)
        for i, row in enumerate(rows):
            for column, position, cats in self._plan:
                try:
                    value = row[column]
                except KeyError:
                    raise KeyError(f"ReasonCoder: feature {column!r} missing from the transaction") from None
                if cats is None:
                    try:
                        Z[i, position] = np.nan if _isnull(value) else float(value)
                    except (TypeError, ValueError):
                        raise ValueError(f"ReasonCoder: feature {column!r} must be numeric, got {value!r}") from None
                elif isinstance(value, str) and value in cats:
                    Z[i, position + cats[value]] = 1.0
        for step in self._replay:
            Z = step(Z)
        return Z

    def _matrix(self, X) -> tuple[np.ndarray, list[Mapping[str, Any]] | pd.DataFrame]:
        if isinstance(X, Mapping):
            X = [X]
        if isinstance(X, pd.DataFrame) and len(X) <= SMALL_FRAME and self._replay is not None:
            X = [dict(zip(X.columns, values, strict=True)) for values in X.to_numpy(dtype=object)]  # ~50x to_dict
        if isinstance(X, list):
            return self.encode(X), X
        return transform(self.model, X).to_numpy(), X

    def contributions(self, X, with_base: bool = False) -> pd.DataFrame:
        """Log-odds contributions per reported raw feature (one-hot and partner columns summed), rows of X; with
        `with_base` a last column `base_value` (the row's contributions + base_value = the model's log-odds)."""
        Z, raw = self._matrix(X)
        phi, base = self._grouped(Z)
        frame = pd.DataFrame(phi, columns=self.reasons_of, index=raw.index if isinstance(raw, pd.DataFrame) else None)
        if with_base:
            frame["base_value"] = base
        return frame

    def _grouped(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phis, bases = [np.zeros((0, len(self.reasons_of)))], [np.zeros(0)]
        for start in range(0, len(Z), CHUNK_ROWS):
            phi, base = self._native(Z[start:start + CHUNK_ROWS])
            phis.append(phi @ self._group)
            bases.append(base)
        return np.vstack(phis), np.concatenate(bases)

    # -- words ------------------------------------------------------------------------------------------------------

    def reasons(self, X, n: int = 3) -> list[list[str]]:
        """Per row of X (a frame, or one transaction as a mapping), the sentences of the n features with the largest
        positive contributions to the fraud log-odds, largest first (fewer when fewer push the score up)."""
        Z, raw = self._matrix(X)
        if len(Z) == 0:
            return []
        phi = self._grouped(Z)[0]
        k = min(int(n), phi.shape[1])
        if k <= 0:
            return [[] for _ in range(len(Z))]
        top = np.argpartition(-phi, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(phi, top, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        top, values = np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)
        keep = values > 0
        texts = np.empty(top.shape, dtype=object)
        for g in np.unique(top[keep]):
            rows, slots = np.nonzero((top == g) & keep)
            column, say = self.reasons_of[g], self._say[g]
            if isinstance(raw, pd.DataFrame):
                col = raw[column].to_numpy(dtype=object)[rows]
            else:
                col = [raw[r][column] for r in rows]
            cache: dict[Any, str] = {}
            out = []
            for v in col:
                key = None if _isnull(v) else v
                if key not in cache:
                    cache[key] = say(v)
                out.append(cache[key])
            texts[rows, slots] = out
        counts = keep.sum(axis=1)
        return [list(t[:m]) for t, m in zip(texts, counts, strict=True)]

    def reason_codes(self, X: pd.DataFrame, n: int = 3) -> pd.DataFrame:
        """reasons(X, n) as columns reason_1 .. reason_n (None where a row has fewer), indexed like X."""
        rows = self.reasons(X, n)
        frame = pd.DataFrame([r + [None] * (n - len(r)) for r in rows], columns=[f"reason_{i + 1}" for i in range(n)])
        if isinstance(X, pd.DataFrame):
            frame.index = X.index
        return frame



class ServiceReasons:
    """`reasons_fn(model, X)` for FraudService (paylab.fraud.service): the model's ReasonCoder is built on the first
    call and kept while the service scores with that model. Picklable (the coder is rebuilt after loading)."""

    def __init__(self, features: Iterable[Feature] | None = None, n: int = 3, *,
                 background: pd.DataFrame | None = None):
        self.features = None if features is None else list(features)
        self.n = n
        self.background = background
        self._coder: ReasonCoder | None = None

    def coder(self, model) -> ReasonCoder:
        if self._coder is None or self._coder.model is not model:
            self._coder = ReasonCoder(model, self.features, background=self.background)
        return self._coder

    def __call__(self, model, X: pd.DataFrame) -> list[list[str]]:
        return self.coder(model).reasons(X, self.n)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_coder": None}

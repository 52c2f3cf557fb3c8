"""Real vs generated: the real Kaggle set's published marginals, measured again on any interim transactions.

The generator's target is every figure within +-25% of the real one at the `kaggle` scale (2010-2019, 13.3M rows).
On the real files the table compares the real set with itself (ratio 1, up to the README's rounding).

Definitions (all on the interim `transactions` columns of docs/DATA.md):
- fraud rates use LABELED rows only (label fraud or legit; `unlabeled` is neither), like `paylab.eda.fraud_rates`;
- channel rates group by `channel`; international = in person at a non-US merchant (`is_international`, not
  online), domestic = in person at a US merchant (neither online nor international): the `geo` of `fraud_by_geo`;
- median amounts: labeled fraud / labeled legit rows, on the signed `amount`, refunds INCLUDED. That is how the
  real figure is most plausibly computed (strip the `$`, group by label, median; the same convention as
  tests/test_synth.py), and the README says nothing of excluding refunds. Refunds are ~5% of rows, so leaving them
  out would move the legitimate median only a little upward;
- error share: rows whose `errors` is neither null nor empty, over ALL rows (the README: "errors is empty in 98.4%
  of rows" of transactions_data.csv);
- refund share (`is_refund`, amount < 0) and unlabeled share: over ALL rows;
- Bad CVV lift: fraud rate of labeled rows with `err_bad_cvv` / fraud rate of all labeled rows.
"""

from __future__ import annotations

import math

import pandas as pd
import polars as pl

from paylab.eda.frames import LABELED, Frame, lazy

# The real set's figures, each quoted from ../shared/kaggle-format/README.md (exact fractions where it gives counts;
# otherwise its rounded percentages, so a ratio on the real files may differ from 1 by that rounding).
REAL: dict[str, float] = {
    "fraud_rate": 13_332 / 8_914_963,  # "13,332 Yes (0.1495%)" of the 8,914,963 labels
    "fraud_rate_online": 0.0084,  # "fraud rate by channel Online 0.84%"
    "fraud_rate_chip": 0.00099,  # "Chip 0.099%"
    "fraud_rate_swipe": 0.00030,  # "Swipe 0.030%"
    "fraud_rate_international": 0.0558,  # "international merchants 5.58%"
    "fraud_rate_domestic": 0.00016,  # "vs US 0.016%"
    "median_amount_fraud": 69.97,  # "median fraud amount 69.97"
    "median_amount_legit": 28.95,  # "vs legit 28.95"
    "error_share": 1 - 0.984,  # "errors is empty in 98.4% of rows"
    "refund_share": 660_054 / 13_305_915,  # "negative for refunds (660,054 rows)" of 13,305,915
    "unlabeled_share": 4_390_952 / 13_305_915,  # "4,390,952 transactions (33%) have no label"
    "bad_cvv_fraud_lift": 23.0,  # "transactions with a Bad CVV error have 23x the base fraud rate"
}

QUANTITY_NAMES: dict[str, str] = {
    "fraud_rate": "fraud rate (labeled rows)",
    "fraud_rate_online": "fraud rate, online",
    "fraud_rate_chip": "fraud rate, chip",
    "fraud_rate_swipe": "fraud rate, swipe",
    "fraud_rate_international": "fraud rate, international in person",
    "fraud_rate_domestic": "fraud rate, US in person",
    "median_amount_fraud": "median amount, fraud ($)",
    "median_amount_legit": "median amount, legit ($)",
    "error_share": "share of rows with an error",
    "refund_share": "share of refunds",
    "unlabeled_share": "share of unlabeled rows",
    "bad_cvv_fraud_lift": "Bad CVV fraud rate / base rate",
}

# The only columns `marginals` reads (pass them to `load_interim(..., transaction_columns=...)` at scale).
MARGINAL_COLUMNS = (
    "label",
    "channel",
    "is_online",
    "is_international",
    "is_refund",
    "amount",
    "errors",
    "err_bad_cvv",
)


def _ratio(num: float | None, den: float | None) -> float:
    if num is None or den is None or den == 0:
        return float("nan")
    return float(num) / float(den)


def marginals(tx: Frame) -> dict[str, float]:
    """The REAL quantities measured on interim transactions, in one lazy pass over MARGINAL_COLUMNS.

    Every key of REAL comes back; a quantity with no rows to rest on (e.g. no labeled Bad CVV row) is NaN.
    See the module docstring for the definitions.
    """
    lf = lazy(tx)
    names = set(lf.collect_schema().names())
    missing = [c for c in MARGINAL_COLUMNS if c not in names]
    if missing:
        raise KeyError(f"transactions: no column {missing} (marginals needs {list(MARGINAL_COLUMNS)})")
    label, channel = pl.col("label"), pl.col("channel")  # compared as they are (Categorical or String): no casts
    labeled = label.is_in(list(LABELED))
    fraud = label == "fraud"
    in_person = ~pl.col("is_online")
    international = in_person & pl.col("is_international")
    domestic = in_person & ~pl.col("is_international")
    has_error = pl.col("errors").is_not_null() & (pl.col("errors") != "")
    groups = {
        "all": labeled,
        "online": labeled & (channel == "online"),
        "chip": labeled & (channel == "chip"),
        "swipe": labeled & (channel == "swipe"),
        "international": labeled & international,
        "domestic": labeled & domestic,
        "bad_cvv": labeled & pl.col("err_bad_cvv").fill_null(False),
    }
    aggs = [pl.len().alias("n_rows")]
    for name, mask in groups.items():
        aggs += [mask.sum().alias(f"n_{name}"), (mask & fraud).sum().alias(f"k_{name}")]
    aggs += [
        pl.col("amount").filter(fraud).median().alias("median_amount_fraud"),
        pl.col("amount").filter(label == "legit").median().alias("median_amount_legit"),
        has_error.sum().alias("n_error"),
        pl.col("is_refund").sum().alias("n_refund"),
        (label == "unlabeled").sum().alias("n_unlabeled"),
    ]
    s = lf.select(list(MARGINAL_COLUMNS)).select(aggs).collect().row(0, named=True)
    rate = {name: _ratio(s[f"k_{name}"], s[f"n_{name}"]) for name in groups}
    n_rows = s["n_rows"]

    def median(key: str) -> float:
        return float("nan") if s[key] is None else float(s[key])

    return {
        "fraud_rate": rate["all"],
        "fraud_rate_online": rate["online"],
        "fraud_rate_chip": rate["chip"],
        "fraud_rate_swipe": rate["swipe"],
        "fraud_rate_international": rate["international"],
        "fraud_rate_domestic": rate["domestic"],
        "median_amount_fraud": median("median_amount_fraud"),
        "median_amount_legit": median("median_amount_legit"),
        "error_share": _ratio(s["n_error"], n_rows),
        "refund_share": _ratio(s["n_refund"], n_rows),
        "unlabeled_share": _ratio(s["n_unlabeled"], n_rows),
        "bad_cvv_fraud_lift": _ratio(rate["bad_cvv"], rate["all"]),
    }


def marginals_table(tx: Frame, tolerance: float = 0.25) -> pd.DataFrame:
    """One row per REAL quantity: quantity (readable name), real, generated, ratio (generated / real) and
    within (|ratio - 1| <= tolerance; False where the quantity cannot be measured). Indexed by the metric key
    (`table["generated"].to_dict()` is the `marginals` dict)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    measured = marginals(tx)
    rows = []
    for key, ref in REAL.items():
        value = measured[key]
        ratio = _ratio(value, ref)
        rows.append(
            {
                "key": key,
                "quantity": QUANTITY_NAMES.get(key, key),
                "real": float(ref),
                "generated": value,
                "ratio": ratio,
                "within": (not math.isnan(ratio)) and abs(ratio - 1) <= tolerance,
            }
        )
    return pd.DataFrame(rows).set_index("key")

"""Plain words for feature values: `phrase(name, doc)` gives the sentence function of one spec feature (a raw value,
possibly null -> a sentence an analyst reads), as used by the reason codes (`paylab.fraud.reasons`).

    phrase("card_cnt_1h")(12)              # "12 payments on this card in the last hour"
    phrase("merchant_risk_rate_90d")(0.041) # "merchant's fraud rate over the last 90 days is 4.1%"
    phrase("something_new", "a new thing")(2.5)   # generic fallback: "a new thing: 2.5"

Features are matched by name (flags, single values, then families: velocity, risk, novelty, history, ratios, errors;
names as in `paylab.features.spec`); a name no rule knows gets "<doc>: <value>".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from paylab.features.spec import NIGHT_HOURS

Phrase = Callable[[Any], str]  # a raw value (never null) -> a sentence


def is_null(v) -> bool:
    """None, pd.NA, NaT or a float NaN."""
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
        if is_null(v):
            return null
        try:
            return chosen(v)
        except (TypeError, ValueError, IndexError, KeyError):  # an unexpected value: never lose the reason
            return generic(v)

    return say


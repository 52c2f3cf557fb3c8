"""The one definition of every transaction feature: names, windows, meaning. Engines implement this spec.

Point-in-time rules (every engine):
- Rows are ordered by (timestamp, transaction_id). A transaction's features use only rows strictly earlier in that
  order: at the same timestamp, a smaller transaction_id counts as earlier.
- A velocity window `w` at time t holds the earlier rows of the entity with timestamp in (t - w, t].
- A past transaction's label is known at time t iff its timestamp <= t - delay (delay > 0). A risk window `w` holds
  the known labels with timestamp in (t - delay - w, t - delay]. Unlabeled rows are never counted, as fraud or legit.
- Card and user attributes are the snapshot in data/interim, aged to the transaction time where the table allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

US = 1_000_000  # microseconds per second
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Columns written next to the features (keys and target: not features).
KEY_COLUMNS = ("transaction_id", "timestamp", "client_id", "card_id", "merchant_id", "label")
# Entities with their own transaction history.
ENTITIES = {"card": "card_id", "client": "client_id"}
VELOCITY_STATS = {
    "cnt": ("i64", "number of earlier transactions"),
    "sum": ("f64", "sum of amounts (0 when empty)"),
    "mean": ("f64", "mean amount (null when empty)"),
    "max": ("f64", "largest amount (null when empty)"),
    "nmerch": ("i64", "distinct merchants"),
    "nmcc": ("i64", "distinct MCCs"),
    "badcvv": ("i64", "earlier transactions with a bad-CVV error"),
}
# (entity, transaction column, short name): "first time this entity sees this value" and how often it did before.
NOVELTY = (
    ("card", "merchant_id", "merchant"),
    ("card", "mcc", "mcc"),
    ("client", "merchant_id", "merchant"),
    ("client", "mcc", "mcc"),
    ("client", "merchant_city", "city"),
    ("client", "merchant_state", "state"),
)
# Transaction columns copied as they are (interim dtype -> feature dtype).
PASSTHROUGH = {
    "amount": "f64",
    "mcc": "i64",
    "is_online": "bool",
    "is_international": "bool",
    "is_refund": "bool",
    "err_bad_cvv": "bool",
    "err_bad_card_number": "bool",
    "err_bad_expiration": "bool",
    "err_bad_pin": "bool",
    "err_bad_zipcode": "bool",
    "err_insufficient_balance": "bool",
    "err_technical_glitch": "bool",
}
CHANNELS = ("chip", "swipe")  # is_online is a passthrough
NIGHT_HOURS = (0, 6)  # [start, end) local hour
CYCLES = {"hour": 24, "weekday": 7}  # weekday: Monday = 0
CARD_COLUMNS = {  # cards.parquet column -> (feature, dtype)
    "card_brand": ("card_brand", "str"),
    "card_type": ("card_type", "str"),
    "has_chip": ("card_has_chip", "bool"),
    "credit_limit": ("card_credit_limit", "f64"),
    "num_cards_issued": ("card_num_cards_issued", "i64"),
    "card_on_dark_web": ("card_on_dark_web", "bool"),
}
USER_COLUMNS = {  # users.parquet column -> (feature, dtype)
    "yearly_income": ("user_yearly_income", "f64"),
    "per_capita_income": ("user_per_capita_income", "f64"),
    "total_debt": ("user_total_debt", "f64"),
    "credit_score": ("user_credit_score", "i64"),
    "num_credit_cards": ("user_num_credit_cards", "i64"),
    "gender": ("user_gender", "str"),
}
MIN_STD = 1e-6  # a history with a smaller standard deviation gives no z-score
RISK_ENTITIES = {"merchant": "merchant_id", "mcc": "mcc"}
RISK_STATS = {
    "nfraud": ("i64", "known frauds"),
    "nlabeled": ("i64", "known labels (fraud + legit; unlabeled excluded)"),
    "rate": ("f64", "nfraud / nlabeled (null when no known label)"),
}


def parse_duration(text: str) -> int:
    """'90s', '15m', '1h', '7d' -> microseconds."""
    match = re.fullmatch(r"(\d+)([smhd])", str(text).strip())
    if not match:
        raise ValueError(f"params.yaml features: bad duration {text!r} (expected e.g. '1h', '24h', '7d')")
    return int(match.group(1)) * _UNITS[match.group(2)] * US


@dataclass(frozen=True)
class FeatureConfig:
    """The knobs of the `features` section of params.yaml."""

    windows: tuple[str, ...] = ("1h", "24h", "7d", "30d")
    risk_windows: tuple[str, ...] = ("30d", "90d")
    delay_days: float = 7.0
    sequence_length: int = 10
    engine: str = "polars"
    spark: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> FeatureConfig:
        params = dict(params or {})
        known = {k: params[k] for k in ("windows", "risk_windows", "delay_days", "sequence_length", "engine")
                 if k in params}
        for key in ("windows", "risk_windows"):
            if key in known:
                known[key] = tuple(known[key])
        cfg = cls(**known, spark=dict(params.get("spark") or {}))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if not self.delay_days > 0:
            raise ValueError(f"params.yaml features.delay_days must be > 0, got {self.delay_days!r}")
        if self.sequence_length < 2:
            raise ValueError(f"params.yaml features.sequence_length must be >= 2, got {self.sequence_length!r}")
        for w in (*self.windows, *self.risk_windows):
            parse_duration(w)

    @property
    def delay_us(self) -> int:
        return round(self.delay_days * 86400 * US)

    def velocity_windows(self) -> list[tuple[str, int]]:
        return [(w, parse_duration(w)) for w in self.windows]

    def risk_specs(self) -> list[tuple[str, str, int | None]]:
        """(entity, window label, window in microseconds or None = all known history)."""
        specs: list[tuple[str, str, int | None]] = [
            (e, w, parse_duration(w)) for e in RISK_ENTITIES for w in self.risk_windows
        ]
        return [*specs, ("card", "all", None)]


def velocity_name(entity: str, stat: str, window: str) -> str:
    return f"{entity}_{stat}_{window}"


def risk_name(entity: str, stat: str, window: str) -> str:
    return f"{entity}_risk_{stat}_{window}"


def ratio_specs(cfg: FeatureConfig) -> list[tuple[str, str, str]]:
    """Derived ratios (name, numerator, denominator); null when the denominator is null or 0."""
    longest = cfg.windows[-1]
    return [
        ("card_merchant_share", "card_merchant_n_prior", "card_n_prior"),
        ("card_mcc_share", "card_mcc_n_prior", "card_n_prior"),
        ("client_amount_ratio", "amount", "client_hist_mean"),
        ("card_amount_ratio", "amount", "card_hist_mean"),
        (f"amount_to_card_mean_{longest}", "amount", velocity_name("card", "mean", longest)),
        ("amount_to_limit", "amount", "card_credit_limit"),
        ("user_debt_to_income", "user_total_debt", "user_yearly_income"),
    ]


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # f64 | i64 | bool | str
    group: str
    doc: str


def feature_list(cfg: FeatureConfig) -> list[Feature]:
    """Every feature in output order, with its dtype, group and a one-line definition."""
    f: list[Feature] = []
    for col, dtype in PASSTHROUGH.items():
        f.append(Feature(col, dtype, "transaction", f"interim column `{col}`"))
    f.append(Feature("amount_log_abs", "f64", "transaction", "log(1 + |amount|)"))
    f.append(Feature("has_error", "bool", "transaction", "any error reported"))
    f += [Feature(f"is_{c}", "bool", "transaction", f"channel == {c}") for c in CHANNELS]
    f.append(Feature("hour", "i64", "calendar", "hour of day 0-23"))
    f.append(Feature("weekday", "i64", "calendar", "day of week, Monday = 0"))
    f.append(Feature("is_night", "bool", "calendar", f"hour in [{NIGHT_HOURS[0]}, {NIGHT_HOURS[1]})"))
    f.append(Feature("is_weekend", "bool", "calendar", "Saturday or Sunday"))
    for unit, period in CYCLES.items():
        f.append(Feature(f"{unit}_sin", "f64", "calendar", f"sin(2 pi {unit} / {period})"))
        f.append(Feature(f"{unit}_cos", "f64", "calendar", f"cos(2 pi {unit} / {period})"))
    for entity in ENTITIES:
        for window, _ in cfg.velocity_windows():
            for stat, (dtype, doc) in VELOCITY_STATS.items():
                f.append(Feature(velocity_name(entity, stat, window), dtype, "velocity",
                                 f"{entity}: {doc} in the last {window}"))
    for entity in ENTITIES:
        f.append(Feature(f"{entity}_secs_since_prev", "f64", "history",
                         f"seconds since the {entity}'s previous transaction (null if none)"))
        f.append(Feature(f"{entity}_n_prior", "i64", "history", f"{entity}: number of earlier transactions"))
        f.append(Feature(f"{entity}_hist_mean", "f64", "history", f"{entity}: mean of all earlier amounts"))
        f.append(Feature(f"{entity}_hist_std", "f64", "history",
                         f"{entity}: sample std of all earlier amounts (null if fewer than 2)"))
        f.append(Feature(f"{entity}_amount_z", "f64", "history",
                         f"(amount - {entity}_hist_mean) / {entity}_hist_std (null if std < {MIN_STD})"))
    n = cfg.sequence_length
    f.append(Feature("card_seq_amount_mean", "f64", "sequence", f"mean amount of the card's last {n} transactions"))
    f.append(Feature("card_seq_amount_trend", "f64", "sequence",
                     f"OLS slope of amount on position over the card's last {n} transactions (null if < 2)"))
    f.append(Feature("card_seq_share_online", "f64", "sequence", f"share online in the card's last {n}"))
    f.append(Feature("card_seq_merchant_change_rate", "f64", "sequence",
                     f"share of consecutive pairs with a merchant change in the card's last {n} (null if < 2)"))
    for entity, col, short in NOVELTY:
        f.append(Feature(f"{entity}_{short}_n_prior", "i64", "novelty",
                         f"earlier transactions of the {entity} with this `{col}`"))
        f.append(Feature(f"{entity}_new_{short}", "bool", "novelty", f"first time the {entity} uses this `{col}`"))
    f.append(Feature("client_out_of_home_state", "bool", "novelty",
                     "in-person state differs from the client's home state (the most frequent state of its earlier "
                     "in-person transactions, the incumbent keeping ties); false when no state, null with no home"))
    for col, (name, dtype) in CARD_COLUMNS.items():
        f.append(Feature(name, dtype, "card", f"cards.parquet `{col}`"))
    f.append(Feature("card_age_days", "f64", "card", "days since acct_open_date (null if opened later)"))
    f.append(Feature("card_months_to_expiry", "i64", "card", "months from the transaction month to expiry"))
    f.append(Feature("card_pin_age_years", "i64", "card",
                     "year - year_pin_last_changed (null if changed later: the snapshot does not know)"))
    f.append(Feature("card_chip_mismatch", "bool", "card", "swiped although the card has a chip"))
    for col, (name, dtype) in USER_COLUMNS.items():
        f.append(Feature(name, dtype, "user", f"users.parquet `{col}`"))
    f.append(Feature("user_age", "i64", "user", "age in whole years at the transaction (birth year and month)"))
    f.append(Feature("user_years_to_retirement", "i64", "user", "retirement_age - user_age"))
    for name, num, den in ratio_specs(cfg):
        f.append(Feature(name, "f64", "ratio", f"{num} / {den}"))
    for entity, window, _ in cfg.risk_specs():
        for stat, (dtype, doc) in RISK_STATS.items():
            span = "all history" if window == "all" else f"a {window} window"
            f.append(Feature(risk_name(entity, stat, window), dtype, "risk",
                             f"{entity}: {doc} over {span} ending delay ({cfg.delay_days:g} d) before t"))
    names = [x.name for x in f]
    assert len(names) == len(set(names)), "duplicate feature names"
    return f


def feature_names(cfg: FeatureConfig | None = None) -> list[str]:
    return [x.name for x in feature_list(cfg or FeatureConfig())]

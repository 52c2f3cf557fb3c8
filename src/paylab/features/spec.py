"""The one definition of every transaction feature: names, windows, meaning. Engines implement this spec.

Point-in-time rules (every engine):
- Rows are ordered by (timestamp, transaction_id). A transaction's features use only rows strictly earlier in that
  order: at the same timestamp, a smaller transaction_id counts as earlier.
- A velocity window `w` at time t holds the earlier rows of the entity with timestamp in (t - w, t].
- A past transaction's label is known at time t iff its timestamp <= t - delay (delay > 0). A risk window `w` holds
  the known labels with timestamp in (t - delay - w, t - delay]. Unlabeled rows are never counted, as fraud or legit.
- Card and user attributes: data/interim holds one snapshot taken at the END of the period (the real Kaggle files).
  By default only the columns whose value at transaction time is known are read (`KNOWABLE_ATTRIBUTES`); the
  end-of-period columns (`SNAPSHOT_ATTRIBUTES`: a reissue, a PIN change or a limit cut often follows a fraud) are
  opt-in with `features.snapshot_attributes`. docs/DATA.md gives the reason per column.
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
# Card and user columns of data/interim whose value at transaction time is known (fixed when the card was issued or
# the client born): the default attribute features read only these.
KNOWABLE_ATTRIBUTES = {
    "cards": ("card_brand", "card_type", "has_chip"),
    "users": ("birth_year", "birth_month", "gender", "retirement_age"),
}
# End-of-period snapshot columns (column -> table, kind): their value at transaction time is unknown and may differ
# because of what followed (a reissue or PIN change after a fraud, a new limit, a new score). Features from them only
# when listed in `features.snapshot_attributes`. kind: date | year (a later change moves it past t) | value.
SNAPSHOT_ATTRIBUTES = {
    "expires": ("cards", "date"),
    "num_cards_issued": ("cards", "value"),
    "credit_limit": ("cards", "value"),
    "acct_open_date": ("cards", "date"),
    "year_pin_last_changed": ("cards", "year"),
    "card_on_dark_web": ("cards", "value"),
    "per_capita_income": ("users", "value"),
    "yearly_income": ("users", "value"),
    "total_debt": ("users", "value"),
    "credit_score": ("users", "value"),
    "num_credit_cards": ("users", "value"),
}


@dataclass(frozen=True)
class Attribute:
    """A card or user feature: built iff each of its `sources` is knowable or opted in; `copied`: the one source
    column as it is (else derived by each engine)."""

    name: str
    dtype: str
    group: str
    sources: tuple[str, ...]
    doc: str
    copied: bool = False


def _copy(name: str, dtype: str, column: str) -> Attribute:
    group = name.split("_")[0]  # card | user
    return Attribute(name, dtype, group, (column,), f"{group}s.parquet `{column}`", copied=True)


_SNAPSHOT_NOTE = " [end-of-period snapshot: may reflect changes after t; opt-in]"
ATTRIBUTES = (  # output order
    _copy("card_brand", "str", "card_brand"),
    _copy("card_type", "str", "card_type"),
    _copy("card_has_chip", "bool", "has_chip"),
    _copy("card_credit_limit", "f64", "credit_limit"),
    _copy("card_num_cards_issued", "i64", "num_cards_issued"),
    _copy("card_on_dark_web", "bool", "card_on_dark_web"),
    Attribute("card_age_days", "f64", "card", ("acct_open_date",),
              "days since acct_open_date (null if the snapshot's date is later)"),
    Attribute("card_months_to_expiry", "i64", "card", ("expires",), "months from the transaction month to expires"),
    Attribute("card_pin_age_years", "i64", "card", ("year_pin_last_changed",),
              "year - year_pin_last_changed (null if the snapshot's change is later)"),
    Attribute("card_chip_mismatch", "bool", "card", ("has_chip",), "swiped although the card has a chip"),
    _copy("user_yearly_income", "f64", "yearly_income"),
    _copy("user_per_capita_income", "f64", "per_capita_income"),
    _copy("user_total_debt", "f64", "total_debt"),
    _copy("user_credit_score", "i64", "credit_score"),
    _copy("user_num_credit_cards", "i64", "num_credit_cards"),
    _copy("user_gender", "str", "gender"),
    Attribute("user_age", "i64", "user", ("birth_year", "birth_month"),
              "age in whole years at the transaction (birth year and month)"),
    Attribute("user_years_to_retirement", "i64", "user", ("retirement_age", "birth_year", "birth_month"),
              "retirement_age - age at the transaction"),
)
MIN_STD = 1e-6  # a history with a smaller standard deviation gives no z-score
RISK_ENTITIES = {"merchant": "merchant_id", "mcc": "mcc"}
RISK_STATS = {
    "nfraud": ("i64", "known frauds"),
    "nlabeled": ("i64", "known labels, fraud + legit (unlabeled excluded): the count the rate rests on"),
    "rate": ("f64", "known frauds / known labels (null when no known label)"),
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
    risk_windows: tuple[str, ...] = ("1d", "7d", "30d", "90d")
    delay_days: float = 7.0
    sequence_length: int = 10
    engine: str = "polars"
    snapshot_attributes: tuple[str, ...] = ()  # end-of-period columns to use (SNAPSHOT_ATTRIBUTES); none by default
    spark: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        names = self.snapshot_attributes
        if isinstance(names, str) or not isinstance(names, (list, tuple)):
            raise ValueError(f"params.yaml features.snapshot_attributes must be a list of column names, got {names!r}")
        for name in names:
            if name in SNAPSHOT_ATTRIBUTES:
                continue
            knowable = any(name in cols for cols in KNOWABLE_ATTRIBUTES.values())
            why = "is knowable at transaction time and always used" if knowable else "is not a snapshot column"
            raise ValueError(f"params.yaml features.snapshot_attributes: {name!r} {why}; valid names: "
                             f"{', '.join(SNAPSHOT_ATTRIBUTES)}")
        # one canonical order (the table's), so that equal choices give equal configs
        object.__setattr__(self, "snapshot_attributes", tuple(c for c in SNAPSHOT_ATTRIBUTES if c in names))

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> FeatureConfig:
        params = dict(params or {})
        keys = ("windows", "risk_windows", "delay_days", "sequence_length", "engine", "snapshot_attributes")
        known = {k: params[k] for k in keys if k in params}
        for key in ("windows", "risk_windows"):
            if key in known:
                known[key] = tuple(known[key])
        if known.get("snapshot_attributes") is None:
            known.pop("snapshot_attributes", None)  # `snapshot_attributes:` left empty in params.yaml = none
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

    def attribute_columns(self, table: str) -> tuple[str, ...]:
        """The columns of `table` ("cards" or "users") the features may read: knowable + opted-in snapshot ones."""
        return (*KNOWABLE_ATTRIBUTES[table],
                *(c for c in self.snapshot_attributes if SNAPSHOT_ATTRIBUTES[c][0] == table))

    def attributes(self) -> list[Attribute]:
        """The card and user features of this config, in output order."""
        allowed = {*self.attribute_columns("cards"), *self.attribute_columns("users")}
        return [a for a in ATTRIBUTES if set(a.sources) <= allowed]


def velocity_name(entity: str, stat: str, window: str) -> str:
    return f"{entity}_{stat}_{window}"


def risk_name(entity: str, stat: str, window: str) -> str:
    return f"{entity}_risk_{stat}_{window}"


def ratio_specs(cfg: FeatureConfig) -> list[tuple[str, str, str]]:
    """Derived ratios (name, numerator, denominator); null when the denominator is null or 0."""
    longest = cfg.windows[-1]
    ratios = [
        ("card_merchant_share", "card_merchant_n_prior", "card_n_prior"),
        ("card_mcc_share", "card_mcc_n_prior", "card_n_prior"),
        ("client_amount_ratio", "amount", "client_hist_mean"),
        ("card_amount_ratio", "amount", "card_hist_mean"),
        (f"amount_to_card_mean_{longest}", "amount", velocity_name("card", "mean", longest)),
        ("amount_to_limit", "amount", "card_credit_limit"),
        ("user_debt_to_income", "user_total_debt", "user_yearly_income"),
    ]
    every, chosen = {a.name for a in ATTRIBUTES}, {a.name for a in cfg.attributes()}
    return [r for r in ratios if all(c in chosen or c not in every for c in r[1:])]  # attributes of this config


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
    for a in cfg.attributes():
        snapshot = any(c in SNAPSHOT_ATTRIBUTES for c in a.sources)
        f.append(Feature(a.name, a.dtype, a.group, a.doc + (_SNAPSHOT_NOTE if snapshot else "")))
    for name, num, den in ratio_specs(cfg):
        snapshot = any(c in SNAPSHOT_ATTRIBUTES for a in ATTRIBUTES if a.name in (num, den) for c in a.sources)
        f.append(Feature(name, "f64", "ratio", f"{num} / {den}" + (_SNAPSHOT_NOTE if snapshot else "")))
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

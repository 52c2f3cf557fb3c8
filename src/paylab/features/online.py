"""Online engine: per-card/client/merchant state; the feature vector of one new transaction, then a state update.

Feed transactions in (timestamp, transaction_id) order: `features(txn)` sees exactly the earlier ones, as the batch
engines do. `txn` is a mapping with the columns of data/interim/transactions.parquet (`label` optional). A label
learned later (chargeback, investigation) enters with `add_label(txn, label)`, in any order.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from paylab.features.spec import (
    CHANNELS,
    CYCLES,
    ENTITIES,
    MIN_STD,
    NIGHT_HOURS,
    NOVELTY,
    PASSTHROUGH,
    RISK_ENTITIES,
    RISK_STATS,
    VELOCITY_STATS,
    FeatureConfig,
    feature_list,
    ratio_specs,
    risk_name,
    velocity_name,
)

_EPOCH = datetime(1970, 1, 1)
_MICRO = timedelta(microseconds=1)
_RISK_KEYS = {**RISK_ENTITIES, "card": "card_id"}
LABELS = ("fraud", "legit")  # known labels; anything else (e.g. "unlabeled", None) is unknown


def _micros(ts: datetime | date) -> int:
    if not isinstance(ts, datetime):
        ts = datetime(ts.year, ts.month, ts.day)
    return (ts.replace(tzinfo=None) - _EPOCH) // _MICRO


def _and(a: bool | None, b: bool) -> bool | None:
    """Three-valued AND (as polars and SQL)."""
    if a is None:
        return False if b is False else None
    return a and b


class _History:
    """An entity's recent transactions (for windows), its last N (for sequences) and running moments."""

    def __init__(self, n_last: int) -> None:
        self.ts: list[int] = []
        self.amount: list[float] = []
        self.merch: list[int] = []
        self.mcc: list[int] = []
        self.bad: list[int] = []  # 1 when the row had a bad-CVV error
        self.start = 0
        self.last = deque(maxlen=n_last)
        self.n, self.s, self.ss, self.last_ts = 0, 0.0, 0.0, None

    def add(self, t: int, amount: float, merch: int, mcc: int, online: bool, bad: bool, horizon: int) -> None:
        self.ts.append(t)
        self.amount.append(amount)
        self.merch.append(merch)
        self.mcc.append(mcc)
        self.bad.append(1 if bad else 0)
        self.last.append((amount, online, merch))
        self.n, self.s, self.ss, self.last_ts = self.n + 1, self.s + amount, self.ss + amount * amount, t
        self.start = bisect_right(self.ts, t - horizon, self.start)
        if self.start > 256 and self.start * 2 > len(self.ts):
            for name in ("ts", "amount", "merch", "mcc", "bad"):
                setattr(self, name, getattr(self, name)[self.start:])
            self.start = 0


class _LabelLog:
    """An entity's known-label counts: cumulative frauds/labels after each row, in time order.

    Rows older than the horizon (delay + longest window) are dropped from the front: every later query counts them,
    so their counts live on in `base`; `cut` is the newest dropped timestamp.
    """

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.f: list[int] = []
        self.lab: list[int] = []
        self.base = (0, 0)  # cumulative counts of rows dropped from the front
        self.cut: int | None = None

    def append(self, t: int, fraud: int, labeled: int, horizon: int | None) -> None:
        """A new row at t >= every earlier row's time (the transaction stream)."""
        f0, l0 = (self.f[-1], self.lab[-1]) if self.ts else self.base
        self.ts.append(t)
        self.f.append(f0 + fraud)
        self.lab.append(l0 + labeled)
        if horizon is not None and len(self.ts) > 512 and self.ts[len(self.ts) // 2] <= t - horizon:
            cut = bisect_right(self.ts, t - horizon)
            self.base, self.cut = (self.f[cut - 1], self.lab[cut - 1]), self.ts[cut - 1]
            del self.ts[:cut], self.f[:cut], self.lab[:cut]

    def insert(self, t: int, fraud: int, labeled: int) -> None:
        """Change the counts of a row at time t, in any time order: every cumulative count from t on moves."""
        if self.cut is not None and t <= self.cut:  # a dropped row: every query counts it
            self.base = (self.base[0] + fraud, self.base[1] + labeled)
            i = 0
        else:
            i = bisect_left(self.ts, t)
            if i == len(self.ts) or self.ts[i] != t:
                f0, l0 = (self.f[i - 1], self.lab[i - 1]) if i else self.base
                self.ts.insert(i, t)
                self.f.insert(i, f0)
                self.lab.insert(i, l0)
        if fraud:
            self.f[i:] = [x + fraud for x in self.f[i:]]
        if labeled:
            self.lab[i:] = [x + labeled for x in self.lab[i:]]

    def upto(self, q: int) -> tuple[int, int]:
        """(frauds, labels) of rows with ts <= q."""
        i = bisect_right(self.ts, q)
        return (self.f[i - 1], self.lab[i - 1]) if i else self.base


class OnlineFeatures:
    """Incremental point-in-time features: `features(txn)` then `update(txn)` (or both: `process(txn)`); late labels
    with `add_label(txn, label)`."""

    def __init__(self, cards: pl.DataFrame, users: pl.DataFrame, params: dict[str, Any] | None = None) -> None:
        self.cfg = FeatureConfig.from_params(params)
        self.names = [f.name for f in feature_list(self.cfg)]
        self.windows = self.cfg.velocity_windows()
        self.horizon = max(w for _, w in self.windows)
        risk = self.cfg.risk_specs()
        self.risk = risk
        self.risk_horizon = {e: (None if any(w is None for x, _, w in risk if x == e)
                                 else self.cfg.delay_us + max(w for x, _, w in risk if x == e))
                             for e, _, _ in risk}
        # only the columns the config may read (knowable + opted-in snapshot ones)
        self.cards = {r["card_id"]: r for r in cards.select("card_id", *self.cfg.attribute_columns("cards"))
                      .iter_rows(named=True)}
        self.users = {r["client_id"]: r for r in users.select("client_id", *self.cfg.attribute_columns("users"))
                      .iter_rows(named=True)}
        self.copied = [(a.name, a.sources[0], a.group) for a in self.cfg.attributes() if a.copied]
        n_last = self.cfg.sequence_length
        self.hist = {e: defaultdict(lambda n=n_last: _History(n)) for e in ENTITIES}
        self.seen: list[dict[tuple, int]] = [defaultdict(int) for _ in NOVELTY]
        self.home: dict[int, list] = defaultdict(lambda: [defaultdict(int), None, 0])  # counts, leader, its count
        self.labels = {e: defaultdict(_LabelLog) for e in self.risk_horizon}
        self.known: dict[Any, bool] = {}  # transaction_id -> is fraud, for every labeled transaction

    # ---- public API
    def process(self, txn: Mapping[str, Any]) -> dict[str, Any]:
        out = self.features(txn)
        self.update(txn)
        return out

    def replay(self, transactions: pl.DataFrame | Iterable[Mapping[str, Any]]) -> pl.DataFrame:
        """Process transactions in (timestamp, transaction_id) order; the features as a frame (keys first)."""
        from paylab.features.build import conform, output_columns

        if isinstance(transactions, pl.DataFrame):
            transactions = transactions.sort("timestamp", "transaction_id").iter_rows(named=True)
        keys = ("transaction_id", "timestamp", "client_id", "card_id", "merchant_id", "label")
        rows = [{**{k: t.get(k) for k in keys}, **self.process(t)} for t in transactions]
        frame = pl.DataFrame(rows, schema=output_columns(self.cfg), orient="row", infer_schema_length=None,
                             strict=False)
        return conform(frame, self.cfg)

    def features(self, txn: Mapping[str, Any]) -> dict[str, Any]:
        """The feature vector of `txn` from the state (the state is not changed)."""
        t = _micros(txn["timestamp"])
        out: dict[str, Any] = {}
        self._row(txn, out)
        for entity, key in ENTITIES.items():
            self._velocity(entity, self.hist[entity].get(txn[key]), t, out)
        for entity, key in ENTITIES.items():
            self._moments(entity, self.hist[entity].get(txn[key]), t, txn["amount"], out)
        self._sequence(self.hist["card"].get(txn["card_id"]), out)
        for i, (entity, col, short) in enumerate(NOVELTY):
            n = self.seen[i].get((txn[ENTITIES[entity]], txn[col]), 0)
            out[f"{entity}_{short}_n_prior"], out[f"{entity}_new_{short}"] = n, n == 0
        out["client_out_of_home_state"] = self._out_of_home(txn)
        self._attributes(txn, out)
        for name, num, den in ratio_specs(self.cfg):
            a, b = out[num], out[den]
            out[name] = a / b if a is not None and b else None
        self._risk(txn, t, out)
        return {n: out[n] for n in self.names}

    def update(self, txn: Mapping[str, Any]) -> None:
        """Add `txn` (with its label if known) to the state."""
        t = _micros(txn["timestamp"])
        for entity, key in ENTITIES.items():
            self.hist[entity][txn[key]].add(t, txn["amount"], txn["merchant_id"], txn["mcc"], txn["is_online"],
                                            txn["err_bad_cvv"], self.horizon)
        for i, (entity, col, _) in enumerate(NOVELTY):
            self.seen[i][(txn[ENTITIES[entity]], txn[col])] += 1
        state = txn["merchant_state"]
        if state is not None:
            home = self.home[txn["client_id"]]
            home[0][state] += 1
            if home[0][state] > home[2]:
                home[1], home[2] = state, home[0][state]
        label = txn.get("label")
        labeled = label in LABELS
        first = labeled and txn["transaction_id"] not in self.known
        for entity, horizon in self.risk_horizon.items():
            self.labels[entity][txn[_RISK_KEYS[entity]]].append(t, int(first and label == "fraud"), int(first),
                                                                 horizon)
        if first:
            self.known[txn["transaction_id"]] = label == "fraud"
        elif labeled:  # labeled before, by add_label: replace
            self._set_label(txn, t, label == "fraud")

    def add_label(self, txn: Mapping[str, Any], label: str) -> None:
        """Record the label ("fraud" or "legit") of an earlier transaction learned later (chargeback, investigation).

        `txn` is that transaction's record (transaction_id, timestamp, merchant_id, mcc, card_id at least). The label
        is recorded at the transaction's own time, as if `update` had been given it: features at t count it iff the
        transaction's time <= t - delay. Labels may arrive in any order; a transaction's newer label replaces its
        earlier one (from `update` or `add_label`).
        """
        if label not in LABELS:
            raise ValueError(f"add_label: label must be one of {LABELS}, got {label!r} "
                             f"(transaction_id {txn.get('transaction_id')!r})")
        self._set_label(txn, _micros(txn["timestamp"]), label == "fraud")

    def _set_label(self, txn: Mapping[str, Any], t: int, fraud: bool) -> None:
        old = self.known.get(txn["transaction_id"])
        if old is not None and old == fraud:
            return
        d_fraud, d_labeled = int(fraud) - int(bool(old)), int(old is None)
        self.known[txn["transaction_id"]] = fraud
        for entity in self.risk_horizon:
            self.labels[entity][txn[_RISK_KEYS[entity]]].insert(t, d_fraud, d_labeled)

    # ---- feature groups
    def _row(self, txn: Mapping[str, Any], out: dict[str, Any]) -> None:
        for col in PASSTHROUGH:
            out[col] = txn[col]
        out["amount_log_abs"] = math.log(abs(txn["amount"]) + 1)
        out["has_error"] = txn["errors"] is not None
        for c in CHANNELS:
            out[f"is_{c}"] = txn["channel"] == c
        ts = txn["timestamp"]
        values = {"hour": ts.hour, "weekday": ts.weekday()}
        out.update(values)
        out["is_night"] = NIGHT_HOURS[0] <= ts.hour < NIGHT_HOURS[1]
        out["is_weekend"] = values["weekday"] >= 5
        for unit, period in CYCLES.items():
            angle = 2 * math.pi * values[unit] / period
            out[f"{unit}_sin"], out[f"{unit}_cos"] = math.sin(angle), math.cos(angle)

    def _velocity(self, entity: str, h: _History | None, t: int, out: dict[str, Any]) -> None:
        for window, width in self.windows:
            lo = bisect_right(h.ts, t - width, h.start) if h else 0
            amounts = h.amount[lo:] if h else []
            n = len(amounts)
            total = sum(amounts, 0.0)
            values = {"cnt": n, "sum": total, "mean": total / n if n else None, "max": max(amounts, default=None),
                      "nmerch": len(set(h.merch[lo:])) if h else 0, "nmcc": len(set(h.mcc[lo:])) if h else 0,
                      "badcvv": sum(h.bad[lo:]) if h else 0}
            for stat in VELOCITY_STATS:
                out[velocity_name(entity, stat, window)] = values[stat]

    def _moments(self, entity: str, h: _History | None, t: int, amount: float, out: dict[str, Any]) -> None:
        n, s, ss = (h.n, h.s, h.ss) if h else (0, 0.0, 0.0)
        mean = s / n if n else None
        std = math.sqrt(max((ss - s * s / n) / (n - 1), 0.0)) if n > 1 else None
        out[f"{entity}_secs_since_prev"] = (t - h.last_ts) / 1e6 if h else None
        out[f"{entity}_n_prior"] = n
        out[f"{entity}_hist_mean"] = mean
        out[f"{entity}_hist_std"] = std
        out[f"{entity}_amount_z"] = (amount - mean) / std if std is not None and std >= MIN_STD else None

    def _sequence(self, h: _History | None, out: dict[str, Any]) -> None:
        last = list(h.last) if h else []
        k = len(last)
        mean = share = trend = change = None
        if k:
            mean = sum((a for a, _, _ in last), 0.0) / k
            share = sum((float(o) for _, o, _ in last), 0.0) / k
        if k > 1:
            mid = (k - 1) / 2.0
            num = 0.0
            for p, (a, _, _) in enumerate(last):
                num += (p - mid) * (a - mean)
            trend = num / (k * (k * k - 1) / 12.0)
            change = sum(last[p][2] != last[p - 1][2] for p in range(1, k)) / (k - 1)
        out["card_seq_amount_mean"], out["card_seq_amount_trend"] = mean, trend
        out["card_seq_share_online"], out["card_seq_merchant_change_rate"] = share, change

    def _out_of_home(self, txn: Mapping[str, Any]) -> bool | None:
        if txn["merchant_state"] is None:
            return False
        leader = self.home[txn["client_id"]][1] if txn["client_id"] in self.home else None
        return None if leader is None else txn["merchant_state"] != leader

    def _attributes(self, txn: Mapping[str, Any], out: dict[str, Any]) -> None:
        ts = txn["timestamp"]
        month = ts.year * 12 + ts.month - 1
        card = self.cards.get(txn["card_id"], {})
        user = self.users.get(txn["client_id"], {})
        for name, col, group in self.copied:
            out[name] = (card if group == "card" else user).get(col)
        # derived: a column the config does not read is absent from card / user (None), its feature not output
        opened, expires, pin = card.get("acct_open_date"), card.get("expires"), card.get("year_pin_last_changed")
        age = (_micros(ts) - _micros(opened)) / 86_400e6 if opened is not None else None
        out["card_age_days"] = age if age is not None and age >= 0 else None
        out["card_months_to_expiry"] = expires.year * 12 + expires.month - 1 - month if expires else None
        out["card_pin_age_years"] = ts.year - pin if pin is not None and ts.year - pin >= 0 else None
        out["card_chip_mismatch"] = _and(card.get("has_chip"), txn["channel"] == "swipe")
        born = (user.get("birth_year"), user.get("birth_month"))
        age_years = (month - born[0] * 12 - born[1] + 1) // 12 if None not in born else None
        out["user_age"] = age_years
        retire = user.get("retirement_age")
        out["user_years_to_retirement"] = retire - age_years if None not in (retire, age_years) else None

    def _risk(self, txn: Mapping[str, Any], t: int, out: dict[str, Any]) -> None:
        end = t - self.cfg.delay_us
        base: dict[str, tuple] = {}  # entity -> (its label log, counts up to t - delay): shared by its windows
        for entity, window, width in self.risk:
            if entity not in base:
                log = self.labels[entity].get(txn[_RISK_KEYS[entity]])
                base[entity] = log, (log.upto(end) if log else (0, 0))
            log, (f, lab) = base[entity]
            if width is not None and log:
                f0, l0 = log.upto(end - width)
                f, lab = f - f0, lab - l0
            values = {"nfraud": f, "nlabeled": lab, "rate": f / lab if lab else None}
            for stat in RISK_STATS:
                out[risk_name(entity, stat, window)] = values[stat]

"""The layered fraud decision: rules -> ML probability -> anomaly score -> approve / review / decline, with reasons.

    engine = DecisionEngine(params["fraud"]["decision"])          # a dict; missing sections take DEFAULT_CONFIG
    engine.decide(txn, features, proba=0.42, anomaly=None)        # one transaction (online) -> Decision
    engine.decide_batch(feature_frame, proba, anomaly)            # pandas/polars frame -> DataFrame
    evaluate_decisions(decisions, labels, amounts, review_cost)   # approval / review rates, fraud caught, cost, ...

Every layer can only raise the severity (approve < review < decline); every fired check adds a plain-words reason.
Rules read feature columns named in the config (e.g. "card_cnt_1h"), so the engine fits any feature table.
A section set to null (None) is switched off; a mapping section given in the config updates the default one, a
list section (velocity, amount) replaces it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from paylab.evaluation import review_outcome

ACTIONS = ("approve", "review", "decline")
SEVERITY = {name: i for i, name in enumerate(ACTIONS)}
NO_ANOMALY = "no anomaly score available"  # a reason while the anomaly layer is on

DEFAULT_CONFIG: dict[str, Any] = {
    # fires when the feature is above `max`: count of the card's earlier payments in a window
    "velocity": [
        {"feature": "card_cnt_1h", "max": 5, "action": "review",
         "reason": "{value:.0f} card payments in the last hour, above the limit of {limit:.0f}"},
        {"feature": "card_cnt_24h", "max": 30, "action": "review",
         "reason": "{value:.0f} card payments in the last 24 hours, above the limit of {limit:.0f}"},
    ],
    "amount": [{"feature": "amount", "max": 5_000, "action": "review"},
               {"feature": "amount", "max": 25_000, "action": "decline"}],
    "blocked_mcc": {"feature": "mcc", "values": [], "action": "decline"},
    "blocked_merchants": {"feature": "merchant_id", "values": [], "action": "decline"},
    # fires when the feature is at least `min`: bad-CVV errors of the card in the last hour
    "bad_cvv_burst": {"feature": "card_badcvv_1h", "min": 3, "action": "decline"},
    "ml": {"review": 0.5, "decline": 0.9},
    "anomaly": {"review": 0.95, "decline": None},
}
_RULE_SECTIONS = {"velocity": "gt", "amount": "gt", "blocked_mcc": "in", "blocked_merchants": "in",
                  "bad_cvv_burst": "ge"}
_LIMIT_KEY = {"gt": "max", "ge": "min", "in": "values"}
_DEFAULT_REASON = {  # a rule's "reason" template overrides its section's; fields: value, limit, action, feature
    "velocity": "{feature} is {value:g}, above the limit {limit:g}",
    "amount": "amount ${value:,.2f} above the {action} limit of ${limit:,.0f}",
    "blocked_mcc": "merchant category {value} is blocked",
    "blocked_merchants": "merchant {value} is blocked",
    "bad_cvv_burst": "{value:.0f} bad-CVV errors on this card in the last hour (limit {limit:.0f})",
}
_SCORE_REASONS = {
    "ml": "fraud probability {value:.2f} at or above the {action} threshold {limit:.2f}",
    "anomaly": "anomaly score {value:.2f} at or above the {action} threshold {limit:.2f}",
}


@dataclass(frozen=True)
class Check:
    """One test on one column: `op` is gt (value > limit), ge (value >= limit) or in (value in limit)."""

    name: str
    column: str
    op: str
    limit: Any
    action: str
    reason: str

    def fires(self, values: np.ndarray) -> np.ndarray:
        if self.op == "in":
            return np.isin(values, list(self.limit))
        values = values.astype(float)
        with np.errstate(invalid="ignore"):  # NaN (no history) never fires
            return values > self.limit if self.op == "gt" else values >= self.limit

    def explain(self, value: Any) -> str:
        limit = sorted(self.limit) if self.op == "in" else self.limit
        return self.reason.format(value=value, limit=limit, action=self.action, feature=self.column)


@dataclass(frozen=True)
class Decision:
    action: str
    reasons: tuple[str, ...]
    proba: float
    anomaly_missing: bool

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.action, "reasons": list(self.reasons), "proba": self.proba,
                "anomaly_missing": self.anomaly_missing}


def _merge(default: Any, given: Any) -> Any:
    """A given mapping updates the default one (keeping e.g. its action and reason); anything else replaces it."""
    return {**default, **given} if isinstance(default, Mapping) and isinstance(given, Mapping) else given


def _as_list(section: Any) -> list[dict[str, Any]]:
    return [] if section is None else [section] if isinstance(section, Mapping) else list(section)


def _rule_checks(config: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for section, op in _RULE_SECTIONS.items():
        for i, rule in enumerate(_as_list(config.get(section))):
            key = _LIMIT_KEY[op]
            if "feature" not in rule or key not in rule:
                raise ValueError(f"decision config {section}[{i}] needs 'feature' and '{key}', got {dict(rule)}")
            action = rule.get("action", "review")
            if action not in ("review", "decline"):
                raise ValueError(f"decision config {section}[{i}].action must be review or decline, got {action!r}")
            limit = frozenset(rule[key]) if op == "in" else float(rule[key])
            if op == "in" and not limit:
                continue  # an empty block list checks nothing
            checks.append(Check(f"{section}_{action}_{rule['feature']}", rule["feature"], op, limit, action,
                                rule.get("reason", _DEFAULT_REASON[section])))
    names = [c.name for c in checks]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"decision config: two rules of the same section, action and feature: {sorted(dupes)}")
    return checks


def _score_checks(layer: str, thresholds: Mapping[str, Any] | None) -> list[Check]:
    """Decline first: a row at or above the decline threshold gives only the decline reason of its layer."""
    if thresholds is None:
        return []
    review, decline = thresholds.get("review"), thresholds.get("decline")
    if review is not None and decline is not None and review > decline:
        raise ValueError(f"decision config {layer}: review threshold {review} above decline threshold {decline}")
    return [Check(f"{layer}_{action}", layer, "ge", float(limit), action, _SCORE_REASONS[layer])
            for action, limit in (("decline", decline), ("review", review)) if limit is not None]


def _missing(name: str, check: str) -> KeyError:
    return KeyError(f"decision rule {check!r} needs the feature {name!r}, absent from the features "
                    f"(set its config section to null to switch it off)")


def _column(frame, name: str, check: str) -> np.ndarray:
    """A column of a pandas or polars frame as a numpy array."""
    if name not in frame.columns:
        raise _missing(name, check)
    return np.asarray(frame[name].to_numpy())


class DecisionEngine:
    """Rules, then the ML probability, then the anomaly score; thresholds and lists come from `config`."""

    def __init__(self, config: Mapping[str, Any] | None = None):
        config = dict(config or {})
        unknown = set(config) - set(DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"decision config: unknown sections {sorted(unknown)} (known: {list(DEFAULT_CONFIG)})")
        self.config = {key: _merge(default, config[key]) if key in config else default
                       for key, default in copy.deepcopy(DEFAULT_CONFIG).items()}
        self.rules = _rule_checks(self.config)
        self.ml = _score_checks("ml", self.config["ml"])
        self.anomaly = _score_checks("anomaly", self.config["anomaly"])

    def describe(self) -> list[str]:
        """One line per check, in the order they run."""
        return [f"{c.name}: {c.column} {c.op} {sorted(c.limit) if c.op == 'in' else c.limit} -> {c.action}"
                for c in (*self.rules, *self.ml, *self.anomaly)]

    @property
    def features(self) -> list[str]:
        """The feature columns the rules read."""
        return list(dict.fromkeys(c.column for c in self.rules))

    def _evaluate(self, columns: Mapping[str, np.ndarray], proba: np.ndarray, anomaly: np.ndarray | None):
        """(severity per row, [(check, fired mask, values)] in layer order, anomaly-missing mask)."""
        n = len(proba)
        missing = np.ones(n, bool) if anomaly is None else np.isnan(anomaly)
        scores = {"ml": proba, "anomaly": np.full(n, np.nan) if anomaly is None else anomaly}
        severity = np.zeros(n, np.int8)
        fired = []
        for layer, values in ((self.rules, columns), (self.ml, scores), (self.anomaly, scores)):
            done = np.zeros(n, bool)  # score layers: one reason per row (the decline one when both fire)
            for check in layer:
                mask = check.fires(values[check.column]) & ~done
                if values is scores:
                    done |= mask
                severity = np.maximum(severity, np.where(mask, SEVERITY[check.action], 0))
                fired.append((check, mask, values[check.column]))
        return severity, fired, missing

    def decide(self, txn: Mapping[str, Any], features: Mapping[str, Any] | None = None, proba: float = 0.0,
               anomaly: float | None = None) -> Decision:
        """One transaction: `txn` and its `features` (the latter wins on a shared key)."""
        row = {**txn, **(features or {})}
        absent = next((c for c in self.rules if c.column not in row), None)
        if absent is not None:
            raise _missing(absent.column, absent.name)
        columns = {c.column: np.asarray([row[c.column]], dtype=None if c.op == "in" else float) for c in self.rules}
        score = None if anomaly is None else np.asarray([anomaly], dtype=float)
        severity, fired, missing = self._evaluate(columns, np.asarray([proba], dtype=float), score)
        reasons = [check.explain(values[0]) for check, mask, values in fired if mask[0]]
        if missing[0] and self.anomaly:
            reasons.append(NO_ANOMALY)
        return Decision(ACTIONS[severity[0]], tuple(reasons), float(proba), bool(missing[0]))

    def decide_batch(self, frame, proba, anomaly=None) -> pd.DataFrame:
        """Every row of a feature frame (pandas or polars): columns decision, reasons (list of str), proba,
        anomaly_missing, and one boolean `hit_<check>` per check."""
        proba = np.asarray(proba, dtype=float)
        columns = {c.column: _column(frame, c.column, c.name) for c in self.rules}
        if any(len(v) != len(proba) for v in columns.values()):
            raise ValueError(f"proba has {len(proba)} rows, the feature frame {len(next(iter(columns.values())))}")
        score = None if anomaly is None else np.asarray(anomaly, dtype=float)
        severity, fired, missing = self._evaluate(columns, proba, score)
        reasons: list[list[str]] = [[] for _ in range(len(proba))]
        for check, mask, values in fired:
            for i in np.flatnonzero(mask):
                reasons[i].append(check.explain(values[i]))
        for i in np.flatnonzero(missing) if self.anomaly else ():
            reasons[i].append(NO_ANOMALY)
        out = pd.DataFrame({"decision": np.asarray(ACTIONS, dtype=object)[severity], "reasons": reasons,
                            "proba": proba, "anomaly_missing": missing})
        for check, mask, _ in fired:
            out[f"hit_{check.name}"] = mask
        return out


def evaluate_decisions(decisions, labels, amounts, review_cost: float | None = None,
                       fraud_loss_share: float = 1.0) -> dict[str, float]:
    """Rates and fraud outcomes of decisions ("approve" / "review" / "decline", or the frame of `decide_batch`)
    against 0/1 labels (labeled rows only) and amounts. A fraud is caught when reviewed or declined; a false
    decline is a declined legitimate transaction. Fraud amounts, and `cost` when `review_cost` is given, are those of
    `evaluation.review_outcome` with every reviewed or declined row as a review (refunds count 0; the ML review
    threshold is chosen on that cost)."""
    if isinstance(decisions, pd.DataFrame):
        decisions = decisions["decision"]
    action = np.asarray(decisions, dtype=object)
    y = np.asarray(labels).astype(bool)
    amount = np.asarray(amounts, dtype=float)
    if not (len(action) == len(y) == len(amount)):
        raise ValueError(f"decisions, labels and amounts differ in length: {len(action)}, {len(y)}, {len(amount)}")
    unknown = ~np.isin(action, ACTIONS)
    if unknown.any():
        raise ValueError(f"decisions must be one of {ACTIONS}, got e.g. {action[unknown][0]!r}")
    declined, reviewed = action == "decline", action == "review"
    caught = (declined | reviewed) & y
    outcome = review_outcome(y.astype(int), declined | reviewed, amount, review_cost or 0.0, fraud_loss_share)
    legit = ~y
    n, n_fraud, n_legit = len(action), int(y.sum()), int(legit.sum())

    def rate(num: float, den: float) -> float:
        return float(num / den) if den else float("nan")

    out = {
        "n": n,
        "approval_rate": rate((action == "approve").sum(), n),
        "review_rate": rate(reviewed.sum(), n),
        "decline_rate": rate(declined.sum(), n),
        "frauds": n_fraud,
        "fraud_caught_count": int(caught.sum()),
        "fraud_declined_count": int((declined & y).sum()),
        "fraud_caught_amount": outcome["fraud_amount_caught"],
        "fraud_amount": outcome["fraud_amount_caught"] + outcome["fraud_amount_missed"],
        "fraud_recall": rate(caught.sum(), n_fraud),
        "fraud_amount_recall": outcome["amount_recall"],
        "false_declines": int((declined & legit).sum()),
        "false_decline_rate": rate((declined & legit).sum(), n_legit),
        "false_decline_amount": float(amount[declined & legit].sum()),
        "legit_reviews": int((reviewed & legit).sum()),
    }
    if review_cost is not None:
        out["cost"] = outcome["cost"]
    return out


"""Each module's story for people (the walkthrough reports/index.html and the demo's overview): the business
question, the headline metric, the key figure, numbers formatted for reading, and a one-sentence answer generated
from the module's metrics JSON (never hard-coded).

    answer("fraud", json.loads(Path("reports/metrics/fraud.json").read_text()))
    number(952885) -> "952,885";  number(0.6312) -> "0.631";  money(15298.2) -> "$15,298"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

NAN = float("nan")


@dataclass(frozen=True)
class Module:
    title: str
    notebook: str          # stem of reports/notebooks/<notebook>.html
    question: str
    metric: str            # the headline metric of its model / baseline / ceiling blocks
    figure: str            # stem of the key figure under reports/figures/<module>/ (first figure when absent)


MODULES = {
    "eda": Module("The data", "01_eda", "What is in the wallet's payments, and how much of it is fraud?",
                  "fraud_rate_labeled", "fraud_rate_by_month"),
    "features": Module("Features", "02_features", "Which point-in-time signals separate fraud from legitimate "
                       "payments?", "n_features", "information_value"),
    "fraud": Module("Fraud detection", "03_fraud", "Which card payments should the platform decline or send to an "
                    "analyst?", "average_precision", "pr_curve"),
    "anomaly": Module("Anomaly detection", "04_anomaly", "Which payments look unlike the rest, without labels?",
                      "average_precision", "pr_curve"),
    "recsys": Module("Merchant recommendations", "05_recsys", "Which merchants will a user pay next, and whom should "
                     "a merchant target?", "ndcg_at_10", "metrics"),
    "churn": Module("Churn", "06_churn", "Which users are about to leave, and whom should retention call?",
                    "average_precision", "lift"),
    "credit": Module("Credit scoring", "07_credit", "Whom should the wallet lend to, and how much?", "roc_auc",
                     "roc"),
    "quant": Module("Quant signals", "08_quant", "Is there a tradable signal in the daily price panel, after costs?",
                    "rank_ic", "equity"),
    "monitoring": Module("Monitoring", "09_monitoring", "Has the data moved since the fraud model was trained, and "
                         "did its quality follow?", "roc_auc", "psi_heatmap"),
}


def number(value) -> str:
    """A number for people: 952,885 (counts), 15,298 (large values), 0.631 (rates and scores), n/a (NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if value != value:
        return "n/a"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}" if abs(value) >= 0.001 else f"{value:.2g}"


def money(value) -> str:
    return f"${value:,.0f}" if isinstance(value, int | float) and value == value else "n/a"


def pct(value) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) and value == value else "n/a"


def with_ci(block: Mapping, metric: str) -> str:
    """'0.631 [0.580, 0.690]' (or the value alone without an interval; '' without the metric)."""
    value = block.get(metric) if isinstance(block, Mapping) else None
    if not isinstance(value, int | float):
        return ""
    low, high = block.get(f"{metric}_ci_low"), block.get(f"{metric}_ci_high")
    if isinstance(low, int | float) and isinstance(high, int | float):
        return f"{number(value)} [{number(low)}, {number(high)}]"
    return number(value)


def ceiling(data: Mapping) -> Mapping:
    """The latent ceiling block (`latent_ceiling` or `oracle`), {} when the data has none."""
    return next((data[k] for k in ("latent_ceiling", "oracle") if isinstance(data.get(k), Mapping)), {})


def _name(metric: str) -> str:
    return {"average_precision": "average precision", "roc_auc": "ROC-AUC", "rank_ic": "RankIC",
            "ndcg_at_10": "NDCG@10"}.get(metric, metric.replace("_", " "))


def _verdict(data: Mapping, metric: str) -> str:
    """'better' / 'worse' / 'no measurable difference' from the first `*_minus_baseline` block that has `metric`."""
    for key, block in (data.get("differences") or {}).items():
        if key.endswith("minus_baseline") and isinstance(block, Mapping) and isinstance(block.get(metric), Mapping):
            d = block[metric]
            return (f"{d.get('verdict', '?')} (difference {d['difference']:+.3f} "
                    f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}])")
    return ""


def generic(module: str, data: Mapping) -> str:
    """Model vs baseline vs ceiling on the module's headline metric."""
    metric = MODULES[module].metric if module in MODULES else "roc_auc"
    model, base, top = data.get("model", {}), data.get("baseline", {}), ceiling(data)
    if not with_ci(model, metric):
        return "The stage ran; its metrics file has no headline model block yet."
    text = f"The model reaches {_name(metric)} {with_ci(model, metric)}"
    if with_ci(base, metric):
        text += f" against {with_ci(base, metric)} for the baseline"
        verdict = _verdict(data, metric)
        text += f": {verdict}" if verdict else ""
    if with_ci(top, metric):
        text += f"; the latent ceiling (hidden state) reaches {with_ci(top, metric)}"
    return text + "."


def _eda(d: Mapping) -> str:
    return (f"{number(d.get('n_transactions'))} payments of {number(d.get('n_cards'))} cards at "
            f"{number(d.get('n_merchants'))} merchants from {str(d.get('period_start', '?'))[:10]} to "
            f"{str(d.get('period_end', '?'))[:10]}; "
            f"{pct(d.get('labeled_share'))} are labelled and {pct(d.get('fraud_rate_labeled'))} of those are fraud "
            f"[{pct(d.get('fraud_rate_labeled_ci_low'))}, {pct(d.get('fraud_rate_labeled_ci_high'))}].")


def _features(d: Mapping) -> str:
    n = d.get("n_features") or d.get("features")
    rows = d.get("n_rows") or d.get("rows")
    parts = [f"{number(n)} point-in-time features" if n is not None else "Point-in-time features"]
    if rows is not None:
        parts.append(f"for {number(rows)} payments")
    return " ".join(parts) + ", each computed only from what was known before the payment."


def _fraud(d: Mapping) -> str:
    text = generic("fraud", d)
    dec = d.get("decision") or {}
    if dec:
        flagged = dec.get("review_rate", NAN) + dec.get("decline_rate", 0.0)
        text += (f" With the decision engine it reviews or declines {pct(flagged)} of test payments and catches "
                 f"{pct(dec.get('fraud_recall'))} of frauds "
                 f"({money(dec.get('fraud_caught_amount'))} of {money(dec.get('fraud_amount'))}).")
    return text


def _credit(d: Mapping) -> str:
    name = (d.get("model") or {}).get("name", "model")
    text = generic("credit", d).replace("The model", f"The {name}", 1)
    cut = d.get("cutoff") or {}
    if cut:
        text += (f" At the cutoff of {number(cut.get('cutoff'))} points it approves {pct(cut.get('approval_rate'))} "
                 f"of applicants with a bad rate of {pct(cut.get('approved_bad_rate'))}.")
    return text


def _quant(d: Mapping) -> str:
    text = generic("quant", d)
    m = d.get("model") or {}
    if "ls_net_sharpe" in m:
        tradable = (m.get("ls_net_sharpe_ci_low") or NAN) > 0
        text += (f" Net of costs the long-short Sharpe is {with_ci(m, 'ls_net_sharpe')}: "
                 f"{'tradable (the interval is above zero)' if tradable else 'not shown to be tradable after costs'}.")
    return text


def _monitoring(d: Mapping) -> str:
    from paylab.monitoring.summary import answer

    return answer(d)


def _ingest(d: Mapping) -> str:
    t = d.get("totals") or {}
    return (f"{number(t.get('read'))} rows read, {number(t.get('accepted'))} accepted and "
            f"{number(t.get('quarantined'))} quarantined with a reason.")


ANSWERS: dict[str, Callable[[Mapping], str]] = {"eda": _eda, "features": _features, "fraud": _fraud,
                                                "credit": _credit, "quant": _quant, "monitoring": _monitoring,
                                                "ingest": _ingest}


def answer(module: str, data: Mapping) -> str:
    """One sentence (or two) answering the module's question from its metrics; never raises on a partial file."""
    try:
        return ANSWERS.get(module, lambda d: generic(module, d))(data)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        return f"(the metrics file lacks what the answer needs: {type(err).__name__} {err})"

"""Sentences from the monitoring metrics (reports/metrics/monitoring.json): which features drifted most, whether the
fraud model's quality followed. Used by notebook 09 and by the walkthrough (reports/index.html): never hard-coded."""

from __future__ import annotations

from collections.abc import Mapping

from paylab.evaluation import PSI_BANDS, psi_band


def _iv(block: Mapping, metric: str) -> str:
    return f"{block[metric]:.3f} [{block[metric + '_ci_low']:.3f}, {block[metric + '_ci_high']:.3f}]"


def drift_sentence(m: Mapping) -> str:
    """Which features drifted most (reference-decile PSI, the bands' binning)."""
    s = m["summary"]
    top = s.get("top_drifted", {})
    if not top:
        return "No monitored feature could be compared."
    names = ", ".join(f"{k} (max PSI {v:.2f}, {psi_band(v)})" for k, v in list(top.items())[:3])
    months = s["n_months"]
    return (f"Over {months} months after the fraud model's training window, the features that drifted most are "
            f"{names}; {s['n_significant_cells']} of {s['n_cells']} feature-months are above {PSI_BANDS[1]} "
            f"(investigate / retrain) and {s['n_moderate_cells']} between {PSI_BANDS[0]} and {PSI_BANDS[1]}.")


def performance_sentence(m: Mapping) -> str:
    """Did the fraud model's ROC-AUC / AP follow the drift (first vs last month with enough labelled frauds)?"""
    s = m["summary"]
    first, last = m["baseline"], m["model"]
    moves = s.get("performance_followed", {})
    auc, ap = moves.get("roc_auc", "unknown"), moves.get("average_precision", "unknown")
    said = {"fell": "fell", "rose": "rose", "held": "held", "unknown": "cannot be told"}
    text = (f"The fraud score's own PSI reached {s['max_score_psi']:.2f} ({psi_band(s['max_score_psi'])}); its "
            f"ROC-AUC {said[auc]} from {_iv(first, 'roc_auc')} in {s['first_month']} to {_iv(last, 'roc_auc')} in "
            f"{s['last_month']}, and its average precision {said[ap]} ({_iv(first, 'average_precision')} to "
            f"{_iv(last, 'average_precision')}); a metric is said to move only when the two months' 95% intervals "
            f"do not overlap.")
    if auc in ("held", "rose") and ap in ("held", "rose") and s["n_significant_cells"]:
        text += " The drift did not (yet) cost measurable ranking quality: watch, but there is no case to retrain."
    elif "fell" in (auc, ap):
        text += " Quality followed the drift down: retrain on recent months."
    return text


def years_sentence(m: Mapping) -> str:
    """The slow drift across calendar years (reference-decile PSI per year against the reference window)."""
    years = m.get("by_year") or {}
    if not years:
        return ""
    first, last = min(years), max(years)
    a, b = years[first], years[last]
    psis = {k[4:]: v for k, v in a.items() if k.startswith("psi_") and isinstance(v, int | float)}
    top = max(psis, key=psis.get) if psis else None
    text = (f"Across years, the fraud rate moved from {a['fraud_rate']:.2%} in {first} to {b['fraud_rate']:.2%} in "
            f"{last} and the mean fraud amount from ${a['mean_amount_fraud']:,.0f} to ${b['mean_amount_fraud']:,.0f}")
    if top is not None:
        text += (f"; against the reference window, {first} differs most in {top.replace('_', ' ')} "
                 f"(PSI {psis[top]:.2f}, {psi_band(psis[top])})")
    return text + "."


def answer(m: Mapping) -> str:
    """One sentence for the walkthrough."""
    s = m["summary"]
    top = next(iter(s.get("top_drifted", {})), None)
    moves = s.get("performance_followed", {})
    quality = ("the fraud model's ROC-AUC and AP held" if set(moves.values()) <= {"held", "rose"}
               else "the fraud model's quality fell" if "fell" in moves.values() else "performance cannot be told")
    lead = (f"{top} drifted most (max PSI {s['top_drifted'][top]:.2f})" if top else "no feature could be compared")
    text = (f"Over {s['n_months']} months after training, {lead}, {s['n_significant_cells']} feature-months crossed "
            f"{PSI_BANDS[1]}, the fraud score's PSI peaked at {s['max_score_psi']:.2f}, and {quality} "
            f"(ROC-AUC {m['baseline']['roc_auc']:.3f} in {s['first_month']} vs {m['model']['roc_auc']:.3f} in "
            f"{s['last_month']}).")
    return f"{text} {years_sentence(m)}".strip()

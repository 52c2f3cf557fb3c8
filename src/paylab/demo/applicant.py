"""The credit form of the demo: one applicant -> score, points per feature (scorecard), decision and credit limit,
with the registered champion (models:/credit@champion, a `CreditScorer`) and the credit params (LGD, loss target,
income cap).

    row = applicant(template, amount=5000, yearly_income=40000, ...)      # derived ratios recomputed
    answer = decide(scorer, row, params["credit"])    # {score, pd, approve, cutoff, limit, points: DataFrame | None}
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from paylab.credit.decisions import credit_limits
from paylab.credit.models import probability, score

FORM = ("amount", "term_months", "purpose", "credit_score", "yearly_income", "total_debt", "current_age")


def applicant(template: Mapping, **changes) -> pd.DataFrame:
    """One-row frame: `template` (an application row) with `changes`, the income ratios recomputed."""
    row = {**dict(template), **changes}
    income = float(row.get("yearly_income") or 0)
    row["amount_to_income"] = float(row["amount"]) / income if income > 0 else np.nan
    row["debt_to_income"] = float(row["total_debt"]) / income if income > 0 else np.nan
    return pd.DataFrame([row])


def points_breakdown(sc, row: pd.DataFrame) -> pd.DataFrame | None:
    """Per scorecard feature: the applicant's value, its bin and the bin's points (they sum to the score); None for a
    model without points (the GBM challenger)."""
    if not hasattr(sc, "binning_process_") or not hasattr(sc, "features_"):
        return None
    table = sc.table(style="detailed")
    out = []
    for name in sc.features_:
        optb = sc.binning_process_.get_binned_variable(name)
        value = row[name].to_numpy()
        if optb.dtype == "numerical":
            value = pd.to_numeric(pd.Series(value), errors="coerce").to_numpy(dtype=float)
        index = int(np.asarray(optb.transform(value, metric="indices"))[0])
        rows = table[table["Variable"] == name].reset_index(drop=True)
        label = str(rows.loc[index, "Bin"]) if index < len(rows) else "?"
        points = float(rows.loc[index, "Points"]) if index < len(rows) else np.nan
        out.append({"feature": name, "value": row[name].iloc[0], "bin": label, "points": points})
    return pd.DataFrame(out)


def decide(scorer, row: pd.DataFrame, params: Mapping) -> dict:
    """Score, PD, decision at the champion's cutoff and the limit (`credit_limits` with the credit params)."""
    s = float(np.asarray(score(scorer.model, row))[0])
    p = float(np.asarray(probability(scorer.model, row))[0])
    approve = s >= scorer.cutoff
    limit = float(credit_limits([p], [row["yearly_income"].iloc[0]], [row["amount"].iloc[0]], [approve],
                                params.get("lgd", 0.6), params.get("target_loss_rate", 0.03),
                                params.get("income_cap", 0.5))[0])
    return {"score": s, "pd": p, "approve": bool(approve), "cutoff": float(scorer.cutoff), "limit": limit,
            "points": points_breakdown(scorer.model, row)}

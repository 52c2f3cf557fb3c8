"""Why a user is at risk: the three inputs that push the GBM's churn score up most (TreeSHAP contributions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# phrases for the retention team: what the input is, with its value filled in
PHRASES = {
    "days_since_last_payment": "{:.0f} days since the last payment",
    "tenure_days": "customer for {:.0f} days",
    "payments_4w": "{:.0f} payments in the last 4 weeks",
    "payments_w": "{:.0f} payments in the window",
    "amount_4w": "${:,.0f} spent in the last 4 weeks",
    "amount_w": "${:,.0f} spent in the window",
    "monthly_spend": "${:,.0f} monthly spend",
    "payment_trend": "payment rate x{:.2f} vs the weeks before",
    "active_weeks": "active in {:.0f} of the weeks",
    "merchants_per_week": "{:.1f} merchants a week",
    "mccs_per_week": "{:.1f} categories a week",
    "online_share": "{:.0%} of payments online",
    "refunds_w": "{:.0f} refunds in the window",
    "errors_w": "{:.0f} failed payments in the window",
    "history_weeks": "{:.0f} weeks of history",
    "age": "age {:.0f}",
    "years_to_retirement": "{:.0f} years to retirement",
    "lstm_logit": "payment sequence pattern (LSTM score {:.1f})",
}


def shap_values(model, x: pd.DataFrame) -> np.ndarray:
    """TreeSHAP contributions (log-odds) of a LightGBM classifier, rows x features."""
    import shap

    values = shap.TreeExplainer(model).shap_values(x)
    if isinstance(values, list):  # older shap: one array per class
        values = values[1]
    values = np.asarray(values)
    return values[:, :, 1] if values.ndim == 3 else values


def top_reasons(model, x: pd.DataFrame, k: int = 3) -> list[list[str]]:
    """Per row, the `k` inputs with the largest positive contribution, as phrases (fewer when fewer push up)."""
    values = shap_values(model, x)
    cols = list(x.columns)
    out = []
    for i, row in enumerate(values):
        order = [j for j in np.argsort(-row, kind="stable")[:k] if row[j] > 0]
        out.append([PHRASES.get(cols[j], cols[j] + " {:.3g}").format(x.iat[i, j]) for j in order])
    return out

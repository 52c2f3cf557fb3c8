"""Credit applications by users with a default outcome driven by bureau data and by payment behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab.data.synth.population import Population
from paylab.data.synth.scales import Scale

# purpose -> (median amount, share of applications, log-odds shift of default)
PURPOSES: dict[str, tuple[float, float, float]] = {
    "debt_consolidation": (12000, 0.25, 0.2), "credit_card": (6000, 0.20, 0.1),
    "home_improvement": (15000, 0.10, -0.2), "car": (18000, 0.15, -0.1), "medical": (5000, 0.08, 0.2),
    "small_business": (25000, 0.05, 0.4), "education": (10000, 0.07, 0.0), "other": (4000, 0.10, 0.1),
}
TERMS = np.array([12, 24, 36, 48, 60])


def default_logit(credit_score, debt, income, stress, amount, term, churning, purpose_shift) -> np.ndarray:
    """True log-odds of default. `stress` is latent: a model sees it only through payment behaviour."""
    return (-3.3 + 0.55 * (700 - credit_score) / 60 + 0.45 * np.log1p(debt / income) + 0.85 * stress
            + 1.0 * amount / income + 0.12 * (term / 12 - 3) + 0.9 * churning + purpose_shift)


def make_loans(rng: np.random.Generator, pop: Population, scale: Scale) -> tuple[pd.DataFrame, pd.DataFrame]:
    """loans.csv rows and the oracle default probability per loan."""
    users, n_days = pop.users, len(scale.days)
    first = users["start_day"].to_numpy() + 90
    last = np.fmin(users["churn_day"].to_numpy(), n_days).astype(float)
    span_years = np.clip(last - first, 0, None) / 365.25
    stress = users["financial_stress"].to_numpy()
    n_loans = rng.poisson(0.9 * span_years * (1 + 0.4 * np.clip(stress, 0, None)))
    row = np.repeat(np.arange(len(users)), n_loans)
    n = len(row)
    day = np.floor(first[row] + rng.random(n) * (last[row] - first[row])).astype(int)

    names = list(PURPOSES)
    purpose = rng.choice(len(names), n, p=[PURPOSES[k][1] for k in names])
    income = users["yearly_income"].to_numpy()[row]
    amount = np.round(np.array([PURPOSES[k][0] for k in names])[purpose] * (income / 55000) ** 0.5
                      * rng.lognormal(0, 0.5, n), -2) + 500
    term = rng.choice(TERMS, n)
    churn = users["churn_day"].to_numpy()[row]
    churning = (churn - day >= 0) & (churn - day <= 180)
    logit = default_logit(users["credit_score"].to_numpy()[row], users["total_debt"].to_numpy()[row], income,
                          stress[row], amount, term, churning,
                          np.array([PURPOSES[k][2] for k in names])[purpose])
    pd_true = 1 / (1 + np.exp(-logit))

    order = np.lexsort((row, day))
    loans = pd.DataFrame({
        "loan_id": np.arange(1, n + 1),
        "client_id": users["id"].to_numpy()[row][order],
        "application_date": (pd.Timestamp(scale.start) + pd.to_timedelta(day[order], unit="D")).strftime("%Y-%m-%d"),
        "amount": amount[order],
        "term_months": term[order],
        "purpose": np.array(names)[purpose][order],
        "defaulted": (rng.random(n) < pd_true)[order].astype(int),
    })
    oracle = pd.DataFrame({"loan_id": loans["loan_id"], "default_probability": pd_true[order]})
    return loans, oracle

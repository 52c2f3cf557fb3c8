"""Cutoff table, the cutoff for a target bad rate, and credit limits from expected loss (PD x LGD x EAD)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cutoff_table(score, y, n_bands: int = 10) -> pd.DataFrame:
    """Score bands (quantiles, safest first; higher score = lower risk): applicants, bads, bad rate, odds (good:bad),
    and for approving this band and every safer one: approval rate and cumulative bad rate."""
    score, y = np.asarray(score, dtype=float), np.asarray(y).astype(int)
    edges = np.unique(np.quantile(score, np.linspace(0, 1, n_bands + 1)))
    band = pd.cut(score, edges, include_lowest=True, duplicates="drop")
    frame = pd.DataFrame({"band": band, "y": y})
    t = frame.groupby("band", observed=True)["y"].agg(applicants="size", bads="sum").iloc[::-1]
    t.insert(0, "score_min", [iv.left for iv in t.index])
    t.insert(1, "score_max", [iv.right for iv in t.index])
    t["bad_rate"] = t["bads"] / t["applicants"]
    t["odds"] = (t["applicants"] - t["bads"]) / t["bads"].where(t["bads"] > 0)
    t["approval_rate"] = t["applicants"].cumsum() / t["applicants"].sum()
    t["cumulative_bad_rate"] = t["bads"].cumsum() / t["applicants"].cumsum()
    return t.reset_index(drop=True)


def choose_cutoff(score, y, target_bad_rate: float) -> dict:
    """The lowest score cutoff whose approved set (score >= cutoff) has a bad rate <= target: cutoff, approval rate
    and bad rate of the approved; the highest score when no cutoff reaches the target."""
    score, y = np.asarray(score, dtype=float), np.asarray(y).astype(int)
    order = np.argsort(-score, kind="stable")
    s, bads = score[order], np.cumsum(y[order])
    n = np.arange(1, s.size + 1)
    last = np.r_[s[1:] != s[:-1], True]  # approve whole ties only
    ok = last & (bads / n <= target_bad_rate)
    i = int(np.flatnonzero(ok).max()) if ok.any() else 0
    return {"cutoff": float(s[i]), "target_bad_rate": float(target_bad_rate), "approval_rate": float(n[i] / s.size),
            "approved_bad_rate": float(bads[i] / n[i]), "approved": int(n[i])}


def credit_limits(pd_, income, requested, approved, lgd: float, target_loss_rate: float,
                  income_cap: float) -> np.ndarray:
    """Limit per applicant: the requested amount, cut so the expected loss rate PD x LGD stays <= target (the share
    kept is target / (PD x LGD), at most 1), capped at income_cap x yearly income; 0 when declined. Expected loss of
    the limit = PD x LGD x EAD with EAD = the limit."""
    pd_, income, requested = (np.asarray(a, dtype=float) for a in (pd_, income, requested))
    share = np.clip(target_loss_rate / np.maximum(pd_ * lgd, 1e-12), 0.0, 1.0)
    cap = np.where(np.isfinite(income) & (income > 0), income_cap * income, 0.0)
    return np.where(np.asarray(approved, bool), np.minimum(requested * share, cap), 0.0).round(-2)


def limit_summary(limits, pd_, y, requested, lgd: float) -> dict:
    """Book of the limit policy: approved, total limit, expected loss (sum PD x LGD x EAD), realised loss on the
    defaulted (LGD x limit), both as rates of the total limit, against lending the requested amounts to the same."""
    limits, pd_, requested, y = (np.asarray(a, dtype=float) for a in (limits, pd_, requested, y))
    on = limits > 0
    total = limits.sum()
    full = requested[on].sum()
    return {"approved": int(on.sum()), "total_limit": float(total), "requested_of_approved": float(full),
            "expected_loss_rate": float((pd_ * lgd * limits).sum() / total) if total else 0.0,
            "realised_loss_rate": float((y * lgd * limits).sum() / total) if total else 0.0,
            "realised_loss_rate_requested": float((y[on] * lgd * requested[on]).sum() / full) if full else 0.0}

"""How the detectors are judged on the fraud protocol's test window, beyond the shared ranking metrics
(`paylab.fraud.training.window_figures`): what they catch that the supervised model misses, what they find among
unlabelled rows, and the decision engine with and without its anomaly layer, with intervals by day.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from paylab import evaluation


def top_share_mask(score: np.ndarray, share: float) -> np.ndarray:
    """Exactly the top `share` of the rows by `score` (at least one row); ties at the cut are broken at random (seeded),
    so a constant score takes a random `share`, not every row."""
    score = np.asarray(score, dtype=float)
    mask = np.zeros(len(score), bool)
    if len(score):
        n = max(1, int(round(len(score) * share)))
        tie_break = np.random.default_rng(0).random(len(score))
        mask[np.lexsort((tie_break, -score))[:n]] = True
    return mask


def missed_caught(y, model_score, threshold: float, detector_scores: Mapping[str, np.ndarray], day,
                  share: float = 0.01, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """For the frauds the supervised model misses (score below its review `threshold`): the share each detector
    ranks in its top `share` of the rows, with a bootstrap interval over days. One row per detector."""
    y = np.asarray(y, dtype=int)
    missed = (y == 1) & (np.asarray(model_score, dtype=float) < threshold)
    days = np.asarray(day)[missed]
    rows = []
    for name, s in detector_scores.items():
        hit = top_share_mask(s, share)[missed].astype(float)
        ci = evaluation.bootstrap_mean(hit, days, n_boot=n_boot, seed=seed, level=level) if hit.size else {
            "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan}
        rows.append({"detector": name, "missed_frauds": int(missed.sum()), "caught_in_top": int(hit.sum()),
                     "share": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})
    return pd.DataFrame(rows)


def unlabeled_top(scores: Mapping[str, np.ndarray], oracle_fraud, top_n: int = 100) -> pd.DataFrame:
    """Among the unlabelled rows: how many of each detector's `top_n` are fraud by the oracle (latent truth no
    label shows), against the unlabelled rows' own fraud rate (what a random pick finds)."""
    truth = np.asarray(oracle_fraud, dtype=bool)
    base = float(truth.mean()) if truth.size else np.nan
    rows = []
    for name, s in scores.items():
        order = np.argsort(-np.asarray(s, dtype=float), kind="stable")[:top_n]
        rows.append({"detector": name, "top_n": len(order), "fraud_in_top": int(truth[order].sum()),
                     "precision": float(truth[order].mean()) if len(order) else np.nan,
                     "random_precision": base, "lift": float(truth[order].mean() / base) if base else np.nan})
    return pd.DataFrame(rows)


def decision_difference(flag_with: np.ndarray, flag_without: np.ndarray, y, amount, day, review_cost: float,
                        n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, dict[str, float | str]]:
    """The decision engine with minus without a layer, paired on the same rows and days: frauds caught, reviews
    and cost (reviews x review_cost + missed fraud amount), each as a daily mean difference with its bootstrap
    interval over days and the verdict ("better" for a cost difference means more cost)."""
    y = np.asarray(y).astype(bool)
    a, b = np.asarray(flag_with, dtype=bool), np.asarray(flag_without, dtype=bool)
    amount = np.asarray(amount, dtype=float)
    frame = pd.DataFrame({"day": np.asarray(day), "caught": (a & y).astype(float) - (b & y),
                          "reviews": a.astype(float) - b})
    daily = frame.groupby("day").sum()
    rows = frame.groupby("day").indices  # the cost of each day from the shared review formula, with and without
    daily["cost"] = [evaluation.review_outcome(y[i], a[i], amount[i], review_cost)["cost"]
                     - evaluation.review_outcome(y[i], b[i], amount[i], review_cost)["cost"]
                     for i in (rows[d] for d in daily.index)]
    out = {}
    for metric in ("caught", "reviews", "cost"):
        ci = evaluation.bootstrap_mean(daily[metric].to_numpy(), n_boot=n_boot, seed=seed, level=level)
        out[f"{metric}_per_day"] = {"difference": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                                    "total": float(daily[metric].sum()),
                                    "verdict": evaluation.verdict(ci["ci_low"], ci["ci_high"])}
    return out

"""Shared metrics for every PayLab module (fraud, anomaly, churn, recsys, credit, quant).

Binary classifiers: `roc_auc`, `average_precision`, `ks`, `gini`, `recall_at_fpr` (per group of positives:
`recall_at_fpr_by_group`), `lift_at`, `brier`, `calibration_table`, `card_precision_at_k` and its normalised form
(Fraud Detection Handbook), and `classification_report` (a flat dict).
Uncertainty: `bootstrap_scores` + `intervals` + `paired_difference` (block bootstrap by day, user or card, paired
across models), `bootstrap_mean` (a per-unit metric such as CP@k per day).
Fraud business view: `cost_curve`, `optimal_threshold`, `review_outcome` (the cost of one set of reviews).
Recommenders (long frames of recommendations and relevant items): `precision_at_k`, `recall_at_k`, `ndcg_at_k`,
`map_at_k`, `hit_rate_at_k` (their per-user values: `ranking_per_user`).
Quant (per-date cross sections): `ic_series`, `ic`, `rank_ic`, `icir`.

Every metric of a single-class (or empty) sample is NaN, never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

NAN = float("nan")


# --- inputs -----------------------------------------------------------------------------------------------------

def _binary(y, score) -> tuple[np.ndarray, np.ndarray]:
    """(y as 0/1 int array, score as float array); errors name the problem and an example value."""
    y = np.asarray(y)
    score = np.asarray(score, dtype=float)
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError(f"y and score must be 1-d arrays of one length, got shapes {y.shape} and {score.shape}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"y must be 0/1 or bool, got dtype {y.dtype} (e.g. {y[:1].tolist()})")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"y must be 0/1 or bool, got e.g. {y[bad][0]!r}")
    if np.isnan(score).any():
        raise ValueError(f"score has {int(np.isnan(score).sum())} NaN values (e.g. at index "
                         f"{int(np.flatnonzero(np.isnan(score))[0])})")
    return y.astype(np.int64), score


def _two_classes(y: np.ndarray) -> bool:
    return y.size > 0 and 0 < y.sum() < y.size


def _pct(x: float) -> str:
    """0.01 -> '1pct', 0.005 -> '0_5pct' (metric-name suffix)."""
    return f"{x * 100:g}".replace(".", "_") + "pct"


# --- ranking quality of a binary score -----------------------------------------------------------------------------

def roc_auc(y, score) -> float:
    y, score = _binary(y, score)
    return float(skm.roc_auc_score(y, score)) if _two_classes(y) else NAN


def average_precision(y, score) -> float:
    y, score = _binary(y, score)
    return float(skm.average_precision_score(y, score)) if _two_classes(y) else NAN


def gini(y, score) -> float:
    """2 AUC - 1."""
    return 2.0 * roc_auc(y, score) - 1.0


def _roc(y, score) -> tuple[np.ndarray, np.ndarray] | None:
    y, score = _binary(y, score)
    if not _two_classes(y):
        return None
    fpr, tpr, _ = skm.roc_curve(y, score, drop_intermediate=False)
    return fpr, tpr


def ks(y, score) -> float:
    """Kolmogorov-Smirnov statistic: max over thresholds of TPR - FPR."""
    roc = _roc(y, score)
    return NAN if roc is None else float(np.max(roc[1] - roc[0]))


def recall_at_fpr(y, score, fpr: float) -> float:
    """Largest recall (TPR) reachable by a threshold whose false-positive rate is at most `fpr`."""
    roc = _roc(y, score)
    if roc is None:
        return NAN
    ok = roc[0] <= fpr + 1e-12
    return float(roc[1][ok].max())


def recall_at_fpr_by_group(y, score, group, fpr: float) -> dict:
    """`recall_at_fpr` of each group of positives against ALL negatives: the threshold is the one of false-positive
    rate at most `fpr` on the negatives (their group is ignored), and each group's recall is the share of its
    positives at or above it. {group: recall} for every group that holds a positive.

    Each group is scored with `recall_at_fpr` on the negatives + that group's positives: the false-positive rate of a
    threshold depends on the negatives only, and a score of another group's positive between two of this group's
    scores does not change how many of this group's positives a threshold flags, so it is the same threshold."""
    y, score = _binary(y, score)
    group = np.asarray(group)
    if group.shape != y.shape:
        raise ValueError(f"group must have the length of y ({y.size}), got shape {group.shape}")
    negative = y == 0
    return {g: recall_at_fpr(y[negative | (group == g)], score[negative | (group == g)], fpr)
            for g in pd.unique(group[y == 1])}


def lift_at(y, score, share: float) -> float:
    """Positive rate among the top `share` of scores divided by the overall positive rate."""
    y, score = _binary(y, score)
    if not _two_classes(y):
        return NAN
    k = max(1, int(np.ceil(share * y.size)))
    top = np.argsort(-score, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


# --- calibration ------------------------------------------------------------------------------------------------

def brier(y, prob) -> float:
    """Mean squared error of probabilities (NaN on an empty sample)."""
    y, prob = _binary(y, prob)
    return float(skm.brier_score_loss(y, prob)) if y.size else NAN


def calibration_table(y, prob, n_bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Reliability bins: one row per non-empty bin with its range, count, mean probability and observed rate.

    `strategy`: "uniform" (equal-width bins on [0, 1]) or "quantile" (equal-count bins).
    """
    y, prob = _binary(y, prob)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(prob, np.linspace(0, 1, n_bins + 1))) if prob.size else np.array([0.0, 1.0])
    else:
        raise ValueError(f"calibration strategy must be 'uniform' or 'quantile', got {strategy!r}")
    bins = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"bin": bins, "prob": prob, "y": y})
    table = frame.groupby("bin").agg(n=("y", "size"), mean_prob=("prob", "mean"), observed_rate=("y", "mean"))
    table.insert(0, "lower", edges[table.index])
    table.insert(1, "upper", edges[table.index + 1])
    table["gap"] = table["observed_rate"] - table["mean_prob"]
    return table.reset_index()


# --- Card Precision@k -------------------------------------------------------------------------------------------

def card_precision_by_day(score, label, card_id, day, k: int = 100, remove_detected: bool = True) -> pd.DataFrame:
    """Per day of the Fraud Detection Handbook's Card Precision@k: each card gets its max score and is fraudulent if
    any of its transactions that day is; the top `k` cards are the alerts. With `remove_detected` (the Handbook's
    default), a card detected as compromised on an earlier day is no longer ranked.

    Columns: day, cards (ranked), fraud_cards (ranked and fraudulent), hits (fraudulent cards among the top k),
    precision (hits / k), max_precision (min(k, fraud_cards) / k: the best any score can do that day) and
    normalised (hits / min(k, fraud_cards); NaN on a day without a fraudulent card).
    """
    label, score = _binary(label, score)
    if k < 1:
        raise ValueError(f"Card Precision@k needs k >= 1, got {k}")
    frame = pd.DataFrame({"day": np.asarray(day), "card": np.asarray(card_id), "score": score, "y": label})
    cards = frame.groupby(["day", "card"], sort=True).agg(score=("score", "max"), y=("y", "max")).reset_index()
    cards = cards.sort_values(["day", "score", "card"], ascending=[True, False, True], kind="stable")
    days, card, y = cards["day"], cards["card"].to_numpy(), cards["y"].to_numpy()
    starts = np.flatnonzero(np.r_[True, days.to_numpy()[1:] != days.to_numpy()[:-1]])  # each day's first card
    detected: set = set()
    rows = []
    for start, end in zip(starts, np.r_[starts[1:], len(cards)], strict=True):
        day_card, day_y = card[start:end], y[start:end]  # the day's cards, best score first
        if remove_detected and detected:
            keep = ~np.isin(day_card, np.array(list(detected), dtype=card.dtype))
            day_card, day_y = day_card[keep], day_y[keep]
        hits = day_card[:k][day_y[:k] == 1]
        if remove_detected:
            detected.update(hits.tolist())
        rows.append((days.iloc[start], len(day_card), int(day_y.sum()), len(hits)))
    out = pd.DataFrame(rows, columns=["day", "cards", "fraud_cards", "hits"])
    out["precision"] = out["hits"] / k
    out["max_precision"] = np.minimum(k, out["fraud_cards"]) / k
    out["normalised"] = out["hits"] / np.minimum(k, out["fraud_cards"]).where(out["fraud_cards"] > 0)
    return out


def _card_precision_means(by_day: pd.DataFrame) -> tuple[float, float]:
    """(Card Precision@k, its normalised form) of a `card_precision_by_day` table: the mean precision over days,
    and the mean normalised value over the days that have a fraudulent card."""
    normalised = by_day["normalised"].dropna()
    return (float(by_day["precision"].mean()) if len(by_day) else NAN,
            float(normalised.mean()) if len(normalised) else NAN)


def card_precision_at_k(score, label, card_id, day, k: int = 100, remove_detected: bool = True) -> float:
    """Card Precision@k of the Fraud Detection Handbook: the mean over days of `card_precision_by_day` precision."""
    return _card_precision_means(card_precision_by_day(score, label, card_id, day, k, remove_detected))[0]


def card_precision_normalised(score, label, card_id, day, k: int = 100, remove_detected: bool = True) -> float:
    """Card Precision@k divided by its daily maximum, min(k, fraudulent cards that day) / k, averaged over the days
    that have a fraudulent card: 1 is a perfect ranking whatever k and the scale."""
    return _card_precision_means(card_precision_by_day(score, label, card_id, day, k, remove_detected))[1]


def daily_capacity(card_id, day, share: float) -> int:
    """k of Card Precision@k sized to the data: `share` of the mean number of distinct cards active per day
    (an analyst team's daily capacity), at least 1."""
    cards = pd.DataFrame({"day": np.asarray(day), "card": np.asarray(card_id)}).drop_duplicates()
    per_day = cards.groupby("day").size()
    return max(1, int(round(share * float(per_day.mean())))) if len(per_day) else 1


# --- report -----------------------------------------------------------------------------------------------------

def classification_report(y, score, *, card_id=None, day=None, k: int = 100,
                          fprs: Sequence[float] = (0.001, 0.01, 0.05), lift_shares: Sequence[float] = (0.01, 0.05),
                          calibration: bool | None = None) -> dict[str, float]:
    """Flat snake_case metrics of a binary score: n, positive_rate, roc_auc, average_precision, ks, gini,
    recall_at_fpr_<x>pct, lift_at_<x>pct, brier (when scores are probabilities), card_precision_at_<k> (when
    `card_id` and `day` are given)."""
    y, score = _binary(y, score)
    out: dict[str, float] = {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "positive_rate": float(y.mean()) if y.size else NAN,
        "roc_auc": roc_auc(y, score),
        "average_precision": average_precision(y, score),
        "ks": ks(y, score),
        "gini": gini(y, score),
    }
    out.update({f"recall_at_fpr_{_pct(f)}": recall_at_fpr(y, score, f) for f in fprs})
    out.update({f"lift_at_{_pct(s)}": lift_at(y, score, s) for s in lift_shares})
    if calibration is None:
        calibration = bool(score.size) and score.min() >= 0.0 and score.max() <= 1.0
    if calibration:
        out["brier"] = brier(y, score)
    if (card_id is None) != (day is None):
        raise ValueError("card precision needs both card_id and day")
    if card_id is not None:
        raw, normalised = _card_precision_means(card_precision_by_day(score, y, card_id, day, k=k))
        out[f"card_precision_at_{k}"], out[f"card_precision_at_{k}_normalised"] = raw, normalised
    return out


# --- business view (fraud) --------------------------------------------------------------------------------------

def cost_curve(y, score, amount, review_cost: float, fraud_loss_share: float = 1.0) -> pd.DataFrame:
    """One row per threshold (every distinct score, plus "review nothing"): transactions with score >= threshold
    are reviewed (each costs `review_cost`) and their frauds caught; a missed fraud costs `fraud_loss_share` of its
    amount (refunds, negative amounts, count as 0).

    Columns: threshold, reviews, review_rate, frauds_caught, fraud_amount_caught, fraud_amount_missed, recall,
    amount_recall, cost.
    """
    y, score = _binary(y, score)
    amount = np.clip(np.asarray(amount, dtype=float), 0.0, None)
    if amount.shape != y.shape:
        raise ValueError(f"amount must have the length of y ({y.size}), got {amount.shape}")
    order = np.argsort(-score, kind="stable")
    s, fraud_amt = score[order], (amount * y)[order]
    last = np.r_[s[1:] != s[:-1], True] if s.size else np.zeros(0, bool)  # last row of each distinct score
    reviews = np.r_[0, np.flatnonzero(last) + 1]
    caught = np.r_[0, np.cumsum(y[order])[last]]
    caught_amt = np.r_[0.0, np.cumsum(fraud_amt)[last]]
    total_amt = fraud_amt.sum()
    n = max(y.size, 1)
    curve = pd.DataFrame({
        "threshold": np.r_[np.inf, s[last]],
        "reviews": reviews,
        "review_rate": reviews / n,
        "frauds_caught": caught,
        "fraud_amount_caught": caught_amt,
        "fraud_amount_missed": total_amt - caught_amt,
        "recall": caught / y.sum() if y.sum() else NAN,
        "amount_recall": caught_amt / total_amt if total_amt else NAN,
    })
    curve["cost"] = review_cost * curve["reviews"] + fraud_loss_share * curve["fraud_amount_missed"]
    return curve


def optimal_threshold(y, score, amount, review_cost: float, fraud_loss_share: float = 1.0) -> dict[str, float]:
    """The cost-minimising row of `cost_curve` (the highest threshold among ties: fewest reviews) as a dict."""
    curve = cost_curve(y, score, amount, review_cost, fraud_loss_share)
    best = curve.iloc[int(np.argmin(curve["cost"].to_numpy()))]
    return {key: float(value) for key, value in best.items()}


def review_outcome(y, flagged, amount, review_cost: float, fraud_loss_share: float = 1.0) -> dict[str, float]:
    """The outcome of reviewing exactly the `flagged` rows (a boolean mask): the `cost_curve` row at which those
    rows are reviewed, so the same formula (each review costs `review_cost`, a missed fraud `fraud_loss_share` of its
    amount, refunds count 0). Keys: reviews, review_rate, frauds_caught, fraud_amount_caught, fraud_amount_missed,
    recall, amount_recall, cost."""
    flagged = np.asarray(flagged)
    if flagged.dtype != bool:
        raise ValueError(f"flagged must be a boolean mask, got dtype {flagged.dtype}")
    curve = cost_curve(y, flagged.astype(float), amount, review_cost, fraud_loss_share)
    row = curve.loc[curve["reviews"] == int(flagged.sum())].iloc[0]
    return {key: float(value) for key, value in row.items() if key != "threshold"}


# --- recommenders -----------------------------------------------------------------------------------------------

def _topk(recs: pd.DataFrame, k: int, user: str, item: str, score: str) -> pd.DataFrame:
    """Each user's k highest-scored rows (ties broken by item), in rank order."""
    top = recs.sort_values([user, score, item], ascending=[True, False, True], kind="stable")
    return top.groupby(user).head(k)


def _topk_hits(recs: pd.DataFrame, truth: pd.DataFrame, k: int, user: str, item: str,
               score: str) -> tuple[pd.DataFrame, pd.Series]:
    """(top-k recommendations per truth user with `rank` 1..k and `hit`, number of relevant items per user)."""
    truth = truth[[user, item]].drop_duplicates()
    n_rel = truth.groupby(user).size()
    top = _topk(recs[recs[user].isin(n_rel.index)][[user, item, score]].drop_duplicates([user, item]), k, user,
                item, score)
    top["rank"] = top.groupby(user).cumcount() + 1
    top = top.merge(truth.assign(hit=1), on=[user, item], how="left")
    top["hit"] = top["hit"].fillna(0).astype(int)
    return top, n_rel


def ranking_per_user(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, *, user: str = "user",
                     item: str = "item", score: str = "score") -> pd.DataFrame:
    """Per truth user (index): precision, recall, ndcg, ap and hit at k; a user without recommendations scores 0.

    The per-user values behind `precision_at_k` ... `hit_rate_at_k` (their means), for bootstrap intervals over
    users (`bootstrap_mean`, `block_replicates`). `recs`: one row per (user, item) with a `score` (higher first);
    `truth`: one row per relevant (user, item).
    """
    top, n_rel = _topk_hits(recs, truth, k, user, item, score)
    hits = top.groupby(user)["hit"].sum()
    dcg = (top["hit"] / np.log2(top["rank"] + 1)).groupby(top[user]).sum()
    discounts = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    idcg = pd.Series(discounts[np.minimum(n_rel.to_numpy(), k) - 1], index=n_rel.index) if len(n_rel) else n_rel
    precision_at_r = top.groupby(user)["hit"].cumsum() / top["rank"]
    ap = (precision_at_r * top["hit"]).groupby(top[user]).sum() / np.minimum(n_rel, k)
    out = pd.DataFrame({"precision": hits / k, "recall": hits / n_rel, "ndcg": dcg / idcg, "ap": ap,
                        "hit": (hits > 0).astype(float)}, index=n_rel.index)
    return out.reindex(n_rel.index).fillna(0.0).rename_axis(user)


def _ranking_mean(column: str, recs, truth, k, user, item, score) -> float:
    per_user = ranking_per_user(recs, truth, k, user=user, item=item, score=score)
    return float(per_user[column].mean()) if len(per_user) else NAN


def precision_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, *, user: str = "user",
                   item: str = "item", score: str = "score") -> float:
    """Mean over users of (relevant items in the top k) / k.

    `recs`: one row per (user, item) with a `score` (higher first); `truth`: one row per relevant (user, item).
    Users are those of `truth`; a user without recommendations scores 0.
    """
    return _ranking_mean("precision", recs, truth, k, user, item, score)


def recall_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, *, user: str = "user",
                item: str = "item", score: str = "score") -> float:
    """Mean over users of (relevant items in the top k) / (relevant items)."""
    return _ranking_mean("recall", recs, truth, k, user, item, score)


def ndcg_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, *, user: str = "user",
              item: str = "item", score: str = "score") -> float:
    """Mean over users of DCG@k / ideal DCG@k with binary relevance (gain 1 / log2(rank + 1))."""
    return _ranking_mean("ndcg", recs, truth, k, user, item, score)


def map_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, *, user: str = "user",
             item: str = "item", score: str = "score") -> float:
    """Mean over users of AP@k = sum over hits at rank r <= k of precision@r, divided by min(relevant, k)."""
    return _ranking_mean("ap", recs, truth, k, user, item, score)


def hit_rate_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, *, user: str = "user",
                  item: str = "item", score: str = "score") -> float:
    """Share of truth users with at least one relevant item in the top k."""
    return _ranking_mean("hit", recs, truth, k, user, item, score)


def catalogue_coverage(recs: pd.DataFrame, n_items: int, k: int = 10, *, user: str = "user",
                       item: str = "item", score: str = "score") -> float:
    """Share of the `n_items` catalogue that appears in at least one user's top k."""
    if n_items <= 0:
        raise ValueError(f"n_items must be > 0, got {n_items}")
    top = _topk(recs, k, user, item, score)
    return float(top[item].nunique() / n_items)


def novelty_at_k(recs: pd.DataFrame, popularity: pd.Series, n_users: int, k: int = 10, *, user: str = "user",
                 item: str = "item", score: str = "score") -> float:
    """Mean self-information -log2(p(item)) of the top-k items, p = paying users of the item / `n_users`
    (`popularity`: item -> paying users in the history; unseen items count as 1 user)."""
    top = _topk(recs, k, user, item, score)
    if top.empty:
        return NAN
    share = top[item].map(popularity).fillna(1.0).clip(lower=1.0) / n_users
    return float((-np.log2(share)).mean())


# --- information coefficient (quant) ----------------------------------------------------------------------------

def ic_series(date, prediction, target, method: str = "pearson") -> pd.Series:
    """Per-date cross-sectional correlation of prediction and target ("pearson" or "spearman"); NaN where a date
    has fewer than 2 usable rows or no variance. Rows with a NaN prediction or target are ignored."""
    if method not in ("pearson", "spearman"):
        raise ValueError(f"IC method must be 'pearson' or 'spearman', got {method!r}")
    frame = pd.DataFrame({"date": np.asarray(date), "x": np.asarray(prediction, dtype=float),
                          "y": np.asarray(target, dtype=float)}).dropna(subset=["x", "y"])
    if method == "spearman":
        frame[["x", "y"]] = frame.groupby("date")[["x", "y"]].rank()
    groups = frame.groupby("date", sort=True)
    dx = frame["x"] - groups["x"].transform("mean")
    dy = frame["y"] - groups["y"].transform("mean")
    sums = pd.DataFrame({"date": frame["date"], "xy": dx * dy, "xx": dx * dx, "yy": dy * dy}).groupby("date").sum()
    denom = np.sqrt(sums["xx"] * sums["yy"])
    return (sums["xy"] / denom.where(denom > 1e-12)).rename(f"ic_{method}")


def ic(date, prediction, target) -> float:
    """Mean per-date Pearson IC."""
    s = ic_series(date, prediction, target, "pearson").dropna()
    return float(s.mean()) if len(s) else NAN


def rank_ic(date, prediction, target) -> float:
    """Mean per-date Spearman (rank) IC."""
    s = ic_series(date, prediction, target, "spearman").dropna()
    return float(s.mean()) if len(s) else NAN


def icir(date, prediction, target, method: str = "spearman") -> float:
    """Mean / standard deviation (ddof 1) of the per-date IC; NaN with fewer than 2 dates or no variation."""
    s = ic_series(date, prediction, target, method).dropna()
    sd = s.std(ddof=1) if len(s) > 1 else NAN
    return float(s.mean() / sd) if sd and np.isfinite(sd) and sd > 0 else NAN


# --- uncertainty: block bootstrap -------------------------------------------------------------------------------
# Rows are resampled by block (day, user, card: the module's unit of independence), so that a burst of one card's
# frauds on one day is not counted as independent evidence. Every model is scored on the same replicates, so
# differences are paired. Intervals are percentile intervals; the point estimate is the metric on all rows.

def _fpr_of(metric: str) -> float | None:
    """'recall_at_fpr_1pct' -> 0.01, 'recall_at_fpr_0_1pct' -> 0.001; None for other names."""
    prefix = "recall_at_fpr_"
    if not (metric.startswith(prefix) and metric.endswith("pct")):
        return None
    return float(metric[len(prefix):-3].replace("_", ".")) / 100


def _share_of(metric: str) -> float | None:
    """'lift_at_10pct' / 'capture_at_10pct' -> 0.1 (the top share of rows); None for other names."""
    for prefix in ("lift_at_", "capture_at_"):
        if metric.startswith(prefix) and metric.endswith("pct"):
            return float(metric[len(prefix):-3].replace("_", ".")) / 100
    return None


class _RankedScore:
    """One score sorted once; weighted ROC-AUC, AP, recall@FPR, lift and capture in the top share and Brier (the
    score read as a probability) of any row weighting (the bootstrap's counts)."""

    def __init__(self, y: np.ndarray, score: np.ndarray):
        self.order = np.argsort(-score, kind="stable")
        s = score[self.order]
        self.y = y[self.order].astype(float)
        self.last = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if s.size else np.zeros(0, int)
        self.score = s

    def metrics(self, names: Sequence[str], weights: np.ndarray | None = None) -> dict[str, float]:
        w = np.ones_like(self.y) if weights is None else weights[self.order].astype(float)
        tp = np.cumsum(w * self.y)[self.last]
        fp = np.cumsum(w * (1.0 - self.y))[self.last]
        pos, neg = (tp[-1], fp[-1]) if tp.size else (0.0, 0.0)
        out = {}
        for name in names:
            if pos <= 0 or neg <= 0:
                out[name] = NAN
            elif name == "average_precision":  # sum over thresholds of (recall step) x precision, as sklearn
                out[name] = float(np.sum(np.diff(np.r_[0.0, tp]) / pos * tp / np.maximum(tp + fp, 1e-300)))
            elif name in ("roc_auc", "gini"):
                auc = float(np.trapezoid(np.r_[0.0, tp / pos], np.r_[0.0, fp / neg]))
                out[name] = auc if name == "roc_auc" else 2.0 * auc - 1.0
            elif name == "ks":
                out[name] = float(np.max(np.abs(tp / pos - fp / neg)))
            elif (fpr := _fpr_of(name)) is not None:
                ok = fp / neg <= fpr + 1e-12
                out[name] = float(np.r_[0.0, tp[ok] / pos].max())
            elif name == "brier":  # the score read as a probability
                out[name] = float(np.sum(w * (self.y - self.score) ** 2) / np.sum(w))
            elif (share := _share_of(name)) is not None:  # lift_at_10pct / capture_at_10pct: top share of weight
                cum_w = np.cumsum(w)
                k = min(int(np.searchsorted(cum_w, share * cum_w[-1] - 1e-9)) + 1, w.size)
                caught = float(np.sum(w[:k] * self.y[:k]))
                out[name] = caught / pos if name.startswith("capture") else caught / cum_w[k - 1] / (pos / cum_w[-1])
            else:
                raise ValueError(f"no bootstrap for metric {name!r} (known: roc_auc, gini, ks, average_precision, "
                                 f"recall_at_fpr_<x>pct, brier, lift_at_<x>pct, capture_at_<x>pct)")
        return out


def block_replicates(blocks, n_boot: int = 1000, seed: int = 0):
    """`n_boot` row weightings: each replicate draws as many blocks as there are, with replacement, and a row's
    weight is how often its block was drawn (yields float arrays of the rows' length)."""
    _, codes = np.unique(np.asarray(blocks), return_inverse=True)
    n_blocks = int(codes.max()) + 1 if codes.size else 0
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_blocks, n_blocks), minlength=n_blocks) if n_blocks else codes
        yield counts[codes].astype(float)


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not values.size:
        return NAN, NAN
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_scores(y, scores: dict[str, np.ndarray], blocks,
                     metrics: Sequence[str] = ("roc_auc", "average_precision", "recall_at_fpr_1pct"),
                     n_boot: int = 1000, seed: int = 0) -> tuple[dict[str, dict[str, float]], dict]:
    """Point estimates and bootstrap replicates of `metrics` for every named score on the same block replicates.

    Returns ({name: {metric: point}}, {name: {metric: array of n_boot replicate values}}); `intervals` and
    `paired_difference` read these. Scores of every model must be on the same rows (paired).
    """
    y = _binary(y, next(iter(scores.values())))[0]
    ranked = {name: _RankedScore(y, _binary(y, s)[1]) for name, s in scores.items()}
    points = {name: r.metrics(metrics) for name, r in ranked.items()}
    reps = {name: {m: np.empty(n_boot) for m in metrics} for name in scores}
    for b, w in enumerate(block_replicates(blocks, n_boot, seed)):
        for name, r in ranked.items():
            for m, v in r.metrics(metrics, w).items():
                reps[name][m][b] = v
    return points, reps


def intervals(points: dict[str, float], replicates: dict[str, np.ndarray], level: float = 0.95) -> dict[str, float]:
    """{metric, metric_ci_low, metric_ci_high} for one model (the ARCHITECTURE's naming)."""
    out = {}
    for m, point in points.items():
        low, high = _interval(np.asarray(replicates[m]), level)
        out.update({m: point, f"{m}_ci_low": low, f"{m}_ci_high": high})
    return out


def paired_difference(point_a: float, point_b: float, reps_a, reps_b, level: float = 0.95) -> dict[str, float | str]:
    """a - b with its paired bootstrap interval (replicates drawn on the same blocks) and the verdict:
    'better' / 'worse' when the interval excludes zero, else 'no measurable difference'."""
    low, high = _interval(np.asarray(reps_a) - np.asarray(reps_b), level)
    return {"difference": float(point_a - point_b), "ci_low": low, "ci_high": high, "verdict": verdict(low, high)}


def verdict(ci_low: float, ci_high: float) -> str:
    """What the interval of a difference a - b lets one say: 'better' / 'worse' only when it excludes zero."""
    return "better" if ci_low > 0 else "worse" if ci_high < 0 else "no measurable difference"


def bootstrap_mean(values, blocks=None, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Mean of per-unit values (e.g. one Card Precision@k per day) with its bootstrap interval over `blocks`
    (default: each value its own block); NaN values are left out of every mean."""
    values = np.asarray(values, dtype=float)
    blocks = np.arange(values.size) if blocks is None else np.asarray(blocks)
    ok = np.isfinite(values)
    if not ok.any():
        return {"mean": NAN, "ci_low": NAN, "ci_high": NAN}
    values, blocks = values[ok], blocks[ok]
    reps = np.array([np.sum(w * values) / np.sum(w) for w in block_replicates(blocks, n_boot, seed)])
    low, high = _interval(reps, level)
    return {"mean": float(values.mean()), "ci_low": low, "ci_high": high}


def paired_ratio(point_a: float, point_b: float, reps_a, reps_b, level: float = 0.95) -> dict[str, float]:
    """a / b (e.g. model / ceiling) with its paired bootstrap interval."""
    b = np.asarray(reps_b, dtype=float)
    ratio = np.asarray(reps_a, dtype=float) / np.where(b > 0, b, np.nan)
    low, high = _interval(ratio, level)
    return {"ratio": float(point_a / point_b) if point_b else NAN, "ci_low": low, "ci_high": high}


def bootstrap_ratio(values, blocks=None, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                    scale: float = 1.0) -> tuple[dict[str, float], np.ndarray]:
    """scale x mean / sd (ddof 1) of per-unit values (an ICIR of daily ICs; a Sharpe ratio of daily returns with
    scale sqrt(252)) with its block-bootstrap interval; returns ({ratio, ci_low, ci_high}, replicates) so that two
    series on the same units can be compared with `paired_difference`. NaN values are left out."""
    values = np.asarray(values, dtype=float)
    blocks = np.arange(values.size) if blocks is None else np.asarray(blocks)
    ok = np.isfinite(values)
    values, blocks = values[ok], blocks[ok]
    if values.size < 2 or values.std() == 0:
        return {"ratio": NAN, "ci_low": NAN, "ci_high": NAN}, np.full(n_boot, NAN)
    reps = np.empty(n_boot)
    for b, w in enumerate(block_replicates(blocks, n_boot, seed)):
        n = w.sum()
        mean = np.sum(w * values) / n
        var = np.sum(w * (values - mean) ** 2) / max(n - 1.0, 1.0)
        reps[b] = scale * mean / np.sqrt(var) if var > 0 else NAN
    low, high = _interval(reps, level)
    return {"ratio": float(scale * values.mean() / values.std(ddof=1)), "ci_low": low, "ci_high": high}, reps


# ---------------------------------------------------------------- population stability
PSI_BANDS = (0.1, 0.25)  # < 0.1 stable, 0.1-0.25 moderate shift, >= 0.25 significant shift (the industry rule)


def psi(reference, current, bins: int = 10) -> float:
    """Population stability index of `current` against `reference`, on the reference's quantile bins (deciles by
    default): sum over bins of (cur% - ref%) * ln(cur% / ref%). Empty shares are floored at 1e-4; NaNs are left out."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if not ref.size or not cur.size:
        raise ValueError(f"psi needs values in both samples (reference {ref.size}, current {cur.size})")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1))[1:-1])
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
    return psi_shares(ref_share, cur_share)


def psi_shares(reference_share, current_share) -> float:
    """PSI of two distributions over the same bins or categories (shares, each summing to 1): sum of
    (cur - ref) * ln(cur / ref), empty shares floored at 1e-4. `psi` bins numbers on reference quantiles first; a
    categorical column (e.g. a scenario mix) is compared with this directly."""
    ref = np.maximum(np.asarray(reference_share, dtype=float), 1e-4)
    cur = np.maximum(np.asarray(current_share, dtype=float), 1e-4)
    if ref.shape != cur.shape:
        raise ValueError(f"psi_shares needs shares over the same bins, got shapes {ref.shape} and {cur.shape}")
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi_band(value: float) -> str:
    """'stable' (< 0.1), 'moderate shift' (0.1-0.25) or 'significant shift' (>= 0.25)."""
    low, high = PSI_BANDS
    return "stable" if value < low else "moderate shift" if value < high else "significant shift"

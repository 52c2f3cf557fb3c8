"""Popularity baselines: global, and within the user's group (city or segment)."""
from __future__ import annotations

import pandas as pd


def _top_excluding(scores: pd.DataFrame, users: pd.Index, seen: pd.DataFrame | None, k: int) -> pd.DataFrame:
    """Cross `users` with item `scores` (merchant_id, score), drop seen pairs, keep the top k per user."""
    recs = pd.DataFrame({"client_id": users}).merge(scores, how="cross")
    if seen is not None:
        mark = seen[["client_id", "merchant_id"]].drop_duplicates().assign(_seen=True)
        recs = recs.merge(mark, on=["client_id", "merchant_id"], how="left")
        recs = recs[recs["_seen"].isna()].drop(columns="_seen")
    recs = recs.sort_values(["client_id", "score", "merchant_id"], ascending=[True, False, True], kind="stable")
    return recs.groupby("client_id").head(k).reset_index(drop=True)


def global_popularity(history: pd.DataFrame, users, k: int, exclude_seen: bool = False) -> pd.DataFrame:
    """Top-k merchants by number of distinct paying users in the history (client_id, merchant_id, score)."""
    pool = max(k * 5, k + 50)
    scores = (history.groupby("merchant_id")["client_id"].nunique().rename("score").reset_index()
              .sort_values(["score", "merchant_id"], ascending=[False, True]).head(pool))
    users = pd.Index(pd.unique(pd.Series(list(users))))
    return _top_excluding(scores, users, history if exclude_seen else None, k)


def group_popularity(history: pd.DataFrame, groups: pd.Series, users, k: int,
                     exclude_seen: bool = False) -> pd.DataFrame:
    """Top-k merchants by distinct paying users within the user's group (`groups`: client_id -> group label);
    users without a group, and groups with fewer than k merchants, fall back to global popularity."""
    frame = history[["client_id", "merchant_id"]].drop_duplicates()
    frame = frame.assign(group=frame["client_id"].map(groups)).dropna(subset=["group"])
    local = frame.groupby(["group", "merchant_id"]).size().rename("score").reset_index()
    users = pd.Index(pd.unique(pd.Series(list(users))))
    out = []
    for group, members in pd.Series(users, index=users).groupby(users.map(groups)):
        scores = local[local["group"] == group][["merchant_id", "score"]]
        out.append(_top_excluding(scores, pd.Index(members.to_numpy()), history if exclude_seen else None, k))
    recs = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["client_id", "merchant_id", "score"])
    short = [u for u in users if (recs["client_id"] == u).sum() < k]
    if short:
        fallback = global_popularity(history, short, k, exclude_seen).assign(score=lambda d: d["score"] * 0.0 - 1.0)
        recs = pd.concat([recs, fallback], ignore_index=True).drop_duplicates(["client_id", "merchant_id"])
        recs = recs.sort_values(["client_id", "score"], ascending=[True, False], kind="stable")
        recs = recs.groupby("client_id").head(k).reset_index(drop=True)
    return recs

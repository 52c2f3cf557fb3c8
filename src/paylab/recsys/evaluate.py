"""Both tasks on full rankings for every model, with bootstrap intervals over users and paired differences (the
shared helpers of paylab.evaluation), the oracle ranking, and the merchant -> users targeting evaluation."""
from __future__ import annotations

import numpy as np
import pandas as pd

from paylab import evaluation as ev

COLS = {"user": "client_id", "item": "merchant_id", "score": "score"}
PER_USER = {"precision": "precision", "recall": "recall", "ndcg": "ndcg", "ap": "map", "hit": "hit_rate"}


def oracle_recs(affinity: pd.DataFrame, users, seen: pd.DataFrame | None, n: int) -> pd.DataFrame:
    """The true affinity's top n per user (seen pairs left out for the discovery task): the latent ceiling."""
    rec = affinity[affinity["client_id"].isin(users)].rename(columns={"affinity": "score"})
    if seen is not None:
        rec = rec.merge(seen[["client_id", "merchant_id"]].assign(_s=1), on=["client_id", "merchant_id"], how="left")
        rec = rec[rec["_s"].isna()].drop(columns="_s")
    rec = rec.sort_values(["client_id", "score"], ascending=[True, False], kind="stable")
    return rec.groupby("client_id").head(n).reset_index(drop=True)


def per_user(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """ranking_per_user with the metric names of the metrics JSON (`precision_at_10`, ...)."""
    out = ev.ranking_per_user(recs, truth, k, **COLS)
    return out.rename(columns={c: f"{PER_USER[c]}_at_{k}" for c in out.columns})


def compare(recs: dict[str, pd.DataFrame], truth: pd.DataFrame, k: int, n_items: int, popularity: pd.Series,
            n_users: int, n_boot: int, seed: int, level: float) -> tuple[dict, dict]:
    """({model: flat metrics with intervals}, {model: {metric: replicates}}) on the same user replicates."""
    values = {name: per_user(r, truth, k) for name, r in recs.items()}
    users = truth["client_id"].drop_duplicates().sort_values().to_numpy()
    W = np.vstack(list(ev.block_replicates(users, n_boot, seed))) if len(users) else np.zeros((n_boot, 0))
    points, reps = {}, {}
    for name, v in values.items():
        v = v.reindex(users).fillna(0.0)
        reps[name] = {m: W @ v[m].to_numpy() / W.sum(axis=1) for m in v.columns}
        point = {m: float(v[m].mean()) for m in v.columns}
        points[name] = {**ev.intervals(point, reps[name], level),
                        f"coverage_at_{k}": ev.catalogue_coverage(recs[name], n_items, k, **COLS),
                        f"novelty_at_{k}": ev.novelty_at_k(recs[name], popularity, n_users, k, **COLS),
                        "n_users": int(len(users))}
    return points, reps


def strongest(points: dict, names, metric: str) -> str:
    """The name among `names` with the highest `metric`."""
    return max(names, key=lambda n: points[n][metric])


def differences(points: dict, reps: dict, a: str, b: str, metrics, level: float) -> dict:
    """a - b per metric: {metric: {difference, ci_low, ci_high, verdict}} (paired by user)."""
    return {m: ev.paired_difference(points[a][m], points[b][m], reps[a][m], reps[b][m], level) for m in metrics}


def targeting(scores: pd.DataFrame, truth_new: pd.DataFrame, prior: pd.DataFrame, activity: pd.Series,
              sizes: pd.Series, k: int) -> pd.DataFrame:
    """Per merchant with at least one new payer: precision@k of the model's top-k users (`scores`: client_id,
    merchant_id, score over pairs not paid before), of the k most active users who have not paid it (`activity`:
    client_id -> history payments, the eligible users) and of random targeting (its expectation: new payers /
    eligible users); `prior`: the history's (client_id, merchant_id) pairs; `sizes`: merchant_id -> size band of
    every merchant in the history (merchants opened since have no history to target from and are left out)."""
    new = truth_new[truth_new["client_id"].isin(activity.index) & truth_new["merchant_id"].isin(sizes.index)]
    new = new.groupby("merchant_id")["client_id"].apply(set)
    prior_sets = prior.groupby("merchant_id")["client_id"].apply(set)
    top = (scores[scores["merchant_id"].isin(new.index)]
           .sort_values(["merchant_id", "score", "client_id"], ascending=[True, False, True])
           .groupby("merchant_id").head(k))
    top = top.assign(hit=[c in new[m] for c, m in zip(top["client_id"], top["merchant_id"], strict=True)])
    model = top.groupby("merchant_id")["hit"].sum() / k
    ranked = activity.sort_values(ascending=False, kind="stable").index.to_numpy()
    rows = []
    for m, payers in new.items():
        before = prior_sets.get(m, set())
        pop = [u for u in ranked[:k + len(before)] if u not in before][:k]
        eligible = len(activity) - len(before & set(activity.index)) if before else len(activity)
        rows.append({"merchant_id": m, "new_payers": len(payers), "model": float(model.get(m, 0.0)),
                     "popularity": sum(u in payers for u in pop) / k, "random": len(payers) / max(eligible, 1)})
    out = pd.DataFrame(rows, columns=["merchant_id", "new_payers", "model", "popularity", "random"])
    out["size_band"] = out["merchant_id"].map(sizes).to_numpy()
    return out


def targeting_summary(table: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict:
    """Mean precision@k of model / popularity / random, and the model's lift over each, overall and per size
    band, with bootstrap intervals over merchants."""
    out = {}
    for band, part in [("all", table), *table.groupby("size_band")]:
        if part.empty:
            continue
        block = {"merchants": int(len(part))}
        for name in ("model", "popularity", "random"):
            b = ev.bootstrap_mean(part[name].to_numpy(), n_boot=n_boot, seed=seed, level=level)
            block.update({f"{name}_precision": b["mean"], f"{name}_precision_ci_low": b["ci_low"],
                          f"{name}_precision_ci_high": b["ci_high"]})
        for base in ("popularity", "random"):
            denom = part[base].mean()
            block[f"lift_over_{base}"] = float(part["model"].mean() / denom) if denom > 0 else float("nan")
        out[str(band)] = block
    return out

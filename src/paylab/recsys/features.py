"""What the recommender knows at a cutoff: user, merchant and pair tables from the history only, and the crossed
features of the Wide&Deep wide part (segment x MCC, home city x merchant city, distance band, price x income)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from paylab.recsys.interactions import load_interactions, require_columns

EXTRA = ["merchant_city", "merchant_state", "zip", "mcc"]
USER_COLUMNS = ["client_id", "birth_year", "yearly_income", "latitude", "longitude"]
NEVER_DAYS = 3650.0  # days_since_last of a merchant the user never paid
DENSE = ["log_count", "log_days_since", "seen", "log_merchant_users", "log_merchant_recent", "log_user_tx",
         "log_user_merchants", "als", "knn", "local_share", "habit", "als_rank", "knn_rank"]
CATEGORICAL = ["client_id", "merchant_id", "mcc", "merchant_city", "home_city"]
CROSSES = ["segment_x_mcc", "city_x_city", "distance_band", "price_x_income"]


def load_events(path: str | Path) -> pd.DataFrame:
    """Paid purchases as in `interactions.load_interactions`, with the amount and the merchant's city, state, zip and
    MCC (lazy scan, column subset; strings as categoricals so that the kaggle scale fits)."""
    out = load_interactions(path, extra=["amount", *EXTRA])
    for col in ("merchant_city", "merchant_state", "zip"):
        out[col] = out[col].astype("category")
    return out


def load_users(path: str | Path) -> pd.DataFrame:
    """users.parquet columns the recommender reads (age from birth year; income is the end-of-period snapshot)."""
    path = Path(path)
    require_columns(path, USER_COLUMNS, "client_id=825, birth_year=1970, yearly_income=58000.0, latitude=34.07, "
                    "longitude=-118.17")
    return pl.scan_parquet(path).select(USER_COLUMNS).collect().to_pandas().set_index("client_id")


def _bands(values: pd.Series, labels: list[str]) -> pd.Series:
    ranks = values.rank(pct=True, method="first")
    return pd.cut(ranks, np.linspace(0, 1, len(labels) + 1), labels=labels, include_lowest=True).astype(str)


def _mode(frame: pd.DataFrame, key: str, value: str) -> pd.Series:
    counts = frame.groupby([key, value], observed=True).size().rename("n").reset_index()
    counts = counts.sort_values([key, "n", value], ascending=[True, False, True])
    return counts.drop_duplicates(key).set_index(key)[value].astype(str)


@dataclass
class Snapshot:
    """Users, merchants and (user, merchant) counts from the events strictly before `cutoff`."""

    cutoff: pd.Timestamp
    users: pd.DataFrame      # index client_id: home_city/state/zip, segment, income_band, n_tx, n_merchants
    merchants: pd.DataFrame  # index merchant_id: mcc, merchant_city/state/zip, price_level, n_users, n_recent
    pairs: pd.DataFrame      # client_id, merchant_id, count, days_since_last


def snapshot(events: pd.DataFrame, profiles: pd.DataFrame, cutoff, recent_days: int = 30) -> Snapshot:
    """The tables a model may use at `cutoff` (only events before it); every user of `profiles` is a row."""
    cutoff = pd.Timestamp(cutoff)
    hist = events[events["timestamp"] < cutoff]
    pairs = hist.groupby(["client_id", "merchant_id"])["timestamp"].agg(["size", "max"]).reset_index()
    pairs["days_since_last"] = (cutoff - pairs["max"]).dt.total_seconds() / 86400.0
    pairs = pairs.rename(columns={"size": "count"}).drop(columns="max")

    merchants = hist.groupby("merchant_id").agg(mcc=("mcc", "first"), median_amount=("amount", "median"),
                                                n_users=("client_id", "nunique"), n_tx=("client_id", "size"))
    for col in ("merchant_city", "merchant_state", "zip"):
        merchants[col] = hist.groupby("merchant_id", observed=True)[col].first().astype(str)
    recent = hist[hist["timestamp"] >= cutoff - pd.Timedelta(days=recent_days)]
    merchants["n_recent"] = recent.groupby("merchant_id")["client_id"].nunique().reindex(merchants.index).fillna(0)
    relative = merchants["median_amount"] / merchants.groupby("mcc")["median_amount"].transform("median")
    merchants["price_level"] = _bands(relative, ["p1", "p2", "p3"])
    merchants["is_online"] = merchants["merchant_city"].eq("ONLINE")

    users = profiles.copy()
    local = hist[hist["merchant_city"].astype(str) != "ONLINE"]
    for col in ("merchant_city", "merchant_state", "zip"):
        users["home_" + col.replace("merchant_", "")] = _mode(local, "client_id", col).reindex(users.index)
    users["home_city"] = users["home_city"].fillna(_nearest_city(users))
    users["n_tx"] = hist.groupby("client_id").size().reindex(users.index).fillna(0)
    users["n_merchants"] = pairs.groupby("client_id").size().reindex(users.index).fillna(0)
    users["online_share"] = (hist["merchant_city"].astype(str).eq("ONLINE").groupby(hist["client_id"]).mean()
                             .reindex(users.index).fillna(0.0))
    age = cutoff.year - users["birth_year"]
    users["age_band"] = pd.cut(age, [0, 30, 45, 60, 200], labels=["u30", "30_44", "45_59", "60p"]).astype(str)
    users["segment"] = users["age_band"] + "_" + np.where(users["online_share"] > 0.3, "online", "store")
    users["income_band"] = _bands(users["yearly_income"], ["i1", "i2", "i3"])
    return Snapshot(cutoff, users, merchants, pairs)


def _nearest_city(users: pd.DataFrame) -> pd.Series:
    """Home city of users without in-person history: that of the nearest user (by address) who has one."""
    known = users[users["home_city"].notna()]
    unknown = users[users["home_city"].isna()]
    if known.empty or unknown.empty:
        return pd.Series(index=unknown.index, dtype=object)
    a = unknown[["latitude", "longitude"]].to_numpy()
    b = known[["latitude", "longitude"]].to_numpy()
    nearest = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    return pd.Series(known["home_city"].to_numpy()[nearest], index=unknown.index)


def distance_band(user_zip, user_city, user_state, m_zip, m_city, m_state, online) -> np.ndarray:
    """online / same_zip / same_city / same_state / elsewhere (the data has no merchant coordinates)."""
    return np.select([np.asarray(online), np.asarray(m_zip) == np.asarray(user_zip),
                      np.asarray(m_city) == np.asarray(user_city), np.asarray(m_state) == np.asarray(user_state)],
                     ["online", "same_zip", "same_city", "same_state"], "elsewhere")


def pair_features(snap: Snapshot, pairs: pd.DataFrame) -> pd.DataFrame:
    """Dense and categorical features of (client_id, merchant_id) rows (extra columns such as als / knn scores are
    kept; absent ones are 0)."""
    out = pairs.merge(snap.pairs, on=["client_id", "merchant_id"], how="left")
    out["count"] = out["count"].fillna(0.0)
    out["days_since_last"] = out["days_since_last"].fillna(NEVER_DAYS)
    u = snap.users.reindex(out["client_id"])
    m = snap.merchants.reindex(out["merchant_id"])
    city_users = (snap.pairs.merge(snap.users[["home_city"]], left_on="client_id", right_index=True)
                  .groupby(["home_city", "merchant_id"]).size())
    city_size = snap.users.groupby("home_city").size()
    local = city_users.reindex(pd.MultiIndex.from_arrays([u["home_city"].to_numpy(), out["merchant_id"]])).to_numpy()
    out["local_share"] = np.nan_to_num(local / city_size.reindex(u["home_city"]).to_numpy())
    out["log_count"] = np.log1p(out["count"])
    out["log_days_since"] = np.log1p(out["days_since_last"])
    out["seen"] = (out["count"] > 0).astype(float)
    out["log_merchant_users"] = np.log1p(m["n_users"].fillna(0).to_numpy())
    out["log_merchant_recent"] = np.log1p(m["n_recent"].fillna(0).to_numpy())
    out["log_user_tx"] = np.log1p(u["n_tx"].to_numpy())
    out["log_user_merchants"] = np.log1p(u["n_merchants"].to_numpy())
    for col in ("als", "knn", "habit", "als_rank", "knn_rank"):
        out[col] = out.get(col, 0.0)
    out["mcc"] = m["mcc"].fillna(-1).astype(int).astype(str).to_numpy()
    out["merchant_city"] = m["merchant_city"].fillna("?").to_numpy()
    out["home_city"] = u["home_city"].fillna("?").to_numpy()
    out["segment_x_mcc"] = u["segment"].to_numpy() + "|" + out["mcc"]
    out["city_x_city"] = out["home_city"] + "|" + out["merchant_city"]
    out["distance_band"] = distance_band(u["home_zip"].to_numpy(), u["home_city"].to_numpy(),
                                         u["home_state"].to_numpy(), m["zip"].to_numpy(), m["merchant_city"].to_numpy(),
                                         m["merchant_state"].to_numpy(), m["is_online"].fillna(False).to_numpy())
    out["price_x_income"] = m["price_level"].fillna("?").to_numpy() + "|" + u["income_band"].to_numpy()
    return out

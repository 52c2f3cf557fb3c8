"""Serving both ways from the stage's batch rankings: `recommend(user_id, k)` and `target_users(merchant_id, k)`
with explanations; cold-start users get their home city's popularity, flagged. Wrapped as an MLflow pyfunc
(`recsys`, alias champion); `load` gives the object to the app from models/recsys/recommender.pkl."""
from __future__ import annotations

import pickle
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from paylab.recsys.features import CROSSES

DEFAULT_PATH = Path("models") / "recsys" / "recommender.pkl"
COLUMNS = ["rank", "id", "score", "explanation", "fallback"]


def _cross_text(cross: str, value: str, mcc_names: dict) -> str:
    left, _, right = value.partition("|")
    if cross == "segment_x_mcc":
        return f"{left.replace('_', ' ')} users often pay for {mcc_names.get(right, 'MCC ' + right).lower()}"
    if cross == "city_x_city":
        return f"people from {left} pay in {right}" if left != right else f"popular with people in {left}"
    if cross == "distance_band":
        return {"same_zip": "in your zip code", "same_city": "in your city", "same_state": "in your state",
                "online": "online merchant"}.get(left, "outside your usual area")
    return f"its price level ({left}) suits your income band ({right})"


def explanations(frame: pd.DataFrame, contributions: pd.DataFrame, nearest: pd.Series | None,
                 mcc_names: dict) -> np.ndarray:
    """One text per row: the user's own habit (paid n times, last d days ago) or the nearest habit (the user's
    merchant most similar by item-kNN), and the wide cross with the largest positive weight."""
    top = contributions[CROSSES].idxmax(axis=1).to_numpy()
    positive = contributions[CROSSES].max(axis=1).to_numpy() > 0
    value = np.array([frame[c].astype(str).to_numpy() for c in CROSSES]).T[
        np.arange(len(frame)), [CROSSES.index(t) for t in top]] if len(frame) else np.array([], dtype=object)
    pairs = pd.Series(list(zip(top, value, strict=True)), dtype=object)
    texts = {key: _cross_text(key[0], key[1], mcc_names) for key in set(pairs)}
    cross = np.where(positive, pairs.map(texts).to_numpy(), "")
    count = frame["count"].to_numpy()
    habit = ("you paid here " + pd.Series(count).astype(int).astype(str) + " times, last "
             + pd.Series(frame["days_since_last"].to_numpy()).round().astype(int).astype(str) + " days ago").to_numpy()
    near = np.full(len(frame), "", dtype=object)
    if nearest is not None:
        ok = nearest.notna().to_numpy()
        near[ok] = "similar to merchant " + nearest[ok].astype("int64").astype(str).to_numpy() + ", which you pay"
    first = np.where(count > 0, habit, near)
    out = [("; ".join(p for p in (a, b) if p)) or "popular in your area" for a, b in zip(first, cross, strict=True)]
    return np.asarray(out, dtype=object)


def nearest_habits(frame: pd.DataFrame, knn, matrix) -> pd.Series:
    """For each (client_id, merchant_id) row: the user's own merchant with the highest item-kNN similarity to it
    (NaN when none is similar)."""
    out = pd.Series(np.nan, index=frame.index)
    rows, cols = matrix.rows(frame["client_id"]), matrix.items.get_indexer(frame["merchant_id"])
    for r in np.unique(rows[rows >= 0]):
        own = matrix.X[r].indices
        sel = np.flatnonzero((rows == r) & (cols >= 0))
        if not len(own) or not len(sel):
            continue
        sim = knn.S[own][:, cols[sel]].toarray()
        best = sim.argmax(axis=0)
        ok = sim.max(axis=0) > 0
        out.iloc[sel[ok]] = matrix.items.to_numpy()[own[best[ok]]]
    return out


class Recommender:
    """Precomputed rankings (the stage's batch scoring) served by id: O(1) lookups per call."""

    def __init__(self, recs: pd.DataFrame, recs_new: pd.DataFrame, targets: pd.DataFrame, local: pd.DataFrame,
                 users: pd.Series, cold: set, merchants, model: str = "wide_deep"):
        """`recs` / `recs_new` (client_id, merchant_id, score, explanation): all / new merchants per warm user;
        `targets` (merchant_id, client_id, score, explanation); `local` (home_city, merchant_id, score) the
        cold-start fallback; `users`: client_id -> home_city of every known user; `cold`: users without history."""
        def grouped(frame, key):
            frame = frame.sort_values([key, "score"], ascending=[True, False], kind="stable")
            return {k: g.drop(columns=key).reset_index(drop=True) for k, g in frame.groupby(key)}

        self.recs, self.recs_new = grouped(recs, "client_id"), grouped(recs_new, "client_id")
        self.targets, self.local = grouped(targets, "merchant_id"), grouped(local, "home_city")
        self.users, self.cold = users.astype(str).to_dict(), set(cold)
        self.merchants, self.model = set(int(m) for m in merchants), model
        self.k_max = int(max([len(g) for g in self.recs.values()] or [0]))

    def _frame(self, part: pd.DataFrame, id_col: str, k: int, fallback: bool) -> pd.DataFrame:
        part = part.head(k)
        return pd.DataFrame({"rank": np.arange(1, len(part) + 1), "id": part[id_col].to_numpy(),
                             "score": part["score"].to_numpy(float), "explanation": part["explanation"].to_numpy(),
                             "fallback": fallback})

    @staticmethod
    def _k(k) -> int:
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        return int(k)

    def recommend(self, user_id, k: int = 10, new_only: bool = True) -> pd.DataFrame:
        """The user's top-k merchants (new to the user by default); a known user without history gets the home
        city's most popular merchants with `fallback` True."""
        k = self._k(k)
        if user_id not in self.users:
            raise ValueError(f"unknown user_id {user_id!r} (not in users.parquet; e.g. {next(iter(self.users))})")
        table = self.recs_new if new_only else self.recs
        if user_id in self.cold or user_id not in table:
            city = self.users[user_id]
            local = self.local.get(city, self.local.get("*"))
            why = "no payment history yet" if user_id in self.cold else "no personal ranking for this user"
            local = local.assign(explanation=f"popular in {city} ({why})" if city in self.local
                                 else f"popular overall ({why})")
            return self._frame(local, "merchant_id", k, True)
        return self._frame(table[user_id], "merchant_id", k, False)

    def target_users(self, merchant_id, k: int = 10) -> pd.DataFrame:
        """The k users most likely to pay the merchant next period among those who have not paid it yet."""
        k = self._k(k)
        if merchant_id not in self.merchants:
            raise ValueError(f"unknown merchant_id {merchant_id!r} (not in the history; e.g. "
                             f"{next(iter(self.merchants))})")
        part = self.targets.get(merchant_id)
        if part is None:
            return pd.DataFrame(columns=COLUMNS)
        return self._frame(part, "client_id", k, False)

    def save(self, path: str | Path = DEFAULT_PATH) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            pickle.dump(self, f)
        return path


def load(path: str | Path = DEFAULT_PATH, root: str | Path | None = None) -> Recommender:
    """The Recommender the recsys stage wrote (relative paths from the project root)."""
    from paylab.paths import project_root

    path = Path(path)
    if not path.is_absolute():
        path = Path(root or project_root()) / path
    if not path.exists():
        raise FileNotFoundError(f"{path}: no recommender (run `dvc repro recsys`)")
    with path.open("rb") as f:
        return pickle.load(f)


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """pyfunc `recsys`: rows (kind = user | merchant, id, k) -> the ranked rows of every query (query column =
    the row's position)."""

    def load_context(self, context):
        self.rec = load(context.artifacts["recommender"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        out = []
        for i, row in enumerate(model_input.itertuples(index=False)):
            fn = self.rec.recommend if row.kind == "user" else self.rec.target_users
            if row.kind not in ("user", "merchant"):
                raise ValueError(f"kind must be user or merchant, got {row.kind!r}")
            out.append(fn(int(row.id), int(row.k)).assign(query=i))
        return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=[*COLUMNS, "query"])

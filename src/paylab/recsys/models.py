"""Collaborative baselines on one user x merchant matrix: own habits (repeat), item-kNN, implicit ALS (the
`implicit` package, or pyspark.ml ALS for data past one machine), and the popularity scores, all as full score
rows so that every model ranks the whole catalogue."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class Matrix:
    """Users x merchants confidence matrix (log1p count x recency decay) with its id indexes."""

    users: pd.Index
    items: pd.Index
    X: sp.csr_matrix

    def rows(self, client_ids) -> np.ndarray:
        return self.users.get_indexer(pd.Index(client_ids))


def matrix(pairs: pd.DataFrame, users, items=None, half_life_days: float = 90.0) -> Matrix:
    """CSR matrix of `pairs` (client_id, merchant_id, count, days_since_last); rows = `users`, columns = `items`
    (default: the merchants of `pairs`)."""
    users = pd.Index(users)
    items = pd.Index(sorted(pairs["merchant_id"].unique())) if items is None else pd.Index(items)
    r, c = users.get_indexer(pairs["client_id"]), items.get_indexer(pairs["merchant_id"])
    ok = (r >= 0) & (c >= 0)
    w = np.log1p(pairs["count"].to_numpy()) * 0.5 ** (pairs["days_since_last"].to_numpy() / half_life_days)
    X = sp.csr_matrix((w[ok].astype(np.float32), (r[ok], c[ok])), shape=(len(users), len(items)))
    return Matrix(users, items, X)


class Habits:
    """The user's own merchants, by recency-weighted frequency (zero elsewhere): the repeat-purchase baseline."""

    name = "own_habits"

    def fit(self, m: Matrix):
        self.m = m
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return self.m.X[rows].toarray()


class Popularity:
    """Distinct paying users per merchant, globally or within the user's group (home city)."""

    def __init__(self, groups: pd.Series | None = None, name: str = "global_popularity"):
        self.groups, self.name = groups, name

    def fit(self, m: Matrix):
        self.m = m
        binary = (m.X > 0).astype(np.float32)
        self.global_ = np.asarray(binary.sum(axis=0)).ravel()
        self.by_group = {}
        if self.groups is not None:
            g = self.groups.reindex(m.users).fillna("?").to_numpy()
            for label in np.unique(g):
                self.by_group[label] = np.asarray(binary[g == label].sum(axis=0)).ravel()
            self.user_group = g
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        base = np.tile(self.global_ / (self.global_.max() + 1.0), (len(rows), 1))
        if self.groups is None:
            return base
        return np.vstack([self.by_group.get(self.user_group[r], 0) for r in rows]) + base


class ItemKNN:
    """Item-based kNN: cosine similarity of merchants' user vectors (with shrinkage), the `neighbours` most similar
    kept per merchant; a user's score of a merchant is the similarity-weighted sum of their own merchants."""

    name = "item_knn"

    def __init__(self, neighbours: int = 50, shrink: float = 10.0):
        self.neighbours, self.shrink = int(neighbours), float(shrink)

    def fit(self, m: Matrix):
        self.m = m
        X = m.X.tocsc()
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel())
        S = (X.T @ X).tocsr().astype(np.float32)
        S.setdiag(0)
        S.eliminate_zeros()
        rows, cols, vals = [], [], []
        for i in range(S.shape[0]):
            lo, hi = S.indptr[i], S.indptr[i + 1]
            if hi == lo:
                continue
            j, v = S.indices[lo:hi], S.data[lo:hi] / (norms[i] * norms[S.indices[lo:hi]] + self.shrink)
            if len(v) > self.neighbours:
                keep = np.argpartition(-v, self.neighbours - 1)[:self.neighbours]
                j, v = j[keep], v[keep]
            rows.append(np.full(len(j), i))
            cols.append(j)
            vals.append(v)
        n = X.shape[1]
        self.S = sp.csr_matrix((_cat(vals, np.float32), (_cat(rows, np.int64), _cat(cols, np.int64))), shape=(n, n))
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.m.X[rows] @ self.S).todense())


def _cat(parts: list, dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


class ALS:
    """Implicit ALS (Hu, Koren & Volinsky 2008) with confidence 1 + alpha x weight; `engine` implicit (one machine)
    or spark (pyspark.ml, see `spark_als_factors`)."""

    name = "als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 10.0, iterations: int = 15,
                 seed: int = 0, engine: str = "implicit", spark=None):
        if engine not in ("implicit", "spark"):
            raise ValueError(f"recsys.als.engine must be implicit or spark, got {engine!r}")
        self.factors, self.regularization, self.alpha = int(factors), float(regularization), float(alpha)
        self.iterations, self.seed, self.engine, self.spark = int(iterations), int(seed), engine, spark

    def fit(self, m: Matrix):
        self.m = m
        if self.engine == "spark":
            self.user_f, self.item_f = spark_als_factors(self.spark, m, self.factors, self.regularization,
                                                         self.alpha, self.iterations, self.seed)
            return self
        from implicit.cpu.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                                        iterations=self.iterations, random_state=self.seed, num_threads=1)
        model.fit(m.X, show_progress=False)
        self.user_f, self.item_f = np.asarray(model.user_factors), np.asarray(model.item_factors)
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return self.user_f[rows] @ self.item_f.T


def spark_als_factors(spark, m: Matrix, factors: int, regularization: float, alpha: float, iterations: int,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """pyspark.ml ALS (implicitPrefs) on the matrix's non-zeros; returns (user factors, item factors) aligned with
    the matrix rows and columns (users / items Spark never saw get zero vectors)."""
    from pyspark.ml.recommendation import ALS as SparkALS

    coo = m.X.tocoo()
    frame = spark.createDataFrame(pd.DataFrame({"u": coo.row.astype(int), "i": coo.col.astype(int),
                                                "r": coo.data.astype(float)}))
    model = SparkALS(rank=factors, maxIter=iterations, regParam=regularization, alpha=alpha, implicitPrefs=True,
                     userCol="u", itemCol="i", ratingCol="r", seed=seed, nonnegative=False).fit(frame)

    def dense(df, n):
        out = np.zeros((n, factors), dtype=np.float32)
        rows = df.toPandas()
        if len(rows):
            out[rows["id"].to_numpy()] = np.vstack(rows["features"].to_numpy())
        return out

    return dense(model.userFactors, m.X.shape[0]), dense(model.itemFactors, m.X.shape[1])


def top_n(model, m: Matrix, client_ids, n: int, exclude_seen: bool = False, chunk: int = 512) -> pd.DataFrame:
    """Each user's n highest-scored merchants of the whole catalogue (client_id, merchant_id, score); users absent
    from the matrix get nothing. With `exclude_seen`, the user's own merchants are left out (discovery)."""
    rows = m.rows(client_ids)
    rows = rows[rows >= 0]
    n = min(n, len(m.items))
    out = []
    for start in range(0, len(rows), chunk):
        r = rows[start:start + chunk]
        s = np.asarray(model.scores(r), dtype=np.float64)
        if exclude_seen:
            seen = m.X[r].tocoo()
            s[seen.row, seen.col] = -np.inf
        idx = np.argpartition(-s, n - 1, axis=1)[:, :n]
        vals = np.take_along_axis(s, idx, axis=1)
        out.append(pd.DataFrame({"client_id": np.repeat(m.users[r].to_numpy(), n),
                                 "merchant_id": m.items.to_numpy()[idx.ravel()], "score": vals.ravel()}))
    recs = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["client_id", "merchant_id", "score"])
    recs = recs[np.isfinite(recs["score"].astype(float))]
    return recs.sort_values(["client_id", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)


def pair_scores(model, m: Matrix, pairs: pd.DataFrame) -> np.ndarray:
    """The model's score of given (client_id, merchant_id) rows (0 for ids outside the matrix)."""
    r, c = m.rows(pairs["client_id"]), m.items.get_indexer(pairs["merchant_id"])
    out = np.zeros(len(pairs))
    ok = (r >= 0) & (c >= 0)
    for user in np.unique(r[ok]):
        sel = np.flatnonzero(ok & (r == user))
        out[sel] = np.asarray(model.scores(np.array([user])))[0, c[sel]]
    return out

"""Unsupervised detectors on a feature view, fitted without labels; every score is "higher = more anomalous" and
is also given as a percentile of the training window's scores (0..1), which is what the fraud service's anomaly
layer and the rank-average ensemble read.

    det = fit_detector("isolation_forest", columns, X_train, params["detectors"]["isolation_forest"], seed)
    det.score(frame)        # raw anomaly scores of the rows of a frame holding `columns`
    det(frame)              # the same as percentiles of the training scores: the service's AnomalyScorer
    rank_average([det_a(frame), det_b(frame)])

Libraries do the detecting (scikit-learn IsolationForest, LocalOutlierFactor(novelty=True), Nystroem +
SGDOneClassSVM, PyOD ECOD and HBOS, a Keras 3 autoencoder, scikit-learn HDBSCAN for profiles); this module is
the glue: a shared preprocessing, the orientation of the scores, and the percentile scale.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

DETECTORS = ("isolation_forest", "lof", "ocsvm", "ecod", "hbos", "autoencoder")


@dataclass
class Scaler:
    """Signed log (heavy-tailed counts and amounts), median imputation, standardisation: fitted on training rows."""

    median: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std: np.ndarray = field(default_factory=lambda: np.ones(0))

    @staticmethod
    def _log(x: np.ndarray) -> np.ndarray:
        return np.sign(x) * np.log1p(np.abs(x))

    def fit(self, X: np.ndarray) -> Scaler:
        z = self._log(X)
        self.median = np.nan_to_num(np.nanmedian(z, axis=0)) if len(z) else np.zeros(z.shape[1])
        z = np.where(np.isnan(z), self.median, z)
        self.mean, std = z.mean(axis=0), z.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        z = self._log(X)
        return ((np.where(np.isnan(z), self.median, z) - self.mean) / self.std).astype(np.float32)


class InductiveECOD:
    """ECOD (Li et al., TKDE 2022) scored against the *training* empirical CDFs.

    PyOD's `ECOD.decision_function(X)` recomputes the CDFs on the training rows plus X (X shapes its own
    distribution, and one call sorts both: minutes for a test window), and its numba kernels cost seconds of JIT per
    process. Here each new value's left and right tail probabilities are counted in the sorted training columns, with
    the training skewness signs: PyOD's formula and score for one row at a time (tested against PyOD), for any batch."""

    def fit(self, X: np.ndarray) -> InductiveECOD:
        from scipy.stats import skew

        self.sorted = np.sort(X, axis=0)
        self.skew_sign = np.nan_to_num(np.sign(skew(X, axis=0)))  # a constant column has no skewness: sign 0
        return self

    def anomaly(self, X: np.ndarray) -> np.ndarray:
        n = len(self.sorted)
        cols = range(self.sorted.shape[1])
        below = np.column_stack([np.searchsorted(self.sorted[:, j], X[:, j], side="right") for j in cols])
        above = np.column_stack([n - np.searchsorted(self.sorted[:, j], X[:, j], side="left") for j in cols])
        u_l, u_r = -np.log((below + 1) / (n + 1)), -np.log((above + 1) / (n + 1))  # the row itself counts once
        u_skew = u_l * -np.sign(self.skew_sign - 1) + u_r * np.sign(self.skew_sign + 1)
        return np.maximum(np.maximum(u_l, u_r), u_skew).sum(axis=1) if len(X) else np.zeros(0)


class Autoencoder:
    """A dense Keras 3 autoencoder; the anomaly score is the mean squared reconstruction error. Early stopping on the
    last `valid_share` of the (time-ordered) training rows."""

    def __init__(self, hidden: Sequence[int] = (32, 8), epochs: int = 30, batch_size: int = 256, patience: int = 3,
                 valid_share: float = 0.1, learning_rate: float = 1e-3, seed: int = 0):
        self.hidden, self.epochs, self.batch_size = list(hidden), epochs, batch_size
        self.patience, self.valid_share, self.learning_rate, self.seed = patience, valid_share, learning_rate, seed

    def fit(self, X: np.ndarray) -> Autoencoder:
        import keras

        keras.utils.set_random_seed(self.seed)
        n_valid = max(1, int(len(X) * self.valid_share))
        train, valid = X[:-n_valid], X[-n_valid:]
        widths = [*self.hidden, *self.hidden[-2::-1]]
        layers = [keras.Input((X.shape[1],))] + [keras.layers.Dense(w, activation="relu") for w in widths]
        self.model = keras.Sequential([*layers, keras.layers.Dense(X.shape[1])])
        self.model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
        stop = keras.callbacks.EarlyStopping(patience=self.patience, restore_best_weights=True)
        self.history = self.model.fit(train, train, validation_data=(valid, valid), epochs=self.epochs,
                                      batch_size=self.batch_size, callbacks=[stop], verbose=0, shuffle=True).history
        return self

    def anomaly(self, X: np.ndarray) -> np.ndarray:
        if not len(X):
            return np.zeros(0)
        recon = self.model.predict(X, batch_size=4096, verbose=0)
        return np.mean((recon - X) ** 2, axis=1)


def _cache_jit(model) -> None:
    """PyOD's HBOS scores with a numba kernel compiled on its first call in each process (3-8 s); numba's on-disk
    cache (`enable_caching`, beside the library or in NUMBA_CACHE_DIR) makes that once per environment."""
    if type(model).__module__ != "pyod.models.hbos":
        return
    from pyod.models import hbos

    try:
        hbos._calculate_outlier_scores.enable_caching()
    except RuntimeError as err:  # no writable cache location: compile in memory as before
        log.info("HBOS: numba cache unavailable (%s)", err)


class _Oriented:
    """A library detector fitted on a matrix, its scores turned "higher = more anomalous": scikit-learn's
    `score_samples` (higher = normal, sign -1) or PyOD's `decision_function` (higher = outlier, sign +1)."""

    def __init__(self, model, method: str = "score_samples", sign: float = -1.0):
        self.model, self.method, self.sign = model, method, sign
        _cache_jit(model)

    def __setstate__(self, state: dict[str, Any]) -> None:  # unpickled in a serving process: the same cache
        self.__dict__.update(state)
        _cache_jit(self.model)

    def fit(self, X: np.ndarray) -> _Oriented:
        self.model.fit(X)
        return self

    def anomaly(self, X: np.ndarray) -> np.ndarray:
        return self.sign * getattr(self.model, self.method)(X) if len(X) else np.zeros(0)


def build(name: str, params: dict[str, Any] | None, seed: int):
    """The unfitted detector `name` with its params (see params.yaml anomaly.detectors)."""
    p = dict(params or {})
    p.pop("fit_rows", None)
    if name == "isolation_forest":
        from sklearn.ensemble import IsolationForest

        return _Oriented(IsolationForest(random_state=seed, n_jobs=1, **p))
    if name == "lof":
        from sklearn.neighbors import LocalOutlierFactor

        return _Oriented(LocalOutlierFactor(novelty=True, **p))
    if name == "ocsvm":
        from sklearn.kernel_approximation import Nystroem
        from sklearn.linear_model import SGDOneClassSVM
        from sklearn.pipeline import make_pipeline

        kernel = Nystroem(gamma=p.pop("gamma", None), n_components=p.pop("n_components", 200), random_state=seed)
        return _Oriented(make_pipeline(kernel, SGDOneClassSVM(random_state=seed, **p)))
    if name == "ecod":
        return InductiveECOD(**p)
    if name == "hbos":
        from pyod.models.hbos import HBOS

        return _Oriented(HBOS(**p), "decision_function", 1.0)
    if name == "autoencoder":
        return Autoencoder(seed=seed, **p)
    raise ValueError(f"unknown anomaly detector {name!r} (known: {', '.join(DETECTORS)})")


@dataclass
class Detector:
    """A fitted detector on its view: columns, scaler, the library model, the sorted training scores."""

    name: str
    view: str
    columns: list[str]
    scaler: Scaler
    model: Any
    train_scores: np.ndarray
    fit_rows: int = 0
    fit_seconds: float = 0.0
    score_seconds: float = 0.0

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows of `frame` as the model's input: the view's columns, scaled (shared by detectors that share
        the scaler: `score_suite` computes it once)."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise KeyError(f"anomaly detector {self.name}/{self.view}: columns {missing[:3]} missing from the input")
        return self.scaler.transform(frame[self.columns].to_numpy(dtype=np.float64, na_value=np.nan))

    def score(self, frame: pd.DataFrame, matrix: np.ndarray | None = None) -> np.ndarray:
        """Raw anomaly scores (higher = more anomalous); `matrix`: `self.matrix(frame)` when already computed."""
        return np.asarray(self.model.anomaly(self.matrix(frame) if matrix is None else matrix), dtype=float)

    def percentile(self, raw: np.ndarray) -> np.ndarray:
        """Share of the training rows scoring below each raw score (0..1)."""
        return np.searchsorted(self.train_scores, raw, side="left") / max(len(self.train_scores), 1)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return self.percentile(self.score(frame))

    def one(self, features: Mapping[str, Any]) -> float:
        """The percentile of one row given as a feature dict (the online service's path: no frame is built).
        A missing or None value is NaN, as in a frame."""
        try:
            row = np.array([[np.nan if features[c] is None else features[c] for c in self.columns]], np.float64)
        except KeyError as err:
            raise KeyError(f"anomaly detector {self.name}/{self.view}: feature {err.args[0]!r} missing from the "
                           f"input") from None
        return float(self.percentile(np.asarray(self.model.anomaly(self.scaler.transform(row)), dtype=float))[0])


def fit_detector(name: str, view: str, columns: Sequence[str], train: pd.DataFrame, params: dict[str, Any] | None,
                 seed: int, scaler: Scaler | None = None) -> Detector:
    """Fit `name` on the training rows `train` (time-ordered, no labels read) restricted to `columns`; `scaler`:
    one already fitted on these rows and columns (detectors of one view and sample share it)."""
    X = train[list(columns)].to_numpy(dtype=np.float64, na_value=np.nan)
    if len(X) < 10:
        raise ValueError(f"anomaly detector {name}: {len(X)} training rows, need at least 10")
    scaler = scaler or Scaler().fit(X)
    Z = scaler.transform(X)
    model = build(name, params, seed).fit(Z)
    return Detector(name, view, list(columns), scaler, model, np.sort(np.asarray(model.anomaly(Z), dtype=float)))


def rank_average(percentiles: Sequence[np.ndarray]) -> np.ndarray:
    """The ensemble: the mean of the detectors' training-window percentiles (a rank average that needs no batch)."""
    return np.mean(np.vstack([np.asarray(p, dtype=float) for p in percentiles]), axis=0)


def profile_outliers(profile: pd.DataFrame, params: dict[str, Any] | None) -> pd.Series:
    """HDBSCAN (scikit-learn) of standardised behaviour profiles: 1 - membership probability (noise = 1)."""
    from sklearn.cluster import HDBSCAN

    if len(profile) < 5:
        return pd.Series(np.zeros(len(profile)), index=profile.index)
    Z = Scaler().fit(profile.to_numpy(np.float64)).transform(profile.to_numpy(np.float64))
    clusters = HDBSCAN(**dict(params or {})).fit(Z)
    return pd.Series(1.0 - clusters.probabilities_, index=profile.index, name="outlier")

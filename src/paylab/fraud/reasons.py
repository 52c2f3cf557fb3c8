"""Reason codes: for each scored transaction, the features pushing its fraud score up the most, in plain words, for
analysts (a batch) and for the online service (one transaction).

    coder = ReasonCoder(model, feature_list(FeatureConfig.from_params(params["features"])))
    coder.reasons(X, n=3)          # [["12 payments on this card in the last hour", ...], ...]   (a batch)
    coder.reasons(features)        # one transaction as a mapping (the online engine's output): the fast path
    coder.reason_codes(X)          # DataFrame reason_1 .. reason_3 for the notebook
    FraudService(..., reasons_fn=ServiceReasons(features, n=3))

Contributions are each library's own exact TreeSHAP (XGBoost `pred_contribs`, LightGBM `pred_contrib`, CatBoost
`ShapValues`: the same path-dependent algorithm as `shap.TreeExplainer`, without its per-call Python overhead), or
coef * (x - background mean) for logistic regression. Contributions of columns that carry one raw feature (one-hot
columns `col=value`, `hour_sin`/`hour_cos` with `hour`, `amount_log_abs` with `amount`, `card_new_merchant` with
`card_merchant_n_prior`, ...) are summed (SHAP values add up), so a reason speaks of the raw feature and its value.
Rows are encoded by `paylab.fraud.encoding.RowEncoder` (the service's fast path), words come from
`paylab.fraud.phrases`.

Cost: exact TreeSHAP is O(trees x leaves x depth^2) per row, far more than scoring. Measured on this project's 145
feature columns, XGBoost 300 trees of depth 6, 2 busy shared cores: one row 0.3-2 ms (one thread; the booster's
own threads made it ~15x slower on one row), `shap.TreeExplainer` on one row ~40x that; a batch ~0.3-1.3 ms a row
(100k rows: minutes; explain the alerted rows rather than the whole window). XGBoost's approximate (Saabas)
contributions are ~7x cheaper in a batch but picked the same top reason in only 64% of rows: not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from paylab.features.spec import Feature, FeatureConfig, feature_list
from paylab.fraud.encoding import RowEncoder, estimator_kind, final_estimator, transform
from paylab.fraud.models import predict_steps
from paylab.fraud.phrases import is_null, phrase

CHUNK_ROWS = 20_000  # rows per native-contribution call in a batch (bounds memory: rows x columns x 4 bytes)
SMALL_FRAME = 8  # frames up to this many rows take the per-row path (no pandas transform)


def _display_column(column: str, columns: set[str]) -> str:
    """The raw column a column's contribution is reported under (its partner that says the same, when present)."""
    partners = [(r"(hour|weekday)_(sin|cos)", r"\1"), (r"amount_log_abs", "amount"),
                (r"(card|client)_new_(\w+)", r"\1_\2_n_prior")]
    for pattern, target in partners:
        if re.fullmatch(pattern, column):
            partner = re.sub(pattern, target, column)
            if partner in columns:
                return partner
    return column


class ReasonCoder:
    """For each transaction, the n features pushing its fraud score up the most, in plain words.

    `features`: the spec's feature list (`feature_list(cfg)`, default config when None) for the docs of the generic
    sentences. `background`: raw rows whose transformed mean is the reference of a logistic regression's
    contributions (default: the scaler's training mean, i.e. 0 in the scaled space).
    """

    def __init__(self, model, features: Iterable[Feature] | None = None, *, background: pd.DataFrame | None = None):
        self.model = model
        self.final = final_estimator(model)
        self.kind = estimator_kind(self.final)
        docs = {f.name: f.doc for f in (feature_list(FeatureConfig()) if features is None else features)}
        self.encoder = RowEncoder(model)
        self.columns: list[str] = self.encoder.columns
        self.names: list[str] = self.encoder.names
        # grouping: encoded column -> the raw column it is reported under
        present = set(self.columns)
        display = [_display_column(c, present) for c in self.encoder.source]
        self.reasons_of: list[str] = list(dict.fromkeys(display))  # the reported raw columns, in column order
        where = {c: k for k, c in enumerate(self.reasons_of)}
        self._group = np.zeros((len(self.names), len(self.reasons_of)), dtype=np.float64)
        self._group[np.arange(len(self.names)), [where[c] for c in display]] = 1.0
        self._say = [phrase(c, docs.get(c)) for c in self.reasons_of]
        self._setup_contributions(background)

    # -- contributions ----------------------------------------------------------------------------------------------

    def _setup_contributions(self, background: pd.DataFrame | None) -> None:
        final = self.final
        if self.kind == "xgboost":
            self._booster = final.get_booster()
            self._single = self._booster.copy()  # one-thread copy for one-row calls (threads only cost there)
            self._single.set_param({"nthread": 1})
            best = getattr(final, "best_iteration", None)  # early stopping: score as predict_proba does
            self._iterations = (0, int(best) + 1) if best is not None else (0, 0)
        elif self.kind == "linear":
            self._coef = np.asarray(final.coef_, dtype=np.float64).reshape(-1)
            if len(self._coef) != len(self.names):
                raise ValueError("ReasonCoder: a binary logistic regression on the encoded columns is expected")
            if background is not None:
                self._mean = np.nan_to_num(np.nanmean(transform(self.model, background).to_numpy(np.float64),
                                                      axis=0))
            else:
                scaler = predict_steps(self.model)[-2]
                if type(scaler).__name__ != "StandardScaler" or not scaler.with_mean:
                    raise ValueError("ReasonCoder: give `background` rows for a linear model without a centring "
                                     "StandardScaler last")
                self._mean = np.zeros(len(self.names))

    def _native(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-column log-odds contributions (n, columns) + bias (n,) of the final estimator on transformed rows."""
        if self.kind == "xgboost":
            from xgboost import DMatrix

            single = len(Z) == 1
            booster = self._single if single else self._booster
            dm = DMatrix(Z, feature_names=self._booster.feature_names, nthread=1 if single else -1)
            out = booster.predict(dm, pred_contribs=True, iteration_range=self._iterations)
        elif self.kind == "lightgbm":
            out = self.final.booster_.predict(Z, pred_contrib=True, num_threads=1 if len(Z) == 1 else 0)
        elif self.kind == "catboost":
            from catboost import Pool

            out = self.final.get_feature_importance(Pool(Z), type="ShapValues",
                                                    thread_count=1 if len(Z) == 1 else -1)
        else:
            phi = (Z.astype(np.float64) - self._mean) * self._coef
            bias = float(np.asarray(self.final.intercept_).reshape(-1)[0]) + float(self._mean @ self._coef)
            return phi, np.full(len(Z), bias)
        out = np.asarray(out, dtype=np.float64)
        return out[:, :-1], out[:, -1]

    def _matrix(self, X) -> tuple[np.ndarray, list[Mapping[str, Any]] | pd.DataFrame]:
        if isinstance(X, Mapping):
            X = [X]
        if isinstance(X, pd.DataFrame) and len(X) <= SMALL_FRAME and self.encoder.fast:
            X = [dict(zip(X.columns, values, strict=True)) for values in X.to_numpy(dtype=object)]  # ~50x to_dict
        if isinstance(X, list):
            return self.encoder.encode(X), X
        return transform(self.model, X).to_numpy(), X

    def contributions(self, X, with_base: bool = False) -> pd.DataFrame:
        """Log-odds contributions per reported raw feature (one-hot and partner columns summed), rows of X; with
        `with_base` a last column `base_value` (the row's contributions + base_value = the model's log-odds)."""
        Z, raw = self._matrix(X)
        phi, base = self._grouped(Z)
        frame = pd.DataFrame(phi, columns=self.reasons_of, index=raw.index if isinstance(raw, pd.DataFrame) else None)
        if with_base:
            frame["base_value"] = base
        return frame

    def _grouped(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phis, bases = [np.zeros((0, len(self.reasons_of)))], [np.zeros(0)]
        for start in range(0, len(Z), CHUNK_ROWS):
            phi, base = self._native(Z[start:start + CHUNK_ROWS])
            phis.append(phi @ self._group)
            bases.append(base)
        return np.vstack(phis), np.concatenate(bases)

    # -- words ------------------------------------------------------------------------------------------------------

    def reasons(self, X, n: int = 3) -> list[list[str]]:
        """Per row of X (a frame, or one transaction as a mapping), the sentences of the n features with the largest
        positive contributions to the fraud log-odds, largest first (fewer when fewer push the score up)."""
        Z, raw = self._matrix(X)
        if len(Z) == 0:
            return []
        phi = self._grouped(Z)[0]
        k = min(int(n), phi.shape[1])
        if k <= 0:
            return [[] for _ in range(len(Z))]
        top = np.argpartition(-phi, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(phi, top, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        top, values = np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)
        keep = values > 0
        texts = np.empty(top.shape, dtype=object)
        for g in np.unique(top[keep]):
            rows, slots = np.nonzero((top == g) & keep)
            column, say = self.reasons_of[g], self._say[g]
            if isinstance(raw, pd.DataFrame):
                col = raw[column].to_numpy(dtype=object)[rows]
            else:
                col = [raw[r][column] for r in rows]
            cache: dict[Any, str] = {}
            out = []
            for v in col:
                key = None if is_null(v) else v
                if key not in cache:
                    cache[key] = say(v)
                out.append(cache[key])
            texts[rows, slots] = out
        counts = keep.sum(axis=1)
        return [list(t[:m]) for t, m in zip(texts, counts, strict=True)]

    def reason_codes(self, X: pd.DataFrame, n: int = 3) -> pd.DataFrame:
        """reasons(X, n) as columns reason_1 .. reason_n (None where a row has fewer), indexed like X."""
        rows = self.reasons(X, n)
        frame = pd.DataFrame([r + [None] * (n - len(r)) for r in rows], columns=[f"reason_{i + 1}" for i in range(n)])
        if isinstance(X, pd.DataFrame):
            frame.index = X.index
        return frame


class ServiceReasons:
    """`reasons_fn(model, X)` for FraudService (paylab.fraud.service): the model's ReasonCoder is built on the first
    call and kept while the service scores with that model. Picklable (the coder is rebuilt after loading)."""

    def __init__(self, features: Iterable[Feature] | None = None, n: int = 3, *,
                 background: pd.DataFrame | None = None):
        self.features = None if features is None else list(features)
        self.n = n
        self.background = background
        self._coder: ReasonCoder | None = None

    def coder(self, model) -> ReasonCoder:
        if self._coder is None or self._coder.model is not model:
            self._coder = ReasonCoder(model, self.features, background=self.background)
        return self._coder

    def __call__(self, model, X: pd.DataFrame) -> list[list[str]]:
        return self.coder(model).reasons(X, self.n)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_coder": None}

"""The fraud modelling table: data/processed/features.parquet (+ the oracle when present) as a pandas frame, and the
encoder that turns its feature columns into a numeric matrix for every model.

    table = load_table(root / "data/processed/features.parquet", root / "data/interim/oracle/fraud.parquet")
    table.frame        # keys, `y` (1 fraud, 0 legit, NaN unlabeled), `day`, `oracle_proba` and `oracle_scenario`
                       # (when known), features
    table.features     # the model's input columns (every spec feature present in the file)
    FeatureEncoder().fit_transform(table.frame[table.features])   # float32, strings one-hot, bools 0/1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from paylab.features.spec import KEY_COLUMNS

LABELS = {"fraud": 1.0, "legit": 0.0}  # "unlabeled" -> NaN: never legitimate


@dataclass
class FraudTable:
    frame: pd.DataFrame
    features: list[str]
    has_oracle: bool

    @property
    def labeled(self) -> np.ndarray:
        return self.frame["y"].notna().to_numpy()


def load_table(features_path: Path, oracle_path: Path | None = None, last_days: float | None = None,
               exclude: Sequence[str] = (), expected: Sequence[str] | None = None) -> FraudTable:
    """Keys + `y` + `day` (+ `oracle_proba`, `oracle_scenario`) + every feature of the features file but `exclude`, in
    time order; with `last_days`, only the transactions of the last `last_days` days of the file (the windows the
    stage uses).

    `expected` (the spec's feature names for the stage's feature params): the model inputs are exactly these; a
    spec feature missing from the file, or a file column that is neither a key nor a spec feature, is an error."""
    features_path = Path(features_path)
    if not features_path.exists():
        raise FileNotFoundError(f"{features_path}: no features file (run the `features` stage first)")
    available = pl.read_parquet_schema(features_path)
    missing = [k for k in KEY_COLUMNS if k not in available]
    if missing:
        raise ValueError(f"{features_path}: key columns {missing} missing (expected {list(KEY_COLUMNS)})")
    unknown = sorted(set(exclude) - set(available))
    if unknown:
        raise ValueError(f"{features_path}: features to exclude {unknown} are not in the file")
    if expected is not None:
        expected = list(expected)
        missing = [c for c in expected if c not in available]
        if missing:
            raise ValueError(f"{features_path}: {len(missing)} spec features missing, e.g. {missing[0]!r}: rebuild the "
                             f"features stage with the same features params")
        extra = [c for c in available if c not in KEY_COLUMNS and c not in expected]
        if extra:
            raise ValueError(f"{features_path}: {len(extra)} columns are not features of the spec, e.g. {extra[0]!r}: "
                             f"a model input must be a spec feature (rebuild the features stage)")
    names = [c for c in available if c not in KEY_COLUMNS and c not in exclude]  # the file's features, in order
    lf = pl.scan_parquet(features_path).select([*KEY_COLUMNS, *names])
    unknown = lf.filter(~pl.col("label").is_in([*LABELS, "unlabeled"])).select("transaction_id", "label").head(1)
    bad = unknown.collect()
    if bad.height:
        raise ValueError(f"{features_path}: column `label` must be fraud / legit / unlabeled, got e.g. "
                         f"{bad.row(0, named=True)}")
    if last_days is not None:
        end = lf.select(pl.col("timestamp").max()).collect().item()
        lf = lf.filter(pl.col("timestamp") > end - timedelta(days=last_days))
    lf = lf.with_columns(y=pl.col("label").replace_strict(LABELS, default=None, return_dtype=pl.Float64),
                         day=pl.col("timestamp").dt.date())
    has_oracle = oracle_path is not None and Path(oracle_path).exists()
    if has_oracle:
        columns = {"oracle_proba": pl.col("fraud_probability")}
        if "scenario" in pl.read_parquet_schema(oracle_path):  # the generator's fraud scenario (`legit` if none)
            columns["oracle_scenario"] = pl.col("scenario").cast(pl.Categorical)
        oracle = pl.scan_parquet(oracle_path).select("transaction_id", **columns)
        lf = lf.join(oracle, on="transaction_id", how="left")
    frame = lf.sort("timestamp", "transaction_id").collect().to_pandas()
    return FraudTable(frame=frame, features=names, has_oracle=has_oracle)


def _is_text(column: pd.Series) -> bool:
    """String columns (a nullable bool arrives as object too, and stays numeric)."""
    if isinstance(column.dtype, pd.StringDtype | pd.CategoricalDtype):
        return True
    return column.dtype == object and column.dropna().map(type).eq(str).any()


class FeatureEncoder(TransformerMixin, BaseEstimator):
    """Feature frame -> float32 frame: numbers and bools as they are (null -> NaN), each string column one-hot over
    the categories seen at fit (an unseen category is all zeros)."""

    def fit(self, X: pd.DataFrame, y=None) -> FeatureEncoder:
        self.columns_ = list(X.columns)
        self.categories_ = {c: sorted(X[c].dropna().astype(str).unique()) for c in X.columns if _is_text(X[c])}
        self.feature_names_out_ = [name for c in self.columns_ for name in self._names(c)]
        return self

    def _names(self, column: str) -> list[str]:
        if column in self.categories_:
            return [f"{column}={v}" for v in self.categories_[column]]
        return [column]

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise KeyError(f"FeatureEncoder: columns {missing} missing from the input")
        parts = {}
        for c in self.columns_:
            if c in self.categories_:
                values = X[c].astype(object).to_numpy()
                for v in self.categories_[c]:
                    parts[f"{c}={v}"] = (values == v).astype(np.float32)
            else:
                parts[c] = pd.to_numeric(X[c].astype("float64"), errors="raise").to_numpy(np.float32)
        return pd.DataFrame(parts, index=X.index)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(self.feature_names_out_, dtype=object)


def preprocessor(kind: str) -> Pipeline:
    """"trees": encoder only (NaN kept); "impute": + median imputation (for SMOTE); "linear": + scaling."""
    steps = [("encode", FeatureEncoder())]
    if kind in ("impute", "linear"):
        steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True).set_output(
            transform="pandas")))
    if kind == "linear":
        steps.append(("scale", StandardScaler().set_output(transform="pandas")))
    if kind not in ("trees", "impute", "linear"):
        raise ValueError(f"preprocessor kind must be trees, impute or linear, got {kind!r}")
    return Pipeline(steps)

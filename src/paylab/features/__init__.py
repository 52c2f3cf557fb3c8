"""Point-in-time transaction features: one spec (`spec`), three engines (polars default, Spark, online).

    build_features(interim_dir, out_path, params)    # the `features` stage (params: the `features` section)
    compute_features(tables, params)                 # in memory, default engine
    OnlineFeatures(cards, users, params)             # one transaction at a time: .features(txn); .update(txn)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from paylab.features.spec import KEY_COLUMNS, Feature, FeatureConfig, feature_list, feature_names

ENGINES = ("polars", "spark")

__all__ = ["KEY_COLUMNS", "Feature", "FeatureConfig", "OnlineFeatures", "build_features", "compute_features",
           "feature_list", "feature_names"]


def build_features(interim_dir: Path, out_path: Path, params: dict[str, Any]) -> None:
    """Write one row per transaction (keys + every feature) from interim_dir to out_path with `params["engine"]`."""
    cfg = FeatureConfig.from_params(params)
    if cfg.engine not in ENGINES:
        raise ValueError(f"params.yaml features.engine must be one of {ENGINES}, got {cfg.engine!r}")
    if cfg.engine == "spark":
        from paylab.features.spark_engine import build_spark

        build_spark(Path(interim_dir), Path(out_path), cfg)
        return
    from paylab.features.build import build_polars, read_interim

    build_polars(read_interim(Path(interim_dir)), Path(out_path), cfg)


def compute_features(tables: dict[str, pl.DataFrame], params: dict[str, Any] | None = None) -> pl.DataFrame:
    """Keys + features of transactions/cards/users frames, in memory, with the default engine."""
    from paylab.features.build import compute

    return compute(tables, FeatureConfig.from_params(params))


def __getattr__(name: str):
    if name == "OnlineFeatures":
        from paylab.features.online import OnlineFeatures

        return OnlineFeatures
    raise AttributeError(name)

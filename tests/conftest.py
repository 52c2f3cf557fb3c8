"""Shared fixtures: one tiny synthetic dataset per test session (raw and ingested)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "kaggle-format"
TINY_SEED = 7


@pytest.fixture(scope="session")
def tiny_seed() -> int:
    return TINY_SEED


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory) -> Path:
    """data/raw of the tiny scale (generated once per session)."""
    from paylab.data.synth import generate

    out = tmp_path_factory.mktemp("tiny") / "raw"
    generate(scale="tiny", seed=TINY_SEED, out=out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_interim(tiny_raw) -> Path:
    """data/interim ingested from tiny_raw."""
    from paylab.data.ingest import ingest

    out = tiny_raw.parent / "interim"
    ingest(tiny_raw, out, tiny_raw.parent / "ingest.json")
    return out


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"no Kaggle format samples at {SAMPLES}")
    return SAMPLES


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test session (starting one takes ~8 s)."""
    from paylab.features.spark_engine import spark_session
    from paylab.features.spec import FeatureConfig

    session = spark_session(FeatureConfig(spark={"master": "local[2]", "shuffle_partitions": 2}))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tiny_features(tiny_interim) -> Path:
    """data/processed/features.parquet of the tiny data (default engine)."""
    from paylab.features import build_features

    out = tiny_interim.parent / "processed" / "features.parquet"
    build_features(tiny_interim, out, {})
    return out

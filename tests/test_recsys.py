"""Recsys (issue 12, partial): split without leakage, ranking metrics against hand-computed values, baselines."""
import numpy as np
import pandas as pd
import pytest

from paylab import evaluation as ev
from paylab.recsys import baselines, interactions


@pytest.fixture(scope="module")
def events(tiny_interim):
    return interactions.load_interactions(tiny_interim / "transactions.parquet")


@pytest.fixture(scope="module")
def split(events):
    return interactions.chronological_split(events, test_days=30, gap_days=1)


def test_interactions_exclude_refunds_errors_fraud(tiny_interim, events):
    raw = pd.read_parquet(tiny_interim / "transactions.parquet",
                          columns=["amount", "errors", "label"])
    kept = ((raw["amount"] > 0) & raw["errors"].isna() & (raw["label"] != "fraud")).sum()
    assert len(events) == kept and 0 < kept < len(raw)


def test_split_has_no_leakage(split):
    assert (split.history["timestamp"] < split.cutoff).all()
    assert split.cutoff < split.test_start < split.test_end
    assert len(split.history) > 0 and len(split.test) > 0
    assert not split.test.duplicated().any()


def test_discovery_is_new_to_user(split):
    disc = interactions.discovery_truth(split.test, split.history)
    seen = set(map(tuple, split.history[["client_id", "merchant_id"]].to_numpy()))
    assert len(disc) < len(split.test)
    assert not any((u, m) in seen for u, m in disc.to_numpy())


def test_bad_input_names_file_and_column(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"client_id": [1]}).to_parquet(path)
    with pytest.raises(ValueError, match=r"t\.parquet.*merchant_id"):
        interactions.load_interactions(path)


def test_metrics_match_hand_computed():
    recs = pd.DataFrame({"user": [1, 1, 1, 2, 2, 2], "item": ["a", "b", "c", "a", "b", "c"],
                         "score": [3, 2, 1, 3, 2, 1]})
    truth = pd.DataFrame({"user": [1, 1, 2], "item": ["b", "z", "z"]})
    # user 1: hit at rank 2 of 2 relevant; user 2: no hit
    assert ev.precision_at_k(recs, truth, 3) == pytest.approx((1 / 3) / 2)
    assert ev.recall_at_k(recs, truth, 3) == pytest.approx(0.5 / 2)
    assert ev.hit_rate_at_k(recs, truth, 3) == pytest.approx(0.5)
    idcg = 1 + 1 / np.log2(3)
    assert ev.ndcg_at_k(recs, truth, 3) == pytest.approx((1 / np.log2(3)) / idcg / 2)
    assert ev.map_at_k(recs, truth, 3) == pytest.approx((0.5 / 2) / 2)
    assert ev.catalogue_coverage(recs, n_items=6, k=1) == pytest.approx(1 / 6)
    pop = pd.Series({"a": 4, "b": 2, "c": 1})
    assert ev.novelty_at_k(recs, pop, n_users=4, k=1) == pytest.approx(0.0)


def test_popularity_beats_random(split):
    users = split.test["client_id"].unique()
    truth = split.test.rename(columns={"client_id": "user", "merchant_id": "item"})
    pop = baselines.global_popularity(split.history, users, k=10)
    assert (pop.groupby("client_id").size() == 10).all()
    rng = np.random.default_rng(0)
    items = split.history["merchant_id"].unique()
    rand = pd.DataFrame({"client_id": np.repeat(users, 10),
                         "merchant_id": np.concatenate([rng.choice(items, 10, replace=False) for _ in users]),
                         "score": np.tile(np.arange(10, 0, -1), len(users))})
    cols = {"user": "client_id", "item": "merchant_id"}
    assert ev.recall_at_k(pop, truth.rename(columns={"user": "client_id", "item": "merchant_id"}), 10, **cols) > \
        ev.recall_at_k(rand, truth.rename(columns={"user": "client_id", "item": "merchant_id"}), 10, **cols)


def test_group_popularity_excludes_seen(split):
    users = split.test["client_id"].unique()[:20]
    groups = pd.Series(np.arange(len(users)) % 2, index=users)
    recs = baselines.group_popularity(split.history, groups, users, k=5, exclude_seen=True)
    seen = set(map(tuple, split.history[["client_id", "merchant_id"]].to_numpy()))
    assert not any((u, m) in seen for u, m in recs[["client_id", "merchant_id"]].to_numpy())
    assert (recs.groupby("client_id").size() <= 5).all()

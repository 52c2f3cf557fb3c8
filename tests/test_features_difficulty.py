"""How hard each fraud scenario is: single-feature ROC-AUC, per-scenario tables, first-use shares, recall at 1% FPR."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from paylab import evaluation as ev
from paylab.features import difficulty, feature_list
from paylab.features.spec import FeatureConfig

DTYPES = {"f64": pl.Float64, "i64": pl.Int64, "bool": pl.Boolean, "str": pl.String}


def _table(scenarios: list[str], labels: list[str], seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A features table (keys + every spec feature as noise) and its oracle, one row per (scenario, label)."""
    rng = np.random.default_rng(seed)
    n = len(scenarios)
    columns: dict[str, object] = {
        "transaction_id": np.arange(n, dtype=np.int64) + 1000,
        "timestamp": [datetime(2019, 1, 1) + timedelta(minutes=i) for i in range(n)],
        "client_id": rng.integers(0, 20, n), "card_id": rng.integers(0, 30, n),
        "merchant_id": rng.integers(0, 50, n), "label": labels,
    }
    for f in feature_list(FeatureConfig()):
        if f.dtype == "f64":
            values = pl.Series(f.name, rng.normal(size=n))
        elif f.dtype == "i64":
            values = pl.Series(f.name, rng.integers(0, 1000, n))
        elif f.dtype == "bool":
            values = pl.Series(f.name, rng.random(n) < 0.5)
        else:
            values = pl.Series(f.name, rng.choice(["a", "b"], n))
        columns[f.name] = values.cast(DTYPES[f.dtype])
    table = pl.DataFrame(columns)
    oracle = pl.DataFrame({"transaction_id": table["transaction_id"], "fraud_probability": rng.random(n),
                           "scenario": scenarios})
    return table, oracle


@pytest.fixture(scope="module")
def made():
    """400 legit rows (one missed fraud among them), 30 card_not_present frauds (perfectly told by a large amount),
    20 account_takeover frauds (perfectly told by a LOW hour), 4 frauds the oracle calls legit (label noise), and
    unlabeled rows (fraud-like on every feature: they must not count as legit or fraud)."""
    scenarios = ["legit"] * 399 + ["card_not_present"] + ["card_not_present"] * 30 + ["account_takeover"] * 20 + \
        ["legit"] * 4 + ["card_not_present"] * 10
    labels = ["legit"] * 400 + ["fraud"] * 54 + ["unlabeled"] * 10
    table, oracle = _table(scenarios, labels)
    cnp = np.arange(400, 430)
    ato = np.arange(430, 450)
    unlabeled = np.arange(454, 464)
    amount = table["amount"].to_numpy().copy()
    amount[cnp] = 1000 + np.arange(30)
    amount[unlabeled] = 5000.0
    hour = table["hour"].to_numpy().copy()
    hour[:400] = np.random.default_rng(1).integers(5, 24, 400)
    hour[ato] = [0, 1, 2, 3] * 5
    hour[cnp] = np.random.default_rng(2).integers(5, 24, 30)
    hour[unlabeled] = 0
    secs = table["card_secs_since_prev"].to_numpy().copy()
    fraud = np.arange(400, 454)
    secs[fraud] -= 1.5  # lower for frauds, overlapping: 0.5 < AUC < 1 in the "lower" direction
    is_fraud = pl.Series(np.isin(np.arange(len(labels)), fraud))
    table = table.with_columns(pl.Series("amount", amount), pl.Series("hour", hour),
                               pl.Series("card_secs_since_prev", secs),
                               # null for every fraud: nulls rank lowest -> AUC 1, direction lower
                               pl.when(is_fraud).then(None).otherwise(pl.col("card_hist_std")).alias("card_hist_std"))
    return table, oracle


def test_single_feature_auc_orientation_nulls_and_unlabeled_excluded(made):
    table, _ = made
    aucs = difficulty.single_feature_auc(table, {"seed": 3})
    by = {r["feature"]: r for r in aucs.iter_rows(named=True)}
    assert set(by) == {f.name for f in feature_list(FeatureConfig()) if f.dtype != "str"}
    assert aucs["roc_auc"].is_sorted(descending=True)
    assert (aucs["frauds"] == 54).all() and (aucs["legit"] == 400).all()  # unlabeled rows are in neither class
    labelled = table.filter(pl.col("label") != "unlabeled")
    y = (labelled["label"] == "fraud").to_numpy()
    raw = roc_auc_score(y, labelled["card_secs_since_prev"].to_numpy())
    assert raw < 0.5
    secs = by["card_secs_since_prev"]
    assert secs["direction"] == "lower" and secs["roc_auc"] == pytest.approx(1 - raw) and secs["roc_auc"] > 0.5
    std = by["card_hist_std"]  # null for every fraud, a value for every legit row: nulls rank below every value
    assert std["roc_auc"] == pytest.approx(1.0) and std["direction"] == "lower"
    assert std["null_share"] == pytest.approx(54 / 454)
    assert by["amount"]["direction"] == "higher"
    assert all(r["roc_auc"] >= 0.5 for r in by.values())


def test_every_fraud_kept_and_legit_sampled_with_the_seed(made):
    table, _ = made
    small = difficulty.single_feature_auc(table, {"seed": 3, "difficulty": {"sample_rows": 100}})
    assert (small["frauds"] == 54).all() and (small["legit"] == 100).all()
    again = difficulty.single_feature_auc(table, {"seed": 3, "difficulty": {"sample_rows": 100}})
    assert small.equals(again)
    with pytest.raises(ValueError, match=r"features.difficulty: unknown keys \['sample'\]"):
        difficulty.single_feature_auc(table, {"difficulty": {"sample": 100}})


def test_scenario_table_names_the_feature_that_separates_each_scenario(made):
    table, oracle = made
    out = difficulty.scenario_table(table, oracle, {"seed": 3})
    assert out["scenario"].to_list() == ["card_not_present", "account_takeover", difficulty.LABEL_NOISE,
                                         difficulty.ALL]
    rows = {r["scenario"]: r for r in out.iter_rows(named=True)}
    cnp, ato, everything = rows["card_not_present"], rows["account_takeover"], rows[difficulty.ALL]
    assert cnp["frauds"] == 30 and ato["frauds"] == 20 and rows[difficulty.LABEL_NOISE]["frauds"] == 4
    assert everything["frauds"] == 54 and out["share_of_frauds"][:-1].sum() == pytest.approx(1.0)
    # the missed card_not_present fraud labelled legit is a negative: amount still separates the labelled frauds
    assert (cnp["best_feature"], cnp["best_feature_auc"], cnp["best_feature_direction"]) == ("amount", 1.0, "higher")
    assert (ato["best_feature"], ato["best_feature_auc"], ato["best_feature_direction"]) == ("hour", 1.0, "lower")
    assert everything["best_feature"] == "card_hist_std" and everything["best_feature_auc"] == pytest.approx(1.0)
    assert "recall_at_1pct_fpr" not in out.columns


def test_recall_at_1pct_fpr_per_group_hand_computed():
    # 100 legit scores 0.00 .. 0.99: at most 1% false positives -> threshold 0.99 (only the legit 0.99 is flagged)
    legit = np.arange(100) / 100
    pos_a, pos_b = [0.995, 0.5, 0.999], [0.99, 0.3]
    y = np.r_[np.zeros(100), np.ones(5)]
    score = np.r_[legit, pos_a, pos_b]
    group = np.array(["x"] * 100 + ["a"] * 3 + ["b"] * 2)  # the negatives' group is ignored
    assert ev.recall_at_fpr_by_group(y, score, group, 0.01) == pytest.approx({"a": 2 / 3, "b": 1 / 2})
    assert ev.recall_at_fpr(y, score, 0.01) == pytest.approx(3 / 5)
    scenario = ["legit"] * 100 + ["card_not_present"] * 3 + ["first_party"] * 2
    out = difficulty.scenario_recall(y, scenario, {"model": score, "flat": np.zeros(105)})
    assert out.to_dicts() == [
        {"scenario": "card_not_present", "frauds": 3, "model_recall_at_1pct_fpr": pytest.approx(2 / 3),
         "flat_recall_at_1pct_fpr": 0.0},
        {"scenario": "first_party", "frauds": 2, "model_recall_at_1pct_fpr": pytest.approx(0.5),
         "flat_recall_at_1pct_fpr": 0.0},
        {"scenario": "all", "frauds": 5, "model_recall_at_1pct_fpr": pytest.approx(0.6),
         "flat_recall_at_1pct_fpr": 0.0}]


def test_recall_by_group_is_the_share_above_the_legit_threshold():
    rng = np.random.default_rng(5)
    y = rng.random(3000) < 0.1
    group = rng.choice(["a", "b", "c"], 3000)
    score = rng.normal(size=3000) + y * (group == "a") * 2 + y * (group == "b")
    allowed = int(0.01 * (~y).sum())  # false positives at 1% FPR: a fraud is caught iff it beats the next legit
    cut = np.sort(score[~y])[::-1][allowed]
    out = ev.recall_at_fpr_by_group(y, score, group, 0.01)
    for g in "abc":
        assert out[g] == pytest.approx(np.mean(score[y & (group == g)] > cut))
    assert out["a"] > out["b"] > out["c"]


def test_scenario_table_with_scores_uses_labelled_scored_rows(made):
    table, oracle = made
    scored = table.filter(pl.col("transaction_id") >= 1100)  # 300 legit rows of 400, every fraud, the unlabeled
    scores = scored.select("transaction_id", score=pl.col("amount"))
    out = difficulty.scenario_table(table, oracle, {"seed": 3}, scores=scores.to_pandas())
    rows = {r["scenario"]: r for r in out.iter_rows(named=True)}
    assert rows["card_not_present"]["recall_at_1pct_fpr"] == 1.0 and rows["card_not_present"]["scored_frauds"] == 30
    labelled = scored.filter(pl.col("label") != "unlabeled")
    y = (labelled["label"] == "fraud").to_numpy()
    overall = ev.recall_at_fpr(y, labelled["amount"].to_numpy(), 0.01)
    assert rows[difficulty.ALL]["recall_at_1pct_fpr"] == pytest.approx(overall)
    assert rows[difficulty.ALL]["scored_frauds"] == 54
    with pytest.raises(ValueError, match="not in the features table"):
        difficulty.scenario_table(table, oracle, {}, scores=pl.DataFrame({"transaction_id": [1], "score": [0.5]}))


def test_first_use_shares_by_group(made):
    table, oracle = made
    flag = np.zeros(table.height, bool)
    flag[:100] = True  # 100 of 400 legit rows
    flag[400:430] = True  # every card_not_present fraud
    flag[454:] = True  # unlabeled: excluded
    out = difficulty.first_use_shares(table.with_columns(pl.Series(difficulty.FIRST_USE, flag)), oracle)
    rows = {r["group"]: r for r in out.iter_rows(named=True)}
    assert out["group"].to_list() == ["legit", "card_not_present", "account_takeover", difficulty.LABEL_NOISE,
                                      difficulty.ALL]
    assert rows["legit"]["rows"] == 400 and rows["legit"]["first_use_share"] == pytest.approx(0.25)
    assert rows["card_not_present"]["first_use_share"] == 1.0 and rows["card_not_present"]["ratio_to_legit"] == 4.0
    assert rows["account_takeover"]["first_use_share"] == 0.0
    assert rows[difficulty.ALL]["rows"] == 54 and rows[difficulty.ALL]["first_use_share"] == pytest.approx(30 / 54)


def test_no_oracle_skips_the_scenario_tables(made, tmp_path):
    table, _ = made
    assert difficulty.load_oracle(tmp_path / "oracle" / "fraud.parquet") is None
    assert difficulty.scenario_table(table, None, {}) is None
    assert difficulty.first_use_shares(table, None) is None
    pl.DataFrame({"transaction_id": [1], "fraud_probability": [0.1]}).write_parquet(tmp_path / "old.parquet")
    with pytest.raises(ValueError, match=r"old.parquet: oracle columns \['scenario'\] missing"):
        difficulty.load_oracle(tmp_path / "old.parquet")


def test_tables_on_tiny_data(tiny_features, tiny_interim):
    table = pl.read_parquet(tiny_features)
    oracle = difficulty.load_oracle(tiny_interim / "oracle" / "fraud.parquet")
    labelled = table.select("transaction_id", "label").join(oracle, on="transaction_id").filter(
        pl.col("label") == "fraud")
    present = set(labelled["scenario"].replace({"legit": difficulty.LABEL_NOISE}))
    params = {"seed": 1, "difficulty": {"model": {"train_days": 120, "test_days": 90}}}
    scores, info = difficulty.quick_model_scores(table, params)
    assert info["train_frauds"] > 0 and info["test_frauds"] > 0 and scores.height == info["test_rows"]
    assert info["windows"]["train"][1] + timedelta(days=7) == info["windows"]["test"][0]  # the label delay
    test_rows = table.filter(pl.col("transaction_id").is_in(scores["transaction_id"].implode()))
    assert test_rows["timestamp"].min() >= info["windows"]["test"][0] and (test_rows["label"] != "unlabeled").all()
    out = difficulty.scenario_table(table, oracle, params, scores=scores)
    assert out["scenario"].to_list()[-1] == difficulty.ALL and set(out["scenario"][:-1]) == present
    assert out.height == len(present) + 1 and out["frauds"][:-1].sum() == out["frauds"][-1] == labelled.height
    assert out["scored_frauds"][-1] == info["test_frauds"] == out["scored_frauds"][:-1].sum()
    assert out["best_feature_auc"].is_between(0.5, 1.0).all()
    recall = out["recall_at_1pct_fpr"].drop_nulls()
    assert recall.len() and recall.is_between(0.0, 1.0).all()
    first = difficulty.first_use_shares(table, oracle)
    assert set(first["group"]) == present | {"legit", difficulty.ALL}
    assert first["first_use_share"].is_between(0.0, 1.0).all() and first["ratio_to_legit"][0] == 1.0
    aucs = difficulty.single_feature_auc(table, params)
    assert aucs["roc_auc"][0] == pytest.approx(out["best_feature_auc"][-1])  # `all` is the overall best feature


def test_fraud_table_carries_the_oracle_scenario(tiny_features, tiny_interim):
    from paylab.fraud.data import load_table

    frame = load_table(tiny_features, tiny_interim / "oracle" / "fraud.parquet").frame
    oracle = pl.read_parquet(tiny_interim / "oracle" / "fraud.parquet")
    expected = dict(zip(oracle["transaction_id"], oracle["scenario"], strict=True))
    assert (frame["oracle_scenario"].astype(str) == frame["transaction_id"].map(expected)).all()

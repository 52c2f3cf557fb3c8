"""Recsys (issue 12, partial): split without leakage, ranking metrics against hand-computed values, baselines."""
import json

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
    from paylab.recsys import features

    with pytest.raises(ValueError, match=r"t\.parquet.*merchant_city.*e\.g\."):
        features.load_events(path)
    with pytest.raises(ValueError, match=r"t\.parquet.*birth_year"):
        features.load_users(path)
    with pytest.raises(FileNotFoundError, match="ingest"):
        features.load_events(tmp_path / "absent.parquet")


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


# --- models, Wide&Deep, targeting and serving (issue 12) --------------------------------------------------------

RECSYS = {"als": {"engine": "implicit", "factors": 16, "regularization": 0.05, "alpha": 5.0, "iterations": 8},
          "knn": {"neighbours": 30, "shrink": 5.0}}
CANDIDATES = {"als": 40, "item_knn": 20, "global_popularity": 10, "city_popularity": 10}
COLS = {"user": "client_id", "item": "merchant_id"}


@pytest.fixture(scope="module")
def wins(tiny_interim):
    from paylab.recsys import features, ranking

    events = features.load_events(tiny_interim / "transactions.parquet")
    profiles = features.load_users(tiny_interim / "users.parquet")
    return ranking.windows(events, profiles, 30, 30, 1, 90.0, 30)


@pytest.fixture(scope="module")
def fitted(wins):
    from paylab.recsys import ranking

    return {name: ranking.fit_baselines(w, RECSYS, seed=0) for name, w in wins.items()}


def _random_recs(users, items, k, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"client_id": np.repeat(users, k),
                         "merchant_id": np.concatenate([rng.choice(items, k, replace=False) for _ in users]),
                         "score": np.tile(np.arange(k, 0, -1), len(users))})


def test_windows_are_chronological_without_leakage(wins, tiny_interim):
    order = [wins["train"], wins["valid"], wins["test"]]
    for before, after in zip(order, order[1:], strict=False):
        assert before.end <= after.snap.cutoff < after.start  # a gap between a window and the next one's labels
    events = interactions.load_interactions(tiny_interim / "transactions.parquet")
    for w in order:
        assert w.snap.cutoff < w.start
        # the snapshot's pair counts are exactly those of the events before the cutoff
        hist = events[events["timestamp"] < w.snap.cutoff]
        assert w.snap.pairs["count"].sum() == len(hist)
        ts = events.merge(w.truth, on=["client_id", "merchant_id"])["timestamp"]
        assert len(w.truth) and not w.truth.duplicated().any()
        assert ((ts >= w.start) & (ts < w.end)).any()
        assert not w.discovery.merge(w.snap.pairs, on=["client_id", "merchant_id"]).shape[0]


def test_ranking_per_user_matches_hand_computed():
    recs = pd.DataFrame({"user": [1, 1, 1, 2, 2, 2], "item": ["a", "b", "c", "a", "b", "c"],
                         "score": [3, 2, 1, 3, 2, 1]})
    truth = pd.DataFrame({"user": [1, 1, 2, 3], "item": ["b", "z", "a", "a"]})
    per = ev.ranking_per_user(recs, truth, 2)
    assert per.loc[1].to_dict() == pytest.approx({"precision": 0.5, "recall": 0.5, "ap": 0.25, "hit": 1.0,
                                                  "ndcg": (1 / np.log2(3)) / (1 + 1 / np.log2(3))})
    assert per.loc[2].to_dict() == pytest.approx({"precision": 0.5, "recall": 1.0, "ap": 1.0, "hit": 1.0,
                                                  "ndcg": 1.0})
    assert per.loc[3].sum() == 0  # a user without recommendations scores 0
    assert ev.ndcg_at_k(recs, truth, 2) == pytest.approx(per["ndcg"].mean())


@pytest.mark.parametrize("task", ["all", "discovery"])
def test_collaborative_models_beat_random(wins, fitted, task):
    from paylab.recsys import models

    w = wins["test"]
    truth = w.truth if task == "all" else w.discovery
    truth = truth[truth["client_id"].isin(w.warm_users)]
    users = truth["client_id"].unique()
    rand = ev.recall_at_k(_random_recs(users, w.matrix.items.to_numpy(), 10), truth, 10, **COLS)
    for name in ("item_knn", "als", "city_popularity"):
        recs = models.top_n(fitted["test"][name], w.matrix, users, 10, exclude_seen=task == "discovery")
        assert (recs.groupby("client_id").size() <= 10).all()
        assert ev.recall_at_k(recs, truth, 10, **COLS) > 2 * rand, name


def test_candidates_contain_own_merchants_and_cap_recall(wins, fitted):
    from paylab.recsys import ranking

    w = wins["test"]
    users = w.truth["client_id"].unique()
    cand = ranking.candidates(w, fitted["test"], users, CANDIDATES)
    own = w.snap.pairs[w.snap.pairs["client_id"].isin(users)]
    assert len(own.merge(cand, on=["client_id", "merchant_id"])) == len(own)
    assert not cand.duplicated(["client_id", "merchant_id"]).any()
    cap = ranking.recall_cap(cand, w.truth)
    assert 0 < ranking.recall_cap(cand, w.discovery) < cap <= 1
    assert ranking.recall_cap(cand.iloc[:0], w.truth) == 0


def test_spark_als_ranks_like_a_recommender(wins, spark):
    from paylab.recsys import models

    w = wins["test"]
    truth = w.truth[w.truth["client_id"].isin(w.warm_users)]
    users = truth["client_id"].unique()
    als = models.ALS(8, 0.05, 5.0, 5, seed=0, engine="spark", spark=spark).fit(w.matrix)
    assert als.user_f.shape == (len(w.matrix.users), 8) and als.item_f.shape == (len(w.matrix.items), 8)
    recs = models.top_n(als, w.matrix, users, 10)
    rand = ev.recall_at_k(_random_recs(users, w.matrix.items.to_numpy(), 10), truth, 10, **COLS)
    assert ev.recall_at_k(recs, truth, 10, **COLS) > 2 * rand
    with pytest.raises(ValueError, match="engine"):
        models.ALS(engine="gpu")


def test_wide_deep_trains_and_beats_random(wins, fitted, tmp_path):
    """In a subprocess (TensorFlow and OR-Tools in one pytest process segfault): the Wide&Deep trains on the train
    window with sampled negatives, stops on the validation one and ranks the test candidates far above random."""
    import pickle
    import subprocess
    import sys

    from paylab.recsys import ranking

    frames = {}
    for name, negatives in (("train", 4), ("valid", 4), ("test", None)):
        w = wins[name]
        cand = ranking.candidates(w, fitted[name], w.truth["client_id"].unique(), CANDIDATES)
        frames[name] = ranking.labelled(w, cand, negatives, seed=0)
    assert 0.1 < frames["train"]["label"].mean() < 0.3  # about 1 positive to 4 sampled negatives
    assert frames["test"]["label"].mean() < frames["train"]["label"].mean()  # the test keeps every candidate
    (tmp_path / "frames.pkl").write_bytes(pickle.dumps(frames))
    code = f"""
import json, pickle
import json

import numpy as np
from paylab import evaluation as ev
from paylab.recsys.widedeep import WideDeep
f = pickle.load(open({str(tmp_path / "frames.pkl")!r}, "rb"))
wd = WideDeep(epochs=4, patience=2, batch_size=512, id_embeddings=False, seed=1).fit(f["train"], f["valid"])
test = f["test"].copy()
test["score"] = wd.predict(test)
truth = test[test["label"] == 1][["client_id", "merchant_id"]]
cols = dict(user="client_id", item="merchant_id")
rand = test.assign(score=np.random.default_rng(0).random(len(test)))
contrib = wd.wide_contributions(test.head(5))
print(json.dumps({{"model": ev.ndcg_at_k(test, truth, 10, **cols), "random": ev.ndcg_at_k(rand, truth, 10, **cols),
                  "epochs": len(wd.history), "best": wd.best_epoch, "crosses": list(contrib.columns)}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["model"] > 2 * got["random"] and 1 <= got["best"] <= got["epochs"] <= 4
    assert got["crosses"] == ["segment_x_mcc", "city_x_city", "distance_band", "price_x_income"]


def test_targeting_matches_hand_computed():
    from paylab.recsys import evaluate

    scores = pd.DataFrame({"client_id": [1, 2, 3, 1], "merchant_id": [10, 10, 10, 20], "score": [0.9, 0.8, 0.1, 0.5]})
    truth_new = pd.DataFrame({"client_id": [2, 3, 4], "merchant_id": [10, 10, 20]})
    prior = pd.DataFrame({"client_id": [4], "merchant_id": [10]})
    activity = pd.Series({1: 5, 2: 1, 3: 9, 4: 3})
    sizes = pd.Series({10: "small", 20: "large"})
    table = evaluate.targeting(scores, truth_new, prior, activity, sizes, k=2).set_index("merchant_id")
    # merchant 10: model picks users 1, 2 (one new payer); most active non-payers 3, 1 (one); 2 payers of 3 eligible
    assert table.loc[10, ["model", "popularity", "random"]].tolist() == pytest.approx([0.5, 0.5, 2 / 3])
    # merchant 20: model picks user 1 only (miss); most active 3, 1 (miss); 1 payer of 4 eligible
    assert table.loc[20, ["model", "popularity", "random"]].tolist() == pytest.approx([0.0, 0.0, 0.25])
    summary = evaluate.targeting_summary(table.reset_index(), n_boot=50, seed=0, level=0.95)
    assert summary["all"]["merchants"] == 2 and summary["all"]["lift_over_random"] == pytest.approx(0.25 / (11 / 24))


@pytest.fixture
def recommender():
    from paylab.recsys.serving import Recommender

    recs = pd.DataFrame({"client_id": [1, 1, 2], "merchant_id": [10, 20, 10], "score": [0.9, 0.5, 0.7],
                         "explanation": ["you paid here 3 times", "in your city", "online merchant"]})
    local = pd.DataFrame({"home_city": ["Austin", "Austin", "*"], "merchant_id": [30, 10, 10], "score": [5, 3, 9]})
    targets = pd.DataFrame({"merchant_id": [10, 10], "client_id": [3, 2], "score": [0.4, 0.6],
                            "explanation": ["a", "b"]})
    users = pd.Series({1: "Austin", 2: "Austin", 3: "Austin", 4: "Nowhere"})
    return Recommender(recs, recs[recs["merchant_id"] != 10], targets, local, users, {3, 4}, [10, 20, 30])


def test_serving_recommends_targets_and_falls_back(recommender):
    top = recommender.recommend(1, 2, new_only=False)
    assert list(top.columns) == ["rank", "id", "score", "explanation", "fallback"]
    assert top["id"].tolist() == [10, 20] and top["rank"].tolist() == [1, 2] and not top["fallback"].any()
    cold = recommender.recommend(3, 5)
    assert cold["id"].tolist() == [30, 10] and cold["fallback"].all() and "Austin" in cold["explanation"].iloc[0]
    assert recommender.recommend(4, 1)["id"].tolist() == [10]  # no local table: overall popularity
    assert recommender.target_users(10, 5)["id"].tolist() == [2, 3]
    assert recommender.target_users(30, 5).empty
    with pytest.raises(ValueError, match="unknown user_id 99"):
        recommender.recommend(99, 5)
    with pytest.raises(ValueError, match="unknown merchant_id 99"):
        recommender.target_users(99, 5)
    with pytest.raises(ValueError, match="k must be"):
        recommender.recommend(1, 0)


def test_serving_round_trip_through_pickle_and_pyfunc(recommender, tmp_path):
    import mlflow.pyfunc

    from paylab.recsys import serving

    path = recommender.save(tmp_path / "models" / "recsys" / "recommender.pkl")
    loaded = serving.load(path)
    pd.testing.assert_frame_equal(loaded.recommend(1, 2, new_only=False), recommender.recommend(1, 2, new_only=False))
    with pytest.raises(FileNotFoundError, match="recsys"):
        serving.load(tmp_path / "missing.pkl")
    mlflow.pyfunc.save_model(str(tmp_path / "pyfunc"), python_model=serving.RecommenderModel(),
                             artifacts={"recommender": str(path)})
    model = mlflow.pyfunc.load_model(str(tmp_path / "pyfunc"))
    out = model.predict(pd.DataFrame({"kind": ["user", "merchant"], "id": [1, 10], "k": [1, 2]}))
    assert out["query"].tolist() == [0, 1, 1] and out["id"].tolist() == [20, 2, 3]


def test_wide_deep_tuning_reaches_the_final_model_and_early_stopping_restores_the_best(wins, fitted, tmp_path):
    """In a subprocess (TensorFlow): the Optuna study (shared helper, 3 trials, the first the defaults) stores its
    trials, a rerun resumes it without new trials, and the best trial's values are the refitted model's layers,
    learning rate and negatives; a fast learning rate over a high epoch cap makes early stopping end training
    before the cap and restore the best epoch's weights."""
    import pickle
    import subprocess
    import sys

    from paylab.recsys import ranking

    cands = {n: ranking.candidates(wins[n], fitted[n], wins[n].truth["client_id"].unique(), CANDIDATES)
             for n in ("train", "valid")}
    (tmp_path / "in.pkl").write_bytes(pickle.dumps((wins, cands)))
    code = f"""
import json, pickle
import optuna
from paylab.recsys import ranking
from paylab.recsys.widedeep import _inputs
wins, cands = pickle.load(open({str(tmp_path / "in.pkl")!r}, "rb"))
db = {str(tmp_path / "optuna" / "recsys.db")!r}
tune = dict(widedeep_n_trials=3, widedeep_epochs=2, widedeep_user_share=0.6, widedeep_embedding_dim=[4, 8],
            widedeep_hidden=["16", "32,8"], widedeep_dropout=[0.0, 0.3], widedeep_learning_rate=[1e-4, 3e-2],
            widedeep_negatives=[2, 3], timeout_s=None)
wide_deep = dict(negatives=2, embedding_dim=4, hidden=[16], dropout=0.0, learning_rate=1e-4, epochs=3,
                 batch_size=256, patience=2, min_delta=0.0, l2=0.0, id_embeddings=False)
config, values = ranking.tune_wide_deep(wins, cands, wide_deep, tune, 0, db, 10, mlflow_parent=False)
again, _ = ranking.tune_wide_deep(wins, cands, wide_deep, tune, 0, db, 10, mlflow_parent=False)
(name,) = optuna.get_all_study_names(f"sqlite:///{{db}}")
study = optuna.load_study(study_name=name, storage=f"sqlite:///{{db}}")
train = ranking.labelled(wins["train"], cands["train"], config["negatives"], 0)
valid = ranking.labelled(wins["valid"], cands["valid"], config["negatives"], 1)
wd = ranking.wide_deep_model(config, 0).fit(train, valid)
m = wd.model
deep = [m.get_layer(f"deep_{{i}}").units for i in range(len(config["hidden"]))]
fast = ranking.wide_deep_model({{**wide_deep, "learning_rate": 0.05, "epochs": 40, "hidden": [32, 16]}}, 0)
fast.fit(train, valid)
restored = fast.model.evaluate(_inputs(fast.vocab, valid), valid["label"].to_numpy("float32"), verbose=0,
                               batch_size=4096, return_dict=True)["loss"]
print(json.dumps({{"config": config, "again": again, "values": values, "name": name,
                  "trials": [[t.state.name, t.params] for t in study.trials], "best": study.best_params,
                  "emb": m.get_layer("emb_mcc").output_dim, "deep": deep,
                  "lr": float(m.optimizer.learning_rate.numpy()), "dropout": wd.dropout,
                  "pos_share": float(train["label"].mean()), "fast_best": fast.best_epoch,
                  "fast_run": len(fast.history), "fast_stopped": fast.stopped_early, "restored": restored,
                  "best_val": float(fast.history["val_loss"].iloc[fast.best_epoch - 1])}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    trials, best, config = got["trials"], got["best"], got["config"]
    assert got["name"].startswith("recsys-wide_deep-") and len(trials) == 3  # 3 in all; the rerun added none
    assert all(state == "COMPLETE" for state, _ in trials)
    assert trials[0][1] == {"embedding_dim": 4, "hidden": "16", "dropout": 0.0, "learning_rate": 1e-4,
                            "negatives": 2}  # the defaults come first
    assert got["again"] == config and got["values"]["best"] >= got["values"]["defaults"]
    # the best trial's values are the final model's (the refit), not the defaults'
    assert best != trials[0][1], f"the defaults won, the test would not see a lost tuned value: {got}"
    assert config["hidden"] == [int(h) for h in best["hidden"].split(",")] == got["deep"]
    assert got["emb"] == best["embedding_dim"] == config["embedding_dim"]
    assert got["lr"] == pytest.approx(best["learning_rate"], rel=1e-5)
    assert got["dropout"] == pytest.approx(best["dropout"])
    assert got["pos_share"] == pytest.approx(1 / (1 + best["negatives"]), abs=0.04)
    # early stopping, not the cap, ends training, and the best epoch's weights are the model's
    assert got["fast_stopped"] and got["fast_best"] < got["fast_run"] < 40
    assert got["restored"] == pytest.approx(got["best_val"], rel=1e-3)

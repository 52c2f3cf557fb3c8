"""Three label windows (train | validation | test, each after a gap, features from the events before it), the
baselines fitted on each, the candidate set the Wide&Deep re-ranks, and its training frames with sampled negatives."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from paylab.recsys import features, interactions, models


@dataclass
class Window:
    """Labels in [start, end) and everything a model may know before `snap.cutoff` (= start - gap)."""

    name: str
    snap: features.Snapshot
    matrix: models.Matrix
    truth: pd.DataFrame  # client_id, merchant_id paid in the window
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def discovery(self) -> pd.DataFrame:
        seen = self.snap.pairs[["client_id", "merchant_id"]]
        return interactions.discovery_truth(self.truth, seen)

    @property
    def warm_users(self) -> pd.Index:
        return pd.Index(sorted(set(self.truth["client_id"]) & set(self.snap.pairs["client_id"])))


def windows(events: pd.DataFrame, profiles: pd.DataFrame, test_days: int, valid_days: int, gap_days: int,
            half_life_days: float, recent_days: int) -> dict[str, Window]:
    """test = the last `test_days`; validation and train the `valid_days` before it, each after `gap_days`."""
    out = {}
    end = None
    data = events
    for name, days in (("test", test_days), ("valid", valid_days), ("train", valid_days)):
        split = interactions.chronological_split(data[["client_id", "merchant_id", "timestamp"]], days, gap_days,
                                                 end=end)
        snap = features.snapshot(data, profiles, split.cutoff, recent_days)
        mat = models.matrix(snap.pairs, profiles.index, half_life_days=half_life_days)
        out[name] = Window(name, snap, mat, split.test, split.test_start, split.test_end)
        end = split.cutoff
        data = data[data["timestamp"] < split.cutoff]
    return out


def fit_baselines(win: Window, params: dict, seed: int, spark=None) -> dict:
    """Own habits, global and home-city popularity, item-kNN and ALS fitted on the window's history."""
    als, knn = params["als"], params["knn"]
    return {
        "own_habits": models.Habits().fit(win.matrix),
        "global_popularity": models.Popularity().fit(win.matrix),
        "city_popularity": models.Popularity(win.snap.users["home_city"], "city_popularity").fit(win.matrix),
        "item_knn": models.ItemKNN(knn["neighbours"], knn["shrink"]).fit(win.matrix),
        "als": models.ALS(als["factors"], als["regularization"], als["alpha"], als["iterations"], seed,
                          als.get("engine", "implicit"), spark).fit(win.matrix),
    }


def candidates(win: Window, fitted: dict, users, sizes: dict) -> pd.DataFrame:
    """Union per user of the top `sizes[source]` of ALS, item-kNN, global and home-city popularity, and every
    merchant the user paid (client_id, merchant_id, als, knn, habit and the als / knn rank shares)."""
    parts = [models.top_n(fitted[src], win.matrix, users, n) for src, n in sizes.items() if n > 0]
    parts.append(win.snap.pairs[win.snap.pairs["client_id"].isin(users)][["client_id", "merchant_id"]])
    cand = pd.concat([p[["client_id", "merchant_id"]] for p in parts]).drop_duplicates(ignore_index=True)
    cand["als"] = models.pair_scores(fitted["als"], win.matrix, cand)
    cand["knn"] = models.pair_scores(fitted["item_knn"], win.matrix, cand)
    cand["habit"] = models.pair_scores(fitted["own_habits"], win.matrix, cand)
    for col in ("als", "knn"):  # the rank within the user's candidates, 1 = best, as a share
        cand[f"{col}_rank"] = cand.groupby("client_id")[col].rank(ascending=False, pct=True)
    return cand


def recall_cap(cand: pd.DataFrame, truth: pd.DataFrame) -> float:
    """Share of relevant (user, merchant) pairs inside the candidate set: no re-ranking can recall more."""
    hit = truth.merge(cand[["client_id", "merchant_id"]], on=["client_id", "merchant_id"], how="inner")
    return float(len(hit) / len(truth)) if len(truth) else float("nan")


def labelled(win: Window, cand: pd.DataFrame, negatives: int | None, seed: int) -> pd.DataFrame:
    """pair_features of the candidates with `label` = paid in the window; with `negatives`, only that many sampled
    negatives per positive per user are kept (training only: evaluation ranks every candidate)."""
    truth = win.truth.assign(label=1)
    frame = cand.merge(truth, on=["client_id", "merchant_id"], how="left")
    frame["label"] = frame["label"].fillna(0).astype(int)
    frame = frame[frame["client_id"].isin(win.truth["client_id"])]
    if negatives is not None:
        rng = np.random.default_rng(seed)
        pos = frame[frame["label"] == 1]
        neg = frame[frame["label"] == 0]
        n_pos = pos.groupby("client_id").size()
        keep = neg.assign(_r=rng.random(len(neg)))
        keep = keep.sort_values(["client_id", "_r"]).assign(_k=lambda d: d.groupby("client_id").cumcount())
        keep = keep[keep["_k"] < keep["client_id"].map(n_pos).fillna(1).to_numpy() * negatives]
        frame = pd.concat([pos, keep.drop(columns=["_r", "_k"])]).sort_values(["client_id", "merchant_id"])
    return features.pair_features(win.snap, frame.reset_index(drop=True))


def tune_collaborative(win: Window, params: dict, seed: int, storage, k: int = 10,
                       mlflow_parent: bool = True) -> tuple[dict, dict]:
    """ALS and item-kNN hyper-parameters by nDCG@k of the discovery task on the validation window (the shared Optuna
    helper; studies named after the window and the grid, so a rerun with the same inputs reuses them). Returns
    ({"als": {...}, "knn": {...}} with the best values merged into `params`, {name: best nDCG@k})."""
    import hashlib
    import json

    from paylab import evaluation as ev
    from paylab import tuning

    tune = params["tune"]
    truth = win.discovery
    truth = truth[truth["client_id"].isin(win.warm_users)]
    users = truth["client_id"].unique()
    key = hashlib.sha1(json.dumps([str(win.start), len(win.truth), int(win.matrix.X.nnz), tune, seed],
                                  default=str).encode()).hexdigest()[:10]

    def score(model) -> float:
        recs = models.top_n(model.fit(win.matrix), win.matrix, users, k, exclude_seen=True)
        return ev.ndcg_at_k(recs, truth, k, user="client_id", item="merchant_id")

    def als_space(trial):
        return {"factors": trial.suggest_categorical("factors", tune["als_factors"]),
                "regularization": trial.suggest_float("regularization", *tune["als_regularization"], log=True),
                "alpha": trial.suggest_float("alpha", *tune["als_alpha"], log=True)}

    def knn_space(trial):
        return {"neighbours": trial.suggest_categorical("neighbours", tune["knn_neighbours"]),
                "shrink": trial.suggest_categorical("shrink", tune["knn_shrink"])}

    als_base = params["als"]
    best, values = {}, {}
    for name, space, objective in (
            ("als", als_space, lambda p: score(models.ALS(p["factors"], p["regularization"], p["alpha"],
                                                          als_base["iterations"], seed))),
            ("knn", knn_space, lambda p: score(models.ItemKNN(p["neighbours"], p["shrink"])))):
        study = tuning.tune(objective, space, f"recsys-{name}-{key}", storage, n_trials=int(tune["n_trials"]),
                            timeout_s=tune.get("timeout_s"), seed=seed, mlflow_parent=mlflow_parent,
                            module="recsys", total=True)
        best[name] = {**params[name], **study.best_params}
        values[name] = float(study.best_value)
    return best, values


def _hidden(value) -> tuple[int, ...]:
    """Hidden widths from params ([64, 32]) or an Optuna choice ("64,32")."""
    return tuple(int(h) for h in (value.split(",") if isinstance(value, str) else value))


def wide_deep_model(config: dict, seed: int):
    """The WideDeep of a `recsys.wide_deep` config (tuned values merged in); `negatives` shapes the training
    frames, not the model, and is left out."""
    from paylab.recsys.widedeep import WideDeep

    kw = {key: v for key, v in config.items() if key != "negatives"}
    return WideDeep(**{**kw, "hidden": _hidden(kw["hidden"])}, seed=seed)


def discovery_ranking(win: Window, cand: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pair features of every candidate new to its user, the window's discovery truth of users with history)."""
    ranked = labelled(win, cand, None, seed)
    truth = win.discovery
    return ranked[ranked["seen"] == 0].reset_index(drop=True), truth[truth["client_id"].isin(win.warm_users)]


def ranked_ndcg(model, ranked: pd.DataFrame, truth: pd.DataFrame, k: int) -> float:
    """nDCG@k of `model`'s scores of the `ranked` pairs against `truth` (client_id, merchant_id)."""
    from paylab import evaluation as ev

    recs = ranked[["client_id", "merchant_id"]].assign(score=model.predict(ranked))
    return ev.ndcg_at_k(recs, truth, k, user="client_id", item="merchant_id")


def tune_wide_deep(wins: dict[str, Window], cands: dict[str, pd.DataFrame], wide_deep: dict, tune: dict, seed: int,
                   storage, k: int = 10, mlflow_parent: bool = True, key: str = "") -> tuple[dict, dict]:
    """Wide&Deep hyper-parameters (the `tune.widedeep_*` ranges) by nDCG@k of the discovery task on the validation
    window, the objective the ALS / kNN tuning uses. A trial trains on a seeded share (`widedeep_user_share`) of the
    train window's users for at most `widedeep_epochs` epochs (early-stopped on the validation window's sampled
    frame), then ranks every validation candidate. The study (shared Optuna helper, `widedeep_n_trials` in all) is
    named after the windows, the settings and `key` (e.g. the tuned baselines the candidates come from); its first
    trial is the `wide_deep` defaults. Returns (`wide_deep` with the best values merged in, `hidden` as a list of
    ints; {"best": the best trial's nDCG@k, "defaults": the defaults' trial's, "min": the worst's, "trials": n})."""
    import hashlib
    import json

    from paylab import tuning

    train, valid = wins["train"], wins["valid"]
    ranked, truth = discovery_ranking(valid, cands["valid"], seed)
    users = np.sort(train.truth["client_id"].unique())
    share = float(tune["widedeep_user_share"])
    rng = np.random.default_rng(seed)
    sample = set(rng.choice(users, max(1, round(share * len(users))), replace=False)) if share < 1 else set(users)
    frames: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}

    def frames_for(negatives: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        if negatives not in frames:
            fit = labelled(train, cands["train"], negatives, seed)
            frames[negatives] = (fit[fit["client_id"].isin(sample)].reset_index(drop=True),
                                 labelled(valid, cands["valid"], negatives, seed + 1))
        return frames[negatives]

    def space(trial) -> dict:
        return {"embedding_dim": trial.suggest_categorical("embedding_dim", tune["widedeep_embedding_dim"]),
                "hidden": trial.suggest_categorical("hidden", tune["widedeep_hidden"]),
                "dropout": trial.suggest_float("dropout", *tune["widedeep_dropout"]),
                "learning_rate": trial.suggest_float("learning_rate", *tune["widedeep_learning_rate"], log=True),
                "negatives": trial.suggest_categorical("negatives", tune["widedeep_negatives"])}

    def objective(p: dict) -> float:
        fit, stop = frames_for(int(p["negatives"]))
        model = wide_deep_model({**wide_deep, **p, "epochs": int(tune["widedeep_epochs"])}, seed).fit(fit, stop)
        return ranked_ndcg(model, ranked, truth, k)

    settings = {n: v for n, v in tune.items() if n.startswith("widedeep_")}
    name = hashlib.sha1(json.dumps([str(train.start), str(valid.start), len(train.truth), len(valid.truth),
                                    int(train.matrix.X.nnz), len(cands["train"]), len(cands["valid"]), settings,
                                    wide_deep, seed, key], default=str).encode()).hexdigest()[:10]
    defaults = {"embedding_dim": wide_deep["embedding_dim"], "hidden": ",".join(map(str, _hidden(wide_deep["hidden"]))),
                "dropout": wide_deep["dropout"], "learning_rate": wide_deep["learning_rate"],
                "negatives": wide_deep["negatives"]}
    queued = _enqueue_first(f"recsys-wide_deep-{name}", storage, defaults)
    study = tuning.tune(objective, space, f"recsys-wide_deep-{name}", storage,
                        n_trials=int(tune["widedeep_n_trials"]) + queued, timeout_s=tune.get("timeout_s"), seed=seed,
                        mlflow_parent=mlflow_parent, module="recsys", total=True)
    best = {**wide_deep, **study.best_params}
    best["hidden"] = list(_hidden(best["hidden"]))
    first = [t.value for t in study.trials if t.params == defaults and t.value is not None]
    done = [float(t.value) for t in study.trials if t.value is not None]
    return best, {"best": float(study.best_value), "defaults": float(first[0]) if first else float("nan"),
                  "min": min(done), "trials": len(done)}


def _enqueue_first(study_name: str, storage, params: dict) -> int:
    """Queue `params` (the params.yaml defaults) as the first trial of a new study, so that tuning can only keep or
    beat them on the objective; a stored study is left as it is. Returns the study's queued (waiting) trials: the
    helper counts them as stored and its optimisation then runs them too, so its target size must include them."""
    from pathlib import Path

    import optuna

    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name=study_name, storage=f"sqlite:///{Path(storage).resolve()}",
                                direction="maximize", load_if_exists=True)
    if not study.trials:
        study.enqueue_trial(params)
    return sum(t.state == optuna.trial.TrialState.WAITING for t in study.get_trials(deepcopy=False))

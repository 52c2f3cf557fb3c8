"""Which fraud scenarios are hard to see: what notebook 02_features shows under "Which fraud scenarios are hard?".

    aucs = single_feature_auc(table, params)            # every numeric / bool feature alone: fraud vs legit
    oracle = load_oracle(interim / "oracle" / "fraud.parquet")  # transaction_id, scenario; None on the real files
    scores, info = quick_model_scores(table, params)    # a quick default XGBoost on a time split: transaction_id, score
    scenario_table(table, oracle, params, scores)       # per scenario: frauds, best single feature, model recall
    first_use_shares(table, oracle)                      # share of the card's first payment at the merchant
    scenario_recall(y, scenario, {"model": s, ...})     # recall at 1% FPR per scenario (notebook 03 too)

Definitions (`table`: data/processed/features.parquet; `params`: the `features` section of params.yaml):
- Rows: labelled rows only. Fraud = label `fraud`; legit = label `legit`. Unlabeled rows are excluded (they are not
  legitimate, just unknown). The negatives of every scenario are all labelled-legit rows, whatever the oracle says
  about them (a missed fraud labelled legit is a negative for the models too).
- A fraud row's scenario is the oracle's; a labelled fraud the generator made legitimate (scenario `legit`: label
  noise) is shown as `LABEL_NOISE`, a fraud without an oracle row as `NO_ORACLE_ROW`. Scenario names are otherwise
  not known here: they come from the data.
- Sample: every labelled fraud and a seeded sample of `difficulty.sample_rows` labelled-legit rows (all of them when
  fewer). ROC-AUC is the probability that a random fraud outranks a random legit row: it does not depend on the class
  shares, so sampling one class leaves it unbiased, and keeping every fraud keeps its variance as small as the data
  allows. Recall at 1% FPR is measured on all scored rows (no sampling).
- Single-feature ROC-AUC (`evaluation.roc_auc`): bools as 0/1; a null ranks below every value (each feature is
  replaced by its ranks, nulls rank 0). Oriented: AUC >= 0.5 with `direction` "higher" (larger values are more
  fraud-like) or "lower" (the AUC of the negated feature: then nulls count as the most fraud-like). NaN with one
  class. A numeric code such as `mcc` is ranked by its number like any i64 feature.
- Recall at 1% FPR per scenario (`evaluation.recall_at_fpr_by_group`): the threshold is the one whose false-positive
  rate on all legit scored rows is at most 1%; a scenario's recall is the share of its scored frauds at or above it.
- First use: `FIRST_USE` (`card_new_merchant`, the card's first payment at this merchant) per group of labelled rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from paylab import evaluation
from paylab.features.spec import KEY_COLUMNS, Feature, FeatureConfig, feature_list, feature_names

LEGIT = "legit"  # the oracle's scenario of a legitimate row
LABEL_NOISE = "legit_labelled_fraud"  # a labelled fraud whose oracle scenario is legit
NO_ORACLE_ROW = "no_oracle_row"  # a labelled fraud the oracle does not list
ALL = "all"
FPR = 0.01
RECALL = "recall_at_1pct_fpr"
FIRST_USE = "card_new_merchant"  # paylab.features.spec NOVELTY: f"{entity}_new_{short}" for (card, merchant_id)
DEFAULTS: dict[str, Any] = {
    "sample_rows": 200_000,  # labelled-legit rows sampled for the single-feature AUCs (every fraud is kept)
    "model": {  # the quick XGBoost of notebook 02 (default parameters, no reweighting: not the tuned champion)
        "train_days": 270,
        "test_days": 180,
        "max_train_rows": 300_000,  # every training fraud + sampled legit rows up to this many
        "n_jobs": 2,
        "exclude_features": ["user_gender"],
    },
}


def knobs(params: dict[str, Any] | None) -> dict[str, Any]:
    """params `difficulty` over DEFAULTS; an unknown key stops with the valid ones."""
    given = dict((params or {}).get("difficulty") or {})
    model = dict(given.pop("model", None) or {})
    for where, keys, valid in (("difficulty", given, DEFAULTS), ("difficulty.model", model, DEFAULTS["model"])):
        unknown = sorted(set(keys) - set(valid))
        if unknown:
            raise ValueError(f"params.yaml features.{where}: unknown keys {unknown} (valid: {sorted(valid)})")
    out = {**DEFAULTS, **given, "model": {**DEFAULTS["model"], **model}}
    if int(out["sample_rows"]) < 1 or int(out["model"]["max_train_rows"]) < 2:
        raise ValueError(f"params.yaml features.difficulty: sample_rows must be >= 1 and model.max_train_rows >= 2, "
                         f"got {out['sample_rows']!r} and {out['model']['max_train_rows']!r}")
    return out


def load_oracle(path: Path | str) -> pl.DataFrame | None:
    """transaction_id, scenario of the generator's oracle (data/interim/oracle/fraud.parquet); None when the file is
    absent (the real Kaggle files have no oracle)."""
    path = Path(path)
    if not path.exists():
        return None
    schema = pl.read_parquet_schema(path)
    missing = [c for c in ("transaction_id", "scenario") if c not in schema]
    if missing:
        raise ValueError(f"{path}: oracle columns {missing} missing (has {list(schema)})")
    return pl.read_parquet(path, columns=["transaction_id", "scenario"])


# --- rows -------------------------------------------------------------------------------------------------------

def _numeric_features(table: pl.DataFrame, params: dict[str, Any] | None) -> list[Feature]:
    """The spec's numeric and bool features; each must be a column of `table`."""
    features = [f for f in feature_list(FeatureConfig.from_params(params)) if f.dtype != "str"]
    missing = [f.name for f in features if f.name not in table.columns]
    if missing:
        raise ValueError(f"features table: {len(missing)} spec features missing, e.g. {missing[0]!r} (rebuild the "
                         f"features stage with the same features params)")
    return features


def _labelled_sample(table: pl.DataFrame, params: dict[str, Any] | None, columns: list[str]) -> pl.DataFrame:
    """`columns` of every labelled fraud and of a seeded sample of `sample_rows` labelled-legit rows, in table order."""
    label = table["label"]
    fraud = np.flatnonzero((label == "fraud").fill_null(False).to_numpy())
    legit = np.flatnonzero((label == "legit").fill_null(False).to_numpy())
    n = int(knobs(params)["sample_rows"])
    if legit.size > n:
        legit = np.random.default_rng(int((params or {}).get("seed", 0))).choice(legit, n, replace=False)
    return table.select(columns)[np.sort(np.concatenate([fraud, legit]))]


def _fraud_scenario(scenario: pl.Expr) -> pl.Expr:
    """The scenario shown for a labelled fraud (see the module doc)."""
    scenario = scenario.cast(pl.String)
    return (pl.when(scenario.is_null()).then(pl.lit(NO_ORACLE_ROW))
            .when(scenario == LEGIT).then(pl.lit(LABEL_NOISE))
            .otherwise(scenario))


def _groups(frame: pl.DataFrame, oracle: pl.DataFrame) -> pl.Series:
    """Per row of `frame` (transaction_id, label), in order: LEGIT for a labelled-legit row, the scenario of a
    labelled fraud (`_fraud_scenario`), null for an unlabeled row."""
    joined = (frame.select("transaction_id", "label").with_row_index("_row")
              .join(oracle.select("transaction_id", "scenario"), on="transaction_id", how="left")
              .sort("_row"))
    if joined.height != frame.height:
        dup = oracle.filter(pl.col("transaction_id").is_duplicated())["transaction_id"].head(1).to_list()
        raise ValueError(f"oracle fraud.parquet: column transaction_id is not unique, e.g. {dup}")
    return joined.select(pl.when(pl.col("label") == "legit").then(pl.lit(LEGIT))
                         .when(pl.col("label") == "fraud").then(_fraud_scenario(pl.col("scenario")))
                         .otherwise(None).alias("group"))["group"]


def _order(frauds: dict[str, int]) -> list[str]:
    """Scenarios by number of frauds, most first (ties by name)."""
    return sorted(frauds, key=lambda g: (-frauds[g], g))


# --- single-feature separability --------------------------------------------------------------------------------

def _ranks(column: pl.Series) -> np.ndarray:
    """Average ranks of a numeric / bool column, a null (or NaN) ranking below every value (rank 0)."""
    return column.cast(pl.Float64).fill_nan(None).rank("average").fill_null(0.0).to_numpy()


def _oriented(y: np.ndarray, x: np.ndarray) -> tuple[float, str | None]:
    """(ROC-AUC >= 0.5, direction "higher" | "lower"); (NaN, None) with one class."""
    raw = evaluation.roc_auc(y, x)
    if np.isnan(raw):
        return raw, None
    return (raw, "higher") if raw >= 0.5 else (1.0 - raw, "lower")


def single_feature_auc(table: pl.DataFrame, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """Per numeric / bool feature, on the labelled sample: ROC-AUC of the feature alone for fraud vs legit, oriented
    (`roc_auc` >= 0.5 and its `direction`), `null_share` and the sample's `frauds` / `legit`; best first."""
    features = _numeric_features(table, params)
    sample = _labelled_sample(table, params, ["label", *(f.name for f in features)])
    y = (sample["label"] == "fraud").to_numpy()
    rows = []
    for f in features:
        auc, direction = _oriented(y, _ranks(sample[f.name]))
        rows.append({"feature": f.name, "group": f.group, "roc_auc": auc, "direction": direction,
                     "null_share": sample[f.name].null_count() / max(sample.height, 1)})
    out = pl.DataFrame(rows, schema={"feature": pl.String, "group": pl.String, "roc_auc": pl.Float64,
                                     "direction": pl.String, "null_share": pl.Float64})
    out = out.with_columns(frauds=pl.lit(int(y.sum()), pl.Int64), legit=pl.lit(int((~y).sum()), pl.Int64))
    return out.sort("roc_auc", descending=True, nulls_last=True)


# --- per scenario ---------------------------------------------------------------------------------------------

def scenario_recall(y, scenario, scores: Mapping[str, Any]) -> pl.DataFrame:
    """Recall at 1% FPR of each named score per fraud scenario, on the same rows: one row per scenario of the
    positives (most frauds first) and `all`; columns scenario, frauds, `<name>_recall_at_1pct_fpr`.

    `y`: 1 fraud / 0 legit (labelled rows only); `scenario`: the oracle's scenario per row (that of a negative is
    ignored: every negative counts against every scenario)."""
    y = np.asarray(y, dtype=float)
    if np.isnan(y).any():
        raise ValueError(f"scenario_recall: y has {int(np.isnan(y).sum())} missing labels: pass labelled rows only "
                         f"(unlabeled rows are not legitimate)")
    y = y.astype(int)
    values = pd.Series(np.asarray(scenario, dtype=object))
    names = pl.Series("scenario", values.where(values.notna(), None).tolist(), dtype=pl.String)
    names = pl.DataFrame({"scenario": names}).select(_fraud_scenario(pl.col("scenario")).alias("s"))["s"].to_numpy()
    if names.shape != y.shape:
        raise ValueError(f"scenario must have the length of y ({y.size}), got {names.shape}")
    groups, counts = np.unique(names[y == 1], return_counts=True)
    frauds = {str(g): int(n) for g, n in zip(groups, counts, strict=True)}
    recalls = {name: evaluation.recall_at_fpr_by_group(y, s, names, FPR) for name, s in scores.items()}
    rows = [{"scenario": g, "frauds": frauds[g], **{f"{name}_{RECALL}": r[g] for name, r in recalls.items()}}
            for g in _order(frauds)]
    rows.append({"scenario": ALL, "frauds": int(y.sum()),
                 **{f"{name}_{RECALL}": evaluation.recall_at_fpr(y, s, FPR) for name, s in scores.items()}})
    schema = {"scenario": pl.String, "frauds": pl.Int64, **{f"{name}_{RECALL}": pl.Float64 for name in scores}}
    return pl.DataFrame(rows, schema=schema)


def _scored(table: pl.DataFrame, scores) -> pl.DataFrame:
    """transaction_id, score, label of the labelled scored rows (a scored row missing from the table is an error)."""
    scores = scores if isinstance(scores, pl.DataFrame) else pl.from_pandas(pd.DataFrame(scores))
    missing = [c for c in ("transaction_id", "score") if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: columns {missing} missing (expected transaction_id, score; got {scores.columns})")
    joined = scores.select("transaction_id", pl.col("score").cast(pl.Float64)).join(
        table.select("transaction_id", "label"), on="transaction_id", how="left")
    unknown = joined.filter(pl.col("label").is_null())
    if unknown.height:
        raise ValueError(f"scores: {unknown.height} transaction ids are not in the features table, e.g. "
                         f"{unknown['transaction_id'][0]}")
    return joined.filter(pl.col("label").is_in(["fraud", "legit"]))


def scenario_table(table: pl.DataFrame, oracle: pl.DataFrame | None, params: dict[str, Any] | None = None,
                   scores=None) -> pl.DataFrame | None:
    """One row per fraud scenario of the labelled frauds (most frauds first) and `all`: frauds, share_of_frauds,
    the single feature that best tells that scenario's frauds from the legit rows (best_feature, best_feature_auc,
    best_feature_direction; on the labelled sample) and, with `scores` (a frame transaction_id, score for some rows:
    a model's test window), scored_frauds and the model's recall at 1% FPR (`scenario_recall`) on the labelled
    scored rows. None without an oracle."""
    if oracle is None:
        return None
    features = _numeric_features(table, params)
    sample = _labelled_sample(table, params, ["transaction_id", "label", *(f.name for f in features)])
    group = _groups(sample, oracle).to_numpy()
    fraud = (sample["label"] == "fraud").to_numpy()
    scenarios, counts = np.unique(group[fraud], return_counts=True)
    frauds = {str(g): int(n) for g, n in zip(scenarios, counts, strict=True)}
    masks = {g: ~fraud | (group == g) for g in _order(frauds)} | {ALL: np.ones(fraud.size, bool)}
    frauds[ALL] = int(fraud.sum())
    best: dict[str, tuple[float, str | None, str | None]] = {g: (float("nan"), None, None) for g in masks}
    for f in features:
        ranks = _ranks(sample[f.name])
        for g, mask in masks.items():
            auc, direction = _oriented(fraud[mask], ranks[mask])
            if not np.isnan(auc) and (np.isnan(best[g][0]) or auc > best[g][0]):
                best[g] = (auc, f.name, direction)
    rows = [{"scenario": g, "frauds": frauds[g], "share_of_frauds": frauds[g] / max(frauds[ALL], 1),
             "best_feature": best[g][1], "best_feature_auc": best[g][0], "best_feature_direction": best[g][2]}
            for g in masks]
    out = pl.DataFrame(rows, schema={"scenario": pl.String, "frauds": pl.Int64, "share_of_frauds": pl.Float64,
                                     "best_feature": pl.String, "best_feature_auc": pl.Float64,
                                     "best_feature_direction": pl.String})
    if scores is not None:
        scored = _scored(table, scores)
        recall = scenario_recall((scored["label"] == "fraud").to_numpy(),
                                 scored.join(oracle, on="transaction_id", how="left", maintain_order="left")
                                 ["scenario"].to_numpy(), {"model": scored["score"].to_numpy()})
        recall = recall.rename({"frauds": "scored_frauds", f"model_{RECALL}": RECALL})
        out = out.join(recall, on="scenario", how="left", maintain_order="left").with_columns(
            pl.col("scored_frauds").fill_null(0))
    return out


def first_use_shares(table: pl.DataFrame, oracle: pl.DataFrame | None) -> pl.DataFrame | None:
    """Share of rows that are the card's first payment at the merchant (`FIRST_USE`) for the labelled-legit rows,
    each fraud scenario of the labelled frauds and all of them: group, rows, first_use_share, ratio_to_legit (the
    share over legit's). On every labelled row (no sampling); None without an oracle."""
    if oracle is None:
        return None
    if FIRST_USE not in table.columns:
        raise ValueError(f"features table: column {FIRST_USE!r} missing (the novelty feature of card x merchant_id)")
    labelled = table.select("transaction_id", "label", FIRST_USE).filter(pl.col("label").is_in(["fraud", "legit"]))
    labelled = labelled.with_columns(group=_groups(labelled, oracle), first=pl.col(FIRST_USE).cast(pl.Float64))
    by_group = labelled.group_by("group").agg(rows=pl.len(), first_use_share=pl.col("first").mean())
    frauds = labelled.filter(pl.col("label") == "fraud").select(
        group=pl.lit(ALL), rows=pl.len().cast(pl.UInt32), first_use_share=pl.col("first").mean())
    shares = pl.concat([by_group.with_columns(pl.col("rows").cast(pl.UInt32)), frauds]).filter(pl.col("rows") > 0)
    counts = {g: n for g, n in zip(shares["group"], shares["rows"], strict=True) if g not in (LEGIT, ALL)}
    order = {g: i for i, g in enumerate([LEGIT, *_order(counts), ALL])}
    legit = shares.filter(pl.col("group") == LEGIT)["first_use_share"]
    base = legit[0] if legit.len() else None
    return (shares.with_columns(ratio_to_legit=pl.col("first_use_share") / base if base else pl.lit(None, pl.Float64))
            .sort(pl.col("group").replace_strict(order, return_dtype=pl.Int64)))


# --- a quick model ----------------------------------------------------------------------------------------------

def quick_model_scores(table: pl.DataFrame, params: dict[str, Any] | None = None) -> tuple[pl.DataFrame, dict]:
    """A quick XGBoost with default parameters (paylab.fraud: `training.fit` of "xgboost" with strategy "none"), not
    the tuned champion: fitted on the labelled rows of the training window, scored on the labelled rows of the test
    window (`data.splits.time_split`: train | delay | test backwards from the end of the data, the delay being
    `delay_days`). At most `max_train_rows` training rows: every training fraud and a seeded sample of the legit
    ones (a ranking model; the rate it learns is off, its order is what recall at a fixed FPR reads).

    Returns (transaction_id, score of the test rows; {windows, train_rows, train_frauds, test_rows, test_frauds})."""
    from paylab.data.splits import time_split
    from paylab.fraud import training
    from paylab.fraud.data import LABELS, FraudTable

    cfg, k = FeatureConfig.from_params(params), knobs(params)["model"]
    seed = int((params or {}).get("seed", 0))
    names = feature_names(cfg)
    unknown = sorted(set(k["exclude_features"]) - set(names))
    if unknown:
        raise ValueError(f"params.yaml features.difficulty.model.exclude_features: {unknown} are not features")
    names = [n for n in names if n not in k["exclude_features"]]
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValueError(f"features table: {len(missing)} spec features missing, e.g. {missing[0]!r}")
    labelled = table["label"].is_in(list(LABELS)).fill_null(False).to_numpy()
    split = time_split(table["timestamp"].to_numpy(), train_days=k["train_days"], delay_days=cfg.delay_days,
                       test_days=k["test_days"], valid_days=0, labeled=labelled)
    train = split.train
    fraud = (table["label"].gather(train) == "fraud").to_numpy()
    cap = int(k["max_train_rows"])
    if train.size > cap:
        if fraud.sum() >= cap:
            raise ValueError(f"params.yaml features.difficulty.model.max_train_rows ({cap}) must exceed the training "
                             f"window's {int(fraud.sum())} frauds")
        legit = np.random.default_rng(seed).choice(train[~fraud], cap - int(fraud.sum()), replace=False)
        train = np.sort(np.concatenate([train[fraud], legit]))
    rows = np.concatenate([train, split.test])  # training window first: both in time order
    frame = table.select([*KEY_COLUMNS, *names])[rows].to_pandas()
    frame["y"] = frame["label"].map(LABELS)
    fraud_table = FraudTable(frame=frame, features=names, has_oracle=False)
    local_train, local_test = np.arange(train.size), np.arange(train.size, rows.size)
    model = training.fit(fraud_table, local_train, "xgboost", "none", None, seed, int(k["n_jobs"]))
    proba = training.predict(model, fraud_table, local_test) if local_test.size else np.zeros(0)
    scores = pl.DataFrame({"transaction_id": frame["transaction_id"].to_numpy()[local_test], "score": proba})
    info = {"windows": split.windows, "train_rows": int(train.size),
            "train_frauds": int(frame["y"].iloc[local_train].sum()), "test_rows": int(local_test.size),
            "test_frauds": int(frame["y"].iloc[local_test].sum())}
    return scores, info

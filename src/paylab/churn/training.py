"""The churn experiment end to end: panel -> split -> tuned GBM, LSTM, hybrid -> scores on every row."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from paylab import evaluation as ev
from paylab.churn import models
from paylab.churn.panel import AGGREGATES, Panel, PanelConfig, build_panel
from paylab.churn.splits import assign, split_cutoffs

MODELS = ("gbm", "lstm", "hybrid")


@dataclass
class Experiment:
    """The panel with each row's part and the three models' probabilities (`p_gbm`, `p_lstm`, `p_hybrid`)."""

    panel: Panel
    parts: dict[str, list]
    gbm: object = None
    hybrid: object = None
    lstm: object = None
    scalers: dict = field(default_factory=dict)
    gbm_params: dict = field(default_factory=dict)
    lstm_history: dict = field(default_factory=dict)
    champion: str = ""
    valid_auc: dict = field(default_factory=dict)
    valid_ap: dict = field(default_factory=dict)

    @property
    def rows(self) -> pd.DataFrame:
        return self.panel.rows


def prepare(interim: Path, params: dict) -> Experiment:
    """Build the panel and split its labelled cutoffs (params.yaml `churn`)."""
    panel = build_panel(Path(interim), PanelConfig.from_params(params))
    labelled = panel.rows.loc[panel.rows["label"].notna(), "cutoff"].unique()
    parts = split_cutoffs(labelled, int(params["horizon_days"]), int(params["split"]["test_cutoffs"]),
                          int(params["split"]["valid_cutoffs"]))
    panel.rows["part"] = assign(panel.rows, parts)
    panel.rows.loc[panel.rows["cutoff"] == panel.score_cutoff, "part"] = "score"
    return Experiment(panel, parts)


def _mask(exp: Experiment, part: str) -> np.ndarray:
    return (exp.rows["part"] == part).to_numpy()


def tune_gbm(exp: Experiment, params: dict, seed: int, storage: Path, study_name: str) -> dict:
    """LightGBM parameters by Optuna (paylab.tuning.tune) on the validation cutoffs' ROC-AUC."""
    from paylab.tuning import tune

    base = dict(params["gbm"])
    tr, va = _mask(exp, "train"), _mask(exp, "valid")
    x, y = exp.rows[AGGREGATES], exp.rows["label"].to_numpy()

    def space(trial):
        return {"num_leaves": trial.suggest_int("num_leaves", 4, 31, log=True),
                "min_child_samples": trial.suggest_int("min_child_samples", 10, 200, log=True),
                "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0)}

    def objective(p):
        m = models.fit_gbm(x[tr], y[tr], {**base, **p}, seed)
        return ev.roc_auc(y[va], models.predict_gbm(m, x[va]))

    tp = params["tune"]
    if int(tp.get("n_trials", 0)) <= 0:
        return base
    study = tune(objective, space, study_name, storage, n_trials=int(tp["n_trials"]),
                 timeout_s=float(tp.get("timeout_s", 60)), seed=seed, module="churn", total=True)
    return {**base, **study.best_params}


def fit_all(exp: Experiment, params: dict, seed: int, gbm_params: dict | None = None) -> Experiment:
    """Fit the GBM (aggregates), the LSTM (sequence + aggregates) and the hybrid (aggregates + the LSTM's logit,
    out of fold on the training rows), score every row and pick the champion of LSTM and hybrid by validation
    average precision (churners are rare: the precision of the top of the list is what the team works)."""
    rows, seq = exp.rows, exp.panel.seq
    tr, va = _mask(exp, "train"), _mask(exp, "valid")
    y = rows["label"].to_numpy()
    x = rows[AGGREGATES]
    exp.gbm_params = dict(gbm_params or params["gbm"])
    exp.gbm = models.fit_gbm(x[tr], y[tr], exp.gbm_params, seed)
    rows["p_gbm"] = models.predict_gbm(exp.gbm, x)

    lp = params["lstm"]
    exp.scalers = {"seq": models.sequence_scaler(seq[tr]), "side": models.side_scaler(x[tr])}
    s_seq, s_side = models.scale_sequence(seq, exp.scalers["seq"]), models.scale_side(x, exp.scalers["side"])
    exp.lstm = models.fit_lstm(s_seq[tr], s_side[tr], y[tr], lp, seed, valid=(s_seq[va], s_side[va], y[va]))
    exp.lstm_history = exp.lstm.history_
    rows["p_lstm"] = models.predict_lstm(exp.lstm, s_seq, s_side)

    oof = models.out_of_fold_lstm(s_seq[tr], s_side[tr], y[tr], rows.loc[tr, "client_id"].to_numpy(), lp, seed,
                                  n_folds=int(params["hybrid"]["folds"]))
    feature = models.logit(rows["p_lstm"].to_numpy())
    feature[tr] = models.logit(oof)          # training rows: from LSTMs that never saw them
    xh = x.assign(**{models.LSTM_FEATURE: feature})
    exp.hybrid = models.fit_gbm(xh[tr], y[tr], exp.gbm_params, seed)
    rows["p_hybrid"] = models.predict_gbm(exp.hybrid, xh)
    rows[models.LSTM_FEATURE] = feature
    exp.valid_auc = {m: ev.roc_auc(y[va], rows.loc[va, f"p_{m}"]) for m in MODELS}
    exp.valid_ap = {m: ev.average_precision(y[va], rows.loc[va, f"p_{m}"]) for m in MODELS}
    exp.champion = max(("lstm", "hybrid"), key=lambda m: exp.valid_ap[m])
    return exp


def hybrid_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The hybrid GBM's inputs of `rows` (aggregates + the LSTM logit)."""
    return rows[[*AGGREGATES, models.LSTM_FEATURE]]

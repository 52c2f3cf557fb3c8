"""The whole quant evaluation of one price panel (shared by the `quant` stage notebook and `paylab quant evaluate`):
factors -> walk-forward model -> IC per horizon, quantile returns, backtests gross and net, for the model, the best
single factor (chosen on the training period only) and, when given, the generator's oracle (a latent ceiling)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from paylab import evaluation
from paylab.quant import signal
from paylab.quant.backtest import backtest, performance
from paylab.quant.dataset import build_dataset, label_name
from paylab.quant.panel import n_tickers
from paylab.quant.walkforward import WalkForward, walk_forward

DEFAULTS = {"windows": [5, 10, 20, 60], "horizons": [1, 5, 20], "horizon": 1, "label_price": "close",
            "normalise": "rank", "min_cross_section": 10, "quantiles": 5,
            "walk_forward": {"window": "expanding", "train_days": 750, "min_train_days": 250, "retrain_every": 120,
                             "extra_embargo_days": 0},
            "model": {}, "tune": {"n_trials": 0, "valid_days": 120, "timeout_s": 60},
            "backtest": {"top_k": 10, "rebalance_every": 1, "cost_bps": {"buy": 5.0, "sell": 15.0}},
            "bootstrap": {"n_boot": 1000, "level": 0.95}}


def config(params: dict | None) -> dict:
    """DEFAULTS overridden by a `quant` params block (one level of nested dicts merged)."""
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    for k, v in (params or {}).items():
        cfg[k] = {**cfg[k], **v} if isinstance(cfg.get(k), dict) and isinstance(v, dict) else v
    return cfg


def oracle_scores(oracle: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """(date, ticker, oracle): the generator's expected return of the label's period (close t+1 -> t+1+h: the sum
    of its expected daily returns dated t+1 .. t+h). It sees hidden state and the next day: a latent ceiling."""
    w = oracle.pivot(index="date", columns="ticker", values="expected_return").sort_index()
    s = sum(w.shift(-k) for k in range(1, int(horizon) + 1))
    out = s.stack(future_stack=True).rename("oracle").reset_index()
    return out


@dataclass
class Result:
    cfg: dict
    scored: pd.DataFrame            # test rows: date, ticker, labels, prediction, baseline[, oracle]
    names: list[str]
    wf: WalkForward
    baseline_factor: str
    baseline_sign: float
    factor_table: pd.DataFrame      # every factor's rank IC: on training dates (selection) and on the test dates
    mode: str                       # "cross_section" or "time_series"
    reason: str = ""
    metrics: dict = field(default_factory=dict)
    ic_daily: pd.DataFrame = None
    backtests: dict = field(default_factory=dict)
    quantiles: pd.DataFrame = None
    ts_ic: pd.DataFrame = None


def _choose_baseline(train: pd.DataFrame, names: list[str], label: str) -> tuple[str, float, pd.DataFrame]:
    table = signal.factor_ics(train, names, label).rename(columns={"rank_ic": "train_rank_ic", "icir": "train_icir"})
    best = table.iloc[0]
    return str(best["factor"]), float(np.sign(best["train_rank_ic"]) or 1.0), table


def run(panel: pd.DataFrame, params: dict | None = None, oracle: pd.DataFrame | None = None, seed: int = 0,
        storage: str | Path = "optuna-studies/quant.db", mlflow_parent: bool = False) -> Result:
    """Everything the notebook and the CLI report, on one panel."""
    cfg = config(params)
    k = n_tickers(panel)
    if k < 2:
        raise ValueError(f"prices: only {k} ticker ({panel['ticker'].iloc[0] if len(panel) else 'none'}); a signal "
                         f"is judged against other assets or over time on several: give at least 2 tickers (several "
                         f"Yahoo-style files make a panel, each named after its file)")
    mode, reason = "cross_section", ""
    if k < int(cfg["min_cross_section"]):
        mode = "time_series"
        reason = (f"{k} tickers < min_cross_section={cfg['min_cross_section']}: a per-date rank of {k} values is too "
                  f"coarse for a cross-sectional IC (each date's IC takes only a few values), so the IC is also "
                  f"reported over time per ticker")
    horizons = sorted({int(h) for h in cfg["horizons"]} | {int(cfg["horizon"]), 1})
    data, names = build_dataset(panel, cfg["windows"], horizons, cfg["label_price"], cfg["normalise"])
    wf_cfg = cfg["walk_forward"]
    wf = walk_forward(data, names, int(cfg["horizon"]), warmup=max(cfg["windows"]), model=cfg["model"],
                      tune=cfg["tune"], storage=storage, seed=seed, mlflow_parent=mlflow_parent,
                      min_train_days=wf_cfg["min_train_days"], retrain_every=wf_cfg["retrain_every"],
                      window=wf_cfg["window"], train_days=wf_cfg["train_days"],
                      extra_embargo_days=wf_cfg["extra_embargo_days"])
    label = label_name(cfg["horizon"])
    first = wf.fits[0].predict_start
    train = data[data["date"] <= wf.fits[0].train_end]
    factor, sign, table = _choose_baseline(train, names, label)
    scored = data.merge(wf.predictions, on=["date", "ticker"], how="inner")
    scored = scored[scored["date"] >= first].reset_index(drop=True)
    table = table.merge(signal.factor_ics(scored, names, label).rename(columns={"rank_ic": "test_rank_ic",
                                                                                "icir": "test_icir"}), on="factor")
    scored["baseline"] = sign * scored[factor]
    if oracle is not None:
        scored = scored.merge(oracle_scores(oracle, cfg["horizon"]), on=["date", "ticker"], how="left")
    res = Result(cfg, scored, names, wf, factor, sign, table, mode, reason)
    _evaluate(res, horizons, seed)
    return res


def _evaluate(res: Result, horizons: list[int], seed: int) -> None:
    cfg, s = res.cfg, res.scored
    boot = {"n_boot": int(cfg["bootstrap"]["n_boot"]), "seed": seed, "level": float(cfg["bootstrap"]["level"])}
    label = label_name(cfg["horizon"])
    roles = ["model", "baseline"] + (["oracle"] if "oracle" in s else [])
    column = {"model": "prediction", "baseline": "baseline", "oracle": "oracle"}
    bt = cfg["backtest"]
    metrics: dict = {}
    sharpe_reps: dict = {}
    for role in roles:
        block = signal.ic_summary(s["date"], s[column[role]], s[label], **boot)
        for h in horizons:
            if h != cfg["horizon"]:
                block[f"rank_ic_{h}d"] = evaluation.rank_ic(s["date"], s[column[role]], s[label_name(h)])
        for mode in ("long_short", "long_only"):
            daily = backtest(s["date"], s["ticker"], s[column[role]], s["ret_1d"], bt["top_k"], mode, bt["cost_bps"],
                             int(bt["rebalance_every"]))
            res.backtests[(role, mode)] = daily
            for kind in ("gross", "net"):
                perf, reps = performance(daily[kind], turnover=daily["turnover"], **boot)
                sharpe_reps[(role, mode, kind)] = reps
                prefix = f"{'ls' if mode == 'long_short' else 'lo'}_{kind}"
                block.update({f"{prefix}_{k}": v for k, v in perf.items() if k not in ("n_days",)})
            excess, _ = performance(daily["net"] - daily["benchmark"], **boot)
            block["lo_net_excess_annual_return"] = excess["annual_return"]
            block["lo_net_excess_sharpe"] = excess["sharpe"]
        block["sharpe"] = block["ls_net_sharpe"]
        block["sharpe_ci_low"], block["sharpe_ci_high"] = block["ls_net_sharpe_ci_low"], block["ls_net_sharpe_ci_high"]
        metrics[role] = block
    diffs = {}
    for other in roles[1:]:
        ic = signal.ic_difference(s["date"], s["prediction"], s[column[other]], s[label], **boot)
        sh = evaluation.paired_difference(metrics["model"]["ls_net_sharpe"], metrics[other]["ls_net_sharpe"],
                                          sharpe_reps[("model", "long_short", "net")],
                                          sharpe_reps[(other, "long_short", "net")], boot["level"])
        diffs[f"model_minus_{other}"] = {"rank_ic": ic, "ls_net_sharpe": sh}
    metrics["differences"] = diffs
    metrics["setup"] = {"mode": res.mode, "n_tickers": int(s["ticker"].nunique()),
                        "n_test_dates": int(s["date"].nunique()),
                        "first_test_date": str(s["date"].min().date()), "last_test_date": str(s["date"].max().date()),
                        "n_fits": len(res.wf.fits), "n_factors": len(res.names), "baseline_factor": res.baseline_factor,
                        "baseline_sign": res.baseline_sign, "horizon": int(cfg["horizon"]),
                        "embargo_days": int(cfg["horizon"]) + 1 + int(cfg["walk_forward"]["extra_embargo_days"])}
    metrics["ic_decay"] = {role: {f"{h}d": evaluation.rank_ic(s["date"], s[column[role]], s[label_name(h)])
                                  for h in horizons} for role in roles}
    res.ic_daily = pd.DataFrame({role: evaluation.ic_series(s["date"], s[column[role]], s[label], "spearman")
                                 for role in roles})
    res.quantiles = pd.DataFrame({role: signal.quantile_returns(s["date"], s[column[role]], s[label],
                                                                int(cfg["quantiles"])) for role in roles})
    if res.mode == "time_series":
        res.ts_ic = pd.DataFrame({role: signal.time_series_ic(s["ticker"], s[column[role]], s[label])
                                  for role in roles})
        metrics["time_series_ic"] = {role: {str(t): float(v) for t, v in res.ts_ic[role].items()} for role in roles}
    res.metrics = metrics


def equity_curves(res: Result) -> pd.DataFrame:
    """Date x (role_mode_kind) compounded equity of every backtest (the DVC plot)."""
    cols = {f"{role}_{'ls' if mode == 'long_short' else 'lo'}_{kind}": (1 + daily[kind]).cumprod()
            for (role, mode), daily in res.backtests.items() for kind in ("gross", "net")}
    return pd.DataFrame(cols).rename_axis("date")

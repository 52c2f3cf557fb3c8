"""`paylab quant evaluate`: the quant pipeline on any daily price file(s); a summary printed and written to a folder."""

from __future__ import annotations

import json
from pathlib import Path

from paylab.quant import pipeline
from paylab.quant.panel import load_prices


def evaluate(paths: list[str], out: str | Path, params: dict | None = None, seed: int = 0) -> dict:
    """Factors, walk-forward model and backtests on the prices in `paths`; writes summary.json, predictions.parquet,
    equity.csv and factor_ic.csv to `out`; returns the summary (model, baseline, differences, setup)."""
    panel = load_prices(*paths)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {k: v for k, v in (params or {}).items() if k not in ("prices", "oracle", "seed")}
    cfg.setdefault("tune", {})
    res = pipeline.run(panel, cfg, None, seed=seed, storage=out / "optuna.db", mlflow_parent=False)
    res.scored[["date", "ticker", "prediction", "baseline"]].to_parquet(out / "predictions.parquet", index=False)
    pipeline.equity_curves(res).to_csv(out / "equity.csv")
    res.factor_table.to_csv(out / "factor_ic.csv", index=False)
    summary = {**res.metrics, "reason": res.reason}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    return summary


def format_summary(summary: dict) -> str:
    """The lines the CLI prints: IC, RankIC, ICIR and net Sharpe of model and best factor (+ per-ticker IC)."""
    setup = summary["setup"]
    lines = [f"{setup['n_tickers']} tickers, {setup['n_test_dates']} test dates ({setup['first_test_date']} .. "
             f"{setup['last_test_date']}), {setup['n_fits']} walk-forward fits, horizon {setup['horizon']}d"]
    for role in ("model", "baseline"):
        m = summary[role]
        name = "model" if role == "model" else f"best factor ({setup['baseline_factor']})"
        lines.append(f"{name:>24}: IC {m['ic']:+.4f}  RankIC {m['rank_ic']:+.4f} [{m['rank_ic_ci_low']:+.4f}, "
                     f"{m['rank_ic_ci_high']:+.4f}]  ICIR {m['icir']:+.3f}  Sharpe(net, long-short) "
                     f"{m['ls_net_sharpe']:+.2f} [{m['ls_net_sharpe_ci_low']:+.2f}, {m['ls_net_sharpe_ci_high']:+.2f}]"
                     f"  (gross {m['ls_gross_sharpe']:+.2f})")
    if summary.get("reason"):
        lines.append(f"note: {summary['reason']}")
        for ticker, v in summary.get("time_series_ic", {}).get("model", {}).items():
            lines.append(f"  time-series RankIC {ticker}: {v:+.4f}")
    return "\n".join(lines)

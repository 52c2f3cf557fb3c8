"""`paylab` command line: one verb per pipeline step."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _project_params() -> dict:
    """params.yaml of the checkout we are in, or {} outside one."""
    from paylab.params import load_params

    try:
        return load_params()
    except FileNotFoundError:
        return {}


def _synth(args: argparse.Namespace) -> None:
    from paylab.data.synth import generate

    if args.scale is None or args.seed is None:
        params = _project_params()
        args.scale = args.scale or params.get("data", {}).get("scale", "default")
        args.seed = params.get("seed", 42) if args.seed is None else args.seed
    summary = generate(scale=args.scale, seed=args.seed, out=Path(args.out), progress=not args.quiet)
    print(json.dumps(summary, indent=2))


def _ingest(args: argparse.Namespace) -> None:
    from paylab.data.ingest import ingest

    report = ingest(Path(args.raw), Path(args.out), Path(args.metrics) if args.metrics else None)
    print(json.dumps(report["totals"], indent=2))


def _features(args: argparse.Namespace) -> None:
    from paylab.features import build_features
    from paylab.params import stage_params

    params = stage_params("features", args.params)
    if args.engine:
        params["engine"] = args.engine
    build_features(Path(args.interim), Path(args.out), params)


def _credit_fit(args: argparse.Namespace) -> None:
    from paylab.credit.fit import fit_table, read_table

    path = Path(args.data)
    metrics = fit_table(read_table(path), args.target, Path(args.out), bad_value=args.bad_value, seed=args.seed,
                        source=str(path))
    print(f"{metrics['n_rows']} rows, {metrics['n_bad']} bad; holdout {metrics['n_holdout']} rows "
          f"({metrics['score_direction']}); features: {', '.join(metrics['features'])}")
    for name, m in metrics["models"].items():
        print(f"{name:10s} " + "  ".join(f"{k.upper() if k != 'roc_auc' else 'AUC'} {m[k]:.3f} "
                                         f"[{m[k + '_ci_low']:.3f}, {m[k + '_ci_high']:.3f}]"
                                         for k in ("roc_auc", "gini", "ks")))
    print(f"wrote {args.out}/points.csv, cutoffs.csv, metrics.json")


def _quant_evaluate(args: argparse.Namespace) -> None:
    from paylab.quant.evaluate import evaluate, format_summary

    params = _project_params()
    summary = evaluate(args.prices, args.out, params.get("quant", {}), seed=params.get("seed", 0))
    print(format_summary(summary))
    print(f"written to {args.out}")


def _churn_at_risk(args: argparse.Namespace) -> None:
    from paylab.churn.retention import at_risk

    url = args.db_url or _project_params().get("churn", {}).get("db_url", "sqlite:///data/churn/churn.db")
    view = at_risk(url, limit=args.limit)
    cols = ["client_id", "probability", "risk_band", "value_at_risk", "reason_1", "reason_2", "reason_3"]
    print(view[cols].to_string(index=False) if len(view) else f"no predictions in {url}")
def _drift(args: argparse.Namespace) -> None:
    from paylab.monitoring.files import drift_files

    columns = args.columns.split(",") if args.columns else None
    table = drift_files(args.reference, args.current, Path(args.out), columns, sample_rows=args.sample_rows,
                        seed=args.seed)
    print(table.round(4).to_string())
    print(f"wrote {args.out}/drift_current.html (Evidently, equal-width PSI) and {args.out}/psi.csv "
          "(bands apply to psi_reference_deciles)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paylab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate Kaggle-format synthetic data with its oracle")
    p.add_argument("--scale", choices=["tiny", "default", "kaggle"], default=None,
                   help="default: params.yaml data.scale")
    p.add_argument("--seed", type=int, default=None, help="default: params.yaml seed")
    p.add_argument("--out", default="data/raw")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_synth)

    p = sub.add_parser("ingest", help="validate raw files into typed parquet, quarantining bad rows")
    p.add_argument("--raw", default="data/raw")
    p.add_argument("--out", default="data/interim")
    p.add_argument("--metrics", default="reports/metrics/ingest.json")
    p.set_defaults(func=_ingest)

    p = sub.add_parser("features", help="point-in-time transaction features")
    p.add_argument("--interim", default="data/interim")
    p.add_argument("--out", default="data/processed/features.parquet")
    p.add_argument("--params", default=None, help="params.yaml to read (default: the project's)")
    p.add_argument("--engine", default=None, help="override features.engine")
    p.set_defaults(func=_features)

    credit = sub.add_parser("credit", help="credit scoring on any table").add_subparsers(dest="credit_command",
                                                                                           required=True)
    p = credit.add_parser("fit", help="fit the WoE scorecard and the monotone GBM on a stratified holdout")
    p.add_argument("--data", required=True, help="CSV with a header")
    p.add_argument("--target", required=True, help="the binary target column")
    p.add_argument("--bad-value", default=None, help="the target value meaning bad (default: 1 / True)")
    p.add_argument("--out", required=True, help="directory for points.csv, cutoffs.csv, metrics.json")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_credit_fit)
    p = sub.add_parser("quant", help="quant signals on daily prices")
    qsub = p.add_subparsers(dest="quant_command", required=True)
    q = qsub.add_parser("evaluate", help="factors, walk-forward LightGBM and a backtest with costs on price files")
    q.add_argument("--prices", nargs="+", required=True,
                   help="CSV or parquet: long (date, ticker, open, high, low, close, volume[, adj_close]) or one "
                        "Yahoo-style export per ticker (named after the file)")
    q.add_argument("--out", default="reports/quant-evaluate")
    q.set_defaults(func=_quant_evaluate)
    p = sub.add_parser("churn", help="churn predictions in the database")
    csub = p.add_subparsers(dest="churn_command", required=True)
    c = csub.add_parser("at-risk", help="the retention list: users by expected monthly value at risk, with reasons")
    c.add_argument("--db-url", default=None, help="any SQLAlchemy URL (default: params.yaml churn.db_url)")
    c.add_argument("--limit", type=int, default=20)
    c.set_defaults(func=_churn_at_risk)

    p = sub.add_parser("drift", help="PSI drift of one table against another (Evidently report + decile PSI)")
    p.add_argument("--reference", required=True, help="parquet or CSV: the reference table")
    p.add_argument("--current", required=True, help="parquet or CSV: the table to compare")
    p.add_argument("--out", required=True, help="directory for drift_current.html and psi.csv")
    p.add_argument("--columns", default=None, help="comma-separated columns (default: every shared column)")
    p.add_argument("--sample-rows", type=int, default=20000, help="rows of each table Evidently sees (seeded)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_drift)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"paylab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

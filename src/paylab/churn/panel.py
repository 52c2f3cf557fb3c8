"""Cutoffs, labels and inputs: one row per (user, cutoff), built from data/interim with lazy polars scans.

A cutoff `c` is a midnight: the history is every payment with timestamp < c, the label window is [c, c + horizon).
Weeks are aligned on the cutoffs (cutoffs are a whole number of weeks apart), so one group-by over (user, week)
serves every cutoff: week k of cutoff c is [c - 7(k+1), c - 7k).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

# per-week channels of the sequence (the LSTM's input), in order
WEEK_FEATURES = ["n_payments", "amount", "n_merchants", "n_mccs", "online_share", "n_refunds", "n_errors"]
MONTH_DAYS = 30.44
TX_COLUMNS = ["client_id", "timestamp", "amount", "merchant_id", "mcc", "is_online", "is_refund", "errors"]


@dataclass(frozen=True)
class PanelConfig:
    """The label and input knobs of params.yaml `churn`."""

    horizon_days: int = 60
    active_days: int = 28
    weeks: int = 12
    cutoff_every_weeks: int = 4
    min_history_weeks: int = 8

    @classmethod
    def from_params(cls, params: dict) -> PanelConfig:
        keys = ("horizon_days", "active_days", "weeks", "cutoff_every_weeks", "min_history_weeks")
        bad = {k: params[k] for k in keys if k in params and (not isinstance(params[k], int) or params[k] < 1)}
        if bad:
            name, value = next(iter(bad.items()))
            raise ValueError(f"params.yaml churn.{name} must be a whole number >= 1, got {value!r}")
        return cls(**{k: int(params[k]) for k in keys if k in params})


@dataclass
class Panel:
    """Rows (user, cutoff) with label, aggregates, statics; `seq` the weekly sequences aligned with the rows."""

    rows: pd.DataFrame   # client_id, cutoff, label (NaN where the window is not observed), aggregates, statics
    seq: np.ndarray      # rows x weeks x len(WEEK_FEATURES), oldest week first; -1 before the user's first payment
    score_cutoff: pd.Timestamp   # the latest cutoff (end of the data): predictions for the retention team


def _scan(interim: Path, name: str, columns: list[str]) -> pl.LazyFrame:
    path = Path(interim) / name
    if not path.exists():
        raise FileNotFoundError(f"churn: {path} not found (run the ingest stage first)")
    lf = pl.scan_parquet(path)
    missing = [c for c in columns if c not in lf.collect_schema().names()]
    if missing:
        raise ValueError(f"churn: {path} lacks column(s) {missing} (has {lf.collect_schema().names()[:12]} ...)")
    return lf.select(columns)


def data_end(interim: Path) -> pd.Timestamp:
    """Midnight after the last transaction: the latest cutoff."""
    last = _scan(interim, "transactions.parquet", ["timestamp"]).select(pl.col("timestamp").max()).collect().item()
    if last is None:
        raise ValueError(f"churn: {Path(interim) / 'transactions.parquet'} has no rows")
    return pd.Timestamp(last).normalize() + pd.Timedelta(days=1)


def _cents_sum(amount: pl.Expr) -> pl.Expr:
    """A sum of dollar amounts in whole cents: exact whatever order the group-by adds the rows in (a float sum's last
    digits follow that order, and a GBM split on them made two runs differ)."""
    return (amount * 100).round().cast(pl.Int64).sum() / 100


def weekly(interim: Path, anchor: pd.Timestamp) -> pl.DataFrame:
    """Payments (amount > 0) and refunds / errors per (client_id, week); week = whole weeks before `anchor`
    (week 0 = [anchor - 7 d, anchor)). One lazy group-by over the transaction columns it needs."""
    tx = _scan(interim, "transactions.parquet", TX_COLUMNS)
    anchor_us = pl.lit(anchor.to_datetime64()).cast(pl.Datetime("us"))
    # week w = [anchor - 7(w + 1) d, anchor - 7w d): a payment at a cutoff's midnight belongs to its future
    week = (((anchor_us - pl.col("timestamp")).dt.total_microseconds() - 1) // (7 * 86_400_000_000)) \
        .cast(pl.Int32).alias("week")
    pay = pl.col("amount") > 0
    return (tx.with_columns(week)
            .group_by("client_id", "week")
            .agg(n_payments=pay.sum().cast(pl.Float64),
                 amount=_cents_sum(pl.col("amount").filter(pay)),
                 n_merchants=pl.col("merchant_id").filter(pay).n_unique().cast(pl.Float64),
                 n_mccs=pl.col("mcc").filter(pay).n_unique().cast(pl.Float64),
                 n_online=(pay & pl.col("is_online")).sum().cast(pl.Float64),
                 n_refunds=pl.col("is_refund").sum().cast(pl.Float64),
                 n_errors=pl.col("errors").is_not_null().sum().cast(pl.Float64),
                 first_payment=pl.col("timestamp").filter(pay).min())
            .with_columns(online_share=pl.when(pl.col("n_payments") > 0)
                          .then(pl.col("n_online") / pl.col("n_payments")).otherwise(0.0))
            .collect(engine="streaming"))


def _statics(interim: Path) -> pd.DataFrame:
    """Attributes fixed at any cutoff (docs/DATA.md "knowable at t"): birth year and month, retirement age."""
    users = _scan(interim, "users.parquet", ["client_id", "birth_year", "birth_month", "retirement_age"]).collect()
    return users.to_pandas()


def cutoffs(end: pd.Timestamp, start: pd.Timestamp, cfg: PanelConfig) -> list[pd.Timestamp]:
    """Every cutoff_every_weeks weeks back from `end` (included) while min_history_weeks of history fit."""
    step = pd.Timedelta(weeks=cfg.cutoff_every_weeks)
    out, c = [], end
    while c - pd.Timedelta(weeks=cfg.min_history_weeks) >= start:
        out.append(c)
        c -= step
    return sorted(out)


def build_panel(interim: Path, cfg: PanelConfig) -> Panel:
    """Every (user, cutoff) with a payment in [c - active_days, c): label 1 when no payment in
    [c, c + horizon_days), NaN when that window passes the end of the data (the score cutoff)."""
    end = data_end(interim)
    wk = weekly(interim, end).filter(pl.col("week") >= 0)
    start = pd.Timestamp(wk["first_payment"].min()).normalize()
    cuts = cutoffs(end, start, cfg)
    clients = np.sort(wk["client_id"].unique().to_numpy())
    u = np.searchsorted(clients, wk["client_id"].to_numpy())
    w = wk["week"].to_numpy()
    n_weeks = int(w.max()) + cfg.weeks + 1
    dense = np.zeros((len(clients), n_weeks, len(WEEK_FEATURES)))
    for j, name in enumerate(WEEK_FEATURES):
        dense[u, w, j] = wk[name].fill_null(0).to_numpy()
    paid = wk["n_payments"].to_numpy() > 0
    first_week = np.full(len(clients), -1)
    np.maximum.at(first_week, u[paid], w[paid])          # the oldest week with a payment (largest index)

    pays = (_scan(interim, "transactions.parquet", ["client_id", "timestamp", "amount"])
            .filter(pl.col("amount") > 0).select("client_id", "timestamp").sort("client_id", "timestamp")
            .collect(engine="streaming"))
    pc = pays["client_id"].to_numpy()
    pt = pays["timestamp"].to_numpy().astype("datetime64[us]").astype(np.int64)
    bounds = np.searchsorted(pc, clients, side="left"), np.searchsorted(pc, clients, side="right")
    cut_us = np.array([np.datetime64(c, "us").astype(np.int64) for c in cuts])
    day_us = 86_400_000_000
    observed = np.array([c + pd.Timedelta(days=cfg.horizon_days) <= end for c in cuts])
    rec = []
    for k in range(len(clients)):
        ts = pt[bounds[0][k]:bounds[1][k]]
        if not ts.size:
            continue
        i = np.searchsorted(ts, cut_us)          # payments before each cutoff
        last = np.where(i > 0, ts[np.maximum(i - 1, 0)], np.iinfo(np.int64).min)
        active = (i > 0) & (last >= cut_us - cfg.active_days * day_us)
        nxt = np.where(i < ts.size, ts[np.minimum(i, ts.size - 1)], np.iinfo(np.int64).max)
        churn = (nxt >= cut_us + cfg.horizon_days * day_us).astype(float)
        for j in np.flatnonzero(active):
            rec.append((k, j, churn[j] if observed[j] else np.nan, (cut_us[j] - last[j]) / day_us,
                        (cut_us[j] - ts[0]) / day_us))
    rec_arr = np.array(rec, dtype=float).reshape(-1, 5)
    ku, kj = rec_arr[:, 0].astype(int), rec_arr[:, 1].astype(int)
    offset = np.array([(end - c).days // 7 for c in cuts])[kj]
    weeks_idx = offset[:, None] + np.arange(cfg.weeks - 1, -1, -1)[None, :]   # oldest week first
    seq = dense[ku[:, None], weeks_idx]
    seq[weeks_idx > first_week[ku][:, None]] = -1.0      # masked: the user had not started yet
    frame = pd.DataFrame({"client_id": clients[ku], "cutoff": np.array(cuts, dtype="datetime64[us]")[kj],
                          "label": rec_arr[:, 2], "days_since_last_payment": rec_arr[:, 3],
                          "tenure_days": rec_arr[:, 4]})
    frame = frame.join(_aggregates(seq, cfg))
    st = _statics(interim).set_index("client_id").reindex(frame["client_id"]).reset_index(drop=True)
    year = frame["cutoff"].dt.year + (frame["cutoff"].dt.month - 1) / 12
    frame["age"] = year - (st["birth_year"] + (st["birth_month"] - 1) / 12).to_numpy()
    frame["years_to_retirement"] = st["retirement_age"].to_numpy() - frame["age"]
    order = np.lexsort((frame["client_id"].to_numpy(), frame["cutoff"].to_numpy()))
    return Panel(frame.iloc[order].reset_index(drop=True), seq[order], end)


def _aggregates(seq: np.ndarray, cfg: PanelConfig) -> pd.DataFrame:
    """RFM-style aggregates of the same W weeks (the GBM's inputs)."""
    x = np.where(seq < 0, 0.0, seq)
    f = {name: x[:, :, j] for j, name in enumerate(WEEK_FEATURES)}
    last4 = slice(max(0, cfg.weeks - 4), cfg.weeks)
    prev = slice(0, max(0, cfg.weeks - 4))
    n_all = f["n_payments"].sum(1)
    out = {
        "payments_4w": f["n_payments"][:, last4].sum(1),
        "payments_w": n_all,
        "amount_4w": f["amount"][:, last4].sum(1),
        "amount_w": f["amount"].sum(1),
        "monthly_spend": f["amount"].sum(1) / (cfg.weeks * 7 / MONTH_DAYS),
        "payment_trend": (f["n_payments"][:, last4].mean(1) + 0.5) / (f["n_payments"][:, prev].mean(1) + 0.5)
        if cfg.weeks > 4 else np.ones(len(x)),
        "active_weeks": (f["n_payments"] > 0).sum(1).astype(float),
        "merchants_per_week": f["n_merchants"].mean(1),
        "mccs_per_week": f["n_mccs"].mean(1),
        "online_share": np.divide((f["online_share"] * f["n_payments"]).sum(1), n_all,
                                  out=np.zeros(len(x)), where=n_all > 0),
        "refunds_w": f["n_refunds"].sum(1),
        "errors_w": f["n_errors"].sum(1),
        "history_weeks": (seq[:, :, 0] >= 0).sum(1).astype(float),
    }
    return pd.DataFrame(out)


AGGREGATES = ["days_since_last_payment", "tenure_days", "payments_4w", "payments_w", "amount_4w", "amount_w",
              "monthly_spend", "payment_trend", "active_weeks", "merchants_per_week", "mccs_per_week",
              "online_share", "refunds_w", "errors_w", "history_weeks", "age", "years_to_retirement"]

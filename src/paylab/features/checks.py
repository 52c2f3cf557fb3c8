"""Checks on feature tables: engine parity and the point-in-time (no leakage) property, for transactions and for the
end-of-period card / user snapshot."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from paylab.features.spec import SNAPSHOT_ATTRIBUTES, FeatureConfig, feature_list


def compare(a: pl.DataFrame, b: pl.DataFrame, cfg: FeatureConfig, tol: float = 1e-9) -> dict[str, int]:
    """Features whose values differ (rows matched on transaction_id) -> number of differing rows.

    Nulls must match; floats agree when |x - y| <= tol * max(1, |x|, |y|); other types must be equal.
    """
    if a.height != b.height:
        return {"<rows>": abs(a.height - b.height)}
    a, b = a.sort("transaction_id"), b.sort("transaction_id")
    if not (a["transaction_id"] == b["transaction_id"]).all():
        return {"<transaction_id>": a.height}
    bad = {}
    for f in feature_list(cfg):
        x, y = a[f.name], b[f.name]
        null_x, null_y = x.is_null().to_numpy(), y.is_null().to_numpy()
        both = ~null_x & ~null_y
        if f.dtype == "f64":
            xs, ys = x.to_numpy()[both], y.to_numpy()[both]
            scale = np.maximum(1.0, np.maximum(np.abs(xs), np.abs(ys)))
            differ = np.abs(xs - ys) > tol * scale
        else:
            differ = (x.filter(pl.Series(both)) != y.filter(pl.Series(both))).to_numpy()
        n = int((null_x != null_y).sum() + differ.sum())
        if n:
            bad[f.name] = n
    return bad


def perturb_future(tables: dict[str, pl.DataFrame], position: int, delay_us: int, seed: int) -> dict[str, pl.DataFrame]:
    """Change or delete transactions after `position` (in (timestamp, id) order) and re-draw the labels that are
    revealed after t - delay, t being the timestamp at `position`; cards and users unchanged."""
    rng = np.random.default_rng(seed)
    tx = tables["transactions"].sort("timestamp", "transaction_id").with_row_index("_pos")
    t_us = tx["timestamp"].dt.epoch("us")[position]
    later = pl.col("_pos") > position
    n = tx.height

    def draw(values: pl.Series) -> pl.Series:
        return pl.Series(rng.choice(values.unique().drop_nulls().to_numpy(), n))

    change = pl.Series(rng.random(n) < 0.5)
    labels = pl.Series(rng.choice(["fraud", "legit", "unlabeled"], n))
    out = tx.with_columns(
        pl.when(later & change).then(pl.col("amount") * 3 + 1).otherwise("amount").alias("amount"),
        pl.when(later & change).then(draw(tx["merchant_id"])).otherwise("merchant_id").alias("merchant_id"),
        pl.when(later & change).then(draw(tx["mcc"])).otherwise("mcc").alias("mcc"),
        pl.when(later & change).then(None).otherwise("merchant_state").alias("merchant_state"),
        pl.when(later & change).then(pl.col("timestamp") + pl.duration(minutes=7)).otherwise("timestamp")
        .alias("timestamp"),
        pl.when(later | (pl.col("timestamp").dt.epoch("us") > t_us - delay_us)).then(labels).otherwise("label")
        .alias("label"),
    ).filter(~(later & pl.Series(rng.random(n) < 0.2)))
    return {**tables, "transactions": out.drop("_pos").sort("timestamp", "transaction_id")}


def perturb_snapshot(tables: dict[str, pl.DataFrame], columns: Iterable[str], seed: int) -> dict[str, pl.DataFrame]:
    """Change end-of-period card / user `columns` (SNAPSHOT_ATTRIBUTES) as a change after every transaction would:
    dates move to a month 1-36 months after the last transaction, years 1-3 years after it; values are redrawn
    (flags flipped, numbers moved). Transactions unchanged."""
    rng = np.random.default_rng(seed)
    end = tables["transactions"]["timestamp"].max()
    out = dict(tables)
    for col in columns:
        table, kind = SNAPSHOT_ATTRIBUTES[col]
        df = out[table]
        n, dtype = df.height, df.schema[col]
        if kind == "date":
            month = end.year * 12 + end.month - 1 + rng.integers(1, 37, n)
            new = pl.Series(col, [date(int(m) // 12, int(m) % 12 + 1, 1) for m in month]).cast(dtype)
        elif kind == "year":
            new = pl.Series(col, end.year + rng.integers(1, 4, n)).cast(dtype)
        elif dtype == pl.Boolean:
            new = ~df[col]
        elif dtype.is_integer():
            new = (df[col] + pl.Series(rng.integers(1, 5, n))).cast(dtype)
        else:
            new = (df[col] * pl.Series(rng.uniform(0.5, 2.0, n)) + 1.0).cast(dtype)
        out[table] = df.with_columns(new.alias(col))
    return out


def snapshot_violations(tables: dict[str, pl.DataFrame], params: dict[str, Any] | None,
                        columns: Iterable[str] | None = None, seed: int = 0,
                        base: pl.DataFrame | None = None) -> dict[str, int]:
    """Features that change when end-of-period `columns` change after every transaction (`perturb_snapshot`); by
    default the snapshot columns the config does not opt into, which no feature may read (should be {}).
    `base`: the features of `tables` when already computed."""
    from paylab.features.build import compute

    cfg = FeatureConfig.from_params(params)
    if columns is None:
        columns = [c for c in SNAPSHOT_ATTRIBUTES if c not in cfg.snapshot_attributes]
    base = compute(tables, cfg) if base is None else base
    return compare(base, compute(perturb_snapshot(tables, columns, seed), cfg), cfg, tol=0.0)


def point_in_time_violations(tables: dict[str, pl.DataFrame], params: dict[str, Any] | None, n_targets: int = 5,
                             seed: int = 0) -> dict[str, Any]:
    """Perturb the future of random target transactions, and the end-of-period card / user columns the config does
    not opt into; report the features of the past that changed, by name (should be {})."""
    from paylab.features.build import compute

    cfg = FeatureConfig.from_params(params)
    base = compute(tables, cfg)
    rng = np.random.default_rng(seed)
    snapshot = [c for c in SNAPSHOT_ATTRIBUTES if c not in cfg.snapshot_attributes]
    report: dict[str, Any] = {"targets": [], "violations": {}, "snapshot_columns_changed": snapshot,
                              "snapshot_columns_used": list(cfg.snapshot_attributes)}
    for name, n in snapshot_violations(tables, params, snapshot, seed, base).items():
        report["violations"][name] = n
    for position in sorted(rng.integers(0, base.height, n_targets).tolist()):
        changed = perturb_future(tables, position, cfg.delay_us, int(rng.integers(1 << 31)))
        ids = base["transaction_id"][: position + 1]
        after = compute(changed, cfg).filter(pl.col("transaction_id").is_in(ids.implode()))
        bad = compare(base.head(position + 1), after, cfg, tol=0.0)
        report["targets"].append(int(base["transaction_id"][position]))
        for name, n in bad.items():
            report["violations"][name] = report["violations"].get(name, 0) + n
    return report

"""Validated ingest: raw Kaggle-format files -> typed interim parquet, rejected rows -> quarantine, metrics.

Every raw value is parsed by vectorised polars expressions (`PARSERS`); a row with any value that does not
parse goes to `quarantine/<file>.parquet` with its raw strings, `row_number` and a `reason`, so that for every
file read == accepted + quarantined. The pandera schemas of `paylab.data.kaggle` then confirm the accepted
tables: a failure there is a bug in this module, not bad input, and raises.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from paylab.data.kaggle import (
    CARDS,
    ERROR_FLAGS,
    LABEL_VALUES,
    LABELS,
    LABELS_OUT,
    LOANS,
    MCC,
    ORACLE_DIR,
    PRICES,
    RAW_FILES,
    ROW_NUMBER,
    SCHEMAS,
    TIME_ORDER,
    TRANSACTIONS,
    TRANSACTIONS_SCHEMA,
    USE_CHIP,
    USERS,
    IngestError,
    RawFile,
    derived_flags,
    empty_raw,
    in_time_order,
    iter_batches,
    raw_source,
)

__all__ = ["BATCH_ROWS", "PARSERS", "IngestError", "ingest"]

BATCH_ROWS = 250_000  # rows per streamed batch
REASON = "reason"
_TYPED = "__typed__"  # prefix of parsed columns while they sit beside the raw ones
_DECIMAL = r"-?\d+(?:\.\d+)?"


def _guard(raw: pl.Expr, pattern: str, parsed: pl.Expr) -> pl.Expr:
    """`parsed` where `raw` matches `pattern`, else null."""
    return pl.when(raw.str.contains(pattern)).then(parsed)


def _mapped(mapping: dict[str, Any], lower: bool = False) -> Callable[[pl.Expr], pl.Expr]:
    """A parser of the raw values in `mapping` (optionally lower-cased first) to their mapped values.

    A when/then chain rather than `replace_strict`, which would take polars off its streaming engine.
    """

    def parse(raw: pl.Expr) -> pl.Expr:
        key = raw.str.to_lowercase() if lower else raw
        (first, value), *rest = mapping.items()
        chain = pl.when(key == first).then(pl.lit(value))
        for other, value in rest:
            chain = chain.when(key == other).then(pl.lit(value))
        return chain

    return parse


def _month(raw: pl.Expr) -> pl.Expr:
    """`MM/YYYY` -> the first day of that month."""
    year, month = (
        raw.str.slice(3, 4).cast(pl.Int32, strict=False),
        raw.str.slice(0, 2).cast(pl.Int8, strict=False),
    )
    return _guard(raw, r"^(0[1-9]|1[0-2])/\d{4}$", pl.date(year, month, 1))


def _errors(raw: pl.Expr) -> pl.Expr:
    """The raw comma-joined error list, null unless every token is a known one."""
    known = raw.str.split(",").list.eval(pl.element().is_in(list(ERROR_FLAGS))).list.all()
    return pl.when(known).then(raw)


# kind -> parser: raw string expression -> typed expression, null exactly where a non-null raw value is bad.
PARSERS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "id": lambda r: _guard(r, r"^\d{1,18}$", r.cast(pl.Int64, strict=False)),
    "int": lambda r: _guard(r, r"^-?\d{1,18}$", r.cast(pl.Int64, strict=False)),
    "mcc": lambda r: _guard(r, r"^\d{1,4}$", r.cast(pl.Int32, strict=False)),
    "float": lambda r: _guard(r, rf"^{_DECIMAL}$", r.cast(pl.Float64, strict=False)),
    "money": lambda r: _guard(r, rf"^\${_DECIMAL}$", r.str.slice(1).cast(pl.Float64, strict=False)),
    "str": lambda r: r,
    "digits": lambda r: _guard(r, r"^\d+$", r),
    "datetime": lambda r: r.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False),
    "date": lambda r: _guard(r, r"^\d{4}-\d{2}-\d{2}$", r.str.strptime(pl.Datetime("us"), "%Y-%m-%d", strict=False)),
    "month": _month,
    "yes_no": _mapped({"yes": True, "no": False}, lower=True),
    "bool01": _mapped({"0": False, "1": True}),
    "label": _mapped(LABEL_VALUES),
    "channel": _mapped(USE_CHIP),
    "zip": lambda r: _guard(r, r"^\d{1,5}(?:\.0+)?$", r.str.extract(r"^(\d+)").str.zfill(5)),
    "errors": _errors,
}
HINTS = {
    "id": "not a non-negative integer",
    "int": "not an integer",
    "mcc": "not a 1-4 digit code",
    "float": "not a decimal number",
    "money": "not a $ amount like $-77.00",
    "str": "empty",
    "digits": "not all digits",
    "datetime": "not a YYYY-MM-DD HH:MM:SS date",
    "date": "not a YYYY-MM-DD date",
    "month": "not MM/YYYY",
    "yes_no": "not YES/NO",
    "bool01": "not 0/1",
    "label": "not Yes/No",
    "channel": f"not one of {', '.join(USE_CHIP)}",
    "zip": "not a 5-digit zip like 58523.0",
    "errors": f"unknown error token (known: {', '.join(ERROR_FLAGS)})",
}


# ---------------------------------------------------------------------------------------------------- parsing
def _problem(spec_field: Any) -> pl.Expr:
    """The reason one field of a row is bad, or null."""
    raw, typed = pl.col(spec_field.raw), pl.col(_TYPED + spec_field.name)
    missing = pl.lit(None, pl.String) if spec_field.nullable else pl.lit(f"{spec_field.raw}: missing")
    bad = pl.lit(f"{spec_field.raw}: {HINTS[spec_field.kind]}")
    return pl.when(raw.is_null()).then(missing).when(typed.is_null()).then(bad)


def parse(raw: pl.LazyFrame, spec: RawFile) -> pl.LazyFrame:
    """Raw string rows + a typed column per field (prefixed) + `reason`, empty when the row is good."""
    typed = raw.with_columns(PARSERS[f.kind](pl.col(f.raw)).alias(_TYPED + f.name) for f in spec.fields)
    reason = pl.concat_str([_problem(f) for f in spec.fields], separator="; ", ignore_nulls=True)
    return typed.with_columns(reason.alias(REASON))


def split(parsed: pl.DataFrame, spec: RawFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A parsed batch -> (accepted typed rows, rejected raw rows with their reason); both keep row_number."""
    ok = pl.col(REASON) == ""
    typed = (pl.col(_TYPED + f.name).alias(f.name) for f in spec.fields)
    return (
        parsed.filter(ok).select(ROW_NUMBER, *typed),
        parsed.filter(~ok).select(*spec.columns, ROW_NUMBER, REASON),
    )


@dataclass
class _Table:
    """One raw file as accepted typed rows and quarantined raw rows."""

    spec: RawFile
    path: Path
    accepted: pl.DataFrame
    read: int
    rejected: list[pl.DataFrame] = field(default_factory=list)

    def reject(self, mask: pl.Series, reason: str) -> None:
        """Move the accepted rows where `mask` holds to quarantine, with their raw values read again."""
        if not mask.any():
            return
        rows = self.accepted.filter(mask)[ROW_NUMBER]
        raw = raw_source(self.spec, self.path).filter(pl.col(ROW_NUMBER).is_in(rows.implode()))
        self.rejected.append(pl.concat(iter_batches(raw, self.path, BATCH_ROWS)).with_columns(reason=pl.lit(reason)))
        self.accepted = self.accepted.filter(~mask)

    def quarantine(self) -> pl.DataFrame:
        empty = empty_raw(self.spec).with_columns(pl.lit(None, pl.String).alias(REASON))
        return pl.concat([empty, *self.rejected]).sort(ROW_NUMBER)

    def metrics(self) -> dict[str, Any]:
        quarantine = self.quarantine()
        reasons = quarantine[REASON].value_counts(sort=True)
        return {
            "present": True,
            "read": self.read,
            "accepted": self.accepted.height,
            "quarantined": quarantine.height,
            "reasons": dict(reasons.iter_rows()),
        }


def _duplicated(frame: pl.DataFrame, key: tuple[str, ...]) -> pl.Series:
    """True for every row whose key already occurred in an earlier row."""
    expr = pl.col(key[0]) if len(key) == 1 else pl.struct(key)
    if frame.select(expr.n_unique()).item() == frame.height:  # the usual case, at a fraction of the memory
        return pl.Series(np.zeros(frame.height, dtype=bool))
    return frame.select(~expr.is_first_distinct()).to_series()


def load(spec: RawFile, raw_dir: Path) -> _Table:
    """Read, parse and de-duplicate one raw file (the first valid row of a key wins)."""
    path = raw_dir / spec.name
    accepted, rejected = split(parse(empty_raw(spec).lazy(), spec).collect(), spec)
    table = _Table(spec, path, accepted, 0, [rejected])
    batches = [accepted]
    for batch in iter_batches(parse(raw_source(spec, path), spec), path, BATCH_ROWS):
        ok, bad = split(batch, spec)
        batches.append(ok)
        table.rejected.append(bad)
        table.read += batch.height
    table.accepted = pl.concat(batches)
    del batches
    raw_key = [f.raw for f in spec.fields if f.name in spec.key]
    table.reject(_duplicated(table.accepted, spec.key), f"duplicate {'+'.join(raw_key)}")
    return table


# -------------------------------------------------------------------------------------------- transactions
def _label_codes(ids: pl.Series, labels: _Table) -> np.ndarray:
    """Index into LABELS_OUT per transaction id; quarantines the labels of ids not among the transactions."""
    lab_ids = labels.accepted["transaction_id"].to_numpy()
    order = np.argsort(lab_ids, kind="stable")
    sorted_ids, fraud = lab_ids[order], labels.accepted["is_fraud"].to_numpy()[order]
    del lab_ids
    txn_ids = ids.to_numpy()
    codes = np.full(len(txn_ids), LABELS_OUT.index("unlabeled"), dtype=np.uint32)
    used = np.zeros(len(sorted_ids), dtype=bool)
    if len(sorted_ids):
        pos = np.minimum(np.searchsorted(sorted_ids, txn_ids), len(sorted_ids) - 1)
        found = sorted_ids[pos] == txn_ids
        del txn_ids
        pos = pos[found]
        codes[found] = np.where(fraud[pos], LABELS_OUT.index("fraud"), LABELS_OUT.index("legit"))
        used[pos] = True
    unused = np.empty_like(used)
    unused[order] = ~used
    labels.reject(pl.Series(unused), f"id not among the accepted rows of {TRANSACTIONS.name}")
    return codes


def _sort_accepted(table: _Table) -> None:
    """Put table.accepted in time order one column at a time, so that memory grows by a column, not a copy.

    table.accepted must hold the only reference to the rows: each replaced column is then freed at once.
    """
    if table.accepted.select(in_time_order().all()).item():
        return
    order = table.accepted.select(pl.arg_sort_by(TIME_ORDER)).to_series()
    for name in table.accepted.columns:
        table.accepted = table.accepted.with_columns(table.accepted[name].gather(order))


def _chunked_like(values: pl.Series, frame: pl.DataFrame) -> pl.Series:
    """`values` cut (zero-copy) into the chunks of `frame`: a misaligned column would make polars copy them all."""
    lengths = frame.get_column(frame.columns[0]).chunk_lengths()
    if len(lengths) < 2:
        return values
    starts = np.cumsum([0, *lengths[:-1]])
    return pl.concat([values.slice(start, n) for start, n in zip(starts, lengths, strict=True)], rechunk=False)


def finish_transactions(txn: _Table, labels: _Table) -> pl.DataFrame:
    """txn.accepted + error flags, derived flags and label, in time order (and without row_number)."""
    txn.accepted = txn.accepted.drop(ROW_NUMBER)
    codes = _label_codes(txn.accepted["transaction_id"], labels)
    label = _chunked_like(pl.Series("label", LABELS_OUT).gather(codes), txn.accepted)
    del codes
    flags = (pl.col("errors").str.contains(t, literal=True).fill_null(False).alias(c) for t, c in ERROR_FLAGS.items())
    txn.accepted = txn.accepted.with_columns(*flags, *derived_flags(), label).select(*TRANSACTIONS_SCHEMA.columns)
    del label  # txn.accepted now holds the only reference to every column
    _sort_accepted(txn)
    return txn.accepted


# ---------------------------------------------------------------------------------------------------- driver
def _check_present(raw_dir: Path) -> None:
    missing = [s.name for s in RAW_FILES if s.required and not (raw_dir / s.name).is_file()]
    if missing:
        found = sorted(p.name for p in raw_dir.iterdir())[:10] if raw_dir.is_dir() else "no such directory"
        raise IngestError(f"missing required raw file(s) {', '.join(missing)} in {raw_dir} (found: {found})")


def _absent_metrics() -> dict[str, Any]:
    return {"present": False, "read": 0, "accepted": 0, "quarantined": 0}


def _report(tables: dict[str, _Table], transactions: pl.DataFrame, oracle: list[str]) -> dict[str, Any]:
    files = {s.name: tables[s.name].metrics() if s.name in tables else _absent_metrics() for s in RAW_FILES}
    counts = transactions["label"].value_counts()
    files[TRANSACTIONS.name]["labels"] = {v: 0 for v in LABELS_OUT} | dict(counts.iter_rows())
    totals = {k: sum(m[k] for m in files.values()) for k in ("read", "accepted", "quarantined")}
    totals["absent"] = [name for name, m in files.items() if not m["present"]]
    totals["oracle_files"] = len(oracle)
    report = {"files": files, "oracle": oracle, "totals": totals}
    _check_balance(report)
    return report


def _check_balance(report: dict[str, Any]) -> None:
    """read == accepted + quarantined for every file and in total (raises even under python -O)."""
    for name, m in [*report["files"].items(), ("totals", report["totals"])]:
        if m["read"] != m["accepted"] + m["quarantined"]:
            raise AssertionError(
                f"{name}: read {m['read']} != accepted {m['accepted']} + quarantined {m['quarantined']}"
            )


def _copy_oracle(sources: list[Path], out_dir: Path) -> None:
    """Copy the oracle files unchanged to out_dir/oracle/, replacing any previous copies."""
    dest = out_dir / ORACLE_DIR
    for stale in dest.glob("*.parquet"):
        stale.unlink()
    if sources:
        dest.mkdir(parents=True, exist_ok=True)
    for src in sources:
        shutil.copy2(src, dest / src.name)


def _write(frames: dict[str, pl.DataFrame], tables: dict[str, _Table], out_dir: Path) -> None:
    """Typed tables to out_dir/<table>.parquet, quarantines to out_dir/quarantine/<file stem>.parquet."""
    (out_dir / "quarantine").mkdir(parents=True, exist_ok=True)
    for spec in RAW_FILES:
        table_path, quarantine_path = (
            out_dir / f"{spec.table}.parquet",
            out_dir / "quarantine" / f"{spec.stem}.parquet",
        )
        if spec.table in frames:
            frames[spec.table].write_parquet(table_path)
        elif spec.table in SCHEMAS:  # an absent optional file: no stale output from an earlier run
            table_path.unlink(missing_ok=True)
        if spec.name in tables:
            tables[spec.name].quarantine().write_parquet(quarantine_path)
        else:
            quarantine_path.unlink(missing_ok=True)


def ingest(raw_dir: Path, out_dir: Path, metrics_path: Path | None) -> dict:
    """Validate the raw files of `raw_dir` into typed parquet in `out_dir`; return (and write) the metrics.

    Raises IngestError (a ValueError) when a required file is missing, or a file is unreadable or lacks a
    column.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    _check_present(raw_dir)
    present = [s for s in RAW_FILES if (raw_dir / s.name).is_file()]
    tables = {s.name: load(s, raw_dir) for s in present if s is not TRANSACTIONS}
    tables[TRANSACTIONS.name] = load(TRANSACTIONS, raw_dir)
    frames = {"transactions": finish_transactions(tables[TRANSACTIONS.name], tables[LABELS.name])}
    for spec in (CARDS, USERS, MCC, LOANS, PRICES):
        if spec.name in tables:
            frames[spec.table] = tables[spec.name].accepted.drop(ROW_NUMBER)
    frames = {name: SCHEMAS[name].validate(frame, lazy=True) for name, frame in frames.items()}
    oracle = sorted((raw_dir / ORACLE_DIR).glob("*.parquet"))
    report = _report(tables, frames["transactions"], [p.name for p in oracle])
    _write(frames, tables, out_dir)
    _copy_oracle(oracle, out_dir)
    if metrics_path is not None:
        metrics_path = Path(metrics_path)
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text(json.dumps(report, indent=2) + "\n")
    return report

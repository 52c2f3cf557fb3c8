"""The raw Kaggle-format files: what they hold, how to read them, and the schemas of the typed interim tables.

Readers return the raw values as strings (null when empty) plus `row_number`, the 1-based position of the
record among the file's data rows (CSV header not counted; for the JSON files, the entry index). Typing
happens in `paylab.data.ingest`; the pandera schemas below confirm its output.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl
import pyarrow
import pyarrow.csv as pacsv

ROW_NUMBER = "row_number"
_PROBE_BYTES = 1 << 16
LABEL_PIECE_BYTES = 1 << 24  # the labels JSON is split into entries this much at a time


class IngestError(ValueError):
    """A raw file is missing, unreadable or lacks a column; the message names the file and an example."""


@dataclass(frozen=True)
class Field:
    """One raw column: its name, its parser (`kind`, see `paylab.data.ingest.PARSERS`), its interim name."""

    raw: str
    kind: str
    rename: str = ""
    nullable: bool = False

    @property
    def name(self) -> str:
        return self.rename or self.raw


@dataclass(frozen=True)
class RawFile:
    """One raw file: name, fields, the unique key (interim names), whether ingest fails without it."""

    name: str
    table: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    required: bool = True

    @property
    def columns(self) -> list[str]:
        return [f.raw for f in self.fields]

    @property
    def stem(self) -> str:
        return Path(self.name).stem


TRANSACTIONS = RawFile(
    "transactions_data.csv",
    "transactions",
    (
        Field("id", "id", "transaction_id"),
        Field("date", "datetime", "timestamp"),
        Field("client_id", "id"),
        Field("card_id", "id"),
        Field("amount", "money"),
        Field("use_chip", "channel", "channel"),
        Field("merchant_id", "id"),
        Field("merchant_city", "str"),
        Field("merchant_state", "str", nullable=True),
        Field("zip", "zip", nullable=True),
        Field("mcc", "mcc"),
        Field("errors", "errors", nullable=True),
    ),
    key=("transaction_id",),
)
CARDS = RawFile(
    "cards_data.csv",
    "cards",
    (
        Field("id", "id", "card_id"),
        Field("client_id", "id"),
        Field("card_brand", "str"),
        Field("card_type", "str"),
        Field("card_number", "digits"),
        Field("expires", "month"),
        Field("cvv", "int"),
        Field("has_chip", "yes_no"),
        Field("num_cards_issued", "int"),
        Field("credit_limit", "money"),
        Field("acct_open_date", "month"),
        Field("year_pin_last_changed", "int"),
        Field("card_on_dark_web", "yes_no"),
    ),
    key=("card_id",),
)
USERS = RawFile(
    "users_data.csv",
    "users",
    (
        Field("id", "id", "client_id"),
        Field("current_age", "int"),
        Field("retirement_age", "int"),
        Field("birth_year", "int"),
        Field("birth_month", "int"),
        Field("gender", "str"),
        Field("address", "str"),
        Field("latitude", "float"),
        Field("longitude", "float"),
        Field("per_capita_income", "money"),
        Field("yearly_income", "money"),
        Field("total_debt", "money"),
        Field("credit_score", "int"),
        Field("num_credit_cards", "int"),
    ),
    key=("client_id",),
)
MCC = RawFile("mcc_codes.json", "mcc", (Field("code", "mcc", "mcc"), Field("description", "str")), key=("mcc",))
LABELS = RawFile(
    "train_fraud_labels.json",
    "labels",
    (Field("id", "id", "transaction_id"), Field("label", "label", "is_fraud")),
    key=("transaction_id",),
)
LOANS = RawFile(
    "loans.csv",
    "loans",
    (
        Field("loan_id", "id"),
        Field("client_id", "id"),
        Field("application_date", "date"),
        Field("amount", "float"),
        Field("term_months", "int"),
        Field("purpose", "str"),
        Field("defaulted", "bool01"),
    ),
    key=("loan_id",),
    required=False,
)
PRICES = RawFile(
    "prices.csv",
    "prices",
    (
        Field("date", "date"),
        Field("ticker", "str"),
        Field("sector", "str"),
        Field("open", "float"),
        Field("high", "float"),
        Field("low", "float"),
        Field("close", "float"),
        Field("volume", "int"),
    ),
    key=("date", "ticker"),
    required=False,
)
RAW_FILES = (TRANSACTIONS, CARDS, USERS, MCC, LABELS, LOANS, PRICES)
ORACLE_DIR = "oracle"

USE_CHIP = {"Swipe Transaction": "swipe", "Chip Transaction": "chip", "Online Transaction": "online"}
CHANNELS = tuple(USE_CHIP.values())
LABEL_VALUES = {"Yes": True, "No": False}
LABELS_OUT = ("fraud", "legit", "unlabeled")
ERROR_FLAGS = {
    "Bad CVV": "err_bad_cvv",
    "Bad Card Number": "err_bad_card_number",
    "Bad Expiration": "err_bad_expiration",
    "Bad PIN": "err_bad_pin",
    "Bad Zipcode": "err_bad_zipcode",
    "Insufficient Balance": "err_insufficient_balance",
    "Technical Glitch": "err_technical_glitch",
}
# USPS codes of the 50 states, DC, the inhabited territories and the armed-forces "states".
_US_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR VI GU AS MP UM AA AE AP"
)
US_STATES = frozenset(_US_CODES.split(" "))


# ---------------------------------------------------------------------------------------------------- readers
def _snippet(data: bytes, at: int, width: int = 40) -> str:
    return repr(data[max(0, at - width) : at + width])


def check_text(path: Path) -> bytes:
    """The first bytes of `path`; IngestError when the file is empty or not UTF-8 text (binary garbage)."""
    with open(path, "rb") as fh:
        head = fh.read(_PROBE_BYTES)
    if not head.strip():
        raise IngestError(f"{path.name}: empty file")
    nul = head.find(b"\x00")
    if nul >= 0:
        raise IngestError(f"{path.name}: unreadable, binary data (NUL byte at {nul}) near {_snippet(head, nul)}")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut by the probe boundary
            raise IngestError(
                f"{path.name}: unreadable, not UTF-8 text (byte {exc.start}) near {_snippet(head, exc.start)}"
            ) from exc
    return head


def _head(path: Path) -> tuple[list[str], str]:
    """The header names of a CSV and its first line of data (or a placeholder)."""
    lines = check_text(path).decode("utf-8", "replace").lstrip("\ufeff").splitlines()
    return [c.strip().strip('"') for c in lines[0].split(",")], lines[1] if len(lines) > 1 else "<no data rows>"


def check_header(path: Path, spec: RawFile) -> None:
    """IngestError naming the missing columns and showing the header and first row."""
    header, first = _head(path)
    missing = [c for c in spec.columns if c not in header]
    if missing:
        raise IngestError(
            f"{path.name}: missing column(s) {', '.join(map(repr, missing))}; "
            f"header is {','.join(header)[:300]!r}, first row {first[:300]!r}"
        )


def empty_raw(spec: RawFile) -> pl.DataFrame:
    """A raw frame with no rows: every column a string, plus row_number."""
    return pl.DataFrame(schema={**{c: pl.String for c in spec.columns}, ROW_NUMBER: pl.Int64})


def scan_csv(path: Path, spec: RawFile) -> pl.LazyFrame:
    """A CSV's expected columns as strings (empty -> null) plus row_number, lazily; extra columns are ignored."""
    check_header(path, spec)
    return pl.scan_csv(
        path, infer_schema=False, null_values=[""], row_index_name=ROW_NUMBER, row_index_offset=1
    ).select(*spec.columns, pl.col(ROW_NUMBER).cast(pl.Int64))


def _first_bad_utf8(path: Path) -> str | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return f"invalid UTF-8 at byte {offset + exc.start} near {_snippet(chunk, exc.start)}"
            offset += len(chunk)
    return None


def _first_ragged_row(path: Path) -> str | None:
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(_head(path)[0], pyarrow.string()))
    try:
        for _ in pacsv.open_csv(path, convert_options=convert):
            pass
    except pyarrow.ArrowInvalid as exc:
        return str(exc)
    return None


def diagnose_csv(path: Path) -> str:
    """What makes a CSV unreadable: the first invalid UTF-8 bytes or the first row with a wrong field count."""
    return _first_bad_utf8(path) or _first_ragged_row(path) or "no bad bytes or ragged rows found"


def iter_batches(frame: pl.LazyFrame, path: Path, rows: int) -> Iterator[pl.DataFrame]:
    """Stream `frame` in batches of about `rows` rows; IngestError naming `path` and the culprit when the file
    cannot be parsed (invalid UTF-8, a row with too many fields)."""
    try:
        yield from frame.collect_batches(chunk_size=rows)
    except pl.exceptions.ComputeError as exc:
        raise IngestError(f"{path.name}: unreadable ({str(exc).splitlines()[0]}): {diagnose_csv(path)}") from exc


class _Pairs(list):
    """A JSON object as its (key, value) pairs, duplicates kept."""


def _load_json(path: Path) -> Any:
    """Parse a JSON file keeping duplicate keys; IngestError with the position and text of a syntax error."""
    check_text(path)
    data = path.read_bytes()
    try:
        return json.loads(data, object_pairs_hook=_Pairs)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        pos = getattr(exc, "pos", getattr(exc, "start", 0))
        raise IngestError(f"{path.name}: unreadable JSON ({exc}) near {_snippet(data, pos)}") from exc


def _scalar_text(value: Any) -> str | None:
    """A JSON value as the raw string ingest sees: strings as is, others as JSON text, null as None."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _pairs_frame(pairs: list[tuple[str, Any]], spec: RawFile) -> pl.DataFrame:
    key, value = spec.columns
    return pl.DataFrame(
        {
            key: [k for k, _ in pairs],
            value: [_scalar_text(v) for _, v in pairs],
            ROW_NUMBER: range(1, len(pairs) + 1),
        },
        schema={key: pl.String, value: pl.String, ROW_NUMBER: pl.Int64},
    )


def _expect_object(obj: Any, path: Path, what: str) -> _Pairs:
    if not isinstance(obj, _Pairs):
        raise IngestError(f"{path.name}: expected {what}, found {str(_scalar_text(obj))[:80]!r}")
    return obj


def read_mcc(path: Path) -> pl.DataFrame:
    """mcc_codes.json (`{"5812": "Eating Places", ...}`) as raw columns code, description, row_number."""
    return _pairs_frame(_expect_object(_load_json(path), path, "a JSON object code -> description"), MCC)


_LABELS_HEAD = re.compile(rb'\s*\{\s*"target"\s*:\s*\{')
_LABEL_ENTRY = r'^\s*"([^"\\]*)"\s*:\s*("[^"\\]*"|true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*$'


def _before_closing_brace(data: bytes, end: int) -> int:
    """Index of the `}` that ends `data[:end]` (trailing whitespace skipped), or -1."""
    while end and data[end - 1] in b" \t\r\n":
        end -= 1
    return end - 1 if end and data[end - 1] == ord("}") else -1


def _pieces(data: bytes, start: int, end: int) -> Iterator[str]:
    """data[start:end] decoded in pieces of about LABEL_PIECE_BYTES, cut at (and without) a comma."""
    size = LABEL_PIECE_BYTES
    while (cut := data.find(b",", start + size, end) if start + size < end else -1) >= 0:
        yield str(memoryview(data)[start:cut], "utf-8")
        start = cut + 1
    yield str(memoryview(data)[start:end], "utf-8")


def _label_entries(piece: str) -> pl.DataFrame | None:
    """The comma-separated `"key": scalar` entries of `piece` as raw strings, or None if one is anything else."""
    groups = pl.Series("entry", [piece]).str.split(",").explode().str.extract_groups(_LABEL_ENTRY)
    key, value = LABELS.columns
    frame = groups.struct.unnest().select(pl.col("1").alias(key), pl.col("2").str.strip_chars('"').alias(value))
    return None if frame[key].null_count() else frame


def _labels_fast(path: Path) -> pl.DataFrame | None:
    """The common case without a 9M-entry dict: the one-line object split on commas in polars, piece by piece.

    None when the text is anything but flat `"key": scalar` pairs (escapes, commas in strings, odd nesting,
    syntax errors); the caller then falls back to the exact JSON parser.
    """
    data = path.read_bytes()
    head = _LABELS_HEAD.match(data)
    outer = _before_closing_brace(data, len(data))
    inner = _before_closing_brace(data, outer) if outer > 0 else -1
    if head is None or inner < head.end():
        return None
    frames = []
    try:
        for piece in _pieces(data, head.end(), inner):
            frames.append(_label_entries(piece))
            if frames[-1] is None:
                return None
    except UnicodeDecodeError:
        return None
    frame = pl.concat(frames).with_row_index(ROW_NUMBER, offset=1)
    return frame.select(*LABELS.columns, pl.col(ROW_NUMBER).cast(pl.Int64))


def read_labels(path: Path) -> pl.DataFrame:
    """train_fraud_labels.json (`{"target": {"<id>": "Yes"|"No", ...}}`) as raw id, label, row_number."""
    check_text(path)
    fast = _labels_fast(path)
    if fast is not None:
        return fast
    top = _expect_object(_load_json(path), path, 'a JSON object {"target": {...}}')
    targets = [v for k, v in top if k == "target"]
    if len(targets) != 1:
        raise IngestError(f"{path.name}: expected one 'target' key, found keys {[k for k, _ in top][:5]}")
    return _pairs_frame(_expect_object(targets[0], path, "'target' to be an object id -> label"), LABELS)


def raw_source(spec: RawFile, path: Path) -> pl.LazyFrame:
    """The raw rows of one file (strings plus row_number), lazily where the format allows."""
    if spec is MCC:
        return read_mcc(path).lazy()
    if spec is LABELS:
        return read_labels(path).lazy()
    return scan_csv(path, spec)


# ---------------------------------------------------------------------------------------------------- schemas
TIME_ORDER = ["timestamp", "transaction_id"]


def in_time_order() -> pl.Expr:
    """Row-wise: (timestamp, transaction_id) is above the previous row's; true for the first row."""
    ts, tid = pl.col("timestamp"), pl.col("transaction_id")
    prev_ts, prev_id = ts.shift(1), tid.shift(1)
    return prev_ts.is_null() | (ts > prev_ts) | ((ts == prev_ts) & (tid > prev_id))


def derived_flags() -> list[pl.Expr]:
    """is_online, is_international (in person, merchant_state not a US code; null state counts as US), is_refund."""
    online = pl.col("channel") == "online"
    in_us = pl.col("merchant_state").is_in(list(US_STATES)).fill_null(True)
    return [
        online.alias("is_online"),
        (~online & ~in_us).alias("is_international"),
        (pl.col("amount") < 0).alias("is_refund"),
    ]


def _rows_in_time_order(data: Any) -> pl.LazyFrame:
    return data.lazyframe.select(in_time_order())


def _flags_agree(data: Any) -> pl.LazyFrame:
    return data.lazyframe.select(pl.all_horizontal(pl.col(e.meta.output_name()) == e for e in derived_flags()))


# n_unique needs a fraction of the memory of pandera's `unique=True` (is_duplicated) on 13M ids
_UNIQUE = pa.Check(lambda d: d.lazyframe.select(pl.col(d.key).n_unique() == pl.len()), name="unique")


def _id(unique: bool = False) -> pa.Column:
    return pa.Column(pl.Int64, [pa.Check.ge(0), *([_UNIQUE] if unique else [])])


def _col(dtype: Any, *checks: pa.Check, nullable: bool = False) -> pa.Column:
    return pa.Column(dtype, list(checks), nullable=nullable)


_FINITE = pa.Check(lambda d: d.lazyframe.select(pl.col(d.key).is_finite()), name="finite")
_MCC = pa.Column(pl.Int32, pa.Check.in_range(0, 9999))

TRANSACTIONS_SCHEMA = pa.DataFrameSchema(
    {
        "transaction_id": _id(unique=True),
        "timestamp": _col(pl.Datetime("us")),
        "client_id": _id(),
        "card_id": _id(),
        "merchant_id": _id(),
        "amount": _col(pl.Float64, _FINITE),
        "channel": _col(pl.String, pa.Check.isin(CHANNELS)),
        "merchant_city": _col(pl.String),
        "merchant_state": _col(pl.String, nullable=True),
        "zip": _col(pl.String, pa.Check.str_matches(r"^\d{5}$"), nullable=True),
        "mcc": _MCC,
        "errors": _col(pl.String, nullable=True),
        **{flag: _col(pl.Boolean) for flag in ERROR_FLAGS.values()},
        "is_online": _col(pl.Boolean),
        "is_international": _col(pl.Boolean),
        "is_refund": _col(pl.Boolean),
        "label": _col(pl.String, pa.Check.isin(LABELS_OUT)),
    },
    checks=[pa.Check(_rows_in_time_order, name="time_order"), pa.Check(_flags_agree, name="derived_flags")],
    strict=True,
    ordered=True,
    name="transactions",
)
CARDS_SCHEMA = pa.DataFrameSchema(
    {
        "card_id": _id(unique=True),
        "client_id": _id(),
        "card_brand": _col(pl.String),
        "card_type": _col(pl.String),
        "card_number": _col(pl.String, pa.Check.str_matches(r"^\d+$")),
        "expires": _col(pl.Date),
        "cvv": _col(pl.Int64),
        "has_chip": _col(pl.Boolean),
        "num_cards_issued": _col(pl.Int64),
        "credit_limit": _col(pl.Float64, _FINITE),
        "acct_open_date": _col(pl.Date),
        "year_pin_last_changed": _col(pl.Int64),
        "card_on_dark_web": _col(pl.Boolean),
    },
    strict=True,
    ordered=True,
    name="cards",
)
USERS_SCHEMA = pa.DataFrameSchema(
    {
        "client_id": _id(unique=True),
        **{c: _col(pl.Int64) for c in ("current_age", "retirement_age", "birth_year", "birth_month")},
        "gender": _col(pl.String),
        "address": _col(pl.String),
        **{
            c: _col(pl.Float64, _FINITE)
            for c in ("latitude", "longitude", "per_capita_income", "yearly_income", "total_debt")
        },
        "credit_score": _col(pl.Int64),
        "num_credit_cards": _col(pl.Int64),
    },
    strict=True,
    ordered=True,
    name="users",
)
MCC_SCHEMA = pa.DataFrameSchema(
    {"mcc": pa.Column(pl.Int32, [pa.Check.in_range(0, 9999), _UNIQUE]), "description": _col(pl.String)},
    strict=True,
    ordered=True,
    name="mcc",
)
LOANS_SCHEMA = pa.DataFrameSchema(
    {
        "loan_id": _id(unique=True),
        "client_id": _id(),
        "application_date": _col(pl.Datetime("us")),
        "amount": _col(pl.Float64, _FINITE),
        "term_months": _col(pl.Int64),
        "purpose": _col(pl.String),
        "defaulted": _col(pl.Boolean),
    },
    strict=True,
    ordered=True,
    name="loans",
)
PRICES_SCHEMA = pa.DataFrameSchema(
    {
        "date": _col(pl.Datetime("us")),
        "ticker": _col(pl.String),
        "sector": _col(pl.String),
        **{c: _col(pl.Float64, _FINITE) for c in ("open", "high", "low", "close")},
        "volume": _col(pl.Int64),
    },
    unique=["date", "ticker"],
    strict=True,
    ordered=True,
    name="prices",
)
SCHEMAS = {
    "transactions": TRANSACTIONS_SCHEMA,
    "cards": CARDS_SCHEMA,
    "users": USERS_SCHEMA,
    "mcc": MCC_SCHEMA,
    "loans": LOANS_SCHEMA,
    "prices": PRICES_SCHEMA,
}

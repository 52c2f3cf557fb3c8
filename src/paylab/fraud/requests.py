"""What the fraud service is asked and answers: one interim-format transaction per request row (docs/DATA.md,
docs/SERVING.md section 3), normalised the way ingest derives the optional columns, and the pyfunc signature.

    normalise({"transaction_id": 1, "timestamp": "2019-09-01T08:00:00", ...})   # -> the interim row (dict)
    records(frame)                    # pandas / polars frame or iterable of mappings -> list of mappings
    signature(); example_frame(txn)   # MLflow model signature and input example
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from paylab.data.kaggle import ERROR_FLAGS, US_STATES

OUTPUT_COLUMNS = ("transaction_id", "decision", "proba", "reasons", "anomaly_missing")
# interim transaction columns: (MLflow type, required in a request)
INPUT_COLUMNS: dict[str, tuple[str, bool]] = {
    "transaction_id": ("long", True),
    "timestamp": ("datetime", True),
    "client_id": ("long", True),
    "card_id": ("long", True),
    "merchant_id": ("long", True),
    "amount": ("double", True),
    "channel": ("string", True),
    "mcc": ("long", True),
    "merchant_city": ("string", False),
    "merchant_state": ("string", False),
    "zip": ("string", False),
    "errors": ("string", False),
    **{flag: ("boolean", False) for flag in ERROR_FLAGS.values()},
    "is_online": ("boolean", False),
    "is_international": ("boolean", False),
    "is_refund": ("boolean", False),
    "label": ("string", False),
}
_INTS = ("transaction_id", "client_id", "card_id", "merchant_id", "mcc")
_CHANNELS = ("swipe", "chip", "online")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def parse_timestamp(value: Any) -> datetime:
    """ISO string, datetime, pandas Timestamp or numpy datetime64 -> naive datetime (an offset is dropped: the
    data's timestamps are naive local times, so the wall-clock time is kept)."""
    if isinstance(value, str):
        ts = datetime.fromisoformat(value.strip())
    elif isinstance(value, pd.Timestamp):
        ts = value.to_pydatetime()
    elif isinstance(value, datetime):
        ts = value
    elif isinstance(value, np.datetime64):
        ts = pd.Timestamp(value).to_pydatetime()
    elif isinstance(value, date):
        ts = datetime(value.year, value.month, value.day)
    else:
        raise ValueError(f"transaction column `timestamp`: expected an ISO datetime string or a datetime, "
                         f"got {value!r}")
    return ts.replace(tzinfo=None)


def _flag(value: Any) -> bool | None:
    return None if _missing(value) else bool(value)


def normalise(txn: Mapping[str, Any]) -> dict[str, Any]:
    """One interim-format transaction from a request: types fixed (numpy/pandas scalars -> Python), the timestamp
    parsed, NaN -> None, and the optional columns filled the way ingest derives them."""
    absent = [c for c, (_, required) in INPUT_COLUMNS.items() if required and _missing(txn.get(c))]
    if absent:
        raise ValueError(f"transaction {txn.get('transaction_id')!r}: required columns {absent} missing "
                         f"(needed: {[c for c, (_, r) in INPUT_COLUMNS.items() if r]})")
    out = {c: int(txn[c]) for c in _INTS}
    out["timestamp"] = parse_timestamp(txn["timestamp"])
    out["amount"] = float(txn["amount"])
    channel = str(txn["channel"]).lower()
    if channel not in _CHANNELS:
        raise ValueError(f"transaction {out['transaction_id']}: column `channel` must be one of {_CHANNELS}, "
                         f"got {txn['channel']!r}")
    out["channel"] = channel
    for col in ("merchant_city", "merchant_state", "errors"):
        value = txn.get(col)
        out[col] = None if _missing(value) else str(value)
    zip_code = txn.get("zip")
    if _missing(zip_code):
        out["zip"] = None
    elif isinstance(zip_code, int | float | np.number):
        out["zip"] = f"{int(zip_code):05d}"
    else:
        out["zip"] = str(zip_code)
    online = _flag(txn.get("is_online"))
    out["is_online"] = channel == "online" if online is None else online
    if out["merchant_city"] is None and out["is_online"]:
        out["merchant_city"] = "ONLINE"
    errors = out["errors"] or ""
    for token, col in ERROR_FLAGS.items():
        given = _flag(txn.get(col))
        out[col] = token in errors if given is None else given
    international = _flag(txn.get("is_international"))
    state = out["merchant_state"]
    out["is_international"] = ((not out["is_online"] and state is not None and state not in US_STATES)
                               if international is None else international)
    refund = _flag(txn.get("is_refund"))
    out["is_refund"] = out["amount"] < 0 if refund is None else refund
    label = txn.get("label")
    out["label"] = None if _missing(label) else str(label)
    return out


def records(transactions: pd.DataFrame | pl.DataFrame | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows of a pandas / polars frame (or an iterable of mappings) as mappings."""
    if isinstance(transactions, pl.DataFrame):
        return list(transactions.iter_rows(named=True))
    if isinstance(transactions, pd.DataFrame):
        return transactions.to_dict("records")
    return list(transactions)


def example_frame(txn: Mapping[str, Any]) -> pd.DataFrame:
    """One transaction as a one-row input frame (label left out: a request does not know it)."""
    row = {c: txn.get(c) for c in INPUT_COLUMNS if c != "label"}
    row["timestamp"] = parse_timestamp(row["timestamp"])
    return pd.DataFrame([row])


def signature():
    """The pyfunc signature: one interim-format transaction per row (optional columns may be left out)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec(t, c, required=r) for c, (t, r) in INPUT_COLUMNS.items()])
    outputs = Schema([ColSpec("long", "transaction_id"), ColSpec("string", "decision"), ColSpec("double", "proba"),
                      ColSpec("string", "reasons"), ColSpec("boolean", "anomaly_missing")])
    params = ParamSchema([ParamSpec("update_state", "boolean", True)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


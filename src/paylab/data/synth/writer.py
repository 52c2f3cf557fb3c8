"""Write generated tables in the exact format of the Kaggle "Financial Transactions" files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from paylab.data.synth.activity import ERROR_NAMES
from paylab.data.synth.reference import MCCS

USE_CHIP = ["Swipe Transaction", "Chip Transaction", "Online Transaction"]
# every combination of errors, as the real set joins them (bit k = ERROR_NAMES[k])
ERROR_STRINGS = np.array([",".join(n for k, n in enumerate(ERROR_NAMES) if mask >> k & 1) or None
                          for mask in range(2 ** len(ERROR_NAMES))], dtype=object)


def dollars(values: pl.Expr, cents: bool) -> pl.Expr:
    """`$14.57`, `$-77.00` (cents=True) or `$24295` (cents=False)."""
    if not cents:
        return pl.format("${}", values.round(0).cast(pl.Int64))
    c = (values * 100).round(0).cast(pl.Int64)
    sign = pl.when(c < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.format("${}{}.{}", sign, c.abs() // 100, (c.abs() % 100).cast(pl.String).str.zfill(2))


def write_transactions(tx: pd.DataFrame, path: Path) -> None:
    """transactions_data.csv from a frame with the raw columns (amount float, channel code, errors bitmask)."""
    frame = pl.from_pandas(pd.DataFrame({
        "id": tx["id"].to_numpy(),
        "date": tx["date"].to_numpy().astype("datetime64[s]"),
        "client_id": tx["client_id"].to_numpy(),
        "card_id": tx["card_id"].to_numpy(),
        "amount": tx["amount"].to_numpy(),
        "use_chip": np.array(USE_CHIP)[tx["channel"].to_numpy()],
        "merchant_id": tx["merchant_id"].to_numpy(),
        "merchant_city": tx["merchant_city"].to_numpy(),
        "merchant_state": tx["merchant_state"].to_numpy(),
        "zip": tx["zip"].to_numpy(),  # NaN becomes null (empty) in from_pandas
        "mcc": tx["mcc"].to_numpy(),
        "errors": ERROR_STRINGS[tx["errors"].to_numpy()],
    })).with_columns(dollars(pl.col("amount"), cents=True).alias("amount"))
    frame.write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S")


def write_labels(ids: np.ndarray, fraud: np.ndarray, path: Path) -> None:
    """train_fraud_labels.json: one line, {"target": {"<id>": "No"|"Yes", ...}}."""
    body = pl.DataFrame({"id": ids, "y": np.where(fraud, "Yes", "No")}).select(
        pl.format('"{}": "{}"', "id", "y").str.join(", ")).item()
    path.write_text('{"target": {' + (body or "") + "}}")


def write_cards(cards: pd.DataFrame, path: Path) -> None:
    cols = ["id", "client_id", "card_brand", "card_type", "card_number", "expires", "cvv", "has_chip",
            "num_cards_issued", "credit_limit", "acct_open_date", "year_pin_last_changed", "card_on_dark_web"]
    pl.from_pandas(cards[cols]).with_columns(dollars(pl.col("credit_limit"), cents=False)).write_csv(path)


def write_users(users: pd.DataFrame, path: Path) -> None:
    cols = ["id", "current_age", "retirement_age", "birth_year", "birth_month", "gender", "address", "latitude",
            "longitude", "per_capita_income", "yearly_income", "total_debt", "credit_score", "num_credit_cards"]
    money = ["per_capita_income", "yearly_income", "total_debt"]
    pl.from_pandas(users[cols]).with_columns(
        [dollars(pl.col(c), cents=False) for c in money]).write_csv(path, float_precision=2)


def write_mcc_codes(path: Path) -> None:
    path.write_text(json.dumps({str(code): v[0] for code, v in MCCS.items()}, indent=2) + "\n")


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Deterministic parquet (same input, same bytes)."""
    pl.from_pandas(frame).write_parquet(path, compression="zstd", statistics=False)

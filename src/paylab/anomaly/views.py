"""What each detector looks at: feature views of the point-in-time feature table (one row per transaction), the
merchant's recent activity before each transaction, and card / merchant behaviour profiles.

Views hold no label-derived column (the merchant / MCC / card risk features count known frauds): the detectors are
unsupervised. A view lists spec features (`paylab.features.spec`), so the online features serve it as they are.

    VIEWS["card_burst"]                                # the card's velocity in the last hour / day
    view_columns("global", table.features)             # every non-label feature of the table
    merchant_activity(transactions_path, ids, hours=1) # the merchant's payments in the hour before each row
    profiles(frame, "card_id", train_mask)             # per card: its behaviour over the training window
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

# label-derived features (known frauds in past windows): never an input of an unsupervised detector
LABEL_DERIVED = ("merchant_risk_", "mcc_risk_", "card_risk_")
# categorical / identifier-like columns that carry no distance: left out of every view
NOT_NUMERIC = ("mcc", "card_brand", "card_type", "user_gender")

RAW = ["amount", "hour", "weekday", "is_online", "is_international", "is_refund", "has_error", "err_bad_cvv",
       "err_bad_card_number", "err_bad_expiration", "err_bad_pin", "err_bad_zipcode", "err_insufficient_balance",
       "is_chip", "is_swipe"]
CARD_HISTORY = ["card_amount_z", "card_amount_ratio", "amount_to_card_mean_30d", "client_amount_z",
                "client_amount_ratio", "card_new_merchant", "card_new_mcc", "card_merchant_share", "card_mcc_share",
                "client_new_city", "client_new_state", "client_out_of_home_state", "card_chip_mismatch",
                "card_seq_share_online", "card_seq_merchant_change_rate", "card_n_prior", "is_night"]
CARD_BURST = ["card_cnt_1h", "card_sum_1h", "card_nmerch_1h", "card_badcvv_1h", "card_cnt_24h", "card_nmerch_24h",
              "card_badcvv_24h", "card_mean_24h", "client_cnt_1h", "client_cnt_24h", "card_secs_since_prev",
              "has_error", "amount_log_abs"]
MERCHANT_SHIFT = ["merchant_cnt_1h", "merchant_cards_1h", "merchant_errors_1h", "merchant_small_1h",
                  "merchant_cnt_1h_ratio", "merchant_cards_1h_ratio"]
VIEWS = {"raw": RAW, "card_history": CARD_HISTORY, "card_burst": CARD_BURST, "merchant_shift": MERCHANT_SHIFT}
SMALL_AMOUNT = 5.0  # $: a test payment


def view_columns(view: str, available: Sequence[str]) -> list[str]:
    """The columns of a view; "global" is every numeric, non-label spec feature in `available` (not the merchant
    activity, which the online features do not serve). A named view's column missing from `available` is an error
    naming it."""
    if view == "global":
        return [c for c in available if not c.startswith(LABEL_DERIVED) and c not in NOT_NUMERIC
                and c not in MERCHANT_SHIFT]
    if view not in VIEWS:
        raise ValueError(f"anomaly view {view!r} is unknown (known: global, {', '.join(VIEWS)})")
    missing = [c for c in VIEWS[view] if c not in available]
    if missing:
        raise ValueError(f"anomaly view {view!r} needs {missing} (not in the feature table: rebuild the features "
                         f"stage with the default features params)")
    return list(VIEWS[view])


def merchant_activity(transactions: Path, transaction_ids: np.ndarray, hours: float = 1.0,
                      baseline_days: float = 30.0, since=None) -> pd.DataFrame:
    """Per transaction in `transaction_ids` (in that order): the merchant's payments in the `hours` before it
    (strictly earlier rows; count, distinct cards, with errors, under $5), and the count and the distinct cards
    relative to the merchant's mean count per such window over the `baseline_days` before (about 1 = usual). Reads six
    columns of the rows from `baseline_days` before `since` (the first of the wanted rows) on."""
    window = timedelta(hours=hours)
    lf = pl.scan_parquet(transactions)
    if since is not None:
        lf = lf.filter(pl.col("timestamp") >= since - timedelta(days=baseline_days))
    lf = (lf.select("transaction_id", "timestamp", "merchant_id", "card_id",
                  pl.col("errors").is_not_null().alias("_err"), (pl.col("amount").abs() < SMALL_AMOUNT).alias("_small"))
          .sort("merchant_id", "timestamp", "transaction_id")).collect().lazy()  # read once, rolled twice
    recent = (lf.rolling("timestamp", period=window, closed="left", group_by="merchant_id")
              .agg(pl.len().alias("merchant_cnt_1h"), pl.col("card_id").n_unique().alias("merchant_cards_1h"),
                   pl.col("_err").sum().alias("merchant_errors_1h"), pl.col("_small").sum().alias("merchant_small_1h")))
    base = (lf.rolling("timestamp", period=timedelta(days=baseline_days), closed="left", group_by="merchant_id")
            .agg(pl.len().alias("_n30")))
    per_window = baseline_days * 24 / hours
    keys = lf.select("transaction_id").collect()
    out = pl.concat([keys, recent.drop("merchant_id", "timestamp").collect(),
                     base.drop("merchant_id", "timestamp").collect()], how="horizontal")
    out = out.with_columns(
        merchant_cnt_1h_ratio=pl.col("merchant_cnt_1h") / (pl.col("_n30") / per_window + 1.0),
        merchant_cards_1h_ratio=pl.col("merchant_cards_1h") / (pl.col("_n30") / per_window + 1.0),
    ).drop("_n30")
    wanted = pl.DataFrame({"transaction_id": np.asarray(transaction_ids, dtype=np.int64)})
    frame = wanted.join(out, on="transaction_id", how="left", maintain_order="left").to_pandas()
    missing = int(frame["merchant_cnt_1h"].isna().sum())
    if missing:
        raise ValueError(f"{transactions}: {missing} transaction ids of the feature table are not in it, e.g. "
                         f"{frame.loc[frame['merchant_cnt_1h'].isna(), 'transaction_id'].iloc[0]}")
    return frame.drop(columns="transaction_id").astype("float32")


PROFILE = {"amount_log_abs": "mean", "is_online": "mean", "is_night": "mean", "has_error": "mean",
           "is_international": "mean", "card_new_merchant": "mean", "card_cnt_24h": "mean"}


def profiles(frame: pd.DataFrame, entity: str, mask: np.ndarray) -> pd.DataFrame:
    """One behaviour profile per `entity` (card_id or merchant_id) over the rows of `mask`: payments (log), mean
    log amount and its spread, shares online / at night / with errors / abroad / at a new merchant, mean daily
    velocity, distinct counterparties (log)."""
    other = "card_id" if entity != "card_id" else "merchant_id"
    part = frame.loc[mask, [entity, other, *PROFILE]]
    grouped = part.groupby(entity, sort=True)
    out = grouped.agg(PROFILE)
    out["amount_log_std"] = grouped["amount_log_abs"].std().fillna(0.0)
    out["payments_log"] = np.log1p(grouped.size())
    out[f"{other}_distinct_log"] = np.log1p(grouped[other].nunique())
    return out.astype("float32")

"""Synthetic data in the exact format of the Kaggle "Financial Transactions" dataset, plus loans, prices and the
oracle (the true latent quantities behind every label), driven by explicit latent variables.

`generate(scale, seed, out)` writes transactions_data.csv, cards_data.csv, users_data.csv, mcc_codes.json,
train_fraud_labels.json, loans.csv, prices.csv and oracle/*.parquet. Same seed and scale give identical bytes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from paylab.data.synth import writer
from paylab.data.synth.activity import LEGIT, ONLINE, ActivityGenerator
from paylab.data.synth.fraud import FraudInjector
from paylab.data.synth.loans import make_loans
from paylab.data.synth.population import make_population
from paylab.data.synth.prices import make_prices
from paylab.data.synth.scales import SCALES, Scale, get_scale

__all__ = ["generate", "SCALES", "Scale", "get_scale", "FIRST_TRANSACTION_ID", "LABELED_SHARE"]

FIRST_TRANSACTION_ID = 7_475_327  # the real set's first id
LABELED_SHARE = 0.67  # a third of the real set's transactions have no label
_STREAMS = ["population", "activity", "fraud", "labels", "loans", "prices"]


def _finalize(rng: np.random.Generator, tx: pd.DataFrame, pop, scale: Scale) -> pd.DataFrame:
    """Sort by time, assign ids, resolve card/merchant rows to their fields, draw labels."""
    order = np.lexsort((rng.random(len(tx)), tx["minute"].to_numpy()))
    tx = tx.iloc[order].reset_index(drop=True)
    tx["id"] = FIRST_TRANSACTION_ID + np.cumsum(1 + rng.poisson(0.22, len(tx))) - 1
    tx["date"] = np.datetime64(scale.start, "m") + tx["minute"].to_numpy().astype("timedelta64[m]")
    tx["card_id"] = pop.cards["id"].to_numpy()[tx["card_row"].to_numpy()]
    rows = tx["merchant_row"].to_numpy()
    for col in ("merchant_id", "merchant_city", "merchant_state", "zip", "mcc", "foreign"):
        tx[col] = pop.merchants[col].to_numpy()[rows]
    tx["is_fraud_label"] = rng.random(len(tx)) < tx["fraud_probability"].to_numpy()
    tx["labeled"] = rng.random(len(tx)) < LABELED_SHARE
    return tx


def _summary(tx: pd.DataFrame, loans: pd.DataFrame, prices: pd.DataFrame, scale: Scale, seed: int,
             reissued: int) -> dict:
    lab = tx[tx["labeled"]]
    fraud = lab["is_fraud_label"]
    intl = lab["foreign"].to_numpy()
    return {
        "scale": scale.name, "seed": seed,
        "transactions": len(tx), "users": int(tx["client_id"].nunique()), "cards": int(tx["card_id"].nunique()),
        "merchants": int(tx["merchant_id"].nunique()), "labeled_share": round(float(tx["labeled"].mean()), 4),
        "fraud_rate_labeled": round(float(fraud.mean()), 6),
        "fraud_rate_by_channel": {name: round(float(fraud[lab["channel"] == code].mean()), 6)
                                  for code, name in enumerate(["swipe", "chip", "online"])},
        "fraud_rate_international": round(float(fraud[intl].mean()), 6),
        "fraud_rate_domestic_in_person": round(float(fraud[~intl & (lab["channel"] != ONLINE)].mean()), 6),
        "fraud_rows_by_scenario": {k: int(v) for k, v in tx["scenario"].value_counts().sort_index().items()
                                   if k != LEGIT},
        "reissued_cards": reissued,
        "loans": len(loans), "loan_default_rate": round(float(loans["defaulted"].mean()), 4),
        "price_rows": len(prices),
    }


def generate(scale: str = "default", seed: int = 42, out: Path | str = "data/raw", progress: bool = True) -> dict:
    """Write the raw files of one scale into `out`; returns a summary (counts and fraud rates)."""
    sc, out = get_scale(scale), Path(out)
    (out / "oracle").mkdir(parents=True, exist_ok=True)
    rng = {name: np.random.default_rng([seed, i]) for i, name in enumerate(_STREAMS)}
    started = time.perf_counter()
    steps = tqdm(total=6, desc=f"synth {scale}", disable=not progress)

    pop = make_population(rng["population"], sc)
    legit, affinity = ActivityGenerator(rng["activity"], pop, sc).generate(progress)
    steps.update()
    n_cards = len(pop.cards)
    tx = FraudInjector(rng["fraud"], pop, sc).inject(legit)
    tx = _finalize(rng["labels"], tx, pop, sc)
    steps.update()
    loans, loan_oracle = make_loans(rng["loans"], pop, sc)
    prices, return_oracle = make_prices(rng["prices"], sc)
    steps.update()

    writer.write_transactions(tx, out / "transactions_data.csv")
    lab = tx[tx["labeled"]].sort_values("id")
    writer.write_labels(lab["id"].to_numpy(), lab["is_fraud_label"].to_numpy(), out / "train_fraud_labels.json")
    steps.update()
    writer.write_cards(pop.cards, out / "cards_data.csv")
    writer.write_users(pop.users, out / "users_data.csv")
    writer.write_mcc_codes(out / "mcc_codes.json")
    loans.to_csv(out / "loans.csv", index=False, float_format="%.2f")
    prices.to_csv(out / "prices.csv", index=False, float_format="%.2f")
    steps.update()

    o = out / "oracle"
    writer.write_parquet(pd.DataFrame({"transaction_id": tx["id"], "fraud_probability": tx["fraud_probability"],
                                       "scenario": tx["scenario"]}), o / "fraud.parquet")
    u = pop.users
    writer.write_parquet(pd.DataFrame({
        "client_id": u["id"], "segment": u["segment"], "active": u["active"], "churn_date": u["churn_date"],
        "churn_hazard": u["churn_hazard"], "financial_stress": u["financial_stress"]}), o / "users.parquet")
    writer.write_parquet(loan_oracle, o / "loans.parquet")
    affinity["merchant_id"] = pop.merchants["merchant_id"].to_numpy()[affinity.pop("merchant_row").to_numpy()]
    writer.write_parquet(affinity[["client_id", "merchant_id", "affinity"]], o / "affinity.parquet")
    writer.write_parquet(return_oracle, o / "returns.parquet")
    steps.update()
    steps.close()

    summary = _summary(tx, loans, prices, sc, seed, reissued=len(pop.cards) - n_cards)
    (out / "synth_manifest.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary

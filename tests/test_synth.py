"""The generator writes the Kaggle files in their exact format, deterministically, with the planted behaviour."""

from __future__ import annotations

import csv
import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest

from paylab.data.synth import generate

KAGGLE_CSV = ["transactions_data.csv", "cards_data.csv", "users_data.csv"]
ERROR_TOKENS = {"Bad CVV", "Bad Card Number", "Bad Expiration", "Bad PIN", "Bad Zipcode", "Insufficient Balance",
                "Technical Glitch"}
# column -> the format every value must have (checked on the shared samples too)
FORMATS = {
    "transactions_data.csv": {
        "id": r"\d+", "date": r"\d{4}-\d\d-\d\d \d\d:\d\d:00", "client_id": r"\d+", "card_id": r"\d+",
        "amount": r"\$-?\d+\.\d\d", "use_chip": r"(Swipe|Chip|Online) Transaction", "merchant_id": r"\d+",
        "zip": r"(\d+\.0)?", "mcc": r"\d+",
    },
    "cards_data.csv": {
        "card_brand": r"Visa|Mastercard|Amex|Discover", "card_type": r"Debit|Credit|Debit \(Prepaid\)",
        "card_number": r"\d{15,16}", "expires": r"\d\d/\d{4}", "cvv": r"\d{1,3}", "has_chip": r"YES|NO",
        "credit_limit": r"\$\d+", "acct_open_date": r"\d\d/\d{4}", "year_pin_last_changed": r"\d{4}",
        "card_on_dark_web": "No",
    },
    "users_data.csv": {
        "gender": "Female|Male", "latitude": r"-?\d+\.\d\d", "longitude": r"-?\d+\.\d\d",
        "per_capita_income": r"\$\d+", "yearly_income": r"\$\d+", "total_debt": r"\$\d+", "credit_score": r"\d+",
    },
}


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _header(path):
    with open(path) as fh:
        return fh.readline()


@pytest.mark.parametrize("name", KAGGLE_CSV)
def test_headers_equal_the_real_files(tiny_raw, samples, name):
    assert _header(tiny_raw / name) == _header(samples / name)


@pytest.mark.parametrize("name", KAGGLE_CSV)
def test_value_formats_match_the_real_files(tiny_raw, samples, name):
    for path in (samples / name, tiny_raw / name):
        rows = _rows(path)
        for column, pattern in FORMATS[name].items():
            bad = [r[column] for r in rows if not re.fullmatch(pattern, r[column])]
            assert not bad, f"{path.name}:{column} values not like the real set, e.g. {bad[:3]}"


def test_transactions_rows_look_like_the_real_set(tiny_raw):
    tx = pd.read_csv(tiny_raw / "transactions_data.csv", dtype=str, keep_default_na=False)
    online = tx["use_chip"] == "Online Transaction"
    assert (tx.loc[online, "merchant_city"] == "ONLINE").all()
    assert (tx.loc[online, ["merchant_state", "zip"]] == "").all().all()
    assert tx["amount"].str.startswith("$-").mean() == pytest.approx(0.05, abs=0.02)  # refunds
    states = tx.loc[~online, "merchant_state"]
    assert (states.str.len() > 2).any(), "some merchants are abroad (country names)"
    errors = tx.loc[tx["errors"] != "", "errors"]
    assert set(",".join(errors).split(",")) <= ERROR_TOKENS
    assert errors.str.contains(",").any(), "combined errors appear, comma-joined"
    assert len(errors) / len(tx) == pytest.approx(0.016, abs=0.006)
    raw = (tiny_raw / "transactions_data.csv").read_text()
    assert re.search(r',"[A-Za-z ]+,[A-Za-z ,]+"\n', raw), "combined errors are quoted"
    assert pd.to_datetime(tx["date"]).is_monotonic_increasing
    assert pd.to_numeric(tx["id"]).is_monotonic_increasing


def test_labels_file_is_one_line_and_a_third_unlabeled(tiny_raw, samples):
    text = (tiny_raw / "train_fraud_labels.json").read_text()
    sample = (samples / "train_fraud_labels.json").read_text()
    assert "\n" not in text.strip() and text.startswith(sample[:12])
    labels = json.loads(text)["target"]
    assert set(labels.values()) == {"Yes", "No"}
    tx_ids = pd.read_csv(tiny_raw / "transactions_data.csv", usecols=["id"])["id"].astype(str)
    assert set(labels) <= set(tx_ids)
    assert 1 - len(labels) / len(tx_ids) == pytest.approx(1 / 3, abs=0.02)


def test_mcc_codes_json(tiny_raw, samples):
    text = (tiny_raw / "mcc_codes.json").read_text()
    codes = json.loads(text)
    assert text.startswith("{\n  \"") and len(codes) == 109
    sample = json.loads((samples / "mcc_codes.json").read_text())
    assert {k: codes[k] for k in sample} == sample


def test_same_seed_same_bytes(tiny_raw, tiny_seed, tmp_path):
    again = tmp_path / "raw"
    generate(scale="tiny", seed=tiny_seed, out=again, progress=False)
    files = sorted(p.relative_to(tiny_raw) for p in tiny_raw.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        assert hashlib.sha256((tiny_raw / f).read_bytes()).digest() == hashlib.sha256(
            (again / f).read_bytes()).digest(), f"{f} differs between two runs"


def test_another_seed_other_data(tiny_raw, tmp_path):
    generate(scale="tiny", seed=12345, out=tmp_path, progress=False)
    assert (tmp_path / "transactions_data.csv").read_bytes() != (tiny_raw / "transactions_data.csv").read_bytes()


@pytest.fixture(scope="module")
def tiny_tx(tiny_raw):
    tx = pd.read_csv(tiny_raw / "transactions_data.csv", keep_default_na=False)
    labels = json.loads((tiny_raw / "train_fraud_labels.json").read_text())["target"]
    tx["label"] = tx["id"].astype(str).map(labels)
    oracle = pd.read_parquet(tiny_raw / "oracle" / "fraud.parquet")
    return tx.merge(oracle, left_on="id", right_on="transaction_id", how="left", validate="1:1")


def test_fraud_scenarios_follow_the_real_patterns(tiny_tx):
    tx = tiny_tx
    assert tx["fraud_probability"].notna().all()
    lab = tx[tx["label"].notna()]
    fraud = lab["label"] == "Yes"
    online = lab["use_chip"] == "Online Transaction"
    assert 0.002 < fraud.mean() < 0.02  # tiny boosts fraud 4x
    assert fraud[online].mean() > 4 * fraud[~online].mean()
    amount = lab["amount"].str.replace("$", "").astype(float)
    assert amount[fraud].median() > 1.5 * amount[~fraud].median()
    cvv = lab["errors"].str.contains("Bad CVV")
    assert fraud[cvv].mean() > 5 * fraud.mean()
    assert set(tx["scenario"]) >= {"none", "card_not_present", "cloned_abroad"}
    # unlabeled rows are not legitimate: they carry fraud at the same rate as labeled ones
    unlabeled = tx[tx["label"].isna()]
    assert (unlabeled["scenario"] != "none").mean() == pytest.approx((tx["scenario"] != "none").mean(), rel=0.5)


def test_oracle_ranks_fraud_far_better_than_chance(tiny_tx):
    from sklearn.metrics import roc_auc_score

    lab = tiny_tx[tiny_tx["label"].notna()]
    assert roc_auc_score(lab["label"] == "Yes", lab["fraud_probability"]) > 0.9


def test_churners_stop_and_affinity_is_a_distribution(tiny_raw, tiny_tx):
    users = pd.read_parquet(tiny_raw / "oracle" / "users.parquet")
    last = pd.to_datetime(tiny_tx.groupby("client_id")["date"].max())
    churned = users.dropna(subset=["churn_date"]).set_index("client_id")["churn_date"]
    both = last.index.intersection(churned.index)
    assert len(both) > 0
    legit_last = pd.to_datetime(tiny_tx[tiny_tx["scenario"] == "none"].groupby("client_id")["date"].max())
    assert (legit_last.loc[both] < churned.loc[both] + pd.Timedelta(days=1)).all()
    assert not users.loc[~users["active"], "client_id"].isin(tiny_tx["client_id"]).any()
    aff = pd.read_parquet(tiny_raw / "oracle" / "affinity.parquet")
    per_user = aff.groupby("client_id")["affinity"].sum()
    assert ((per_user > 0.5) & (per_user <= 1 + 1e-9)).all()
    # users really buy where the oracle says they like to
    top = aff.sort_values("affinity", ascending=False).groupby("client_id").head(10)
    hits = tiny_tx.merge(top, on=["client_id", "merchant_id"])
    assert len(hits) / len(tiny_tx) > 0.3


def test_loans_and_prices_carry_their_planted_signal(tiny_raw):
    from sklearn.metrics import roc_auc_score

    loans = pd.read_csv(tiny_raw / "loans.csv")
    assert list(loans.columns) == ["loan_id", "client_id", "application_date", "amount", "term_months", "purpose",
                                   "defaulted"]
    assert 0.05 < loans["defaulted"].mean() < 0.3
    oracle = pd.read_parquet(tiny_raw / "oracle" / "loans.parquet")
    assert roc_auc_score(loans["defaulted"], oracle["default_probability"]) > 0.7

    prices = pd.read_csv(tiny_raw / "prices.csv")
    assert list(prices.columns) == ["date", "ticker", "sector", "open", "high", "low", "close", "volume"]
    assert (prices["high"] >= prices[["open", "close"]].max(axis=1)).all()
    assert (prices["low"] <= prices[["open", "close"]].min(axis=1)).all()
    wide = prices.pivot(index="date", columns="ticker", values="close")
    nxt = wide.pct_change().shift(-1).stack().rename("next_return").reset_index()
    exp = pd.read_parquet(tiny_raw / "oracle" / "returns.parquet")
    exp["date"] = exp["date"].dt.strftime("%Y-%m-%d")
    both = exp.merge(nxt, on=["date", "ticker"]).dropna()
    ic = [d["expected_return"].corr(d["next_return"], method="spearman") for _, d in both.groupby("date")]
    assert np.nanmean(ic) > 0.01


def test_every_generated_row_passes_ingest(tiny_raw, tiny_interim):
    report = json.loads((tiny_raw.parent / "ingest.json").read_text())
    for name, counts in report["files"].items():
        if counts.get("present", True):
            assert counts["quarantined"] == 0, f"{name}: {counts}"
            assert counts["read"] == counts["accepted"] > 0, name
    tx = pd.read_parquet(tiny_interim / "transactions.parquet")
    assert set(tx["label"]) == {"fraud", "legit", "unlabeled"}
    assert len(tx) == len(pd.read_csv(tiny_raw / "transactions_data.csv", usecols=["id"]))

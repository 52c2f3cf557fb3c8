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
from paylab.data.synth.reference import SCENARIO_MIX

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
    assert set(tx["scenario"]) == {"legit", *SCENARIO_MIX}
    # unlabeled rows are not legitimate: they carry fraud at the same rate as labeled ones
    unlabeled = tx[tx["label"].isna()]
    assert (unlabeled["scenario"] != "legit").mean() == pytest.approx((tx["scenario"] != "legit").mean(), rel=0.5)


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
    legit_last = pd.to_datetime(tiny_tx[tiny_tx["scenario"] == "legit"].groupby("client_id")["date"].max())
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


# --- behaviours of the generator (issue: realistic habits and fraud scenarios) -------------------------------------
@pytest.fixture(scope="module")
def timed(tiny_tx):
    """tiny_tx with timestamps, amounts as floats, sorted by time, and the gap to the card's previous payment."""
    tx = tiny_tx.assign(ts=pd.to_datetime(tiny_tx["date"]),
                        amt=tiny_tx["amount"].str.replace("$", "").astype(float)).sort_values(["ts", "id"])
    tx["gap_min"] = tx.groupby("card_id")["ts"].diff().dt.total_seconds() / 60
    return tx


def test_legitimate_payments_come_in_shopping_sessions(timed):
    legit = timed[timed["scenario"] == "legit"]
    within_hour = (legit["gap_min"] <= 60).mean()
    assert within_hour > 0.2, "several payments within an hour are common for legitimate customers"
    fraud = timed[timed["scenario"].isin(["card_not_present", "account_takeover"])]
    assert (fraud["gap_min"] <= 60).mean() < 2.5 * within_hour, "bursts are not a fraud-only artefact"


def test_recurring_payments_repeat_monthly_with_a_near_fixed_amount(timed):
    legit = timed[(timed["scenario"] == "legit") & (timed["use_chip"] == "Online Transaction") & (timed["amt"] > 0)]
    pairs = legit.groupby(["card_id", "merchant_id"]).agg(
        n=("amt", "size"), spread=("amt", lambda a: a.max() / a.min()),
        months=("ts", lambda t: t.dt.to_period("M").nunique()), dom=("ts", lambda t: t.dt.day.max() - t.dt.day.min()))
    monthly = pairs[(pairs["n"] >= 6) & (pairs["months"] >= pairs["n"] - 1) & (pairs["spread"] < 1.5)
                    & (pairs["dom"] <= 3)]
    assert len(monthly) >= 10, "subscriptions and bills: same card and merchant, each month, same day and amount"
    users = timed.loc[timed["card_id"].isin(monthly.index.get_level_values(0)), "client_id"].nunique()
    assert users >= 0.1 * timed["client_id"].nunique()


def test_a_confirmed_fraud_gets_the_card_blocked_and_reissued(tiny_raw, timed):
    cards = pd.read_csv(tiny_raw / "cards_data.csv")
    key = ["client_id", "card_brand", "card_type", "acct_open_date"]
    pairs = cards.merge(cards, on=key, suffixes=("_old", "_new"))
    pairs = pairs[pairs["num_cards_issued_new"] == pairs["num_cards_issued_old"] + 1]
    span = timed.groupby("card_id")["ts"].agg(["min", "max"])
    fraud_cards = set(timed.loc[~timed["scenario"].isin(["legit", "first_party"]), "card_id"])
    reissued = pairs[pairs["id_old"].isin(fraud_cards) & pairs["id_new"].isin(span.index)]
    assert len(reissued) >= 5
    old, new = span.loc[reissued["id_old"]], span.loc[reissued["id_new"]]
    assert (old["max"].to_numpy() < new["min"].to_numpy()).all(), "the old card is not used once the new one is"
    assert (reissued["card_number_old"] != reissued["card_number_new"]).all()


def test_episodes_running_past_the_end_are_cut_not_clamped(timed):
    end = timed["ts"].max()
    assert end <= pd.Timestamp("2019-10-31 23:59")
    fraud = timed[timed["scenario"] != "legit"]
    per_day = fraud.groupby(fraud["ts"].dt.floor("D")).size()
    assert per_day.iloc[-1] <= max(3 * per_day.iloc[-30:].mean(), 5), "no pile of fraud on the last day"
    assert (fraud["ts"] >= end - pd.Timedelta(minutes=1)).sum() <= 2


def test_coordinated_testing_bursts_many_cards_at_one_merchant(timed):
    burst = timed[timed["scenario"] == "coordinated_testing"]
    assert len(burst)
    window = burst.assign(slot=burst["ts"].dt.floor("h"))
    cards = window.groupby(["merchant_id", "slot"])["card_id"].nunique()
    assert cards.max() >= 8, "many cards within the hour at one merchant"
    assert burst["amt"].median() < 5
    spans = burst.groupby("merchant_id")["ts"].agg(lambda t: (t.max() - t.min()).total_seconds() / 60)
    assert (spans.median()) <= 60


def test_counterfeit_cards_fall_back_to_swipe_while_the_genuine_card_is_used(tiny_raw, timed):
    from paylab.data.synth.fraud import FALLBACK, FraudInjector
    from paylab.data.synth.population import make_population
    from paylab.data.synth.scales import get_scale

    cards = pd.read_csv(tiny_raw / "cards_data.csv").set_index("id")
    chip_card = timed["card_id"].map(cards["has_chip"]) == "YES"
    in_person = timed["use_chip"] != "Online Transaction"
    swipe = timed["use_chip"] == "Swipe Transaction"
    legit, fake = timed["scenario"] == "legit", timed["scenario"] == "counterfeit"
    legit_swipe = swipe[legit & chip_card & in_person].mean()
    # a clone of a chip card in the chip era swipes (magnetic-stripe fallback) FALLBACK of the time: on many episodes
    scale = get_scale("tiny")
    pop = make_population(np.random.default_rng(0), scale)
    injector = FraudInjector(np.random.default_rng(1), pop, scale)
    card = int(np.flatnonzero(pop.cards["has_chip"].to_numpy() == "YES")[0])
    client = int(pop.cards.loc[card, "client_id"])
    channel = np.concatenate([injector.clone(card, client, 100 * 1440, -1, 1.0)["channel"] for _ in range(500)])
    fallback = (channel == 0).mean()
    assert fallback == pytest.approx(FALLBACK, abs=0.03)
    assert 1.5 * legit_swipe < fallback < 0.5, "a clue (legit chip cards swipe ~8%), not a rule"
    clone_cards = timed.loc[fake, "card_id"].unique()
    genuine = timed[legit & timed["card_id"].isin(clone_cards)]
    first_fake = timed[fake].groupby("card_id")["ts"].min()
    assert (genuine["ts"].to_numpy() > genuine["card_id"].map(first_fake).to_numpy()).any()
    abroad = timed.loc[fake, "merchant_state"].str.len() > 2
    assert 0.2 < abroad.mean() < 0.95, "in the victim's region as well as abroad"


def test_skimmed_cards_share_an_earlier_merchant(timed):
    skimmed = timed[timed["scenario"] == "compromised_terminal"]
    first = skimmed.groupby("card_id")["ts"].min()
    before = timed[timed["card_id"].isin(first.index) & (timed["ts"] < timed["card_id"].map(first))]
    shared = before.groupby("merchant_id")["card_id"].nunique().max()
    random_cards = timed[~timed["card_id"].isin(first.index)]["card_id"].drop_duplicates().sample(
        len(first), random_state=0)
    other = timed[timed["card_id"].isin(random_cards)].groupby("merchant_id")["card_id"].nunique().max()
    assert len(first) >= 3 and shared >= 3 and shared > other, "a common point of purchase"


def test_merchants_open_and_close_and_repertoires_drift():
    from paylab.data.synth.activity import ActivityGenerator
    from paylab.data.synth.population import make_population
    from paylab.data.synth.scales import get_scale

    scale = get_scale("default")
    pop = make_population(np.random.default_rng(0), scale)
    gen = ActivityGenerator(np.random.default_rng(1), pop, scale)
    users = np.flatnonzero(pop.users["active"].to_numpy())[:40]
    cols = [gen.user_transactions(int(u))[0] for u in users]
    merchant = np.concatenate([c["merchant_row"] for c in cols])
    day = np.concatenate([c["minute"] for c in cols]) // 1440
    m = pop.merchants
    assert ((m["open_day"].to_numpy()[merchant] <= day) & (day < m["close_day"].to_numpy()[merchant])).all()
    assert (m["open_day"] > 0).mean() > 0.05 and (m["close_day"] < len(scale.days)).mean() > 0.05
    # habitual merchants change: each user's top merchants of the first year differ from those of the last year
    changed = []
    for c in cols:
        d = pd.DataFrame({"m": c["merchant_row"], "y": c["minute"] // (1440 * 365)})
        if d["y"].nunique() < 3:
            continue
        top = [set(d[d["y"] == y]["m"].value_counts().index[:10]) for y in (0, 2)]
        changed.append(len(top[0] - top[1]) / 10)
    assert np.mean(changed) > 0.15


def test_the_scenario_mix_shifts_over_the_years():
    from paylab.data.synth.fraud import scenario_mix

    early, late = scenario_mix(2010), scenario_mix(2019)
    assert sum(early.values()) == pytest.approx(1) and sum(late.values()) == pytest.approx(1)
    assert max(abs(early[k] - late[k]) for k in early) > 0.05

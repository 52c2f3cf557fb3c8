"""paylab.eda on small hand-built frames with known answers, plus the 01_eda notebook end to end."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from paylab import eda
from paylab.eda import plots
from paylab.eda.segments import to_five_levels

T0 = datetime(2020, 1, 6)  # a Monday
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_eda.ipynb"


def make_tx(rows: list[dict]) -> pd.DataFrame:
    """Transactions with the DATA.md interim columns; each row dict overrides the defaults."""
    defaults = {
        "client_id": 1,
        "card_id": 10,
        "merchant_id": 100,
        "amount": 10.0,
        "channel": "chip",
        "merchant_city": "Beulah",
        "merchant_state": "ND",
        "zip": "58523",
        "mcc": 5411,
        "errors": None,
        "label": "legit",
        "is_international": False,
        "hours": 0.0,
    }
    recs = [{**defaults, **r} for r in rows]
    df = pd.DataFrame(recs)
    df["timestamp"] = (pd.Timestamp(T0) + pd.to_timedelta(df.pop("hours"), unit="h")).astype("datetime64[us]")
    df["transaction_id"] = np.arange(len(df), dtype="int64")
    df["mcc"] = df["mcc"].astype("int32")
    df["is_online"] = df["channel"] == "online"
    df.loc[df["is_online"], ["merchant_city", "merchant_state", "zip"]] = ["ONLINE", None, None]
    df["is_refund"] = df["amount"] < 0
    for col in ("client_id", "card_id", "merchant_id"):
        df[col] = df[col].astype("int64")
    return df


def synthetic_interim(n: int = 600, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A tiny random interim layer (transactions, cards, users, mcc) following DATA.md."""
    rng = np.random.default_rng(seed)
    mccs = np.array([5411, 5812, 5541, 5311, 4784, 5999], dtype="int32")
    merchant_mcc = rng.choice(mccs, 30)
    merchant = rng.integers(0, 30, n)
    client = rng.integers(0, 25, n)
    channel = rng.choice(["swipe", "chip", "online"], n, p=[0.5, 0.35, 0.15])
    state = rng.choice(["CA", "NY", "TX", "Italy"], n, p=[0.4, 0.3, 0.25, 0.05])
    online = channel == "online"
    label = rng.choice(["legit", "fraud", "unlabeled"], n, p=[0.62, 0.08, 0.30])
    amount = np.round(rng.lognormal(3.5, 1.0, n), 2) * np.where(rng.random(n) < 0.05, -1, 1)
    ts = pd.Timestamp("2019-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 90 * 24 * 60, n)), unit="min")
    tx = pd.DataFrame(
        {
            "transaction_id": np.arange(1_000, 1_000 + n, dtype="int64"),
            "timestamp": ts.astype("datetime64[us]"),
            "client_id": client.astype("int64"),
            "card_id": (client * 2 + rng.integers(0, 2, n)).astype("int64"),
            "merchant_id": (50_000 + merchant).astype("int64"),
            "amount": amount,
            "channel": channel,
            "merchant_city": np.where(online, "ONLINE", rng.choice(["Austin", "Rome", "Queens"], n)),
            "merchant_state": pd.Series(state, dtype=object).where(~online, None),
            "zip": pd.Series(["73301"] * n, dtype=object).where(~online, None),
            "mcc": merchant_mcc[merchant],
            "errors": pd.Series([None] * n, dtype=object),
            "is_online": online,
            "is_international": ~online & (state == "Italy"),
            "is_refund": amount < 0,
            "label": label,
        }
    )
    for err in ("bad_cvv", "bad_card_number", "bad_expiration", "bad_pin", "bad_zipcode"):
        tx[f"err_{err}"] = False
    cards = pd.DataFrame({"card_id": np.arange(50, dtype="int64"), "client_id": np.arange(50) // 2})
    cards["card_brand"] = "Visa"
    cards["has_chip"] = True
    users = pd.DataFrame({"client_id": np.arange(25, dtype="int64"), "current_age": rng.integers(20, 80, 25)})
    users["yearly_income"] = rng.normal(50_000, 10_000, 25)
    mcc = pd.DataFrame(
        {
            "mcc": mccs,
            "description": ["Grocery", "Restaurants", "Service Stations", "Department", "Tolls", "Misc"],
        }
    )
    return {"transactions": tx, "cards": cards, "users": users, "mcc": mcc}


# --- fraud rates -------------------------------------------------------------------------------


def test_wilson_interval_known_values():
    low, high = eda.wilson_interval(5, 10)
    assert low == pytest.approx(0.236593, abs=1e-6)
    assert high == pytest.approx(0.763407, abs=1e-6)
    low, high = eda.wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.277533, abs=1e-6)
    lows, highs = eda.wilson_interval(np.array([1, 0, 3]), np.array([20, 0, 3]))
    assert np.isnan(lows[1]) and np.isnan(highs[1])
    assert highs[2] == pytest.approx(1.0) and lows[2] < 1.0
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(1, 20), (7, 1000), (40, 50)]:
        for conf in (0.9, 0.95, 0.99):
            ref = proportion_confint(k, n, alpha=1 - conf, method="wilson")
            assert eda.wilson_interval(k, n, conf) == pytest.approx(ref, abs=1e-9)


def _labeled_frame() -> pd.DataFrame:
    rows = (
        [{"channel": "online", "label": "fraud"}, {"channel": "online", "label": "legit"}]
        + [{"channel": "online", "label": "unlabeled"}] * 8
        + [{"channel": "chip", "label": "legit"}] * 4
        + [{"channel": "chip", "label": "unlabeled"}] * 5
        + [{"channel": "swipe", "label": "unlabeled"}] * 3
    )
    return make_tx(rows)


def test_fraud_rate_excludes_unlabeled():
    tx = _labeled_frame()
    overall = eda.overall_fraud_rate(tx)
    assert overall["n_rows"] == 22 and overall["n_labeled"] == 6 and overall["n_fraud"] == 1
    assert overall["fraud_rate"] == pytest.approx(1 / 6)  # not 1/22: unlabeled is not legit
    assert overall["labeled_share"] == pytest.approx(6 / 22)
    by = eda.fraud_by_channel(tx).set_index("channel")
    assert by.loc["online", "n_rows"] == 10 and by.loc["online", "n_labeled"] == 2
    assert by.loc["online", "fraud_rate"] == pytest.approx(0.5)
    assert by.loc["online", "lift"] == pytest.approx(3.0)
    assert by.loc["chip", "fraud_rate"] == 0.0 and by.loc["chip", "lift"] == 0.0
    assert np.isnan(by.loc["swipe", "fraud_rate"]) and np.isnan(by.loc["swipe", "ci_low"])
    low, high = eda.wilson_interval(1, 2)
    assert (by.loc["online", "ci_low"], by.loc["online", "ci_high"]) == pytest.approx((low, high))
    assert eda.rate_of(by.reset_index(), "channel", "online") == pytest.approx(0.5)
    assert math.isnan(eda.rate_of(by.reset_index(), "channel", "contactless"))
    assert len(eda.fraud_rate_by(tx, "channel", min_labeled=3)) == 1


def test_pandas_and_polars_inputs_agree():
    tx = _labeled_frame()
    a = eda.fraud_rate_by(tx, "channel")
    b = eda.fraud_rate_by(pl.from_pandas(tx).with_columns(pl.col("channel").cast(pl.Categorical)), "channel")
    pd.testing.assert_frame_equal(a.drop(columns="channel"), b.drop(columns="channel"))
    assert list(a["channel"]) == list(b["channel"].astype(str))


def test_geo_amount_band_and_hour_dimensions():
    tx = make_tx(
        [
            {"channel": "online", "label": "fraud", "amount": -5.0},
            {"channel": "chip", "is_international": True, "label": "fraud", "amount": 0.0, "hours": 3},
            {"channel": "swipe", "is_international": True, "label": "legit", "amount": 9.99, "hours": 3.5},
            {"channel": "swipe", "label": "legit", "amount": 10.0, "hours": 27},
            {"channel": "chip", "label": "unlabeled", "amount": 1000.0, "hours": 27},
        ]
    )
    geo = eda.fraud_by_geo(tx).set_index("geo")
    assert geo["n_rows"].to_dict() == {"domestic": 2, "international": 2, "online": 1}
    assert geo.loc["international", "fraud_rate"] == 0.5 and geo.loc["domestic", "fraud_rate"] == 0.0
    bands = eda.fraud_by_amount_band(tx)
    assert list(bands["amount_band"]) == ["refund", "0-10", "10-50", "1k+"]  # band order, empty bands absent
    assert bands["n_rows"].tolist() == [1, 2, 1, 1]
    hours = eda.fraud_by_hour(tx).set_index("hour")
    assert hours["n_rows"].to_dict() == {0: 1, 3: 4}  # 27h after Monday 00:00 is Tuesday 03:00
    assert hours.loc[3, "n_labeled"] == 3 and hours.loc[3, "fraud_rate"] == pytest.approx(1 / 3)


def test_fraud_by_mcc_has_descriptions_and_min_labeled():
    tx = make_tx(
        [{"mcc": 5411, "label": "fraud"}]
        + [{"mcc": 5411, "label": "legit"}] * 3
        + [{"mcc": 9999, "label": "fraud"}]
    )
    mcc = pd.DataFrame({"mcc": np.array([5411], dtype="int32"), "description": ["Grocery Stores"]})
    out = eda.fraud_by_mcc(tx, mcc, min_labeled=1)
    assert list(out["mcc"]) == [9999, 5411]  # highest rate first
    assert list(out["description"]) == ["unknown", "Grocery Stores"]
    assert list(eda.fraud_by_mcc(tx, mcc, min_labeled=2)["mcc"]) == [5411]


# --- merchants ---------------------------------------------------------------------------------


def _merchant_frame() -> pd.DataFrame:
    return make_tx(
        [
            {"merchant_id": 1, "client_id": 1, "amount": 10.0, "mcc": 5411},
            {"merchant_id": 1, "client_id": 1, "amount": 30.0, "mcc": 5411, "hours": 25},
            {"merchant_id": 1, "client_id": 2, "amount": 20.0, "mcc": 5411, "hours": 26},
            {"merchant_id": 2, "client_id": 1, "amount": 100.0, "mcc": 5812, "channel": "online"},
            {
                "merchant_id": 2,
                "client_id": 1,
                "amount": -100.0,
                "mcc": 5812,
                "channel": "online",
                "hours": 1,
            },
        ]
    )


def test_repeat_customer_share():
    tx = _merchant_frame()
    rep = eda.repeat_customers(tx).set_index("merchant_id")
    assert rep.loc[1, ["n_customers", "n_repeat_customers"]].tolist() == [2, 1]
    assert rep.loc[1, "repeat_share"] == 0.5
    assert rep.loc[2, "repeat_share"] == 0.0  # a purchase and its refund are not a repeat visit
    assert eda.repeat_customer_share(tx) == pytest.approx(1 / 3)  # pairs (1,1) yes, (1,2) no, (2,1) no
    assert (
        eda.repeat_customers(tx, purchases_only=False).set_index("merchant_id").loc[2, "repeat_share"] == 1.0
    )
    assert eda.repeat_customer_share(tx, purchases_only=False) == pytest.approx(2 / 3)


def test_volume_tables():
    tx = _merchant_frame()
    m = eda.by_merchant(tx).set_index("merchant_id")
    assert (
        m.loc[2, "sales_volume"] == 100.0
        and m.loc[2, "refund_volume"] == 100.0
        and m.loc[2, "net_volume"] == 0
    )
    assert m.loc[1, "n_transactions"] == 3 and m.loc[1, "n_clients"] == 2
    assert m.loc[1, "avg_ticket"] == pytest.approx(20.0)
    assert m["volume_share"].sum() == pytest.approx(1.0)
    assert m.loc[2, "volume_share"] == pytest.approx(100 / 160)
    conc = eda.volume_concentration(m.reset_index(), n=1)
    assert conc["top_merchant_share"] == pytest.approx(100 / 160) == conc["top_1_share"]
    assert conc["hhi"] == pytest.approx((100 / 160) ** 2 + (60 / 160) ** 2)

    mcc = pd.DataFrame(
        {"mcc": np.array([5411, 5812], dtype="int32"), "description": ["Grocery", "Restaurants"]}
    )
    by_mcc = eda.by_mcc(tx, mcc)
    assert by_mcc["description"].tolist() == ["Restaurants", "Grocery"]
    assert by_mcc["n_merchants"].tolist() == [1, 1]
    top = eda.top_merchants(tx, n=1, mcc=mcc)
    assert top[["rank", "merchant_id", "mcc", "description", "merchant_city"]].iloc[0].tolist() == [
        1, 2, 5812, "Restaurants", "ONLINE",
    ]  # fmt: skip
    assert len(eda.top_merchants(tx, n=5)) == 2

    wd = eda.by_weekday(tx)
    assert wd["weekday_name"].tolist() == ["Mon", "Tue"] and wd["n_transactions"].tolist() == [3, 2]
    assert eda.by_hour(tx)["hour"].tolist() == [0, 1, 2]
    matrix = eda.hour_weekday_matrix(tx)
    assert matrix.shape == (7, 24) and matrix.to_numpy().sum() == 5 and matrix.loc["Tue", 2] == 1
    ch = eda.by_channel(tx).set_index("channel")
    assert ch.loc["online", "count_share"] == pytest.approx(0.4)
    states = eda.by_location(tx, "state")
    assert states["merchant_state"].isna().sum() == 1  # online rows have no state: kept as its own group
    assert len(eda.by_location(tx, "city")) == 2


# --- RFM ---------------------------------------------------------------------------------------


def test_quantile_scores():
    s = pd.Series([50, 10, 30, 20, 40])
    assert eda.quantile_scores(s, 5).tolist() == [5, 1, 3, 2, 4]
    assert eda.quantile_scores(s, 5, higher_is_better=False).tolist() == [1, 5, 3, 4, 2]
    assert eda.quantile_scores(pd.Series([1, 2, 3, 4]), 2).tolist() == [1, 1, 2, 2]
    assert eda.quantile_scores(pd.Series([1, 1, 1, 1, 2]), 5).tolist() == [
        3,
        3,
        3,
        3,
        5,
    ]  # ties share a score
    assert to_five_levels(pd.Series([1, 2, 3, 4, 5]), 5).tolist() == [1, 2, 3, 4, 5]
    assert to_five_levels(pd.Series([1, 2, 3]), 3).tolist() == [1, 3, 5]


def test_segment_map_covers_every_rf_cell():
    assert len(eda.SEGMENT_GRID) == 25
    assert eda.SEGMENT_GRID["55"] == "Champions" and eda.SEGMENT_GRID["11"] == "Hibernating"
    assert eda.SEGMENT_GRID["51"] == "New" and eda.SEGMENT_GRID["24"] == "At risk"
    assert eda.SEGMENT_GRID["44"] == "Loyal"


def test_rfm_scoring():
    tx = make_tx(
        [{"client_id": 1, "amount": 10.0, "hours": 24 * 9}] * 3
        + [{"client_id": 2, "amount": 100.0, "hours": 24 * 5}]
        + [{"client_id": 3, "amount": 1.0, "hours": 24}] * 2
        + [{"client_id": 3, "amount": -50.0, "hours": 24 * 9.5}]  # a refund is not a purchase
    )
    rfm = eda.rfm_table(tx)  # as_of = last transaction + 1 day = day 10.5
    r = rfm.set_index("client_id")
    assert r["recency_days"].tolist() == pytest.approx([1.5, 5.5, 9.5])
    assert r["frequency"].tolist() == [3, 1, 2]
    assert r["monetary"].tolist() == pytest.approx([30.0, 100.0, 2.0])
    scored = eda.rfm_scores(rfm, k=3).set_index("client_id")
    assert scored["rfm_score"].tolist() == ["332", "213", "121"]
    assert scored["rfm_sum"].tolist() == [8, 6, 4]
    assert scored["segment"].astype(str).tolist() == ["Champions", "About to sleep", "At risk"]
    fixed = eda.rfm_table(tx, as_of=T0 + timedelta(days=20)).set_index("client_id")
    assert fixed.loc[1, "recency_days"] == pytest.approx(11.0)

    summary = eda.segment_summary(eda.rfm_scores(rfm, k=3))
    assert len(summary) == 10 and summary["n_clients"].sum() == 3
    assert summary["client_share"].sum() == pytest.approx(1.0)
    assert summary.set_index("segment").loc["Champions", "monetary_share"] == pytest.approx(30 / 132)


# --- real vs generated marginals -----------------------------------------------------------------


def _marginal_frame() -> pd.DataFrame:
    """24 rows with known marginals (see test_marginals_on_a_hand_made_frame)."""
    cvv = {"err_bad_cvv": True, "errors": "Bad CVV"}
    italy = {"channel": "swipe", "merchant_state": "Italy", "is_international": True}
    rows = (
        [{"channel": "online", "label": "fraud", "amount": 100.0}]
        + [{"channel": "online", "label": "legit"}] * 3
        + [{"channel": "online", "label": "unlabeled"}] * 2
        + [{"channel": "chip", "label": "fraud", "amount": 50.0, **cvv}]
        + [{"channel": "chip", "label": "legit", **cvv}]
        + [{"channel": "chip", "label": "legit", "amount": -5.0, "errors": "Insufficient Balance"}]
        + [{"channel": "chip", "label": "legit", "errors": ""}]  # an empty errors string is no error
        + [{"channel": "chip", "label": "legit"}] * 6
        + [{"channel": "chip", "label": "unlabeled", **cvv}]
        + [{"channel": "swipe", "label": "legit"}] * 5
        + [{**italy, "label": "fraud", "amount": -20.0}, {**italy, "label": "legit"}]
    )
    tx = make_tx([{"err_bad_cvv": False, **r} for r in rows])
    assert len(tx) == 24
    return tx


def test_marginals_on_a_hand_made_frame():
    m = eda.marginals(_marginal_frame())
    assert list(m) == list(eda.REAL)
    expected = {
        "fraud_rate": 3 / 21,  # unlabeled rows are neither fraud nor legit
        "fraud_rate_online": 1 / 4,
        "fraud_rate_chip": 1 / 10,
        "fraud_rate_swipe": 1 / 7,
        "fraud_rate_international": 1 / 2,  # in person, non-US merchant
        "fraud_rate_domestic": 1 / 15,  # in person, US merchant (online rows are neither)
        "median_amount_fraud": 50.0,  # of 100, 50, -20: refunds count (75.0 without them)
        "median_amount_legit": 10.0,
        "error_share": 4 / 24,  # over all rows: 3 Bad CVV + 1 Insufficient Balance
        "refund_share": 2 / 24,
        "unlabeled_share": 3 / 24,
        "bad_cvv_fraud_lift": (1 / 2) / (3 / 21),  # the unlabeled Bad CVV row is left out
    }
    assert m == pytest.approx(expected)
    polars_in = pl.from_pandas(_marginal_frame()).with_columns(
        pl.col("label", "channel", "errors").cast(pl.Categorical)  # as load_interim reads them
    )
    assert eda.marginals(polars_in.lazy()) == pytest.approx(expected)


def test_marginals_table_ratio_and_tolerance():
    table = eda.marginals_table(_marginal_frame())
    assert list(table.columns) == ["quantity", "real", "generated", "ratio", "within"]
    assert list(table.index) == list(eda.REAL)
    assert table["quantity"].is_unique and not table["quantity"].str.contains("_").any()
    assert table["real"].to_dict() == pytest.approx(eda.REAL)
    assert table.loc["fraud_rate_online", "ratio"] == pytest.approx((1 / 4) / 0.0084)
    assert table.loc["unlabeled_share", "ratio"] == pytest.approx((3 / 24) / (4_390_952 / 13_305_915))
    assert table["within"].dtype == bool
    assert (table["within"] == ((table["ratio"] - 1).abs() <= 0.25)).all()

    # the unlabeled share around the real 33%: inside at 1.21x, outside at 1.36x; both at +-50%
    def unlabeled(n_unlabeled: int, tolerance: float = 0.25) -> pd.Series:
        rows = [{"label": "unlabeled"}] * n_unlabeled + [{"label": "legit"}] * (100 - n_unlabeled)
        tx = make_tx(rows).assign(err_bad_cvv=False)
        return eda.marginals_table(tx, tolerance).loc["unlabeled_share"]

    real = eda.REAL["unlabeled_share"]
    assert unlabeled(40)["ratio"] == pytest.approx(0.40 / real) and unlabeled(40)["within"]
    assert not unlabeled(45)["within"]
    assert unlabeled(45, tolerance=0.5)["within"]
    assert not unlabeled(40, tolerance=0.2)["within"]
    assert not unlabeled(20)["within"]  # too low is outside as well (0.61x)
    # nothing to measure (no labeled Bad CVV row, no fraud): NaN and not within
    legit_only = unlabeled(30)
    assert bool(legit_only["within"])
    nan_row = eda.marginals_table(make_tx([{"label": "legit"}]).assign(err_bad_cvv=False)).loc["bad_cvv_fraud_lift"]
    assert math.isnan(nan_row["generated"]) and math.isnan(nan_row["ratio"]) and not nan_row["within"]
    with pytest.raises(ValueError, match="tolerance"):
        eda.marginals_table(_marginal_frame(), tolerance=-0.1)


def test_marginals_real_figures_and_missing_columns():
    assert eda.REAL["fraud_rate"] == pytest.approx(0.001495, abs=5e-7)  # README: 13,332 Yes (0.1495%)
    assert eda.REAL["unlabeled_share"] == pytest.approx(0.33, abs=0.005)  # README: (33%)
    assert eda.REAL["error_share"] == pytest.approx(0.016)
    assert eda.REAL["refund_share"] == 660_054 / 13_305_915
    assert set(eda.QUANTITY_NAMES) == set(eda.REAL)
    with pytest.raises(KeyError, match="err_bad_cvv"):
        eda.marginals(make_tx([{"label": "legit"}]))


def test_marginals_on_tiny_interim(tiny_interim):
    full = eda.load_interim(tiny_interim, tables=["transactions"])["transactions"]
    subset = eda.load_interim(tiny_interim, tables=["transactions"], transaction_columns=eda.MARGINAL_COLUMNS)
    assert subset["transactions"].columns == list(eda.MARGINAL_COLUMNS)
    m = eda.marginals(subset["transactions"])
    assert list(m) == list(eda.REAL)
    assert all(math.isfinite(v) for v in m.values()), m
    assert m == pytest.approx(eda.marginals(full))
    for key in ("fraud_rate", "error_share", "refund_share", "unlabeled_share"):
        assert 0 < m[key] < 1, key
    # the same rates as the fraud_rates module (one definition of "labeled rows only")
    assert m["fraud_rate"] == pytest.approx(eda.overall_fraud_rate(full)["fraud_rate"])
    channel, geo = eda.fraud_by_channel(full), eda.fraud_by_geo(full)
    for name in ("online", "chip", "swipe"):
        assert m[f"fraud_rate_{name}"] == pytest.approx(eda.rate_of(channel, "channel", name)), name
    for name in ("international", "domestic"):
        assert m[f"fraud_rate_{name}"] == pytest.approx(eda.rate_of(geo, "geo", name)), name
    table = eda.marginals_table(full)
    assert table["generated"].to_dict() == pytest.approx(m)
    metrics = eda.eda_metrics(full, marginals=table["generated"].to_dict())
    assert {f"marginal_{k}": v for k, v in m.items()}.items() <= metrics.items()


# --- quality, metrics, plots --------------------------------------------------------------------


def test_ingest_summary_and_duplicates():
    metrics = {
        "files": {
            "transactions_data.csv": {"read": 10, "accepted": 8, "quarantined": 2},
            "cards_data.csv": {"read": 5, "accepted": 5, "quarantined": 0},
        },
        "totals": {"read": 15, "accepted": 13, "quarantined": 2},
    }
    table = eda.ingest_summary(metrics).set_index("file")
    assert table.loc["total", "quarantined"] == 2 and table.loc["total", "quarantine_rate"] == pytest.approx(
        2 / 15
    )
    assert table["consistent"].all()
    metrics["files"]["cards_data.csv"]["read"] = 6
    assert not eda.ingest_summary(metrics).set_index("file").loc["cards_data.csv", "consistent"]

    df = pd.DataFrame({"transaction_id": [1, 2, 2, 3], "x": [1.0, 2.0, 2.0, None]})
    assert eda.duplicate_counts(df, "transaction_id") == {
        "n_rows": 4,
        "duplicate_keys": 1,
        "duplicate_rows": 1,
    }
    nulls = eda.null_counts(df).set_index("column")
    assert nulls.loc["x", "n_null"] == 1 and nulls.loc["x", "null_share"] == 0.25
    report = eda.quality_report({"transactions": df}).iloc[0]
    assert report["duplicate_keys"] == 1 and report["null_cells"] == 1 and report["key"] == "transaction_id"


def test_eda_metrics_and_json(tmp_path):
    data = synthetic_interim(300)
    tx = data["transactions"]
    ingest = {"files": {"transactions_data.csv": {"read": 305, "accepted": 300, "quarantined": 5}}}
    seg = eda.segment_summary(eda.rfm_segments(tx))
    m = eda.eda_metrics(tx, ingest, top_n=5, segments=seg)
    labeled = tx["label"].isin(["fraud", "legit"])
    assert m["n_transactions"] == 300 and m["n_clients"] == tx["client_id"].nunique()
    assert m["labeled_share"] == pytest.approx(labeled.mean())
    assert m["fraud_rate_labeled"] == pytest.approx((tx["label"] == "fraud").sum() / labeled.sum())
    online = tx["is_online"] & labeled
    assert m["fraud_rate_online"] == pytest.approx((tx.loc[online, "label"] == "fraud").mean())
    assert 0 < m["top_merchant_volume_share"] <= m["top_n_merchant_volume_share"] <= 1
    assert m["quarantined_rows"] == 5 and m["ingest_consistent"] is True
    assert sum(v for k, v in m.items() if k.startswith("segment_share_")) == pytest.approx(1.0)
    assert {k for k in m if k.startswith("marginal_")} == {f"marginal_{k}" for k in eda.REAL}
    assert m["marginal_fraud_rate"] == pytest.approx(m["fraud_rate_labeled"])
    assert m["marginal_unlabeled_share"] == pytest.approx((tx["label"] == "unlabeled").mean())
    path = eda.write_json({**m, "nan": float("nan"), "np": np.int64(3)}, tmp_path / "m" / "eda.json")
    loaded = json.loads(path.read_text())
    assert loaded["nan"] is None and loaded["np"] == 3 and loaded["n_transactions"] == 300


def test_load_interim_reads_parquet(tmp_path):
    data = synthetic_interim(50)
    for name, df in data.items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    tables = eda.load_interim(tmp_path)
    assert set(tables) == {"transactions", "cards", "users", "mcc"}
    assert tables["transactions"].schema["label"] == pl.Categorical
    with pytest.raises(FileNotFoundError, match="transactions.parquet"):
        eda.load_interim(tmp_path / "missing")


def test_plots_write_pngs(tmp_path):
    tx = synthetic_interim(300)["transactions"]
    mcc = synthetic_interim(10)["mcc"]
    rfm = eda.rfm_segments(tx)
    rates = eda.fraud_by_hour(tx)
    figs = {
        "top_merchants": plots.top_merchants(eda.top_merchants(tx, 5, mcc), tmp_path),
        "mcc_volume": plots.mcc_volume(eda.by_mcc(tx, mcc), tmp_path),
        "hour_weekday": plots.hour_weekday(eda.hour_weekday_matrix(tx), tmp_path),
        "channel_mix": plots.channel_mix(eda.by_channel(tx), tmp_path),
        "repeat_share": plots.repeat_share_hist(eda.repeat_customers(tx), tmp_path, min_customers=1),
        "rfm_segments": plots.rfm_segments(eda.segment_summary(rfm), tmp_path),
        "rfm_grid": plots.rfm_grid(rfm, tmp_path),
        "fraud_by_hour": plots.fraud_rates(rates, "hour", tmp_path, overall=0.1),
        "fraud_by_mcc": plots.fraud_rates(eda.fraud_by_mcc(tx, mcc, min_labeled=10**6), "mcc", tmp_path),
    }
    for name, fig in figs.items():
        assert (tmp_path / f"{name}.png").stat().st_size > 1000, name
        assert fig.axes


# --- the notebook ------------------------------------------------------------------------------


@pytest.mark.slow
def test_notebook_runs_on_tiny_interim(tmp_path):
    papermill = pytest.importorskip("papermill")
    interim = tmp_path / "data" / "interim"
    interim.mkdir(parents=True)
    for name, df in synthetic_interim(600).items():
        df.to_parquet(interim / f"{name}.parquet", index=False)
    metrics_dir = tmp_path / "reports" / "metrics"
    metrics_dir.mkdir(parents=True)
    ingest = {
        "files": {
            "transactions_data.csv": {"read": 610, "accepted": 600, "quarantined": 10},
            "cards_data.csv": {"read": 50, "accepted": 50, "quarantined": 0},
        },
        "totals": {"read": 660, "accepted": 650, "quarantined": 10},
    }
    (metrics_dir / "ingest.json").write_text(json.dumps(ingest))

    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "01_eda.out.ipynb"),
        parameters={"root": str(tmp_path), "top_n": 5, "rfm_segments": 4},
        kernel_name="paylab",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    m = json.loads((metrics_dir / "eda.json").read_text())
    assert m["n_transactions"] == 600 and m["n_merchants"] == 30 and m["n_clients"] == 25
    assert 0.6 < m["labeled_share"] < 0.8
    assert 0 < m["fraud_rate_labeled"] < 0.3
    for key in ("fraud_rate_online", "fraud_rate_chip", "fraud_rate_swipe", "fraud_rate_domestic"):
        assert 0 <= m[key] <= 1, key
    assert 0 < m["repeat_customer_share"] <= 1
    assert 0 < m["top_merchant_volume_share"] < 1
    assert m["quarantined_rows"] == 10 and m["top_n"] == 5
    assert m["marginal_fraud_rate"] == pytest.approx(m["fraud_rate_labeled"])
    assert {f"marginal_{k}" for k in eda.REAL} <= set(m)
    figures = {p.name for p in (tmp_path / "reports" / "figures" / "eda").glob("*.png")}
    assert {"top_merchants.png", "rfm_segments.png", "fraud_by_channel.png"} <= figures

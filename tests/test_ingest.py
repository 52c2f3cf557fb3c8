"""Validated ingest: typed tables as in docs/DATA.md, bad rows quarantined with a reason, unreadable files named."""

from __future__ import annotations

import importlib.util
import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pandera.errors
import polars as pl
import pytest

from paylab.data import ingest as ingest_module
from paylab.data import kaggle
from paylab.data.ingest import IngestError, ingest
from paylab.data.kaggle import read_labels

# The format samples, inline so that the bad-file tests run without ../shared (checked against it below).
HEADERS = {
    "transactions_data.csv": "id,date,client_id,card_id,amount,use_chip,merchant_id,merchant_city,merchant_state,"
    "zip,mcc,errors",
    "cards_data.csv": "id,client_id,card_brand,card_type,card_number,expires,cvv,has_chip,num_cards_issued,"
    "credit_limit,acct_open_date,year_pin_last_changed,card_on_dark_web",
    "users_data.csv": "id,current_age,retirement_age,birth_year,birth_month,gender,address,latitude,longitude,"
    "per_capita_income,yearly_income,total_debt,credit_score,num_credit_cards",
}
ROWS = {
    "transactions_data.csv": [
        "7475327,2010-01-01 00:01:00,1556,2972,$-77.00,Swipe Transaction,59935,Beulah,ND,58523.0,5499,",
        "7475328,2010-01-01 00:02:00,561,4575,$14.57,Swipe Transaction,67570,Bettendorf,IA,52722.0,5311,",
        "7475335,2010-01-01 00:14:00,1684,2140,$26.46,Online Transaction,39021,ONLINE,,,4784,",
    ],
    "cards_data.csv": [
        "4524,825,Visa,Debit,4344676511950444,12/2022,623,YES,2,$24295,09/2002,2008,No",
        "4659,825,Mastercard,Debit (Prepaid),5722874738736011,03/2009,75,YES,1,$28,09/2008,2009,No",
    ],
    "users_data.csv": ["825,53,66,1966,11,Female,462 Rose Lane,34.15,-117.76,$29278,$59696,$127613,787,5"],
}
MCC = {"5812": "Eating Places and Restaurants", "5499": "Miscellaneous Food Stores", "5311": "Department Stores",
       "4784": "Tolls and Bridge Fees"}  # fmt: skip
LABELS = {"7475327": "No", "7475328": "No", "7475335": "Yes"}
TRANSACTION_TYPES = {
    "transaction_id": pl.Int64, "timestamp": pl.Datetime("us"), "client_id": pl.Int64, "card_id": pl.Int64,
    "merchant_id": pl.Int64, "amount": pl.Float64, "channel": pl.String, "merchant_city": pl.String,
    "merchant_state": pl.String, "zip": pl.String, "mcc": pl.Int32, "errors": pl.String,
    "err_bad_cvv": pl.Boolean, "err_bad_card_number": pl.Boolean, "err_bad_expiration": pl.Boolean,
    "err_bad_pin": pl.Boolean, "err_bad_zipcode": pl.Boolean, "err_insufficient_balance": pl.Boolean,
    "err_technical_glitch": pl.Boolean, "is_online": pl.Boolean, "is_international": pl.Boolean,
    "is_refund": pl.Boolean, "label": pl.String,
}  # fmt: skip


def write_raw(raw: Path, rows: dict[str, list[str]] | None = None, labels: dict | None = None) -> Path:
    """A raw dir in the exact format: the sample rows, with `rows` appended per file."""
    raw.mkdir(parents=True, exist_ok=True)
    for name, header in HEADERS.items():
        lines = [header, *ROWS[name], *(rows or {}).get(name, [])]
        (raw / name).write_text("\n".join(lines) + "\n")
    (raw / "mcc_codes.json").write_text(json.dumps(MCC, indent=2))
    (raw / "train_fraud_labels.json").write_text(json.dumps({"target": LABELS | (labels or {})}))
    return raw


def run(raw: Path) -> tuple[dict, Path]:
    out = raw.parent / "interim"
    return ingest(raw, out, raw.parent / "metrics" / "ingest.json"), out


def txn_row(tid: int, when: str = "2010-01-02 10:00:00", amount: str = "$5.00", chip: str = "Chip Transaction",
            state: str = "ND", zip_: str = "58523.0", errors: str = "", mcc: str = "5499") -> str:  # fmt: skip
    city = "ONLINE" if chip == "Online Transaction" else "Beulah"
    return f"{tid},{when},1556,2972,{amount},{chip},59935,{city},{state},{zip_},{mcc},{errors}"


def assert_balanced(report: dict) -> None:
    for name, m in report["files"].items():
        assert m["read"] == m["accepted"] + m["quarantined"], name


# ------------------------------------------------------------------------------------------- shared samples
def test_inline_samples_equal_the_shared_ones(samples):
    for name in HEADERS:
        assert (samples / name).read_text().splitlines() == [HEADERS[name], *ROWS[name]]
    assert json.loads((samples / "train_fraud_labels.json").read_text()) == {"target": LABELS}
    assert set(MCC.items()) <= set(json.loads((samples / "mcc_codes.json").read_text()).items())


def test_shared_samples_ingest_clean_with_typed_tables(samples, tmp_path):
    report = ingest(samples, tmp_path / "interim", tmp_path / "m" / "ingest.json")
    assert json.loads((tmp_path / "m" / "ingest.json").read_text()) == report
    assert report["totals"]["quarantined"] == 0 and report["totals"]["read"] == 3 + 2 + 1 + 5 + 3
    assert report["totals"]["absent"] == ["loans.csv", "prices.csv"] and report["oracle"] == []
    assert_balanced(report)
    tx = pl.read_parquet(tmp_path / "interim" / "transactions.parquet")
    assert dict(tx.schema) == TRANSACTION_TYPES
    first, _, online = tx.to_dicts()
    assert first["timestamp"] == datetime(2010, 1, 1, 0, 1) and first["amount"] == -77.0 and first["is_refund"]
    assert (first["channel"], first["zip"], first["label"], first["errors"]) == ("swipe", "58523", "legit", None)
    assert (online["channel"], online["merchant_state"], online["zip"]) == ("online", None, None)
    assert online["label"] == "fraud"
    assert online["is_online"] and not online["is_international"]
    cards = pl.read_parquet(tmp_path / "interim" / "cards.parquet").row(0, named=True)
    assert cards["card_id"] == 4524 and cards["card_number"] == "4344676511950444"
    assert (cards["expires"], cards["acct_open_date"]) == (date(2022, 12, 1), date(2002, 9, 1))
    assert cards["credit_limit"] == 24295.0 and cards["has_chip"] is True and cards["card_on_dark_web"] is False
    users = pl.read_parquet(tmp_path / "interim" / "users.parquet")
    assert users["client_id"].to_list() == [825] and users["total_debt"].to_list() == [127613.0]
    assert pl.read_parquet(tmp_path / "interim" / "mcc.parquet").schema["mcc"] == pl.Int32


# ------------------------------------------------------------------------------------------- unreadable files
def test_missing_required_file_is_named(tmp_path):
    raw = write_raw(tmp_path / "raw")
    (raw / "cards_data.csv").unlink()
    with pytest.raises(IngestError, match=r"cards_data\.csv") as err:
        run(raw)
    assert isinstance(err.value, ValueError) and "users_data.csv" in str(err.value)  # shows what is there


def test_missing_column_names_file_column_and_example_row(tmp_path):
    raw = write_raw(tmp_path / "raw")
    path = raw / "transactions_data.csv"
    path.write_text(path.read_text().replace(",amount,", ",amt,", 1))
    with pytest.raises(IngestError, match=r"transactions_data\.csv.*'amount'.*7475327,2010-01-01"):
        run(raw)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("users_data.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"users_data\.csv.*binary.*PNG"),
        ("cards_data.csv", b"id,client\xff\xfe_id\n1,2\n", r"cards_data\.csv.*not UTF-8.*client"),
        (
            "train_fraud_labels.json",
            b'{"target": {"7475327": "No", "7475328": "N',
            r"train_fraud_labels\.json.*7475328",
        ),
        ("mcc_codes.json", b'{"5812": "Eating", "5499" "Misc"}', r"mcc_codes\.json.*unreadable JSON.*5499"),
        ("mcc_codes.json", b'["5812", "Eating"]', r"mcc_codes\.json.*expected a JSON object"),
        ("train_fraud_labels.json", b'{"labels": {"1": "No"}}', r"train_fraud_labels\.json.*'target'.*labels"),
        ("transactions_data.csv", b"", r"transactions_data\.csv: empty file"),
    ],
)
def test_unreadable_file_is_named_with_an_example(tmp_path, name, content, expected):
    raw = write_raw(tmp_path / "raw")
    (raw / name).write_bytes(content)
    with pytest.raises(IngestError, match=expected):
        run(raw)


def test_bad_bytes_deep_in_a_csv_are_located(tmp_path):
    raw = write_raw(tmp_path / "raw", {"transactions_data.csv": [txn_row(8_000_000 + i) for i in range(1500)]})
    with open(raw / "transactions_data.csv", "ab") as fh:  # beyond the first 64 KiB that are probed up front
        fh.write(txn_row(9_000_000).replace("Beulah", "Beu\xff").encode("latin-1") + b"\n")
    with pytest.raises(IngestError, match=r"transactions_data\.csv.*invalid UTF-8 at byte \d+ near .*Beu"):
        run(raw)


def test_a_row_with_too_many_fields_is_shown(tmp_path):
    raw = write_raw(tmp_path / "raw", {"cards_data.csv": [ROWS["cards_data.csv"][0] + ",extra"]})
    with pytest.raises(IngestError, match=r"cards_data\.csv.*Expected 13 columns, got 14.*extra"):
        run(raw)


# ------------------------------------------------------------------------------------------- bad rows
BAD_ROWS = {
    "transactions_data.csv": [
        (txn_row(8000001, amount="$abc"), "amount: not a $ amount"),
        (txn_row(8000002, amount="77.00"), "amount: not a $ amount"),
        (txn_row(8000003, when="2010-02-30 10:00:00"), "date: not a YYYY-MM-DD HH:MM:SS"),
        (txn_row(8000004, chip="Tap Transaction"), "use_chip: not one of"),
        ("x8000005" + txn_row(0)[1:], "id: not a non-negative integer"),
        (txn_row(7475328), "duplicate id"),
        (txn_row(8000007, errors='"Bad PIN,Bad Mood"'), "errors: unknown error token"),
        (txn_row(8000008, zip_="5852A.0"), "zip: not a 5-digit zip"),
        (txn_row(8000009, mcc=""), "mcc: missing"),
        (txn_row(8000010, amount="$x", mcc="55555"), "amount: not a $ amount like $-77.00; mcc: not a 1-4 digit"),
        ("8000011,2010-01-02 10:00:00,1556", "card_id: missing"),  # a short row: the rest null
    ],
    "cards_data.csv": [
        ("4700,825,Visa,Debit,4344676511950444,12/2022,623,YES,2,$24x95,09/2002,2008,No", "credit_limit: not a $"),
        ("4701,825,Visa,Debit,4344676511950444,13/2022,623,YES,2,$24295,09/2002,2008,No", "expires: not MM/YYYY"),
        ("4702,825,Visa,Debit,4344676511950444,12/2022,623,MAYBE,2,$1,9/2002,2008,No", "has_chip: not YES/NO"),
        ("4524,825,Visa,Debit,4344676511950444,12/2022,623,YES,2,$24295,09/2002,2008,No", "duplicate id"),
    ],
    "users_data.csv": [
        ("826,53,66,1966,11,Female,1 Lane,34.15,-117.76,$29278,59696,$127613,787,5", "yearly_income: not a $"),
        ("827,53,66,1966,11,,1 Lane,north,-117.76,$29278,$59696,$127613,787,5", "gender: missing; latitude"),
    ],
}
BAD_LABELS = {"7475999": "No", "abc": "No", "8000001": "No"}  # no such transaction / id / a quarantined one
BAD_MCC = ',\n  "58x2": "Bad code"\n}'


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> tuple[dict, Path]:
    raw = write_raw(tmp_path_factory.mktemp("dirty") / "raw", {k: [r for r, _ in v] for k, v in BAD_ROWS.items()})
    text = (raw / "train_fraud_labels.json").read_text()[:-2]  # extra entries, a bad value and a duplicate key
    extra = "".join(f', "{k}": "{v}"' for k, v in BAD_LABELS.items()) + ', "7475328": "Maybe", "7475327": "Yes"'
    (raw / "train_fraud_labels.json").write_text(text + extra + "}}")
    (raw / "mcc_codes.json").write_text((raw / "mcc_codes.json").read_text()[:-2] + BAD_MCC)
    return run(raw)


def quarantine(out: Path, stem: str) -> pl.DataFrame:
    return pl.read_parquet(out / "quarantine" / f"{stem}.parquet")


@pytest.mark.parametrize(
    ("name", "row", "reason"), [(name, i, reason) for name, bad in BAD_ROWS.items() for i, (_, reason) in
                                enumerate(bad)]
)  # fmt: skip
def test_bad_row_is_quarantined_with_reason_and_raw_values(dirty, name, row, reason):
    report, out = dirty
    q = quarantine(out, Path(name).stem)
    row_number = len(ROWS[name]) + row + 1
    found = q.filter(pl.col("row_number") == row_number)
    assert found.height == 1 and reason in found["reason"].item(), (found, q)
    raw_line = BAD_ROWS[name][row][0]
    assert found.drop("row_number", "reason").row(0)[0] == raw_line.split(",")[0]  # raw strings kept
    assert set(q.columns) == {*HEADERS[name].split(","), "row_number", "reason"}
    assert all(dtype == pl.String for c, dtype in q.schema.items() if c != "row_number")


@pytest.mark.parametrize(
    ("raw_id", "label", "reason"),
    [
        ("7475999", "No", "id not among the accepted rows"),
        ("abc", "No", "id: not a non-negative integer"),
        ("8000001", "No", "id not among the accepted rows"),
        ("7475328", "Maybe", "label: not Yes/No"),
        ("7475327", "Yes", "duplicate id"),
    ],
)
def test_bad_label_entry_is_quarantined(dirty, raw_id, label, reason):
    q = quarantine(dirty[1], "train_fraud_labels").filter((pl.col("id") == raw_id) & (pl.col("label") == label))
    assert q.height == 1 and reason in q["reason"].item()


def test_every_row_is_accounted_for(dirty):
    report, out = dirty
    assert_balanced(report)
    files = report["files"]
    for name, bad in BAD_ROWS.items():
        counts = files[name]["read"], files[name]["accepted"], files[name]["quarantined"]
        assert counts == (len(ROWS[name]) + len(bad), len(ROWS[name]), len(bad)), name
    assert files["train_fraud_labels.json"]["read"] == len(LABELS) + len(BAD_LABELS) + 2
    assert files["train_fraud_labels.json"]["accepted"] == len(LABELS)
    assert files["mcc_codes.json"]["quarantined"] == 1
    assert sum(files["transactions_data.csv"]["reasons"].values()) == len(BAD_ROWS["transactions_data.csv"])
    tx = pl.read_parquet(out / "transactions.parquet")
    assert tx["transaction_id"].to_list() == [7475327, 7475328, 7475335]
    assert tx["label"].to_list() == ["legit", "legit", "fraud"]  # first of the duplicate label keys wins


# ------------------------------------------------------------------------------------------- types and derivations
@pytest.fixture(scope="module")
def derived(tmp_path_factory) -> pl.DataFrame:
    rows = [
        txn_row(9, when="2010-01-03 00:00:00", state="Italy", zip_=""),
        txn_row(8, when="2010-01-03 00:00:00", state="PR", zip_="501.0", errors='"Bad PIN,Insufficient Balance"'),
        txn_row(7, when="2010-01-02 00:00:00", state="DC", errors="Bad CVV"),
        txn_row(6, when="2010-01-02 00:00:00", state="GU"),
        txn_row(5, when="2010-01-02 00:00:00", state="VI", amount="$0.00"),
        txn_row(4, when="2010-01-01 23:59:00", chip="Online Transaction", state="", zip_=""),
        txn_row(3, when="2010-01-01 23:59:00", state="Canada", amount="$-1.5"),
    ]
    raw = write_raw(tmp_path_factory.mktemp("derived") / "raw", {"transactions_data.csv": rows}, {"9": "Yes"})
    report, out = run(raw)
    assert report["totals"]["quarantined"] == 0
    return pl.read_parquet(out / "transactions.parquet").filter(pl.col("transaction_id") < 10)


def test_transactions_are_sorted_by_timestamp_then_id(derived, tmp_path):
    assert derived["transaction_id"].to_list() == [3, 4, 5, 6, 7, 8, 9]


def test_international_means_in_person_outside_us_states_and_territories(derived):
    by_id = dict(zip(derived["transaction_id"], derived["is_international"], strict=True))
    assert by_id == {3: True, 4: False, 5: False, 6: False, 7: False, 8: False, 9: True}
    assert derived.filter(pl.col("transaction_id") == 4)["is_online"].item()


def test_zip_is_five_digits_zero_padded_or_null(derived):
    assert derived.sort("transaction_id")["zip"].to_list() == [
        "58523", None, "58523", "58523", "58523", "00501", None
    ]  # fmt: skip


def test_error_flags_and_refunds(derived):
    row = derived.filter(pl.col("transaction_id") == 8).row(0, named=True)
    assert row["errors"] == "Bad PIN,Insufficient Balance" and row["err_bad_pin"] and row["err_insufficient_balance"]
    assert not (row["err_bad_cvv"] or row["err_technical_glitch"] or row["err_bad_zipcode"])
    assert derived.filter(pl.col("err_bad_cvv"))["transaction_id"].to_list() == [7]
    assert derived.filter(pl.col("is_refund"))["transaction_id"].to_list() == [3]  # $0.00 is not a refund


def test_unlabeled_is_not_legit(derived):
    assert dict(zip(derived["transaction_id"], derived["label"], strict=True)) == {
        3: "unlabeled", 4: "unlabeled", 5: "unlabeled", 6: "unlabeled", 7: "unlabeled", 8: "unlabeled", 9: "fraud"
    }  # fmt: skip


def test_duplicates_across_batches_keep_the_first_valid_row(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 2)
    rows = [txn_row(11, amount="$bad"), txn_row(12), txn_row(11, amount="$1.00"), txn_row(12), txn_row(11)]
    report, out = run(write_raw(tmp_path / "raw", {"transactions_data.csv": rows}))
    q = quarantine(out, "transactions_data")
    assert q.select("row_number", "reason").rows() == [
        (4, "amount: not a $ amount like $-77.00"), (7, "duplicate id"), (8, "duplicate id")
    ]  # fmt: skip
    assert q.filter(pl.col("row_number") == 7)["amount"].item() == "$5.00"
    tx = pl.read_parquet(out / "transactions.parquet")
    assert tx.filter(pl.col("transaction_id") == 11)["amount"].to_list() == [1.0]
    assert_balanced(report)


def test_optional_files_are_typed_and_oracle_copied(tmp_path):
    raw = write_raw(tmp_path / "raw")
    (raw / "loans.csv").write_text(
        "loan_id,client_id,application_date,amount,term_months,purpose,defaulted\n"
        "1,825,2018-03-14,12000.00,36,debt_consolidation,0\n2,825,2018-02-30,5.00,12,car,1\n3,825,2018-03-15,5,12,car,2\n"
    )
    (raw / "prices.csv").write_text(
        "date,ticker,sector,open,high,low,close,volume\n2015-01-02,KLMR,Technology,101.23,102.50,100.10,101.90,1234567\n"
    )
    (raw / "oracle").mkdir()
    pl.DataFrame({"transaction_id": [1], "fraud_probability": [0.5], "scenario": ["x"]}).write_parquet(
        raw / "oracle" / "fraud.parquet"
    )
    report, out = run(raw)
    loans = pl.read_parquet(out / "loans.parquet")
    assert loans.schema["application_date"] == pl.Datetime("us") and loans.schema["amount"] == pl.Float64
    assert loans.row(0) == (1, 825, datetime(2018, 3, 14), 12000.0, 36, "debt_consolidation", False)
    assert quarantine(out, "loans")["reason"].to_list() == ["application_date: not a YYYY-MM-DD date",
                                                            "defaulted: not 0/1"]  # fmt: skip
    assert pl.read_parquet(out / "prices.parquet").row(0)[-1] == 1234567
    assert (out / "oracle" / "fraud.parquet").read_bytes() == (raw / "oracle" / "fraud.parquet").read_bytes()
    assert report["oracle"] == ["fraud.parquet"] and report["totals"]["absent"] == []
    # the same out dir without the optional files: no stale tables remain
    for stale in ("loans.csv", "prices.csv"):
        (raw / stale).unlink()
    shutil.rmtree(raw / "oracle")
    report, out = run(raw)
    assert report["files"]["loans.csv"] == {"present": False, "read": 0, "accepted": 0, "quarantined": 0}
    assert not any((out / p).exists() for p in ("loans.parquet", "prices.parquet", "oracle/fraud.parquet"))


# ------------------------------------------------------------------------------------------- readers, schemas
@pytest.mark.parametrize("piece_bytes", [1 << 24, 1, 9])
def test_labels_reader_fast_and_exact_paths_agree(tmp_path, monkeypatch, piece_bytes):
    monkeypatch.setattr(kaggle, "LABEL_PIECE_BYTES", piece_bytes)
    fast, exact = tmp_path / "fast.json", tmp_path / "exact.json"
    fast.write_text('{"target": {"1": "No", "2": "Yes", "2": "No", "x": true, "4":"No"}}\n')
    exact.write_text('{\n "target": {\n  "\\u0031": "No",\n  "2": "Yes", "2": "No", "x": true, "4": "No"\n }\n}\n')
    assert read_labels(fast).rows() == read_labels(exact).rows() == [
        ("1", "No", 1), ("2", "Yes", 2), ("2", "No", 3), ("x", "true", 4), ("4", "No", 5)
    ]  # fmt: skip
    assert kaggle._labels_fast(fast) is not None and kaggle._labels_fast(exact) is None  # both paths ran
    (tmp_path / "empty.json").write_text('{"target": {}}')
    assert read_labels(tmp_path / "empty.json").height == 0
    (tmp_path / "comma.json").write_text('{"target": {"1": "No",}}')
    with pytest.raises(IngestError, match=r"comma\.json.*unreadable JSON"):
        read_labels(tmp_path / "comma.json")


def test_pandera_schema_catches_a_parser_bug(tmp_path, monkeypatch):
    monkeypatch.setitem(ingest_module.PARSERS, "zip", lambda raw: raw)  # "58523.0" would pass unconverted
    with pytest.raises((pandera.errors.SchemaError, pandera.errors.SchemaErrors), match="zip"):
        run(write_raw(tmp_path / "raw"))
    assert not (tmp_path / "interim" / "transactions.parquet").exists()  # nothing written


def test_cli_prints_totals_and_reports_errors(tmp_path, capsys):
    from paylab.cli import main

    raw = write_raw(tmp_path / "raw")
    args = ["ingest", "--raw", str(raw), "--out", str(tmp_path / "out"), "--metrics", str(tmp_path / "m.json")]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["read"] == 3 + 2 + 1 + len(MCC) + 3
    (raw / "mcc_codes.json").unlink()
    assert main(args) == 2
    assert "mcc_codes.json" in capsys.readouterr().err


def test_synthetic_tiny_data_ingests_without_quarantine(tiny_interim):
    report = json.loads((tiny_interim.parent / "ingest.json").read_text())
    assert report["totals"]["quarantined"] == 0 and report["totals"]["absent"] == []
    assert_balanced(report)


def test_benchmark_generator_writes_the_exact_format(tmp_path):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ingest.py"
    spec = importlib.util.spec_from_file_location("bench_ingest", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.synthesise(tmp_path / "raw", 3000, seed=1, shuffle=True)
    report, out = run(tmp_path / "raw")
    assert report["totals"]["quarantined"] == 0 and report["files"]["transactions_data.csv"]["accepted"] == 3000
    assert pl.read_parquet(out / "transactions.parquet")["timestamp"].is_sorted()

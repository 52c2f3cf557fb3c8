"""Benchmark `paylab.data.ingest` on an N-row raw set in the exact Kaggle format.

    python benchmarks/ingest.py --rows 2000000 [--shuffle] [--workdir DIR]

Synthesises transactions_data.csv and train_fraud_labels.json (vectorised; the small files are the format
samples) and runs ingest, each in a fresh child process so that the peak RSS measured is ingest's own (a child
forked from a big parent inherits the parent's ru_maxrss). Prints what it measures; the last line is one JSON
object of the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

START = np.datetime64("2010-01-01T00:00")
MINUTES = int((np.datetime64("2019-10-31T23:59") - START) // np.timedelta64(1, "m"))
CITIES = ["Beulah", "Bettendorf", "Houston", "Miami", "Rome", "Toronto"]
STATES = ["ND", "IA", "TX", "FL", "DC", "PR", "CA", "NY", "Italy", "Canada"]
ERRORS = ["Bad PIN", "Insufficient Balance", "Technical Glitch", "Bad CVV", "Bad Card Number,Bad CVV"]
MCCS = [5812, 5541, 5499, 5311, 4784]
SMALL_FILES = {
    "cards_data.csv": "id,client_id,card_brand,card_type,card_number,expires,cvv,has_chip,num_cards_issued,"
    "credit_limit,acct_open_date,year_pin_last_changed,card_on_dark_web\n"
    "4524,825,Visa,Debit,4344676511950444,12/2022,623,YES,2,$24295,09/2002,2008,No\n",
    "users_data.csv": "id,current_age,retirement_age,birth_year,birth_month,gender,address,latitude,longitude,"
    "per_capita_income,yearly_income,total_debt,credit_score,num_credit_cards\n"
    "825,53,66,1966,11,Female,462 Rose Lane,34.15,-117.76,$29278,$59696,$127613,787,5\n",
    "mcc_codes.json": json.dumps({str(m): f"MCC {m}" for m in MCCS}, indent=2),
}


def _choice(rng: np.random.Generator, values: list, n: int) -> pl.Series:
    return pl.Series(values).gather(rng.integers(0, len(values), n))


def _money(cents: pl.Expr) -> pl.Expr:
    """Integer cents -> `$-77.00`."""
    sign = pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    dollars, rest = (cents.abs() // 100).cast(pl.String), (cents.abs() % 100).cast(pl.String).str.zfill(2)
    return pl.concat_str(pl.lit("$"), sign, dollars, pl.lit("."), rest)


def synth_transactions(n: int, rng: np.random.Generator, shuffle: bool) -> pl.DataFrame:
    """n rows of transactions_data.csv, as strings, in date order unless `shuffle`."""
    minutes = np.sort(rng.integers(0, MINUTES, n))
    ids = 7_475_327 + np.cumsum(rng.integers(1, 3, n))
    channel = rng.choice(["Swipe Transaction", "Chip Transaction", "Online Transaction"], n, p=[0.52, 0.36, 0.12])
    online = pl.Series(channel) == "Online Transaction"
    cents = np.round(rng.lognormal(3.4, 1.1, n) * 100).astype(np.int64) * np.where(rng.random(n) < 0.05, -1, 1)
    errors = _choice(rng, ERRORS, n).set(pl.Series(rng.random(n) > 0.016), None)
    frame = pl.DataFrame(
        {
            "id": ids,
            "date": (START + minutes.astype("timedelta64[m]")).astype("datetime64[us]"),
            "client_id": rng.integers(0, 2000, n),
            "card_id": rng.integers(0, 6146, n),
            "amount": cents,
            "use_chip": channel,
            "merchant_id": rng.integers(0, 100_000, n),
            "merchant_city": _choice(rng, CITIES, n).set(online, "ONLINE"),
            "merchant_state": _choice(rng, STATES, n).set(online, None),
            "zip": pl.Series(rng.integers(501, 99_950, n)).set(online, None),
            "mcc": _choice(rng, MCCS, n),
            "errors": errors,
        }
    ).with_columns(
        pl.col("date").dt.strftime("%Y-%m-%d %H:%M:%S"),
        _money(pl.col("amount")).alias("amount"),
        (pl.col("zip").cast(pl.String) + ".0"),
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=0) if shuffle else frame


def synth_labels(ids: pl.Series, rng: np.random.Generator) -> str:
    """train_fraud_labels.json for two thirds of `ids`, 0.15% of them Yes, on one line."""
    labelled = ids.filter(pl.Series(rng.random(len(ids)) < 0.67))
    value = pl.Series(np.where(rng.random(len(labelled)) < 0.0015, "Yes", "No"))
    entries = pl.DataFrame({"id": labelled.cast(pl.String), "v": value}).select(
        pl.concat_str(pl.lit('"'), "id", pl.lit('": "'), "v", pl.lit('"')).str.join(", ")
    )
    return '{"target": {' + entries.item() + "}}"


def synthesise(raw: Path, rows: int, seed: int, shuffle: bool) -> dict:
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True, exist_ok=True)
    frame = synth_transactions(rows, rng, shuffle)
    frame.write_csv(raw / "transactions_data.csv")
    (raw / "train_fraud_labels.json").write_text(synth_labels(frame["id"], rng))
    for name, text in SMALL_FILES.items():
        (raw / name).write_text(text)
    return {
        "csv_mb": round((raw / "transactions_data.csv").stat().st_size / 2**20, 1),
        "labels_mb": round((raw / "train_fraud_labels.json").stat().st_size / 2**20, 1),
    }


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux: kilobytes


def run_ingest(raw: Path, out: Path) -> dict:
    """Ingest and measure: seconds, totals, peak RSS (getrusage) and the kernel's VmHWM of this process."""
    from paylab.data.ingest import ingest

    start = time.perf_counter()
    report = ingest(raw, out, out / "ingest.json")
    seconds = time.perf_counter() - start
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    hwm = round(int(status["VmHWM"].split()[0]) / 1024, 1)
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "vm_hwm_mb": hwm, "totals": report["totals"]}


def _child(*args: str) -> dict:
    """Run this script in a fresh process (so that its peak RSS is its own); its last line as JSON."""
    done = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shuffle", action="store_true", help="rows out of date order (exercises the sort)")
    parser.add_argument("--workdir", default=None, help="keep the files here (default: a temporary directory)")
    parser.add_argument("--child", choices=["synth", "ingest"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        if args.child:  # one step in its own process; the parent stays small
            if args.child == "synth":
                print(json.dumps(synthesise(work / "raw", args.rows, args.seed, args.shuffle)))
            else:
                print(json.dumps(run_ingest(work / "raw", work / "interim")))
            return {}
        common = ["--rows", str(args.rows), "--seed", str(args.seed), "--workdir", str(work)]
        start = time.perf_counter()
        sizes = _child(*common, *(["--shuffle"] if args.shuffle else []), "--child", "synth")
        print(f"synthesised {args.rows:,} rows in {time.perf_counter() - start:.1f}s: {sizes}", flush=True)
        child = _child(*common, "--child", "ingest")
    figures = {
        "rows": args.rows,
        "shuffled": args.shuffle,
        **sizes,
        "seconds": round(child["seconds"], 2),
        "rows_per_s": round(args.rows / child["seconds"]),
        "peak_rss_mb": child["peak_rss_mb"],
        "vm_hwm_mb": child["vm_hwm_mb"],
        "quarantined": child["totals"]["quarantined"],
    }
    print(f"ingest: {figures['seconds']}s, {figures['rows_per_s']:,} rows/s, peak RSS {figures['peak_rss_mb']} MB")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()

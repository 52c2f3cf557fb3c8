"""Churn on the tiny data: labels and the split (no leakage), the models (in a subprocess: TensorFlow), the
database round trip on SQLite and PostgreSQL, the retention view and the bad-URL message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import yaml

from paylab.churn import database
from paylab.churn.database import DatabaseError, read_predictions, write_predictions
from paylab.churn.panel import AGGREGATES, PanelConfig, build_panel, weekly
from paylab.churn.retention import at_risk
from paylab.churn.splits import assign, split_cutoffs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
import postgres_server  # noqa: E402


def tiny_churn_params() -> dict:
    """params.yaml `churn` with the tiny overrides of tests/tiny_params.yaml."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())["churn"]
    over = yaml.safe_load((ROOT / "tests" / "tiny_params.yaml").read_text())["churn"]

    def merge(a, b):
        return {**a, **{k: merge(a.get(k, {}), v) if isinstance(v, dict) else v for k, v in b.items()}}

    return merge(base, over)


@pytest.fixture(scope="module")
def params():
    return tiny_churn_params()


@pytest.fixture(scope="module")
def panel(tiny_interim, params):
    return build_panel(tiny_interim, PanelConfig.from_params(params))


# --- labels, inputs, split ---------------------------------------------------------------------------------------

def test_weekly_inputs_do_not_depend_on_the_row_order(tiny_interim, tmp_path):
    """The same transactions in another order give bit-identical weekly inputs (a float sum's last digits follow
    the order the group-by adds rows in, and a GBM split can flip on them: two runs must give the same metrics)."""
    tx = pl.read_parquet(tiny_interim / "transactions.parquet")
    tx.sample(fraction=1.0, shuffle=True, seed=7).write_parquet(tmp_path / "transactions.parquet")
    anchor = pd.Timestamp(tx["timestamp"].max()).normalize()
    a, b = (weekly(d, anchor).sort("client_id", "week") for d in (tiny_interim, tmp_path))
    assert a.height > 1000 and a.equals(b)


def test_labels_follow_the_definition(tiny_interim, panel, params):
    tx = pl.read_parquet(tiny_interim / "transactions.parquet", columns=["client_id", "timestamp", "amount"])
    pays = tx.filter(pl.col("amount") > 0).to_pandas()
    h, a = pd.Timedelta(days=params["horizon_days"]), pd.Timedelta(days=params["active_days"])
    rows = panel.rows
    assert len(rows) > 500 and rows["label"].sum() >= 10
    sample = rows.sample(200, random_state=0)
    for r in sample.itertuples():
        ts = pays.loc[pays["client_id"] == r.client_id, "timestamp"]
        assert ((ts < r.cutoff) & (ts >= r.cutoff - a)).any()            # active in the previous window
        if np.isnan(r.label):
            assert r.cutoff + h > panel.score_cutoff                      # window not observed yet
        else:
            assert r.label == float(not ((ts >= r.cutoff) & (ts < r.cutoff + h)).any())
        last = ts[ts < r.cutoff].max()
        assert r.days_since_last_payment == pytest.approx((r.cutoff - last).total_seconds() / 86400)


def test_split_leaves_a_horizon_gap_between_parts(panel, params):
    labelled = panel.rows.loc[panel.rows["label"].notna(), "cutoff"].unique()
    parts = split_cutoffs(labelled, params["horizon_days"], params["split"]["test_cutoffs"],
                          params["split"]["valid_cutoffs"])
    gap = pd.Timedelta(days=params["horizon_days"])
    assert len(parts["test"]) == params["split"]["test_cutoffs"] and parts["train"]
    assert max(parts["train"]) + gap <= min(parts["valid"])  # training labels known before validation starts
    assert max(parts["valid"]) + gap <= min(parts["test"])
    part = assign(panel.rows, parts)
    assert set(part) <= {"train", "valid", "test", "none"}
    with pytest.raises(ValueError, match="labelled cutoffs"):
        split_cutoffs(labelled[:3], params["horizon_days"], 3, 1)


def test_inputs_do_not_see_the_future(tiny_interim, panel, params, tmp_path):
    """Rewrite every transaction from a cutoff on (amounts x 3, other merchants): the inputs of that cutoff and of
    every earlier one are unchanged."""
    cut = sorted(panel.rows["cutoff"].unique())[len(panel.rows["cutoff"].unique()) // 2]
    for name in ("users.parquet",):
        shutil.copy(tiny_interim / name, tmp_path / name)
    tx = pl.read_parquet(tiny_interim / "transactions.parquet")
    future = pl.col("timestamp") >= pl.lit(pd.Timestamp(cut).to_datetime64()).cast(pl.Datetime("us"))
    tx.with_columns(amount=pl.when(future).then(pl.col("amount") * 3).otherwise(pl.col("amount")),
                    merchant_id=pl.when(future).then(pl.col("merchant_id") + 1).otherwise(pl.col("merchant_id")),
                    ).write_parquet(tmp_path / "transactions.parquet")
    other = build_panel(tmp_path, PanelConfig.from_params(params))
    keep_a = (panel.rows["cutoff"] <= cut).to_numpy()
    keep_b = (other.rows["cutoff"] <= cut).to_numpy()
    a, b = panel.rows[keep_a].reset_index(drop=True), other.rows[keep_b].reset_index(drop=True)
    pd.testing.assert_frame_equal(a[["client_id", "cutoff", *AGGREGATES]], b[["client_id", "cutoff", *AGGREGATES]],
                                  rtol=1e-9)  # sums in another order: last-bit differences only
    np.testing.assert_allclose(panel.seq[keep_a], other.seq[keep_b], rtol=1e-9)
    later = (panel.rows["cutoff"] > cut).to_numpy()
    assert not np.array_equal(panel.seq[later], other.seq[(other.rows["cutoff"] > cut).to_numpy()])  # it can fail


def test_bad_knob_names_the_param():
    with pytest.raises(ValueError, match=r"churn.horizon_days must be a whole number >= 1, got 0"):
        PanelConfig.from_params({"horizon_days": 0})


def test_missing_column_names_the_file(tmp_path, tiny_interim):
    pl.read_parquet(tiny_interim / "transactions.parquet").drop("mcc").write_parquet(tmp_path / "transactions.parquet")
    shutil.copy(tiny_interim / "users.parquet", tmp_path / "users.parquet")
    with pytest.raises(ValueError, match=r"transactions.parquet lacks column\(s\) \['mcc'\]"):
        build_panel(tmp_path, PanelConfig())


# --- models (TensorFlow: in a subprocess) -------------------------------------------------------------------------

MODELS_SCRIPT = """
import json, sys, types
import numpy as np
from pathlib import Path
from paylab import evaluation as ev
from paylab.churn import serving, training
interim, params, out = Path(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
exp = training.prepare(interim, params)
training.fit_all(exp, params, seed=3)
rows = exp.rows
test = rows[rows["part"] == "test"]
auc = {m: ev.roc_auc(test["label"], test[f"p_{m}"]) for m in training.MODELS}
art = serving.save_artifacts(exp, out / "model")
scorer = serving.ChurnScorer()
scorer.load_context(types.SimpleNamespace(artifacts=art))
mask = (rows["part"] == "score").to_numpy()
served = scorer.predict(None, serving.flat_inputs(rows[mask], exp.panel.seq[mask]))
print(json.dumps({"test": auc, "valid_ap": exp.valid_ap, "champion": exp.champion,
                  "epochs": len(exp.lstm_history["loss"]),
                  "served_gap": float(np.abs(served["probability"].to_numpy()
                                             - rows.loc[mask, f"p_{exp.champion}"].to_numpy()).max()),
                  "n_test": int(len(test)), "churners": int(test["label"].sum())}))
"""


@pytest.fixture(scope="module")
def fitted(tiny_interim, params, tmp_path_factory):
    out = tmp_path_factory.mktemp("churn_models")
    run = subprocess.run([sys.executable, "-c", MODELS_SCRIPT, str(tiny_interim), json.dumps(params), str(out)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_lstm_gbm_and_hybrid_train_and_beat_random(fitted):
    assert fitted["churners"] >= 5 and fitted["epochs"] >= 1
    for name in ("gbm", "lstm", "hybrid"):
        assert fitted["test"][name] > 0.6, (name, fitted)
    assert fitted["champion"] in ("lstm", "hybrid")
    assert fitted["valid_ap"][fitted["champion"]] == max(fitted["valid_ap"]["lstm"], fitted["valid_ap"]["hybrid"])


def test_registered_scorer_reproduces_the_champion(fitted):
    assert fitted["served_gap"] < 1e-4


# --- database ------------------------------------------------------------------------------------------------------

def _predictions(n: int = 6, version: str = "churn-v1", shift: float = 0.0, day: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    prob = np.clip(rng.random(n) + shift, 0, 1)
    spend = rng.uniform(100, 1000, n)
    return pd.DataFrame({
        "client_id": np.arange(n, dtype="int64"), "cutoff": pd.Timestamp("2019-11-01"), "probability": prob,
        "risk_band": np.where(prob > 0.5, "high", "low"), "reason_1": "12 days since the last payment",
        "reason_2": None, "reason_3": None, "value_at_risk": prob * spend, "monthly_spend": spend,
        "model_name": "hybrid", "model_version": version, "mlflow_run_id": "abc", "created_at": datetime(2026, 1, day)})


def _round_trip(url: str) -> None:
    first = _predictions()
    assert write_predictions(url, first) == len(first)
    again = _predictions(shift=0.1)
    write_predictions(url, again)                                   # a rerun replaces, never duplicates
    stored = read_predictions(url).sort_values("client_id").reset_index(drop=True)
    assert len(stored) == len(first)
    np.testing.assert_allclose(stored["probability"], again["probability"])
    assert stored["reason_1"].iloc[0] == "12 days since the last payment" and stored["reason_2"].isna().all()
    write_predictions(url, _predictions(version="churn-v2", day=2))  # another (newer) model version: more rows
    assert len(read_predictions(url)) == 2 * len(first)
    view = at_risk(url, limit=3)
    assert len(view) == 3 and view["value_at_risk"].is_monotonic_decreasing
    assert set(view["model_version"]) == {"churn-v2"}
    best = _predictions(version="churn-v2").sort_values("value_at_risk", ascending=False)
    assert view["client_id"].tolist() == best["client_id"].head(3).tolist()


def test_sqlite_round_trip_and_idempotent_rerun(tmp_path):
    _round_trip(f"sqlite:///{tmp_path / 'churn.db'}")


def test_relative_sqlite_url_resolves_against_the_root(tmp_path):
    url = database.resolve_url("sqlite:///data/churn/churn.db", tmp_path)
    assert url == f"sqlite:///{tmp_path / 'data' / 'churn' / 'churn.db'}" and (tmp_path / "data" / "churn").is_dir()


@pytest.fixture(scope="module")
def postgres_url():
    """PAYLAB_TEST_POSTGRES_URL (set by .ci/run), else a server this fixture starts itself from the installed
    binaries, else skip with the reason."""
    url = os.environ.get("PAYLAB_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="paylab-pg-"))
    try:
        url = postgres_server.start(folder)
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"PostgreSQL round trip skipped: {err}")
        pytest.skip(f"no PostgreSQL server could start: {err}")
    try:
        yield url
    finally:
        postgres_server.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


def test_postgresql_round_trip_and_idempotent_rerun(postgres_url):
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {database.TABLE}"))
    engine.dispose()
    _round_trip(postgres_url)


@pytest.mark.parametrize("url, message", [
    ("not a url", "is not a database URL"),
    ("nosuchdb://x/y", "no driver for this URL"),
    ("postgresql+psycopg://u:secret@127.0.0.1:1/db", "cannot connect"),
])
def test_bad_url_stops_with_one_line(url, message):
    with pytest.raises(DatabaseError, match=message) as err:
        write_predictions(url, _predictions())
    text = str(err.value)
    assert "\n" not in text and "secret" not in text


def test_cli_answers_a_bad_url_with_one_line_and_exit_2():
    run = subprocess.run([sys.executable, "-m", "paylab.cli", "churn", "at-risk", "--db-url",
                          "postgresql+psycopg://u@127.0.0.1:1/db"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    err = run.stderr.strip()
    assert err.startswith("paylab churn: error: churn.db_url") and len(err.splitlines()) == 1


def test_at_risk_without_a_table_says_so(tmp_path):
    with pytest.raises(DatabaseError, match="no table churn_predictions"):
        at_risk(f"sqlite:///{tmp_path / 'empty.db'}")


def test_oracle_is_the_hazard_over_the_horizon_and_one_once_stopped():
    from paylab.churn.oracle import oracle_probability

    oracle = pd.DataFrame({"client_id": [1, 2, 3], "churn_hazard": [0.03, 0.03, 0.0],
                           "churn_date": [pd.NaT, pd.Timestamp("2019-01-10"), pd.NaT]})
    rows = pd.DataFrame({"client_id": [1, 2, 2, 3], "cutoff": pd.to_datetime(["2019-02-01", "2019-01-01",
                                                                             "2019-02-01", "2019-02-01"])})
    p = oracle_probability(rows, oracle, horizon_days=60)
    assert p[0] == pytest.approx(1 - np.exp(-0.03 * 60 / 30.44)) and p[1] == pytest.approx(p[0])
    assert p[2] == 1.0 and p[3] == 0.0   # past its latent churn date: stopped

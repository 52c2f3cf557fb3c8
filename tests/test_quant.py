"""Quant: loader, factors, walk-forward, leakage guards, a random-walk null, the alphalens cross-check, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from paylab import evaluation
from paylab.cli import main
from paylab.quant import pipeline
from paylab.quant.backtest import backtest
from paylab.quant.dataset import build_dataset, forward_returns
from paylab.quant.factors import compute_factors
from paylab.quant.panel import load_prices, validate
from paylab.quant.signal import quantile_returns
from paylab.quant.walkforward import walk_forward

SMALL = {"windows": [5, 10], "horizons": [1, 5], "min_cross_section": 10,
         "walk_forward": {"min_train_days": 60, "retrain_every": 30},
         "model": {"n_estimators": 30, "min_child_samples": 50}, "tune": {"n_trials": 0},
         "backtest": {"top_k": 5}, "bootstrap": {"n_boot": 200, "level": 0.95}}


def random_walk(n_tickers: int = 20, n_dates: int = 300, seed: int = 0) -> pd.DataFrame:
    """A panel whose log closes are independent Gaussian random walks (no signal by construction)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_dates)
    ret = rng.normal(0, 0.02, (n_dates, n_tickers))
    close = 50 * np.exp(np.cumsum(ret, axis=0))
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, close.shape)))
    return validate(pd.DataFrame({
        "date": np.repeat(dates, n_tickers), "ticker": np.tile([f"T{i:02d}" for i in range(n_tickers)], n_dates),
        "open": open_.ravel(), "high": high.ravel(), "low": low.ravel(), "close": close.ravel(),
        "volume": rng.lognormal(12, 0.5, close.size)}))


@pytest.fixture(scope="module")
def tiny_prices(tiny_interim):
    return load_prices(tiny_interim / "prices.parquet")


# --- loader ---------------------------------------------------------------------------------------------------

def _yahoo(panel: pd.DataFrame, ticker: str, path, split_at: int | None = None):
    """A Yahoo-style export of one ticker (no ticker column); with `split_at`, a 2:1 split in the raw prices."""
    d = panel[panel["ticker"] == ticker].reset_index(drop=True)
    raw = d[["open", "high", "low", "close"]].copy()
    volume = d["volume"].copy()
    if split_at is not None:
        raw.iloc[:split_at] *= 2.0  # before the split the raw prices were twice as high
        volume.iloc[:split_at] /= 2.0
    out = pd.DataFrame({"Date": d["date"].dt.strftime("%Y-%m-%d"), "Open": raw["open"], "High": raw["high"],
                        "Low": raw["low"], "Close": raw["close"], "Adj Close": d["close"], "Volume": volume})
    out.to_csv(path, index=False)
    return path


def test_yahoo_export_uses_the_adjusted_close(tiny_prices, tmp_path):
    path = _yahoo(tiny_prices, tiny_prices["ticker"].iloc[0], tmp_path / "abc.csv", split_at=100)
    panel = load_prices(path)
    assert set(panel["ticker"]) == {"ABC"}
    raw = pd.read_csv(path)
    assert (raw["Close"].pct_change().min()) < -0.45  # the split is in the raw closes ...
    assert panel["close"].pct_change().min() > -0.2    # ... and not a -50% day in the panel
    original = tiny_prices[tiny_prices["ticker"] == tiny_prices["ticker"].iloc[0]]
    np.testing.assert_allclose(panel["open"].to_numpy(), original["open"].to_numpy(), rtol=1e-9)


def test_column_names_match_regardless_of_case_spaces_underscores(tmp_path):
    frame = pd.DataFrame({" DATE ": ["2020-01-02"], "Ticker": ["x"], "OPEN": [1.0], "high": [1.0], "Low": [1.0],
                          "close": [1.0], "vol_ume": [10]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    assert list(load_prices(tmp_path / "p.csv").columns) == ["date", "ticker", "open", "high", "low", "close",
                                                              "volume"]


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns="volume"), r"missing column\(s\) \['volume'\]"),
    (lambda f: pd.concat([f, f.iloc[:1]]), r"rows share a \(date, ticker\), e.g. \(2020-01-01, 'T00'\)"),
    (lambda f: f.assign(close=f["close"].where(f.index != 3, -1.0)),
     r"column 'close' has 1 non-positive value\(s\), e.g. -1 on 2020-01-0"),
    (lambda f: f.assign(date=f["date"].astype(str).where(f.index != 2, "31/02/2020")),
     r"column 'date' has 1 unparseable value\(s\), e.g. '31/02/2020'"),
])
def test_bad_prices_get_a_clear_error(tmp_path, change, message):
    frame = change(random_walk(3, 20).assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d")))
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=message) as err:
        load_prices(tmp_path / "bad.csv")
    assert "bad.csv" in str(err.value)


def test_a_halted_day_is_skipped_by_factors_and_blanks_labels():
    panel = random_walk(3, 40)
    halted = panel["date"].unique()[20]
    gap = panel[~((panel["ticker"] == "T00") & (panel["date"] == halted))]
    factors = compute_factors(gap, [5]).set_index(["date", "ticker"])
    t00 = gap[gap["ticker"] == "T00"].reset_index(drop=True)
    after = t00["date"].iloc[20]  # the first row after the halt: ROC5 counts the ticker's own 5 rows back
    assert factors.loc[(after, "T00"), "ROC5"] == pytest.approx(t00["close"].iloc[20] / t00["close"].iloc[15] - 1)
    labels = forward_returns(gap, [1]).set_index(["date", "ticker"])["ret_1d"]
    day_before = panel["date"].unique()[19]
    assert np.isnan(labels[(day_before, "T00")]) and np.isfinite(labels[(day_before, "T01")])  # no entry when halted


# --- leakage guards ---------------------------------------------------------------------------------------------

def test_changing_prices_after_t_changes_nothing_dated_up_to_t():
    panel = random_walk(15, 220, seed=3)
    dates = panel["date"].unique()
    t = dates[170]
    shocked = panel.copy()
    later = shocked["date"] > t
    rng = np.random.default_rng(1)
    factor = rng.uniform(0.5, 2.0, later.sum())
    shocked.loc[later, ["open", "high", "low", "close"]] = shocked.loc[later, ["open", "high", "low", "close"]].mul(
        factor, axis=0)
    shocked.loc[later, "volume"] *= rng.uniform(0.1, 10, later.sum())
    runs = []
    for p in (panel, shocked):
        data, names = build_dataset(p, [5, 10], [1])
        wf = walk_forward(data, names, 1, warmup=10, min_train_days=60, retrain_every=25,
                          model={"n_estimators": 20, "min_child_samples": 30}, tune={"n_trials": 0}, seed=5)
        runs.append((data, names, wf.predictions))
    (d0, names, p0), (d1, _, p1) = runs
    early = d0["date"] <= t
    pd.testing.assert_frame_equal(d0.loc[early, names], d1.loc[d1["date"] <= t, names])  # factors
    e0, e1 = p0[p0["date"] <= t], p1[p1["date"] <= t]
    assert len(e0) > 100
    pd.testing.assert_frame_equal(e0.reset_index(drop=True), e1.reset_index(drop=True))  # predictions
    assert not np.allclose(p0.loc[p0["date"] > t, "prediction"], p1.loc[p1["date"] > t, "prediction"])  # can fail


def test_the_embargo_keeps_every_training_label_before_the_prediction():
    panel = random_walk(5, 200)
    data, names = build_dataset(panel, [5], [5])
    wf = walk_forward(data, names, 5, warmup=5, min_train_days=50, retrain_every=40, tune={"n_trials": 0},
                      model={"n_estimators": 5})
    dates = list(np.sort(data["date"].unique()))
    for fit in wf.fits:  # label of the last training date ends at its index + 1 + 5 <= the first predicted date
        assert dates.index(fit.train_end) + 1 + 5 <= dates.index(fit.predict_start)


def test_a_random_walk_has_no_ic_and_no_sharpe():
    n_tickers, n_dates = 30, 700
    res = pipeline.run(random_walk(n_tickers, n_dates, seed=11), SMALL, seed=1)
    m = res.metrics["model"]
    t = res.metrics["setup"]["n_test_dates"]
    assert t > 500
    # under the null a date's rank IC has sd 1/sqrt(N - 1); the mean of T independent dates 1/sqrt((N - 1) T);
    # a daily Sharpe has sd ~ 1/sqrt(T), annualised sqrt(252 / T): 4 standard errors either way
    assert abs(m["rank_ic"]) < 4 / np.sqrt((n_tickers - 1) * t)
    assert abs(m["ls_gross_sharpe"]) < 4 * np.sqrt(252 / t)
    assert m["rank_ic_ci_low"] < 0 < m["rank_ic_ci_high"] or abs(m["rank_ic"]) < 2 / np.sqrt((n_tickers - 1) * t)


# --- evaluation ------------------------------------------------------------------------------------------------

def test_backtest_costs_per_side_and_turnover():
    date = np.repeat(pd.to_datetime(["2020-01-01", "2020-01-02"]), 4)
    ticker = np.tile(list("ABCD"), 2)
    score = [4, 3, 2, 1, 1, 2, 3, 4]  # day 2 flips the book
    ret = [0.01, 0.0, 0.0, -0.01, 0.02, 0.0, 0.0, 0.0]
    out = backtest(date, ticker, score, ret, top_k=1, cost_bps={"buy": 10, "sell": 20})
    # day 1: buy A (1), short D (sell 1): cost 10 + 20 bp; gross = 0.01 - (-0.01)
    assert out["gross"].iloc[0] == pytest.approx(0.02) and out["cost"].iloc[0] == pytest.approx(0.003)
    # day 2: sell A, buy back D, buy D long (+1 -> ...): weights A 1 -> -1, D -1 -> 1: buys 2, sells 2
    assert out["turnover"].iloc[1] == pytest.approx(4) and out["cost"].iloc[1] == pytest.approx(0.006)
    assert out["gross"].iloc[1] == pytest.approx(-0.02)
    assert out["net"].iloc[1] == pytest.approx(-0.026)


def test_ic_and_quantile_returns_agree_with_alphalens(tiny_prices):
    import alphalens

    data, names = build_dataset(tiny_prices, [5, 20], [1])
    data = data.dropna(subset=["ROC5", "ret_1d"])
    factor = data.set_index(["date", "ticker"])["ROC5"]
    entry = tiny_prices.pivot(index="date", columns="ticker", values="close").shift(-1)  # trade at the next close
    clean = alphalens.utils.get_clean_factor_and_forward_returns(factor, entry, periods=(1,), quantiles=5,
                                                                 filter_zscore=None, max_loss=1.0)
    theirs = alphalens.performance.factor_information_coefficient(clean)["1D"]
    ours = evaluation.ic_series(data["date"], data["ROC5"], data["ret_1d"], "spearman").reindex(theirs.index)
    assert len(theirs) > 200
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), atol=1e-10)
    mean_ret, _ = alphalens.performance.mean_return_by_quantile(clean, demeaned=False)
    mine = quantile_returns(data["date"], data["ROC5"], data["ret_1d"], 5)
    np.testing.assert_allclose(mine.to_numpy(), mean_ret["1D"].to_numpy(), atol=1e-10)


def test_tiny_panel_model_baseline_and_latent_ceiling(tiny_interim, tiny_prices):
    oracle = pd.read_parquet(tiny_interim / "oracle" / "returns.parquet")
    res = pipeline.run(tiny_prices, {**SMALL, "windows": [5, 10, 20, 60], "horizons": [1, 5, 20]}, oracle, seed=3)
    m = res.metrics
    assert {"model", "baseline", "oracle", "differences", "setup", "ic_decay"} <= set(m)
    for role in ("model", "baseline", "oracle"):
        assert m[role]["rank_ic_ci_low"] <= m[role]["rank_ic"] <= m[role]["rank_ic_ci_high"]
        assert m[role]["ls_net_sharpe"] < m[role]["ls_gross_sharpe"]  # costs cost
    assert m["oracle"]["rank_ic"] > 0.02  # the latent ceiling sees the planted signal
    first = res.wf.fits[0]
    assert res.scored["date"].min() == first.predict_start > first.train_end
    assert res.baseline_factor in res.names
    assert m["differences"]["model_minus_baseline"]["rank_ic"]["verdict"] in (
        "better", "worse", "no measurable difference")


# --- CLI ------------------------------------------------------------------------------------------------------

def test_cli_on_three_yahoo_exports_reports_time_series_ic(tiny_prices, tmp_path, capsys):
    files = [str(_yahoo(tiny_prices, t, tmp_path / f"{t}.csv")) for t in sorted(tiny_prices["ticker"].unique())[:3]]
    assert main(["quant", "evaluate", "--prices", *files, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "RankIC" in out and "Sharpe(net" in out and "min_cross_section" in out and "time-series RankIC" in out
    assert (tmp_path / "out" / "summary.json").exists()


def test_cli_one_ticker_or_too_short_is_a_clear_message(tiny_prices, tmp_path, capsys):
    one = _yahoo(tiny_prices, tiny_prices["ticker"].iloc[0], tmp_path / "one.csv")
    assert main(["quant", "evaluate", "--prices", str(one), "--out", str(tmp_path / "o")]) == 2
    assert "only 1 ticker" in capsys.readouterr().err
    short = random_walk(3, 80).assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d"))
    short.to_csv(tmp_path / "short.csv", index=False)
    assert main(["quant", "evaluate", "--prices", str(tmp_path / "short.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "prices too short" in capsys.readouterr().err

"""Quant signals on a daily price panel: loader, Alpha158-style factors, walk-forward LightGBM, IC and a
cost-aware backtest.

    panel = load_prices("prices.parquet")              # long (date, ticker, open, high, low, close, volume)
    data, names = build_dataset(panel, windows, horizons)  # factors (past only, ranked per date) + labels
    wf = walk_forward(data, names, horizon)            # embargoed, retrained every M dates
    res = pipeline.run(panel, params, oracle)          # all of it, with IC, backtests and intervals
"""

from paylab.quant.backtest import backtest, performance
from paylab.quant.dataset import build_dataset
from paylab.quant.factors import compute_factors
from paylab.quant.panel import load_prices
from paylab.quant.signal import ic_summary, quantile_returns
from paylab.quant.walkforward import walk_forward

__all__ = ["load_prices", "compute_factors", "build_dataset", "walk_forward", "ic_summary", "quantile_returns",
           "backtest", "performance"]

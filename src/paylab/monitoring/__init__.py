"""Drift monitoring: Evidently PSI reports per period against the fraud model's training window, the reference-decile
PSI of `paylab.evaluation.psi` beside it, and the fraud model's ranking quality per month.

    periods = windows.monitoring_periods(features_path, split, delay_days)   # reference window + later months
    result = drift.compare(reference, {"2019-03": current, ...}, columns, out_dir=..., method="psi")
    result.evidently, result.deciles                    # feature x period PSI tables (two binnings)
    performance.by_period(y, score, period, day, ...)   # ROC-AUC, AP, KS per month with block-bootstrap intervals
"""

"""Credit scoring: a monotone WoE scorecard with points, a monotone GBM challenger, wallet behaviour as alternative
data, cutoffs and credit limits. Higher score = lower risk on every output."""

from paylab.credit.scorecard import fit_scorecard, points_table, scorecard_score

__all__ = ["fit_scorecard", "points_table", "scorecard_score"]

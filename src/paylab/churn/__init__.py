"""Churn: who is about to stop paying, why, and what is at stake.

`panel` (cutoffs, labels, weekly inputs from data/interim with lazy polars scans), `splits` (train / valid / test
by cutoff with a horizon gap), `oracle` (the generator's latent hazard over the horizon), `models` (LightGBM on
aggregates, a Keras LSTM on the weekly sequence, the hybrid), `evaluate` (bootstrap by user), `reasons` (SHAP),
`database` (predictions through SQLAlchemy with an upsert), `retention` (`at_risk`, the app's view), `serving`
(the pyfunc scorer registered as `churn`).
"""

"""The latent ceiling: the generator's true churn hazard over the horizon (data/interim/oracle/users.parquet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from paylab.churn.panel import MONTH_DAYS


def load_oracle(interim: Path) -> pd.DataFrame | None:
    """client_id, churn_date, churn_hazard (monthly) from the oracle; None on real data (no oracle)."""
    path = Path(interim) / "oracle" / "users.parquet"
    if not path.exists():
        return None
    users = pd.read_parquet(path, columns=["client_id", "churn_date", "churn_hazard"])
    return users


def oracle_probability(rows: pd.DataFrame, oracle: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """P(the latent churn falls in [c, c + horizon)) given the user's hazard h (monthly, constant): 1 once the
    latent churn date has passed (the user stopped: a hidden state), else 1 - exp(-h * horizon / 30.44 days).

    The generator thins activity over the 60 days before churn, so the observed history carries timing the
    hazard alone does not: a model can beat this ceiling, and the notebook says so when it does."""
    o = oracle.set_index("client_id").reindex(rows["client_id"])
    hazard = o["churn_hazard"].to_numpy(dtype=float)
    stopped = (o["churn_date"].notna() & (o["churn_date"].to_numpy() <= rows["cutoff"].to_numpy())).to_numpy()
    p = 1.0 - np.exp(-np.nan_to_num(hazard) * horizon_days / MONTH_DAYS)
    return np.where(stopped, 1.0, p)

"""The retention team's view: who is about to leave, why and what is at stake, read from the database."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from paylab.churn.database import PREDICTIONS, TABLE, DatabaseError, _safe, connect
from paylab.paths import project_root


def at_risk(db_url: str, limit: int = 100) -> pd.DataFrame:
    """The `limit` users of the latest cutoff (and its newest model version) with the highest expected monthly
    value at risk (probability x recent monthly spend), with their probability, band and three reasons.

    A relative SQLite path resolves against the project root; a bad URL or an unreachable server raises
    `DatabaseError` (one line)."""
    engine = connect(db_url, project_root())
    p = PREDICTIONS.c
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(TABLE):
                raise DatabaseError(f"{_safe(str(engine.url))}: no table {TABLE} (run the churn stage)")
            latest = conn.execute(sa.select(sa.func.max(p.cutoff))).scalar()
            if latest is None:
                return pd.DataFrame(columns=[c.name for c in PREDICTIONS.columns])
            version = conn.execute(sa.select(p.model_version).where(p.cutoff == latest)
                                   .order_by(p.created_at.desc()).limit(1)).scalar()
            query = (sa.select(p.client_id, p.cutoff, p.probability, p.risk_band, p.value_at_risk, p.monthly_spend,
                               p.reason_1, p.reason_2, p.reason_3, p.model_name, p.model_version, p.mlflow_run_id,
                               p.created_at)
                     .where(p.cutoff == latest, p.model_version == version)
                     .order_by(p.value_at_risk.desc(), p.client_id).limit(int(limit)))
            return pd.read_sql(query, conn)
    finally:
        engine.dispose()

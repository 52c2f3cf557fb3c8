"""Churn predictions in a database through SQLAlchemy: any URL works unchanged (SQLite, PostgreSQL, ...).

Table `churn_predictions`, primary key (client_id, cutoff, model_version); `write_predictions` upserts (SQLite
and PostgreSQL: INSERT ... ON CONFLICT DO UPDATE; other dialects: delete then insert in one transaction), so a
rerun replaces its rows instead of duplicating them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

TABLE = "churn_predictions"
COLUMNS = ["client_id", "cutoff", "probability", "risk_band", "reason_1", "reason_2", "reason_3",
           "value_at_risk", "monthly_spend", "model_name", "model_version", "mlflow_run_id", "created_at"]
KEY = ["client_id", "cutoff", "model_version"]


class DatabaseError(ValueError):
    """The database URL is malformed, its driver is missing or the server cannot be reached (one line)."""


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE, metadata,
        sa.Column("client_id", sa.BigInteger, primary_key=True),
        sa.Column("cutoff", sa.DateTime, primary_key=True),
        sa.Column("model_version", sa.String(64), primary_key=True),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("risk_band", sa.String(16), nullable=False),
        sa.Column("reason_1", sa.String(200)), sa.Column("reason_2", sa.String(200)),
        sa.Column("reason_3", sa.String(200)),
        sa.Column("value_at_risk", sa.Float, nullable=False),
        sa.Column("monthly_spend", sa.Float, nullable=False),
        sa.Column("model_name", sa.String(32), nullable=False),
        sa.Column("mlflow_run_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


METADATA = sa.MetaData()
PREDICTIONS = _table(METADATA)


def resolve_url(url: str, root: Path | None = None) -> str:
    """A relative SQLite path (sqlite:///data/churn/churn.db) resolved against `root` (the repo), its folder
    created; other URLs unchanged."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as err:
        raise DatabaseError(f"churn.db_url {url!r} is not a database URL ({err})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute() and root is not None:
            path = Path(root) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


def _safe(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def connect(url: str, root: Path | None = None) -> sa.Engine:
    """An engine whose connection has been tried: a bad URL, a missing driver or an unreachable server raise
    DatabaseError with one line naming the URL (password hidden)."""
    url = resolve_url(url, root)
    try:
        engine = sa.create_engine(url, connect_args=_connect_args(url))
        with engine.connect():
            pass
    except DatabaseError:
        raise
    except (ModuleNotFoundError, sa.exc.NoSuchModuleError) as err:
        raise DatabaseError(f"churn.db_url {_safe(url)}: no driver for this URL ({err})") from None
    except sa.exc.ArgumentError as err:
        raise DatabaseError(f"churn.db_url {_safe(url)} is not a valid database URL ({err})") from None
    except sa.exc.SQLAlchemyError as err:
        first = str(getattr(err, "orig", err)).strip().splitlines()[0] if str(getattr(err, "orig", err)).strip() \
            else type(err).__name__
        raise DatabaseError(f"churn.db_url {_safe(url)}: cannot connect ({first})") from None
    return engine


def _connect_args(url: str) -> dict:
    backend = sa.engine.make_url(url).get_backend_name()
    return {"connect_timeout": 5} if backend == "postgresql" else {}


def write_predictions(url: str, frame: pd.DataFrame, root: Path | None = None) -> int:
    """Create the table if needed and upsert `frame` (COLUMNS); returns the number of rows written."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"churn predictions lack column(s) {missing}")
    engine = connect(url, root)
    records = _records(frame)
    try:
        METADATA.create_all(engine)
        with engine.begin() as conn:
            if records:
                conn.execute(_upsert(engine.dialect.name, records), records) if engine.dialect.name in (
                    "sqlite", "postgresql") else _replace(conn, records)
    except sa.exc.SQLAlchemyError as err:
        raise DatabaseError(f"churn.db_url {_safe(str(engine.url))}: write failed "
                            f"({str(getattr(err, 'orig', err)).splitlines()[0]})") from None
    finally:
        engine.dispose()
    return len(records)


def _records(frame: pd.DataFrame) -> list[dict]:
    out = frame[COLUMNS].copy()
    for c in ("cutoff", "created_at"):
        out[c] = pd.to_datetime(out[c]).dt.tz_localize(None)
    out["client_id"] = out["client_id"].astype("int64")
    out["model_version"] = out["model_version"].astype(str)
    recs = out.astype(object).where(out.notna(), None).to_dict("records")
    for r in recs:
        r["client_id"] = int(r["client_id"])
        r["cutoff"], r["created_at"] = r["cutoff"].to_pydatetime(), r["created_at"].to_pydatetime()
        for c in ("probability", "value_at_risk", "monthly_spend"):
            r[c] = float(r[c])
    return recs


def _upsert(dialect: str, records: list[dict]):
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    stmt = insert(PREDICTIONS)
    update = {c: stmt.excluded[c] for c in COLUMNS if c not in KEY}
    return stmt.on_conflict_do_update(index_elements=KEY, set_=update)


def _replace(conn, records: list[dict]) -> None:
    """Portable upsert for other dialects: delete the rows' keys, then insert (one transaction)."""
    for r in records:
        conn.execute(PREDICTIONS.delete().where(sa.and_(*[PREDICTIONS.c[k] == r[k] for k in KEY])))
    conn.execute(PREDICTIONS.insert(), records)


def read_predictions(url: str, root: Path | None = None) -> pd.DataFrame:
    """Every stored prediction (COLUMNS)."""
    engine = connect(url, root)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(TABLE):
                raise DatabaseError(f"churn.db_url {_safe(str(engine.url))}: no table {TABLE} (run the churn stage)")
            return pd.read_sql(sa.select(PREDICTIONS), conn)
    finally:
        engine.dispose()

"""The wallet's credit table: loans joined with the applicant's attributes and behaviour; checks of any table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from paylab.credit.behaviour import behaviour_features

APPLICATION = ["amount", "term_months", "purpose", "credit_score", "yearly_income", "total_debt", "current_age",
               "num_credit_cards", "per_capita_income", "amount_to_income", "debt_to_income"]
USER_COLUMNS = ["client_id", "current_age", "per_capita_income", "yearly_income", "total_debt", "credit_score",
                "num_credit_cards"]


def load_applications(interim: Path, lookback_days: int = 180) -> pd.DataFrame:
    """One row per loan of data/interim/loans.parquet: loan_id, client_id, application_date, y (1 = defaulted), the
    APPLICATION columns (the form + the user's attributes) and the behaviour columns (bh_*)."""
    loans = pd.read_parquet(interim / "loans.parquet")
    users = pd.read_parquet(interim / "users.parquet", columns=USER_COLUMNS)
    missing = sorted(set(loans["client_id"]) - set(users["client_id"]))
    if missing:
        raise ValueError(f"{interim / 'loans.parquet'}: column client_id has clients absent from users.parquet, "
                         f"e.g. {missing[0]}")
    table = loans.merge(users, on="client_id", how="left", validate="many_to_one")
    table["amount_to_income"] = table["amount"] / table["yearly_income"].where(table["yearly_income"] > 0)
    table["debt_to_income"] = table["total_debt"] / table["yearly_income"].where(table["yearly_income"] > 0)
    table["y"] = table["defaulted"].astype(int)
    behaviour = behaviour_features(interim / "transactions.parquet", table, lookback_days)
    table = table.merge(behaviour, on="loan_id", how="left", validate="one_to_one")
    return table.sort_values(["application_date", "loan_id"]).reset_index(drop=True)


def attach_oracle(table: pd.DataFrame, interim: Path) -> pd.DataFrame:
    """`table` with the generator's default_probability (latent ceiling) when data/interim/oracle/loans.parquet
    exists, else unchanged."""
    path = interim / "oracle" / "loans.parquet"
    if not path.exists():
        return table
    return table.merge(pd.read_parquet(path), on="loan_id", how="left", validate="one_to_one")


def binary_target(frame: pd.DataFrame, target: str, bad_value=None, source: str = "data") -> pd.Series:
    """The target as 0/1 (1 = bad). `bad_value` names the bad class (compared as text); without it, the target must
    be 0/1 or boolean. Errors name the file, the column and the values found."""
    if target not in frame.columns:
        raise ValueError(f"{source}: no target column {target!r} (columns: {', '.join(map(str, frame.columns[:20]))})")
    col = frame[target]
    if col.isna().any():
        raise ValueError(f"{source}: column {target!r} has {int(col.isna().sum())} missing values "
                         f"(e.g. row {int(col.index[col.isna()][0])})")
    values = sorted(col.astype(str).unique())
    if len(values) != 2:
        raise ValueError(f"{source}: target column {target!r} must have exactly two values, found {len(values)}: "
                         f"{values[:10]}")
    if bad_value is not None:
        if str(bad_value) not in values:
            raise ValueError(f"{source}: --bad-value {bad_value!r} does not occur in column {target!r} "
                             f"(values: {values})")
        return (col.astype(str) == str(bad_value)).astype(int)
    if set(values) <= {"0", "1"} or set(values) <= {"False", "True"}:
        return col.astype(str).isin(["1", "True"]).astype(int)
    raise ValueError(f"{source}: target column {target!r} has values {values}: say which is bad with --bad-value")

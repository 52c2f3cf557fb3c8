"""Default engine: polars expressions plus numba sweeps for the sliding windows. Implements `spec`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

from paylab.features import kernels
from paylab.features.spec import (
    ATTRIBUTES,
    CHANNELS,
    CYCLES,
    ENTITIES,
    KEY_COLUMNS,
    MIN_STD,
    NIGHT_HOURS,
    NOVELTY,
    PASSTHROUGH,
    RISK_ENTITIES,
    VELOCITY_STATS,
    FeatureConfig,
    ratio_specs,
    risk_name,
    velocity_name,
)

Block = pl.DataFrame
RISK_KEYS = {**RISK_ENTITIES, "card": "card_id"}


def prepare(tx: pl.DataFrame) -> pl.DataFrame:
    """Transactions in (timestamp, transaction_id) order with integer microseconds `ts_us` (as they are when
    already prepared)."""
    if "ts_us" in tx.columns:
        return tx
    return tx.sort("timestamp", "transaction_id").with_columns(ts_us=pl.col("timestamp").dt.epoch("us"))


class Context:
    """Prepared transactions with cached groupings and dense codes."""

    def __init__(self, tx: pl.DataFrame, cfg: FeatureConfig) -> None:
        self.tx, self.cfg = tx, cfg
        self._groups: dict[tuple[str, ...], Groups] = {}
        self._codes: dict[str, np.ndarray] = {}

    def groups(self, *keys: str) -> Groups:
        if keys not in self._groups:
            key = self.codes(keys[0])
            for col in keys[1:]:
                code = self.codes(col)
                key = key * (int(code.max(initial=0)) + 1) + code
            self._groups[keys] = Groups(self.tx, key)
        return self._groups[keys]

    def flag(self, col: str) -> np.ndarray:
        """A boolean column as 0/1 int64 (null counts as 0)."""
        return self.tx[col].fill_null(False).cast(pl.Int64).to_numpy()

    def codes(self, col: str) -> np.ndarray:
        """Dense integer codes of a column, 0 for null."""
        if col not in self._codes:
            self._codes[col] = self.tx[col].rank("dense").fill_null(0).cast(pl.Int64).to_numpy()
        return self._codes[col]


def blocks(tables: dict[str, pl.DataFrame], cfg: FeatureConfig,
           risk_entities: Iterable[str] = tuple(RISK_ENTITIES)) -> Iterator[Block]:
    """Feature blocks, each one column set for every transaction in (timestamp, transaction_id) order; the merchant /
    MCC risk of `risk_entities` only (the Spark engine computes them on merchant and MCC partitions)."""
    ctx = Context(prepare(tables["transactions"]), cfg)
    yield ctx.tx.select(KEY_COLUMNS)
    yield row_block(ctx.tx, cfg)
    yield from client_blocks(ctx)
    yield attribute_block(ctx.tx, tables["cards"], tables["users"], cfg)
    yield from risk_blocks(ctx, risk_entities)


def client_blocks(ctx: Context) -> Iterator[Block]:
    """The blocks that read only the rows of the transaction's own client (a card belongs to one client): velocity,
    history, sequence, novelty, home state and the card's risk. The Spark engine runs these per client partition."""
    for entity in ENTITIES:
        for window, width in ctx.cfg.velocity_windows():
            yield velocity_block(ctx, entity, window, width)
    yield history_block(ctx)
    yield sequence_block(ctx)
    yield novelty_block(ctx)
    yield home_state_block(ctx.tx, ctx.cfg)
    yield from risk_blocks(ctx, ("card",))


def ratio_block(inputs: pl.DataFrame, cfg: FeatureConfig) -> Block:
    """The derived ratios; `inputs` holds their numerators and denominators."""
    return inputs.select(
        pl.when(pl.col(den) != 0).then(pl.col(num).cast(pl.Float64) / pl.col(den)).alias(name)
        for name, num, den in ratio_specs(cfg)
    )


def row_block(tx: pl.DataFrame, cfg: FeatureConfig) -> Block:
    hour = pl.col("timestamp").dt.hour().cast(pl.Int64)
    weekday = pl.col("timestamp").dt.weekday().cast(pl.Int64) - 1
    exprs = [pl.col(c) for c in PASSTHROUGH]
    exprs += [(pl.col("amount").abs() + 1).log().alias("amount_log_abs"),
              pl.col("errors").is_not_null().alias("has_error")]
    exprs += [(pl.col("channel") == c).alias(f"is_{c}") for c in CHANNELS]
    exprs += [hour.alias("hour"), weekday.alias("weekday"),
              ((hour >= NIGHT_HOURS[0]) & (hour < NIGHT_HOURS[1])).alias("is_night"),
              (weekday >= 5).alias("is_weekend")]
    for unit, period in CYCLES.items():
        angle = 2 * math.pi * (hour if unit == "hour" else weekday) / period
        exprs += [angle.sin().alias(f"{unit}_sin"), angle.cos().alias(f"{unit}_cos")]
    return tx.select(exprs)


class Groups:
    """Rows grouped by an integer key, in (key, timestamp, transaction_id) order: `take` sorts, `back` unsorts."""

    def __init__(self, tx: pl.DataFrame, key: np.ndarray) -> None:
        self.perm = np.argsort(key, kind="stable")  # tx is in time order: stable keeps it inside a group
        k = key[self.perm]
        self.starts = np.concatenate([[0], np.flatnonzero(k[1:] != k[:-1]) + 1, [k.size]]).astype(np.int64)
        self.tx = tx

    def take(self, col: str, dtype=None) -> np.ndarray:
        return self.tx[col].to_numpy().astype(dtype or self.tx[col].to_numpy().dtype, copy=False)[self.perm]

    def back(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.perm] = values
        return out

    def position(self) -> np.ndarray:
        """Number of earlier rows in the row's group."""
        sizes = np.diff(self.starts)
        return self.back(np.arange(self.perm.size) - np.repeat(self.starts[:-1], sizes))


def velocity_block(ctx: Context, entity: str, window: str, width: int) -> Block:
    g = ctx.groups(ENTITIES[entity])
    merch, mcc = ctx.codes("merchant_id"), ctx.codes("mcc")
    cnt, total, top, n_m, n_c, n_bad = kernels.window_stats(
        g.starts, g.take("ts_us"), g.take("amount"), merch[g.perm], mcc[g.perm], ctx.flag("err_bad_cvv")[g.perm],
        width, int(merch.max(initial=0)) + 1, int(mcc.max(initial=0)) + 1)
    name = {s: velocity_name(entity, s, window) for s in VELOCITY_STATS}
    out = pl.DataFrame({name["cnt"]: g.back(cnt), name["sum"]: g.back(total), name["max"]: g.back(top),
                        name["nmerch"]: g.back(n_m), name["nmcc"]: g.back(n_c), name["badcvv"]: g.back(n_bad)},
                       nan_to_null=True)
    mean = pl.when(pl.col(name["cnt"]) > 0).then(pl.col(name["sum"]) / pl.col(name["cnt"]))
    return out.with_columns(mean.alias(name["mean"]))


def history_block(ctx: Context) -> Block:
    """Time since the previous transaction and moments of all earlier amounts, per card and per client."""
    cols = {}
    for entity, key in ENTITIES.items():
        g = ctx.groups(key)
        n, s, ss, gap = (g.back(a) for a in kernels.running_moments(g.starts, g.take("ts_us"), g.take("amount")))
        cols[f"{entity}_secs_since_prev"] = np.where(gap >= 0, gap / 1e6, np.nan)
        cols[f"{entity}_n_prior"], cols[f"_{entity}_s"], cols[f"_{entity}_ss"] = n, s, ss
    frame = pl.DataFrame(cols, nan_to_null=True).with_columns(ctx.tx["amount"])
    exprs = []
    for entity in ENTITIES:
        n, s, ss = pl.col(f"{entity}_n_prior"), pl.col(f"_{entity}_s"), pl.col(f"_{entity}_ss")
        mean = pl.when(n > 0).then(s / n)
        std = pl.when(n > 1).then(((ss - s * s / n) / (n - 1)).clip(lower_bound=0.0).sqrt())
        exprs += [pl.col(f"{entity}_secs_since_prev"), n, mean.alias(f"{entity}_hist_mean"),
                  std.alias(f"{entity}_hist_std"),
                  pl.when(std >= MIN_STD).then((pl.col("amount") - mean) / std).alias(f"{entity}_amount_z")]
    return frame.select(exprs)


def sequence_block(ctx: Context) -> Block:
    g = ctx.groups(ENTITIES["card"])
    mean, trend, share, change = (g.back(a) for a in kernels.sequence_stats(
        g.starts, g.take("amount"), g.take("is_online", np.float64), g.take("merchant_id"), ctx.cfg.sequence_length))
    return pl.DataFrame({
        "card_seq_amount_mean": mean, "card_seq_amount_trend": trend,
        "card_seq_share_online": share, "card_seq_merchant_change_rate": change,
    }, nan_to_null=True)


def novelty_block(ctx: Context) -> Block:
    cols = {}
    for entity, col, short in NOVELTY:
        n_prior = ctx.groups(ENTITIES[entity], col).position()
        cols[f"{entity}_{short}_n_prior"], cols[f"{entity}_new_{short}"] = n_prior, n_prior == 0
    return pl.DataFrame(cols)


def home_state_block(tx: pl.DataFrame, cfg: FeatureConfig) -> Block:
    """Out-of-home-state: home = the running mode of the client's earlier in-person states (incumbent keeps ties)."""
    has_state = pl.col("merchant_state").is_not_null()
    running = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("client_id", "merchant_state")
    prev_max = pl.col("count").cum_max().shift(1, fill_value=0).over("client_id")
    home = (tx.select("client_id", "merchant_state", has_state.alias("has_state"))
            .with_columns(pl.when(has_state).then(running).otherwise(0).alias("count"))
            .with_columns(pl.when(pl.col("count") > prev_max).then(pl.col("merchant_state")).alias("leader"))
            .with_columns(pl.col("leader").forward_fill().shift(1).over("client_id").alias("home")))
    return home.select(
        pl.when(~pl.col("has_state")).then(False)
        .when(pl.col("home").is_not_null()).then(pl.col("merchant_state") != pl.col("home"))
        .alias("client_out_of_home_state"))


def attribute_block(tx: pl.DataFrame, cards: pl.DataFrame, users: pl.DataFrame, cfg: FeatureConfig) -> Block:
    """Card and user attributes at the transaction time, from the columns `cfg` may read (knowable + opted-in
    snapshot columns: the others are not even joined)."""
    df = (tx.select("timestamp", "card_id", "client_id", "channel")
          .join(cards.select("card_id", *cfg.attribute_columns("cards")), on="card_id", how="left",
                maintain_order="left")
          .join(users.select("client_id", *cfg.attribute_columns("users")), on="client_id", how="left",
                maintain_order="left"))
    exprs = _attribute_exprs()
    return df.select(exprs[a.name].alias(a.name) for a in cfg.attributes())


def _attribute_exprs() -> dict[str, pl.Expr]:
    """Every attribute feature as an expression (each reads only its spec `sources`)."""
    ts = pl.col("timestamp")
    month = ts.dt.year().cast(pl.Int64) * 12 + ts.dt.month().cast(pl.Int64) - 1
    age_days = (ts - pl.col("acct_open_date").cast(pl.Datetime("us"))).dt.total_microseconds() / 86_400e6
    pin_age = ts.dt.year().cast(pl.Int64) - pl.col("year_pin_last_changed").cast(pl.Int64)
    exp = pl.col("expires")
    user_age = (month - pl.col("birth_year").cast(pl.Int64) * 12 - pl.col("birth_month").cast(pl.Int64) + 1) // 12
    exprs = {a.name: pl.col(a.sources[0]) for a in ATTRIBUTES if a.copied}
    exprs.update(
        card_age_days=pl.when(age_days >= 0).then(age_days),
        card_months_to_expiry=exp.dt.year().cast(pl.Int64) * 12 + exp.dt.month().cast(pl.Int64) - 1 - month,
        card_pin_age_years=pl.when(pin_age >= 0).then(pin_age),
        card_chip_mismatch=pl.col("has_chip") & (pl.col("channel") == "swipe"),
        user_age=user_age,
        user_years_to_retirement=pl.col("retirement_age").cast(pl.Int64) - user_age,
    )
    return exprs


def risk_blocks(ctx: Context, entities: Iterable[str]) -> Iterator[Block]:
    """Known-label counts per entity over rows with timestamp <= t - delay (minus those <= t - delay - w)."""
    fraud = (ctx.tx["label"] == "fraud").cast(pl.Int64).to_numpy()
    labeled = ctx.tx["label"].is_in(["fraud", "legit"]).cast(pl.Int64).to_numpy()
    entities = set(entities)
    specs = [s for s in ctx.cfg.risk_specs() if s[0] in entities]
    for entity in dict.fromkeys(e for e, _, _ in specs):  # one entity's arrays held at a time
        yield from _entity_risk(ctx, entity, [(w, width) for e, w, width in specs if e == entity], fraud, labeled)


def _entity_risk(ctx: Context, entity: str, windows: list[tuple[str, int | None]], fraud: np.ndarray,
                 labeled: np.ndarray) -> Iterator[Block]:
    """One entity's risk blocks; the counts up to t - delay are computed once for all its windows."""
    g = ctx.groups(RISK_KEYS[entity])
    args = (g.starts, g.take("ts_us"), fraud[g.perm], labeled[g.perm])
    f_end, l_end = kernels.known_counts(*args, ctx.cfg.delay_us)
    for window, width in windows:
        f, lab = f_end, l_end
        if width is not None:
            f0, l0 = kernels.known_counts(*args, ctx.cfg.delay_us + width)
            f, lab = f - f0, lab - l0
        f, lab = g.back(f), g.back(lab)
        yield pl.DataFrame({
            risk_name(entity, "nfraud", window): f, risk_name(entity, "nlabeled", window): lab,
            risk_name(entity, "rate", window): np.divide(f, lab, out=np.full(f.size, np.nan), where=lab > 0),
        }, nan_to_null=True)

"""Read data/interim, run the default engine block by block, write one row per transaction."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from paylab.features import polars_engine
from paylab.features.spec import (
    KEY_COLUMNS,
    RISK_ENTITIES,
    RISK_STATS,
    FeatureConfig,
    feature_list,
    ratio_specs,
    risk_name,
)

POLARS_TYPES = {"f64": pl.Float64, "i64": pl.Int64, "bool": pl.Boolean, "str": pl.String}
TABLES = ("transactions", "cards", "users")
ROW_GROUP = 1 << 20


def read_interim(interim_dir: Path, transactions: int | None = None) -> dict[str, pl.DataFrame]:
    """transactions, cards and users from data/interim (names the missing file); with `transactions`, only the first
    that many transactions (the file is in time order), read lazily."""
    tables = {}
    for name in TABLES:
        path = Path(interim_dir) / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"features: missing {path} (run `paylab ingest` first)")
        scan = pl.scan_parquet(path)
        tables[name] = scan.head(transactions).collect() if name == "transactions" and transactions else scan.collect()
    return tables


def conform(block: pl.DataFrame, cfg: FeatureConfig) -> pl.DataFrame:
    """Cast a block's feature columns to their spec dtypes (keys unchanged)."""
    dtypes = {f.name: POLARS_TYPES[f.dtype] for f in feature_list(cfg)}
    return block.with_columns(pl.col(c).cast(dtypes[c]) for c in block.columns if c in dtypes)


def output_columns(cfg: FeatureConfig) -> list[str]:
    return [*KEY_COLUMNS, *(f.name for f in feature_list(cfg))]


def compute(tables: dict[str, pl.DataFrame], cfg: FeatureConfig,
            risk_entities: Iterable[str] = tuple(RISK_ENTITIES)) -> pl.DataFrame:
    """All features in memory (tests, notebooks, small data, one Spark partition). The merchant / MCC risk of an
    entity not in `risk_entities` is taken from the transactions' own columns of that name (the Spark engine
    computes it on merchant / MCC partitions before the client partitions)."""
    tx = polars_engine.prepare(tables["transactions"])
    risk_entities = tuple(risk_entities)
    given = [risk_name(e, stat, w) for e, w, _ in cfg.risk_specs() if e in RISK_ENTITIES and e not in risk_entities
             for stat in RISK_STATS]
    parts = [*polars_engine.blocks({**tables, "transactions": tx}, cfg, risk_entities), tx.select(given)]
    frame = pl.concat([conform(b, cfg) for b in parts], how="horizontal")
    ratios = conform(polars_engine.ratio_block(frame, cfg), cfg)
    return frame.hstack(ratios).select(output_columns(cfg))


class _Spill:
    """Blocks written to uncompressed parquet with fixed row groups, stitched back one row group at a time: memory
    holds one block while it is computed and one row group of every column while the output is written."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.files = tmp, {}

    def add(self, block: pl.DataFrame) -> None:
        path = self.tmp / f"block{len(set(self.files.values())):03d}.parquet"
        block.write_parquet(path, compression="uncompressed", row_group_size=ROW_GROUP, statistics=False)
        self.files.update({c: path for c in block.columns})

    def read(self, columns: Iterable[str]) -> pl.DataFrame:
        columns = list(columns)
        by_file = {p: [c for c in columns if self.files[c] == p] for p in dict.fromkeys(self.files[c] for c in columns)}
        parts = [pl.read_parquet(p, columns=cols) for p, cols in by_file.items()]
        return pl.concat(parts, how="horizontal").select(columns)

    def stitch(self, out_path: Path, columns: list[str]) -> None:
        readers = {p: pq.ParquetFile(p) for p in dict.fromkeys(self.files.values())}
        wanted = {p: [c for c in columns if self.files[c] == p] for p in readers}
        n_groups = {r.metadata.num_row_groups for r in readers.values()}
        if len(n_groups) != 1:
            raise RuntimeError(f"feature blocks disagree on row groups: {n_groups}")
        writer = None
        try:
            for i in range(n_groups.pop()):
                groups = {p: r.read_row_group(i, columns=wanted[p]) for p, r in readers.items() if wanted[p]}
                table = pa.table({c: groups[self.files[c]].column(c) for c in columns})
                if writer is None:
                    writer = pq.ParquetWriter(out_path, table.schema, compression="snappy")
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()


def build_polars(tables: dict[str, pl.DataFrame], out_path: Path, cfg: FeatureConfig) -> None:
    """Default engine with bounded memory: each block goes to disk as soon as it is computed. Takes `tables` over:
    its transactions frame is replaced by the sorted one, so that only one copy is held."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tables = {**tables, "transactions": polars_engine.prepare(tables.pop("transactions"))}  # one sorted copy only
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".features-") as tmp:
        spill = _Spill(Path(tmp))
        for block in polars_engine.blocks(tables, cfg):
            spill.add(conform(block, cfg))
        needed = dict.fromkeys(c for _, num, den in ratio_specs(cfg) for c in (num, den))
        spill.add(conform(polars_engine.ratio_block(spill.read(needed), cfg), cfg))
        spill.stitch(out_path, output_columns(cfg))

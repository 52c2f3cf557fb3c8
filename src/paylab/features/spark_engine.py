"""PySpark engine (`features.spark.master`, default `local[*]`): Spark moves the rows, the default engine's own code
computes every feature on each partition (one implementation of each feature, hence the same values).

Three hash repartitions, each followed by `mapInArrow` running `paylab.features` on the partition's rows:
1. by merchant_id: the merchant risk (`polars_engine.risk_blocks`); a partition holds whole merchants;
2. by mcc: the MCC risk, likewise;
3. by client_id (a card belongs to one client, so a partition holds whole card and client histories): every other
   feature (`build.compute` without the merchant / MCC risk, which it reads from the rows): row, calendar, velocity,
   history, sequence, novelty, home state, card risk, card / user attributes (the config's columns of cards and
   users travel with the function) and the ratios.
Each partition's output is in (timestamp, transaction_id) order; the one output file is a k-way merge of the
partitions' files (no global sort in Spark, which would sample, i.e. run the Python stage twice, and shuffle every
feature once more). A Spark directory output (`spark.single_file: false`) is sorted by Spark after a persist.

Executors need the project's Python environment: paylab itself and what it imports here (polars, numba, numpy,
pyarrow, pyspark); with the single-file output they write their part files next to the output (a shared directory on
a cluster), the driver merges them. With a local master the workers run this interpreter unless PYSPARK_PYTHON
says otherwise.
`features.spark.shuffle_partitions` (default: twice Spark's default parallelism, i.e. the cores) is the number of
partitions of each step: a partition is held in memory by one Python worker, so raise it for large data.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from paylab.features.spec import KEY_COLUMNS, RISK_ENTITIES, RISK_STATS, FeatureConfig, feature_list, risk_name

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

SPARK_TYPES = {"f64": "double", "i64": "bigint", "bool": "boolean", "str": "string"}
ARROW_BATCH = 1 << 16  # rows per Arrow batch between the JVM and the Python workers
MERGE_ROWS = 1 << 17  # rows per row group of the merged file


def spark_session(cfg: FeatureConfig) -> SparkSession:
    """A session from `features.spark` (master, driver_memory, shuffle_partitions: also Spark SQL's, default 8); UTC
    so timestamps stay naive."""
    from pyspark.sql import SparkSession

    conf = cfg.spark
    master = conf.get("master", "local[*]")
    if str(master).startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the Python workers need this environment
    builder = (SparkSession.builder.master(master).appName("paylab-features")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", conf.get("driver_memory", "4g"))
               .config("spark.python.worker.reuse", "true")  # numba and polars are loaded once per worker
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH))
               .config("spark.sql.shuffle.partitions", str(conf.get("shuffle_partitions") or 8))  # SQL shuffles
               .config("spark.ui.showConsoleProgress", "false"))
    return builder.getOrCreate()


def partitions(spark: SparkSession, cfg: FeatureConfig) -> int:
    """Partitions of each repartition: `features.spark.shuffle_partitions`, else twice the default parallelism."""
    return int(cfg.spark.get("shuffle_partitions") or 2 * spark.sparkContext.defaultParallelism)


def compute_spark(spark: SparkSession, interim_dir: Path, cfg: FeatureConfig) -> DataFrame:
    """Keys + features as a Spark DataFrame (lazy, after one quick check that every card has one client); each
    partition holds whole clients, its rows in (timestamp, transaction_id) order."""
    return _features(spark, interim_dir, cfg)


def _features(spark: SparkSession, interim_dir: Path, cfg: FeatureConfig, write_dir: Path | None = None) -> DataFrame:
    """The three steps; with `write_dir`, the client step's Python workers write their partition's features there
    (one parquet file each, in (timestamp, transaction_id) order) and the DataFrame holds one row per file: `path`,
    `rows` (the features never go through the JVM)."""
    import polars as pl
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    path = interim_dir / "transactions.parquet"
    tx = spark.read.parquet(str(path))
    _check_one_client_per_card(tx, path)
    n = partitions(spark, cfg)
    types = {f.name: _spark_type(SPARK_TYPES[f.dtype]) for f in feature_list(cfg)}
    for entity, key in RISK_ENTITIES.items():
        names = [risk_name(entity, stat, w) for e, w, _ in cfg.risk_specs() if e == entity for stat in RISK_STATS]
        schema = StructType([*tx.schema.fields, *(StructField(c, types[c]) for c in names)])
        tx = tx.repartition(n, key).mapInArrow(
            partial(_risk_partition, cfg=cfg, entity=entity, schema=_arrow_schema(schema)), schema)
    # only the columns the config may read (knowable + opted-in snapshot ones): the others are not even shipped
    attributes = {name: pl.read_parquet(interim_dir / f"{name}.parquet", columns=[key, *cfg.attribute_columns(name)])
                  for name, key in (("cards", "card_id"), ("users", "client_id"))}
    fields = {f.name: f for f in tx.schema.fields}
    schema = StructType([*(fields[c] for c in KEY_COLUMNS), *(StructField(f.name, types[f.name])
                                                               for f in feature_list(cfg))])
    run = partial(_client_partition, cfg=cfg, schema=_arrow_schema(schema), write_dir=write_dir, **attributes)
    if write_dir is not None:
        schema = StructType([StructField("path", StringType()), StructField("rows", LongType())])
    return tx.repartition(n, "client_id").mapInArrow(run, schema)


def build_spark(interim_dir: Path, out_path: Path, cfg: FeatureConfig) -> None:
    """Run the Spark engine and write `out_path` in (timestamp, transaction_id) order: one parquet file, or a Spark
    parquet directory when spark.single_file is false."""
    spark = spark_session(cfg)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not cfg.spark.get("single_file", True):
        from pyspark import StorageLevel

        features = compute_spark(spark, interim_dir, cfg).persist(StorageLevel.DISK_ONLY)  # the sort samples it
        try:
            features.orderBy("timestamp", "transaction_id").write.mode("overwrite").parquet(str(out_path))
        finally:
            features.unpersist()
        return
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".spark-features-") as tmp:
        files = sorted(Path(r["path"]) for r in _features(spark, interim_dir, cfg, Path(tmp)).collect())
        merge_sorted(files, out_path, _client_schema(spark, interim_dir, cfg) if not files else None)


def _client_schema(spark: SparkSession, interim_dir: Path, cfg: FeatureConfig) -> pa.Schema:
    return _arrow_schema(compute_spark(spark, interim_dir, cfg).schema)


def merge_sorted(files: list[Path], out_path: Path, schema: pa.Schema | None = None,
                 keys: tuple[str, str] = ("timestamp", "transaction_id"), chunk_rows: int = MERGE_ROWS) -> None:
    """One parquet file in `keys` order from files each in that order (a k-way merge): the merged order is found on
    the keys alone, then each chunk of the output takes the next rows of every file and puts them in place; polars
    streams the chunks to the file."""
    import numpy as np
    import polars as pl
    from polars.io.plugins import register_io_source

    if not files:
        pl.from_arrow(schema.empty_table()).write_parquet(out_path)
        return
    key = pl.concat([pl.read_parquet(f, columns=list(keys)).with_columns(file=pl.lit(i, pl.Int32))
                     for i, f in enumerate(files)])
    source = key.sort(list(keys), maintain_order=True)["file"].to_numpy()
    del key
    first = pl.read_parquet(files[0], n_rows=0)

    def chunks(with_columns, predicate, n_rows, batch_size) -> Iterator[pl.DataFrame]:
        streams = [_Rows(f) for f in files]
        for start in range(0, source.size, chunk_rows):
            src = source[start:start + chunk_rows]
            grouped = np.argsort(src, kind="stable")  # output positions, by file then in file order
            counts = np.bincount(src, minlength=len(files))
            pieces = pl.concat([s.next(int(c)) for s, c in zip(streams, counts, strict=True) if c], rechunk=False)
            yield pieces[np.argsort(grouped)]

    register_io_source(chunks, schema=first.schema).sink_parquet(out_path, compression="snappy",
                                                                  row_group_size=chunk_rows)



class _Rows:
    """The rows of a parquet file, `next(n)` at a time."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        file = pq.ParquetFile(path)
        self.groups = (file.read_row_group(i) for i in range(file.num_row_groups))
        self.buffer = None

    def next(self, n: int) -> pl.DataFrame:
        import polars as pl

        parts = []
        while n > 0:
            if self.buffer is None or not self.buffer.height:
                self.buffer = pl.from_arrow(next(self.groups))
            part = self.buffer.slice(0, n)
            self.buffer = self.buffer.slice(part.height)
            parts.append(part)
            n -= part.height
        return pl.concat(parts, rechunk=False)


def _check_one_client_per_card(tx: DataFrame, path: Path) -> None:
    """Card features are computed inside client partitions: a card with transactions of two clients is an error."""
    from pyspark.sql import functions as F

    bad = (tx.groupBy("card_id").agg(F.min("client_id").alias("a"), F.max("client_id").alias("b"))
           .filter(F.col("a") != F.col("b")).limit(1).collect())
    if bad:
        card, a, b = bad[0]
        raise ValueError(f"{path}: column card_id: card {card} has transactions of two clients (client_id {a} and "
                         f"{b}); the Spark engine needs every card to belong to one client")


def _partition_frame(batches: Iterator[pa.RecordBatch]) -> pl.DataFrame | None:
    """A mapInArrow partition as one polars frame (None when empty)."""
    import polars as pl
    import pyarrow as pa

    batches = [b for b in batches if b.num_rows]
    return pl.from_arrow(pa.Table.from_batches(batches)) if batches else None


def _to_batches(frame: pl.DataFrame, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    import polars as pl

    table = frame.select(schema.names).to_arrow(compat_level=pl.CompatLevel.oldest()).cast(schema)
    yield from table.to_batches(max_chunksize=ARROW_BATCH)


def _risk_partition(batches: Iterator[pa.RecordBatch], cfg: FeatureConfig, entity: str, schema: pa.Schema) -> Iterator[
        pa.RecordBatch]:
    """mapInArrow over a partition holding whole merchants (or MCCs): the rows plus the entity's risk features, by
    the default engine's `risk_blocks`."""
    import polars as pl

    from paylab.features import polars_engine
    from paylab.features.build import conform

    tx = _partition_frame(batches)
    if tx is None:
        return
    ctx = polars_engine.Context(polars_engine.prepare(tx), cfg)
    risk = [conform(block, cfg) for block in polars_engine.risk_blocks(ctx, (entity,))]
    yield from _to_batches(pl.concat([ctx.tx, *risk], how="horizontal"), schema)


def _client_partition(batches: Iterator[pa.RecordBatch], cfg: FeatureConfig, schema: pa.Schema, cards: pl.DataFrame,
                      users: pl.DataFrame, write_dir: Path | None = None) -> Iterator[pa.RecordBatch]:
    """mapInArrow over a partition holding whole clients: keys + every feature by the default engine (`compute`;
    the merchant and MCC risk already in the rows), in (timestamp, transaction_id) order; with `write_dir`, written
    to one parquet file named by the partition (a retried task rewrites it) and only its path and rows returned."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    from paylab.features.build import compute

    tx = _partition_frame(batches)
    if tx is None:
        return
    features = compute({"transactions": tx, "cards": cards, "users": users}, cfg, risk_entities=())
    if write_dir is None:
        yield from _to_batches(features, schema)
        return
    path = Path(write_dir) / f"part-{TaskContext.get().partitionId():05d}.parquet"
    table = pa.Table.from_batches(list(_to_batches(features, schema)), schema=schema)
    pq.write_table(table, path, compression="lz4", row_group_size=MERGE_ROWS)
    yield pa.RecordBatch.from_pydict({"path": [str(path)], "rows": [table.num_rows]})


def _arrow_schema(schema) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema, timezone="UTC")


def _spark_type(name: str):
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType

    return {"double": DoubleType(), "bigint": LongType(), "boolean": BooleanType(), "string": StringType()}[name]

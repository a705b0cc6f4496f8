"""Build graphlets on Spark, for stores with more pipelines than one machine digests in time.

The heavy work of a build is per pipeline: no walk leaves its pipeline. So the Spark engine
plans, refreshes in part and records exactly as :func:`mlprov.graphlets.build_graphlets` does, and
only the pipelines rebuilt whole go to Spark:

1. the canonical rows those pipelines read are exported as Parquet, one dataset per table,
   partitioned into ``bucket=N`` groups of whole pipelines (balanced by executions):
   ``LAKE/canonical/<table>/bucket=N/*.parquet``;
2. Spark reads each bucket's files as bytes, ``groupBy(bucket).applyInArrow`` hands them to
   one task, which loads them into an in-memory DuckDB store and runs
   :func:`mlprov.graphlets.build_graphlets` on it (today's SQL, nothing re-expressed), returning its
   graphlet tables as Parquet bytes (``LAKE/results``);
3. the driver loads those rows into the store in the build's one transaction, so the build
   records (and :func:`mlprov.graphlets.ensure_current`) see a build like any other.

The Parquet files travel as bytes, never as Spark columns: every DuckDB type (unsigned
hashes, lists) arrives as it left, and a column added to the graphlet tables travels without
a change here. ``LAKE`` must be a directory the driver writes and the executors read: a
temporary one in local mode, a shared mount (``/dbfs/...``, NFS) on a cluster.

Example (Spark local mode; needs pyspark and Java)::

    from mlprov.graphlets.spark import build_on_spark, spark_session
    spark = spark_session("local[2]")   # or the session of spark-submit, Databricks, ...
    with ProvenanceStore.open("prov.duckdb") as store:
        report = build_on_spark(store, spark=spark)
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from mlprov.graphlets.build import BuildReport, Written, build_graphlets
from mlprov.graphlets.errors import SparkJobError, SparkUnavailableError
from mlprov.graphlets.rules import GraphletRules
from mlprov.provenance.sql import execute, literal, scalar
from mlprov.provenance.store import ProvenanceStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The graphlet tables a task returns (all their columns, whatever schema.sql holds).
OUTPUT = ("graphlets", "graphlet_members", "graphlet_seen")
#: Canonical table -> the key table naming its rows' buckets (see _KEYS).
_EXPORT = {
    "sources": "gl_spark_s",
    "executions": "gl_spark_x",
    "execution_properties": "gl_spark_x",
    "events": "gl_spark_x",
    "artifacts": "gl_spark_a",
    "artifact_properties": "gl_spark_a",
}
#: The buckets of the pipelines rebuilt whole (gl_full), and of the rows they read: their
#: executions, the artifacts those have events on (an artifact several pipelines touch goes
#: to each of their buckets) and their sources.
_KEYS = """
CREATE OR REPLACE TEMP TABLE gl_spark_bucket AS
SELECT source_id, pkey, (row_number() OVER (ORDER BY n DESC, source_id, pkey) - 1) % $buckets
           AS bucket
FROM (SELECT n.source_id, n.pkey, count(*) AS n FROM gl_now n
      SEMI JOIN gl_full f ON f.source_id = n.source_id AND f.pkey = n.pkey GROUP BY ALL);

CREATE OR REPLACE TEMP TABLE gl_spark_x AS
SELECT x.source_id, x.execution_id, b.bucket FROM executions x
JOIN gl_spark_bucket b ON b.source_id = x.source_id AND b.pkey = coalesce(x.pipeline_id, -1);

CREATE OR REPLACE TEMP TABLE gl_spark_a AS
SELECT DISTINCT e.source_id, e.artifact_id, x.bucket FROM events e
JOIN gl_spark_x x ON x.source_id = e.source_id AND x.execution_id = e.execution_id;

CREATE OR REPLACE TEMP TABLE gl_spark_s AS SELECT DISTINCT source_id, bucket FROM gl_spark_bucket
"""
#: The graphlets of the pipelines rebuilt whole, before the build (to count those removed).
_OLD = """
CREATE OR REPLACE TEMP TABLE gl_spark_old AS
SELECT g.source_id, g.graphlet_id FROM graphlets g
SEMI JOIN gl_full f ON f.source_id = g.source_id AND f.pkey = coalesce(g.pipeline_id, -1);

DELETE FROM graphlet_members m WHERE EXISTS (SELECT 1 FROM gl_spark_old o
    WHERE o.source_id = m.source_id AND o.graphlet_id = m.graphlet_id);

DELETE FROM graphlets g WHERE EXISTS (SELECT 1 FROM gl_spark_old o
    WHERE o.source_id = g.source_id AND o.graphlet_id = g.graphlet_id);

DELETE FROM graphlet_seen s WHERE EXISTS (SELECT 1 FROM gl_full f
    WHERE f.source_id = s.source_id AND f.pkey = s.pipeline_key)
"""
_RESULT_SCHEMA = "bucket INT, tbl STRING, content BINARY, report STRING"
INSTALL_HINT = "install it with: pip install 'mlprov[spark]'"


def spark_session(
    master: str | None = None, app_name: str = "mlprov", **config: str
) -> SparkSession:
    """A SparkSession on ``master`` (None: the ``SPARK_MASTER`` environment variable, else
    spark-submit's master, else ``local[*]``), with Spark settings ``config``.

    Raises:
        SparkUnavailableError: pyspark is not installed, or no Java runtime is found.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise SparkUnavailableError(f"--engine spark needs pyspark; {INSTALL_HINT}") from err
    java = Path(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else None
    if not (java and java.exists()) and shutil.which("java") is None:
        raise SparkUnavailableError(
            "--engine spark needs a Java runtime (17 or later) and found none on PATH or in "
            "JAVA_HOME; install one (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
        )
    master = master or os.environ.get("SPARK_MASTER")
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit
        master = "local[*]"
    builder = SparkSession.builder.appName(app_name).config(
        map={"spark.ui.showConsoleProgress": "false", **config}
    )
    if master:
        builder = builder.master(master)
    with _pandas_3_tolerated():
        session = builder.getOrCreate()
    if master and master.startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        session.sparkContext.pythonExec = sys.executable  # local tasks import this mlprov
    return session


def build_on_spark(
    store: ProvenanceStore,
    rules: GraphletRules | None = None,
    pipelines: Iterable[str] | None = None,
    *,
    spark: SparkSession,
    incremental: bool = True,
    lake: str | Path | None = None,
    buckets: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> BuildReport:
    """:func:`mlprov.graphlets.build_graphlets` with the pipelines rebuilt whole built on Spark.

    The result is the one the DuckDB build writes, row for row.

    Args:
        store, rules, pipelines, incremental, progress: as for
            :func:`mlprov.graphlets.build_graphlets`.
        spark: the session to run on (see :func:`spark_session`).
        lake: a directory to keep the exported canonical tables (``canonical/``), the tasks'
            results (``results/``) and the graphlet tables as Parquet (``graphlets/``,
            ``graphlet_members/``, ``graphlet_seen/``); a temporary one, removed, when None.
        buckets: groups of whole pipelines, one Spark task each; default four per core
            Spark offers (``defaultParallelism``), at most one per pipeline.

    Returns:
        A :class:`mlprov.graphlets.build.BuildReport`.
    """
    with _lake(lake) as where:
        rebuild = functools.partial(
            _rebuild_on_spark,
            spark=spark,
            lake=where,
            buckets=buckets or 4 * spark.sparkContext.defaultParallelism,
        )
        report = build_graphlets(
            store,
            rules,
            pipelines,
            incremental=incremental,
            progress=progress,
            rebuild_whole=rebuild,
        )
    if lake is not None:
        for table in OUTPUT:
            _replace_dataset(store.con, table, Path(lake) / table)
    return report


def _replace_dataset(con: duckdb.DuckDBPyConnection, table: str, where: Path) -> None:
    """Write ``table`` as Parquet partitioned by source, replacing ``where`` whole."""
    fresh = where.with_name(f".{where.name}.new")
    shutil.rmtree(fresh, ignore_errors=True)
    con.execute(f"COPY {table} TO {literal(str(fresh))} (FORMAT parquet, PARTITION_BY (source_id))")
    shutil.rmtree(where, ignore_errors=True)
    fresh.rename(where)


@contextmanager
def _lake(lake: str | Path | None) -> Iterator[Path]:
    if lake is not None:
        Path(lake).mkdir(parents=True, exist_ok=True)
        yield Path(lake).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="mlprov-spark-") as tmp:
        yield Path(tmp)


def _rebuild_on_spark(
    con: duckdb.DuckDBPyConnection,
    rules: GraphletRules,
    step: Callable[[str, int], None],
    *,
    spark: SparkSession,
    lake: Path,
    buckets: int,
) -> Written:
    """The :data:`mlprov.graphlets.build.RebuildWhole` of Spark (see the module doc)."""
    pipelines = int(scalar(con, "SELECT count(*) FROM gl_full"))
    if not pipelines:
        return Written()
    step("exporting to Parquet", pipelines)
    buckets = max(1, min(buckets, pipelines))
    execute(con, _KEYS.replace("$buckets", str(buckets)))
    canonical = lake / "canonical"
    shutil.rmtree(canonical, ignore_errors=True)
    canonical.mkdir()
    for table, keys in _EXPORT.items():
        join = " AND ".join(f"k.{c} = t.{c}" for c in _key_columns(con, keys))
        con.execute(
            f"COPY (SELECT t.*, k.bucket FROM {table} t JOIN {keys} k ON {join}) "
            f"TO {literal(str(canonical / table))} (FORMAT parquet, PARTITION_BY (bucket))"
        )
    step("building on Spark", pipelines)
    results = lake / "results"
    from pyspark.errors import PySparkException

    try:
        _spark_job(spark, canonical, results, rules, buckets=buckets, threads=_task_threads(spark))
    except PySparkException as err:
        raise SparkJobError(
            f"the Spark build failed ({_last_line(err)}); nothing was changed. The executors "
            "need mlprov installed and the --lake directory mounted at the same path (see the "
            "README's Spark section)"
        ) from err
    step("loading the results", pipelines)
    execute(con, _OLD)
    reports: dict[int, Written] = {}
    for batch in ds.dataset(results, format="parquet").to_batches(batch_size=8):
        for row in batch.to_pylist():  # a few rows at a time: results may be large
            _insert(con, row["tbl"], row["content"])
            reports[row["bucket"]] = Written(**json.loads(row["report"]))
    removed = scalar(
        con,
        "SELECT count(*) FROM gl_spark_old o ANTI JOIN graphlets g "
        "ON g.source_id = o.source_id AND g.graphlet_id = o.graphlet_id",
    )
    return replace(Written.sum(list(reports.values())), removed=int(removed))


def _spark_job(
    spark: SparkSession,
    canonical: Path,
    results: Path,
    rules: GraphletRules,
    *,
    buckets: int,
    threads: int,
) -> None:
    """Run one task per bucket over the exported files; write their results to ``results``."""
    from pyspark.sql import functions as F

    parts = [
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "*.parquet")
        .load((canonical / table).as_uri())
        .select("bucket", F.lit(table).alias("tbl"), "content")
        for table in _EXPORT
        if any((canonical / table).glob("bucket=*/*.parquet"))  # no rows: no files
    ]
    files = functools.reduce(lambda a, b: a.unionByName(b), parts)

    def task(files: pa.Table) -> pa.Table:  # a plain function: Spark reads its type hints
        return build_bucket(files, rules, threads)

    with _pandas_3_tolerated():
        # An explicit repartition: adaptive execution would merge the buckets' few input
        # bytes into one task, and the work is in the build, not in the bytes.
        grouped = files.repartition(buckets, "bucket").groupBy("bucket")
        built = grouped.applyInArrow(task, schema=_RESULT_SCHEMA)
    built.write.mode("overwrite").parquet(results.as_uri())


def build_bucket(files: pa.Table, rules: GraphletRules, threads: int = 1) -> pa.Table:
    """One Spark task: build the graphlets of one bucket of whole pipelines.

    Args:
        files: rows (bucket, tbl, content): the bucket's Parquet files of each canonical
            table the build reads, as bytes.
        rules: the build's rules.
        threads: DuckDB threads (the cores Spark gives a task).

    Returns:
        Rows (bucket, tbl, content, report): each of :data:`OUTPUT` as Parquet bytes, with
        what the build wrote (a :class:`mlprov.graphlets.build.Written` as JSON).
    """
    with ProvenanceStore.open(":memory:") as store:
        store.con.execute(f"SET threads = {max(1, threads)}")
        for table, content in zip(
            files["tbl"].to_pylist(), files["content"].to_pylist(), strict=True
        ):
            _insert(store.con, table, content)
        report = build_graphlets(store, rules, incremental=False)
        written = Written(**{f.name: getattr(report, f.name) for f in fields(Written)})
        out = [parquet_bytes(store.con.sql(f"SELECT * FROM {t}").to_arrow_table()) for t in OUTPUT]
    return pa.table(
        {
            "bucket": pa.array([files["bucket"][0].as_py()] * len(OUTPUT), pa.int32()),
            "tbl": list(OUTPUT),
            "content": pa.array(out, pa.binary()),
            "report": [json.dumps(asdict(written))] * len(OUTPUT),
        }
    )


def _insert(con: duckdb.DuckDBPyConnection, table: str, content: bytes) -> None:
    """Append the Parquet file ``content`` to ``table``, matching columns by name."""
    con.register("gl_spark_part", pq.read_table(pa.BufferReader(content)))
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM gl_spark_part")
    con.unregister("gl_spark_part")


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as the bytes of a Parquet file."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue())


@contextmanager
def _pandas_3_tolerated() -> Iterator[None]:
    """Without pyspark's warning about pandas 3 (on starting and on any Python UDF): the
    Spark build hands Spark Arrow tables only, never pandas frames."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
        yield


def _last_line(err: Exception) -> str:
    """The gist of a Spark error: the last line of a task's Python traceback, else the first."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    python = [line for line in lines if re.match(r"^\w+(Error|Exception): ", line)]
    return (python or lines or [type(err).__name__])[-1 if python else 0]


def _task_threads(spark: SparkSession) -> int:
    return int(spark.conf.get("spark.task.cpus", "1") or 1)


def _key_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    return [n for n in names if n != "bucket"]

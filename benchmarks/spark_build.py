"""The graphlet build on Spark local mode against the single-machine build, and Spark's cost
per task.

Generates (or reuses) the corpus of a scale in ``--cache`` and its ingested DuckDB store, then
rebuilds every pipeline whole (``incremental=False``), each time in a fresh copy of the store:

* ``duckdb``: :func:`mlprov.graphlets.build_graphlets`, the baseline, measured in the same run;
* ``spark``: :func:`mlprov.graphlets.spark.build_on_spark` on ``local[N]`` with its default buckets
  (four per core), split into export, Spark job and load by the build's progress stages;
* ``spark_per_pipeline``: one bucket per pipeline. Against the default, the difference per
  extra task is Spark's cost of a task (scheduling, shipping, a DuckDB store opened per task);
* ``task_floor``: one task's own fixed work outside Spark (open an in-memory store, build
  nothing, write empty results), timed in this process.

Checks that both engines wrote the same tables, prints a table and one JSON line. The
machine is shared: read the ratios, not the seconds.

    python -m benchmarks.spark_build --scale 0.1 --master 'local[2]'
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.corpus import config_for, ensure_corpus
from mlprov.graphlets import build_graphlets
from mlprov.graphlets.rules import GraphletRules
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore

#: Each graphlet table summed up: rows, a sum of hashes per column, and the float columns'
#: sums rounded (the engines add a graphlet's costs in different orders).
FINGERPRINT = {
    "graphlets": "SELECT count(*), "
    "sum(hash(COLUMNS(* EXCLUDE (own_cost, split_cost, span_overlap)))), "
    "round(sum(own_cost), 3), round(sum(split_cost), 3), round(sum(span_overlap), 6) "
    "FROM graphlets",
    "graphlet_members": "SELECT count(*), sum(hash(COLUMNS(*))) FROM graphlet_members",
    "graphlet_seen": "SELECT count(*), sum(hash(COLUMNS(*))) FROM graphlet_seen",
}


def ingested(scale: float, cache: Path) -> Path:
    """The DuckDB store of the corpus of ``scale``, ingested once into ``cache``."""
    source, _ = ensure_corpus(config_for(scale), cache)
    db = cache / f"{source.stem}.duckdb"
    if not db.exists():
        partial = db.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        with ProvenanceStore.open(partial) as store:
            ingest(store, str(source))
        partial.rename(db)
    return db


def timed_build(
    db: Path, work: Path, build: Callable[..., Any]
) -> tuple[float, dict[str, float], dict[str, Any]]:
    """Rebuild a fresh copy of ``db`` with ``build``: seconds, seconds per progress stage
    (from its start to the next stage's), and the graphlet tables' fingerprints."""
    copy = work / "copy.duckdb"
    shutil.copy(db, copy)
    marks: list[tuple[str, float]] = []
    with ProvenanceStore.open(copy) as store:
        started = time.perf_counter()
        build(
            store,
            incremental=False,
            progress=lambda stage, _: marks.append((stage, time.perf_counter())),
        )
        seconds = time.perf_counter() - started
        tables = {t: store.con.execute(FINGERPRINT[t]).fetchall()[0] for t in FINGERPRINT}
    copy.unlink()
    ends = [t for _, t in marks[1:]] + [started + seconds]
    stages: dict[str, float] = {}
    for (stage, begun), end in zip(marks, ends, strict=True):
        stages[stage] = stages.get(stage, 0.0) + end - begun
    return seconds, stages, tables


def task_floor(repeats: int = 20) -> float:
    """Seconds of one task's fixed work outside Spark: open an in-memory store, build
    nothing, write the empty results."""
    from mlprov.graphlets.spark import build_bucket, parquet_bytes

    with ProvenanceStore.open(":memory:") as store:
        sources = parquet_bytes(store.con.sql("SELECT * FROM sources").to_arrow_table())
    files = pa.table(
        {"bucket": pa.array([0], pa.int32()), "tbl": ["sources"], "content": [sources]}
    )
    started = time.perf_counter()
    for _ in range(repeats):
        build_bucket(files, GraphletRules())
    return (time.perf_counter() - started) / repeats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1 = 3,000 pipelines.")
    parser.add_argument("--master", default="local[2]", help="Spark master.")
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    parser.add_argument("--no-per-pipeline", action="store_true", help="Skip that run.")
    args = parser.parse_args(argv)

    from mlprov.graphlets.spark import build_on_spark, spark_session

    db = ingested(args.scale, args.cache)
    with ProvenanceStore.open(db, read_only=True) as store:
        pipelines = len(store.df("SELECT DISTINCT source_id, pipeline_id FROM executions"))
        executions = store.count("executions")
    spark = spark_session(args.master, app_name="mlprov-benchmark", **{"spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    cores = spark.sparkContext.defaultParallelism
    buckets = min(4 * cores, pipelines)

    def on_spark(n: int) -> Callable[..., Any]:
        return lambda store, **kw: build_on_spark(store, spark=spark, buckets=n, **kw)

    r: dict[str, Any] = {
        "scale": args.scale,
        "pipelines": pipelines,
        "executions": executions,
        "master": args.master,
        "cores": cores,
        "buckets": buckets,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        r["duckdb_s"], _, expected = timed_build(db, work, build_graphlets)
        timed_build(db, work, on_spark(cores))  # warm up the JVM and the Python workers
        r["spark_s"], stages, tables = timed_build(db, work, on_spark(buckets))
        r["spark_stages_s"] = {k: stages[k] for k in SPARK_STAGES}
        r["identical"] = tables == expected
        if not args.no_per_pipeline:
            r["per_pipeline_s"], per, tables = timed_build(db, work, on_spark(pipelines))
            extra = per["building on Spark"] - stages["building on Spark"]
            r["per_task_s"] = extra * cores / max(1, pipelines - buckets)
            r["identical"] = r["identical"] and tables == expected
    spark.stop()
    r["task_floor_s"] = task_floor()
    r["spark_to_duckdb"] = r["spark_s"] / r["duckdb_s"]
    print(render(r))
    print(json.dumps(r))
    return 0 if r["identical"] else 1


SPARK_STAGES = ("exporting to Parquet", "building on Spark", "loading the results")


def render(r: dict[str, Any]) -> str:
    """The result as a small table."""
    lines = [
        f"scale {r['scale']}: {r['pipelines']:,} pipelines, {r['executions']:,} executions; "
        f"Spark {r['master']} ({r['cores']} cores)",
        f"  single-machine DuckDB build      {r['duckdb_s']:8.1f} s",
        f"  Spark, {r['buckets']:>3} buckets              {r['spark_s']:8.1f} s"
        f"  ({r['spark_to_duckdb']:.1f}x DuckDB)",
        *(f"    {k:<30}{v:8.1f} s" for k, v in r["spark_stages_s"].items()),
    ]
    if "per_task_s" in r:
        lines.append(f"  Spark, one task per pipeline     {r['per_pipeline_s']:8.1f} s")
        lines.append(
            f"  Spark's cost per extra task      {r['per_task_s'] * 1000:8.0f} ms of a core"
        )
    lines.append(f"  task floor (empty build)         {r['task_floor_s'] * 1000:8.0f} ms")
    lines.append(f"  identical tables: {r['identical']}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

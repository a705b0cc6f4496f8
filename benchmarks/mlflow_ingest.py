"""MLflow ingest speed: tracking-database rows per second into the canonical store.

The schema is created once by the real client's migrations (``mlflow`` must be installed;
cached in ``--cache``); rows are then generated directly with SQL in MLflow's tables: per
experiment, pipeline runs with nested steps (preprocess, train, evaluate), each step with
tags, params and latest metrics, datasets logged as inputs, a logged model and a registered
version per training, one ``champion`` alias per experiment (seeded; cached in ``--cache``).
Ingests into a fresh DuckDB file are timed ``--repeat`` times (best and median wall and CPU
seconds, the load average when they start) against the baseline a user would otherwise
write, stdlib ``sqlite3`` reading the same tables row by row in the same run. Prints a table
and one JSON line.

    python -m benchmarks.mlflow_ingest --experiments 20 --pipelines 550
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.ingest_speed import stdlib_read
from mlprov.provenance.ingest import ingest
from mlprov.provenance.mlflow_store import _READS
from mlprov.provenance.store import ProvenanceStore

T0 = 1_767_225_600_000
STEPS = ("preprocess", "train", "evaluate")
TARGET = 200_000  # rows per second into the canonical store (issue 13)


def empty_schema(cache: Path) -> Path:
    """An MLflow SQLite database with the current client's schema and no rows (cached)."""
    path = cache.resolve() / "mlflow_schema.db"
    if not path.exists():
        import mlflow

        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        tmp.unlink(missing_ok=True)
        cwd = Path.cwd()
        with tempfile.TemporaryDirectory() as scratch:
            os.chdir(scratch)  # the client creates ./mlruns
            try:
                mlflow.MlflowClient(f"sqlite:///{tmp}").search_experiments()
            finally:
                os.chdir(cwd)
        tmp.rename(path)
    return path


_GENERATE = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
INSERT INTO {table} SELECT {select} FROM n
"""


def generate(
    path: Path, experiments: int, pipelines: int, params: int, metrics: int, seed: int = 7
) -> None:
    """Fill the empty schema at ``path``: ``pipelines`` pipeline runs per experiment
    (``seed`` picks the failed runs, durations and values)."""
    con = sqlite3.connect(path)
    pr = experiments * pipelines  # pipeline runs; run k*4 is a parent, k*4+1.. its steps
    runs = pr * (1 + len(STEPS))

    def fill(table: str, count: int, select: str) -> None:
        con.execute(_GENERATE.format(table=table, select=select), {"count": count})

    # experiment ids 1..experiments; pipeline run p of experiment p % experiments + 1
    fill(
        "experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
        "last_update_time)",
        experiments,
        f"i + 1, 'exp-' || i, '/a/' || i, 'active', {T0}, {T0}",
    )
    run = "printf('%032x', i)"
    step = "CASE i % 4 WHEN 1 THEN 'preprocess' WHEN 2 THEN 'train' ELSE 'evaluate' END"
    fill(
        "runs (run_uuid, name, source_type, status, start_time, end_time, lifecycle_stage, "
        "artifact_uri, experiment_id, user_id)",
        runs,
        f"{run}, CASE WHEN i % 4 = 0 THEN 'pipeline' ELSE {step} END, 'LOCAL', "
        f"CASE WHEN (i + {seed}) % 97 = 5 THEN 'FAILED' ELSE 'FINISHED' END, "
        f"{T0} + (i / 4) * 3600000 + (i % 4) * 60000, "
        f"{T0} + (i / 4) * 3600000 + (i % 4) * 60000 + 30000 + ((i * {seed}) % 7) * 1000, "
        "'active', '/a', (i / 4) % :e + 1, 'bench'".replace(":e", str(experiments)),
    )
    fill("tags (key, value, run_uuid)", runs, f"'mlflow.runName', 'r', {run}")
    fill("tags (key, value, run_uuid)", runs, f"'mlflow.user', 'bench', {run}")
    fill(
        "tags (key, value, run_uuid)",
        runs,
        f"'mlflow.parentRunId', printf('%032x', (i / 4) * 4), {run}",
    )
    con.execute("DELETE FROM tags WHERE key = 'mlflow.parentRunId' AND value = run_uuid")
    for k in range(params):
        fill(
            "params (key, value, run_uuid)",
            runs,
            f"'p{k}', CAST((i + {seed * k}) % 13 AS TEXT), {run}",
        )
    for k in range(metrics):
        fill(
            "latest_metrics (key, value, timestamp, step, is_nan, run_uuid)",
            runs,
            f"'m{k}', ((i * {seed} + {k}) % 100) / 100.0, {T0} + i, 0, 0, {run}",
        )
    for table in ("params", "latest_metrics"):  # the steps' only: parents end in 0, 4, 8, c
        con.execute(f"DELETE FROM {table} WHERE substr(run_uuid, 32, 1) IN ('0', '4', '8', 'c')")
    fill(
        "datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, dataset_source)",
        pr,
        "printf('d%031x', i), i % :e + 1, 'data-' || i, printf('%08x', i), 'path', "
        "'{\"uri\": \"s3://lake/' || i || '\"}'".replace(":e", str(experiments)),
    )
    for offset in (1, 2):  # preprocess and train read the pipeline run's dataset
        fill(
            "inputs (input_uuid, source_type, source_id, destination_type, destination_id)",
            pr,
            f"printf('i{offset}%030x', i), 'DATASET', printf('d%031x', i), 'RUN', "
            f"printf('%032x', i * 4 + {offset})",
        )
        fill(
            "input_tags (input_uuid, name, value)",
            pr,
            f"printf('i{offset}%030x', i), 'mlflow.data.context', 'training'",
        )
    fill(
        "logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp_ms, "
        "last_updated_timestamp_ms, status, lifecycle_stage, source_run_id)",
        pr,
        f"printf('m-%030x', i), i % {experiments} + 1, 'clf', '/m/' || i, {T0} + i * 3600000, "
        f"{T0} + i * 3600000, 2, 'active', printf('%032x', i * 4 + 2)",
    )
    fill(
        "registered_models (name, creation_time, last_updated_time)",
        experiments,
        f"'model-' || (i + 1), {T0}, {T0}",
    )
    fill(
        "model_versions (name, version, creation_time, last_updated_time, current_stage, "
        "source, run_id, status)",
        pr,
        f"'model-' || (i % {experiments} + 1), i / {experiments} + 1, {T0} + i * 3600000, "
        f"{T0} + i * 3600000, 'None', printf('models:/m-%030x', i), "
        "printf('%032x', i * 4 + 2), 'READY'",
    )
    fill(
        "registered_model_aliases (alias, version, name)",
        experiments,
        f"'champion', {pipelines}, 'model-' || (i + 1)",
    )
    con.commit()
    con.close()


def cached_corpus(args: argparse.Namespace) -> Path:
    """The corpus those options name, generated once into the cache (temp file + rename)."""
    name = f"mlflow_{args.experiments}e_{args.pipelines}p_{args.params}x{args.metrics}_s{args.seed}"
    path = args.cache.resolve() / f"{name}.db"
    if not path.exists():
        tmp = path.with_suffix(".partial")
        shutil.copy(empty_schema(args.cache), tmp)
        generate(tmp, args.experiments, args.pipelines, args.params, args.metrics, args.seed)
        tmp.rename(path)
    return path


def makeup(path: Path) -> dict[str, int]:
    """Rows per MLflow table of the corpus (the tables the reader reads)."""
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return {
            r.table: con.execute(f"SELECT count(*) FROM {r.table}").fetchone()[0] for r in _READS
        }
    finally:
        con.close()


def timed_ingest(source: Path, target: Path, *, fresh: bool = True) -> dict[str, float]:
    """One ingest of ``source`` into the canonical store at ``target`` (a new one when
    ``fresh``): wall and CPU seconds (this process, DuckDB's threads included), rows read."""
    if fresh:
        target.unlink(missing_ok=True)
    with ProvenanceStore.open(target) as store:
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        report = ingest(store, str(source))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        executions = store.con.execute("SELECT count(*) FROM executions").fetchall()[0][0]
    rows = report.total_read
    return {
        "rows": rows,
        "executions": int(executions),
        "wall_s": round(wall, 3),
        "rows_per_s": round(rows / wall),
        "cpu_s": round(cpu, 3),
        "rows_per_cpu_s": round(rows / cpu),
        "load_1m": round(load, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=20)
    parser.add_argument("--pipelines", type=int, default=550, help="pipeline runs per experiment")
    parser.add_argument("--params", type=int, default=12)
    parser.add_argument("--metrics", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="timed ingests (best and median)")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/.cache"))
    args = parser.parse_args(argv)
    source = cached_corpus(args)
    tables = makeup(source)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    baseline_rows, baseline_s = stdlib_read(source, tuple(tables))
    with tempfile.TemporaryDirectory(prefix="mlprov-mlflow-") as tmp:
        runs = [timed_ingest(source, Path(tmp) / "prov.duckdb") for _ in range(args.repeat)]
        # the same corpus again into the last store: an incremental ingest of nothing new
        again = timed_ingest(source, Path(tmp) / "prov.duckdb", fresh=False)
    rows = runs[0]["rows"]
    assert rows == baseline_rows == sum(tables.values()), (rows, baseline_rows, tables)
    walls = [r["wall_s"] for r in runs]
    cpus = [r["cpu_s"] for r in runs]
    best, median = min(walls), statistics.median(walls)
    result = {
        "rows": rows,
        "tables": tables,
        "executions": runs[0]["executions"],
        "repeat": args.repeat,
        "wall_s": {"best": best, "median": median},
        "rows_per_s": {"best": round(rows / best), "median": round(rows / median)},
        "cpu_s": {"best": min(cpus), "median": statistics.median(cpus)},
        "rows_per_cpu_s": {
            "best": round(rows / min(cpus)),
            "median": round(rows / statistics.median(cpus)),
        },
        "load_at_start": load_at_start,
        "cores": os.cpu_count(),
        "runs": runs,
        "reingest_unchanged": again,
        "stdlib_read_s": round(baseline_s, 3),
        "ingest_over_stdlib_read": round(median / baseline_s, 2),
        "target_rows_per_s": TARGET,
        "met": rows / median >= TARGET,
    }
    makeup_text = ", ".join(f"{t} {n:,}" for t, n in tables.items())
    print(f"{'MLflow rows read':30} {rows:>12,}  ({makeup_text})")
    print(f"{'canonical executions':30} {result['executions']:>12,}")
    for label in ("best", "median"):
        print(
            f"{'ingest, ' + label + f' of {args.repeat}':30} {result['wall_s'][label]:>11.2f}s  "
            f"{result['rows_per_s'][label]:>10,} rows/s  "
            f"{result['rows_per_cpu_s'][label]:>10,} rows/CPU-s"
        )
    print(f"{'re-ingest, unchanged':30} {again['wall_s']:>11.2f}s  {again['rows']:>10,} rows read")
    print(f"{'baseline: sqlite3 row scan':30} {baseline_s:>11.2f}s  (no canonicalization)")
    print(f"{'load at start':30} {load_at_start} on {os.cpu_count()} cores")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Ingest speed: MLMD rows per second from a SQLite store into the canonical store.

Generates (or reuses) a bulk-written TFX-shaped store, ingests it into a fresh DuckDB file, and
measures in the same run the baseline a user would otherwise write: stdlib ``sqlite3`` reading
the same tables row by row (no canonicalization at all). Prints a table and one JSON line.

    python -m benchmarks.ingest_speed --pipelines 300 --days 120
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.generator import PRESETS, generate

TABLES = (
    "Type",
    "Execution",
    "Artifact",
    "Context",
    "ExecutionProperty",
    "ArtifactProperty",
    "ContextProperty",
    "Event",
    "EventPath",
    "Association",
    "Attribution",
    "ParentContext",
)


def stdlib_read(path: Path, tables: tuple[str, ...] = TABLES) -> tuple[int, float]:
    """Rows and seconds for reading every table with sqlite3, row by row."""
    started = time.perf_counter()
    rows = 0
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    for table in tables:
        cursor = con.execute(f"SELECT * FROM {table}")
        while batch := cursor.fetchmany(10_000):
            rows += len(batch)
    con.close()
    return rows, time.perf_counter() - started


def add_store_arguments(parser: argparse.ArgumentParser, pipelines: int) -> None:
    """The options that pick the generated store (``--pipelines``, ``--days``, ...)."""
    parser.add_argument("--pipelines", type=int, default=pipelines)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/.cache"))


def cached_store(args: argparse.Namespace) -> Path:
    """The store those options name, generated once into the cache (bulk writer)."""
    args.cache.mkdir(parents=True, exist_ok=True)
    store_path = args.cache / f"tfx_{args.pipelines}p_{args.days}d_s{args.seed}.sqlite"
    if not store_path.exists():
        config = PRESETS["paper"].__class__(
            pipelines=args.pipelines, days=args.days, seed=args.seed
        )
        generate(config, store_path, writer="bulk")
    return store_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser, pipelines=300)
    args = parser.parse_args()
    store_path = cached_store(args)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProvenanceStore.open(Path(tmp) / "prov.duckdb") as store,
    ):
        started = time.perf_counter()
        report = ingest(store, str(store_path))
        seconds = time.perf_counter() - started
        again = time.perf_counter()
        ingest(store, str(store_path))
        noop = time.perf_counter() - again
        loaded = {
            t: store.count(t)
            for t in (
                "executions",
                "artifacts",
                "events",
                "execution_properties",
                "artifact_properties",
                "context_artifacts",
                "context_executions",
            )
        }
    source = sqlite3.connect(f"{store_path.resolve().as_uri()}?mode=ro", uri=True)
    in_source = {
        t: source.execute(f"SELECT count(*) FROM {s}").fetchone()[0]
        for t, s in (
            ("executions", "Execution"),
            ("artifacts", "Artifact"),
            ("events", "Event"),
            ("execution_properties", "ExecutionProperty"),
            ("artifact_properties", "ArtifactProperty"),
            ("context_artifacts", "Attribution"),
            ("context_executions", "Association"),
        )
    }
    source.close()
    base_rows, base_seconds = stdlib_read(store_path)
    result = {
        "store": str(store_path),
        "store_mb": round(store_path.stat().st_size / 2**20),
        "mlmd_rows": report.total_read,
        "ingest_s": round(seconds, 2),
        "rows_per_s": round(report.total_read / seconds),
        "stdlib_read_s": round(base_seconds, 2),
        "stdlib_rows_per_s": round(base_rows / base_seconds),
        "speedup_vs_stdlib_read": round(base_seconds / seconds, 2),
        "reingest_unchanged_s": round(noop, 2),
        "every_row_loaded": loaded == in_source,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print_result(result)


def print_result(result: dict[str, object]) -> None:
    """A benchmark's result as an aligned table, then as one JSON line."""
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Server ingest speed: the bulk server reader against the ml-metadata client on the same store.

Starts a throwaway MariaDB and PostgreSQL server (tests/fixtures/servers.py), puts the same MLMD
store on each, and ingests it once through ``mlmd_server`` and once through ``mlmd_client``
(needs ml-metadata, Python <= 3.11). The store is generated
(``mlprov synth``, bulk writer) into SQLite, then copied onto the servers into tables the client
created (benchmarks/server_copy.py): the client writer would take hours for 5M rows.
``every_row_loaded`` checks that every reader loaded every canonical row the SQLite reader loads
from the same store (per-table counts).

    python -m benchmarks.server_speed --pipelines 180 --days 120    # ~5M MLMD rows
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.ingest_speed import add_store_arguments, cached_store
from benchmarks.server_copy import copy_store
from mlprov.provenance.ingest import SOURCE_TABLES, ingest, parse_source
from mlprov.provenance.store import ProvenanceStore
from tests.fixtures.servers import Server, start_mariadb, start_postgres


def timed_ingest(source: str, kind: str | None, tmp: Path) -> dict[str, Any]:
    """Ingest ``source`` into a new database; rows read, seconds and canonical row counts."""
    db = tmp / f"{kind}-{time.monotonic_ns()}.duckdb"
    with ProvenanceStore.open(db) as store:
        started = time.perf_counter()
        report = ingest(store, parse_source(source, kind))
        seconds = time.perf_counter() - started
        counts = {t: store.count(t) for t in SOURCE_TABLES}
    db.unlink()
    return {"rows": report.total_read, "seconds": seconds, "counts": counts}


def measure(server: Server, store_path: Path, reference: dict[str, int], tmp: Path) -> dict:
    database = "metadb"
    started = time.perf_counter()
    copied = copy_store(store_path, server, database)
    copy_s = time.perf_counter() - started
    url = server.admin_url(database)
    bulk = timed_ingest(url, None, tmp)
    client = timed_ingest(url, "mlmd_client", tmp)
    return {
        "server": server.scheme,
        "mlmd_rows": copied,
        "bulk_load_onto_server_s": round(copy_s, 1),
        "bulk_reader_s": round(bulk["seconds"], 2),
        "bulk_rows_per_s": round(bulk["rows"] / bulk["seconds"]),
        "client_reader_s": round(client["seconds"], 2),
        "client_rows_per_s": round(client["rows"] / client["seconds"]),
        "speedup_vs_client": round(client["seconds"] / bulk["seconds"], 1),
        "every_row_loaded": bulk["counts"] == reference == client["counts"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser, pipelines=180)
    parser.add_argument("--servers", nargs="+", default=["mysql", "postgresql"])
    args = parser.parse_args()
    store_path = cached_store(args)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        reference = timed_ingest(str(store_path), None, Path(tmp))
        results.append(
            {
                "server": "sqlite (reference)",
                "bulk_reader_s": round(reference["seconds"], 2),
                "bulk_rows_per_s": round(reference["rows"] / reference["seconds"]),
            }
        )
        for scheme in args.servers:
            server = start_mariadb() if scheme == "mysql" else start_postgres()
            try:
                results.append(measure(server, store_path, reference["counts"], Path(tmp)))
            finally:
                server.stop()
            print(json.dumps(results[-1]), flush=True)
    for result in results:
        print("  ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()

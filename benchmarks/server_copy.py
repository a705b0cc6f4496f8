"""Copy an MLMD SQLite store into an MLMD database on a MySQL/MariaDB or PostgreSQL server.

The ml-metadata client writes a 5M-row store in hours; the benchmark instead lets the client
create the schema (so the tables are exactly the client's), then bulk-loads every table of a
store written by ``mlprov synth`` with the servers' own loaders: ``LOAD DATA LOCAL INFILE`` and
``COPY FROM`` over CSV files written by DuckDB. The result is the same rows the SQLite store
holds, so the SQLite reader's canonical tables are the reference for the server readers.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import duckdb

from tests.fixtures.servers import Server, run_sql

MLMD_TABLES = (
    "Type",
    "TypeProperty",
    "ParentType",
    "Artifact",
    "ArtifactProperty",
    "Execution",
    "ExecutionProperty",
    "Event",
    "EventPath",
    "Context",
    "ContextProperty",
    "ParentContext",
    "Association",
    "Attribution",
)
_SEQUENCES = ("Type", "Artifact", "Execution", "Event", "Context", "Association", "Attribution")


def create_schema(server: Server, database: str) -> None:
    """Create ``database`` and let the ml-metadata client create MLMD's tables in it."""
    from ml_metadata.metadata_store import metadata_store

    from mlprov.provenance.mlmd_client import connection_config

    metadata_store.MetadataStore(connection_config(server.admin_url(database), create_db=True))


def copy_store(sqlite_path: Path, server: Server, database: str) -> int:
    """Replace every MLMD row of ``database`` by the rows of the SQLite store; return the count."""
    create_schema(server, database)
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    rows = 0
    with tempfile.TemporaryDirectory() as tmp:
        script = []
        for table in MLMD_TABLES:
            columns = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            csv = Path(tmp) / f"{table}.csv"
            rows += _to_csv(sqlite_path, table, columns, csv)
            csv.chmod(0o644)
            name = table if server.scheme == "mysql" else table.lower()
            script.append(_load(server, name, columns, csv))
        Path(tmp).chmod(0o755)
        if server.scheme == "postgresql":
            script += [
                f"SELECT setval('{t.lower()}_id_seq', (SELECT coalesce(max(id), 1) FROM "
                f"{t.lower()}));"
                for t in _SEQUENCES
            ]
        run_sql(server, database, "\n".join(script))
    src.close()
    return rows


def _to_csv(sqlite_path: Path, table: str, columns: list[str], csv: Path) -> int:
    import adbc_driver_sqlite.dbapi

    conn: Any = adbc_driver_sqlite.dbapi.connect(sqlite_path.resolve().as_uri() + "?mode=ro")
    cur = conn.cursor()
    # Every column as text: the driver infers one type per column from its first batch.
    cur.execute(f"SELECT {', '.join(f'CAST({c} AS TEXT) AS {c}' for c in columns)} FROM {table}")
    db = duckdb.connect()
    db.register("src", cur.fetch_record_batch())
    copied = db.execute(
        f"COPY (SELECT * FROM src) TO '{csv}' (HEADER false, NULLSTR 'NULL', QUOTE '\"')"
    ).fetchall()
    count = int(copied[0][0])
    db.close()
    conn.close()
    return count


def _load(server: Server, table: str, columns: list[str], csv: Path) -> str:
    if server.scheme == "mysql":
        return (
            f"DELETE FROM {table}; LOAD DATA LOCAL INFILE '{csv}' INTO TABLE {table} "
            "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
            f"LINES TERMINATED BY '\\n' ({', '.join(columns)});"
        )
    return (
        f"DELETE FROM {table};\n\\copy {table} ({', '.join(c.lower() for c in columns)}) "
        f"FROM '{csv}' WITH (FORMAT csv, NULL 'NULL')"
    )

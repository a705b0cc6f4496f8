"""Read an MLMD SQLite store with bulk SQL, read-only, into the staging tables.

Each source table is read with one query through the ADBC SQLite driver, which hands DuckDB
Arrow batches; nothing is fetched row by row in Python. The file is opened with
``mode=ro``, so the source is never written, and nothing is written beside it: a store in WAL
mode, or one with a hot journal, is read through a consistent copy (see :func:`readable`).
Incremental reads take rows past the watermarks:
new ids for append-only tables, and new ids or newer update times for executions, artifacts and
contexts (MLMD bumps a node's update time when it or its properties change). The queries are
those of :mod:`mlprov.provenance.mlmd_queries`, shared with the server reader.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb
import pyarrow as pa

from mlprov.provenance import mlmd_queries as q
from mlprov.provenance.errors import (
    CorruptSourceError,
    MlprovError,
    NotAnMlmdStoreError,
    UnsupportedSchemaVersionError,
)
from mlprov.provenance.readers import ReadResult, Secret, Stage, sqlite_formats, sqlite_tables
from mlprov.provenance.sqlite_source import (
    batched_cursor,
    check_file,
    connect,
    readable,
    source_error,
    valid_text,
)

#: Source tables read at once, each on its own connections (SQLite decoding is CPU-bound).
READ_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Config:
    """An MLMD SQLite file."""

    path: Path

    @property
    def location(self) -> str:
        return str(self.path.resolve())


class _SqliteReader:
    kind = "mlmd_sql"
    summary = "MLMD SQLite files, bulk SQL through the ADBC SQLite driver (read-only)"
    schemes = ("sqlite",)

    def claims_file(self, path: Path) -> bool:
        return "MLMDEnv" in sqlite_tables(path)  # other SQLite files still fall back to it

    def configure(self, location: str, secret: Secret) -> Config:
        return Config(Path(unquote(location.removeprefix("sqlite://"))))

    def read(self, config: Config, stage: Stage) -> ReadResult:
        return read(config, stage)


READER = _SqliteReader()


# The tables and columns the reads use: a store lacking one is refused on open.
_REQUIRED_COLUMNS = {
    "Type": ("id", "name", "type_kind"),
    "Execution": (
        "id",
        "type_id",
        "last_known_state",
        "name",
        "create_time_since_epoch",
        "last_update_time_since_epoch",
    ),
    "Artifact": (
        "id",
        "type_id",
        "uri",
        "state",
        "name",
        "create_time_since_epoch",
        "last_update_time_since_epoch",
    ),
    "Context": ("id", "type_id", "name", "create_time_since_epoch", "last_update_time_since_epoch"),
    "Event": ("id", "artifact_id", "execution_id", "type", "milliseconds_since_epoch"),
    "EventPath": ("event_id", "is_index_step", "step_index", "step_key"),
    "Association": ("id", "context_id", "execution_id"),
    "Attribution": ("id", "context_id", "artifact_id"),
    "ParentContext": ("context_id", "parent_context_id"),
    **{
        f"{node}Property": (
            f"{node.lower()}_id",
            "name",
            "is_custom_property",
            "int_value",
            "double_value",
            "string_value",
            "bool_value",
        )
        for node in ("Execution", "Artifact", "Context")
    },
}


def _check_structure(cur: Any, path: Path) -> None:
    """Refuse a store that lacks a table or column the reads need, naming the first one."""
    cur.execute(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
        "WHERE m.type = 'table'"
    )
    columns: dict[str, set[str]] = {}
    for table, column in cur.fetchall():
        columns.setdefault(table, set()).add(column)
    missing = [f"table {t}" for t in _REQUIRED_COLUMNS if t not in columns] + [
        f"column {table}.{column}"
        for table, needed in _REQUIRED_COLUMNS.items()
        if table in columns
        for column in needed
        if column not in columns[table]
    ]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CorruptSourceError(
            f"{path} is not a complete MLMD store: it lacks {missing[0]}{more}, which schema "
            "version 10 has; it was altered or written by another tool; restore it from a backup"
        )


def _schema_version(cur: Any, path: Path) -> int:
    try:
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {r[0] for r in cur.fetchall()}
    except Exception as err:
        raise source_error(path, err) from err
    if "MLMDEnv" not in tables:
        missing = "MLMDEnv" if tables else "any table"
        raise NotAnMlmdStoreError(
            f"{path} is a SQLite file but not an ML Metadata store (it lacks {missing}) nor "
            f"any other format mlprov reads from SQLite ({sqlite_formats()}); pass the "
            "metadata store your pipeline writes, e.g. TFX's metadata.sqlite"
        )
    cur.execute(q.SCHEMA_VERSION_SQL)
    (version,) = cur.fetchone()
    if version not in q.SUPPORTED_SCHEMA_VERSIONS:
        raise UnsupportedSchemaVersionError(q.unsupported_version_message(str(path), version))
    _check_structure(cur, path)
    return int(version)


def read(config: Config, stage: Stage) -> ReadResult:
    """Stage every row of the store past ``stage.marks`` into the staging tables.

    Raises:
        SourceNotFoundError, NotAnMlmdStoreError, UnsupportedSchemaVersionError,
        CorruptSourceError.
    """
    path, con = config.path, stage.con
    check_file(path)
    result = ReadResult()
    snapshot = ExitStack()  # the file read: the store, or a consistent copy (see readable)
    source = snapshot.enter_context(readable(path))
    try:
        conn = connect(source)
    except Exception as err:
        snapshot.close()
        if isinstance(source_error(path, err), KeyboardInterrupt):
            raise KeyboardInterrupt from err
        raise CorruptSourceError(f"cannot open {path} read-only: {err}") from err
    try:
        cur = conn.cursor()
        result.schema_version = _schema_version(cur, path)
        cur.execute(q.BOUNDS_SQL)
        new = q.marks_from_bounds(list(cur.fetchone()))
        # Each table streams from the driver into DuckDB in Arrow batches of BATCH_ROWS rows,
        # so memory stays bounded whatever the store's size, on one connection pair per
        # worker: SQLite decoding, most of the time, runs on every core.
        q.stage_in_parallel(
            stage, result, q.SQLITE, new, READ_THREADS, functools.partial(_stage, source, con)
        )
    except (duckdb.Error, MlprovError):
        raise
    except Exception as err:  # the driver reports damage only when a page is read
        raise source_error(path, err) from err
    finally:
        conn.close()
        snapshot.close()
    result.marks = new
    return result


def _stage(path: Path, con: duckdb.DuckDBPyConnection, read: q.TableRead, sql: str) -> None:
    """Stream one source query into its staging table, on connections of its own (one driver
    connection, one DuckDB cursor): several run at once, in worker threads."""
    with source_batches(path, sql) as batches:
        q.insert_batches(con, read, valid_text(batches))


@contextmanager
def source_batches(path: Path, sql: str) -> Iterator[pa.RecordBatchReader]:
    """The rows of ``sql`` on the store at ``path``, as Arrow batches of ``BATCH_ROWS`` rows,
    on a read-only driver connection of their own (closed on leaving)."""
    conn = connect(path)
    try:
        cur = batched_cursor(conn, q.BATCH_ROWS)
        cur.execute(sql)
        yield cur.fetch_record_batch()
    finally:
        conn.close()

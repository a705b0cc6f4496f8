"""Read an MLMD SQLite store with bulk SQL, read-only, into the staging tables.

Each source table is read with one query through the ADBC SQLite driver, which hands DuckDB
Arrow batches; nothing is fetched row by row in Python. The file is opened with
``mode=ro``, so the source is never written. Incremental reads take rows past the watermarks:
new ids for append-only tables, and new ids or newer update times for executions, artifacts and
contexts (MLMD bumps a node's update time when it or its properties change). The queries are
those of :mod:`provenance.mlmd_queries`, shared with the server reader.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb

from provenance import mlmd_queries as q
from provenance.errors import (
    CorruptSourceError,
    NotAnMlmdStoreError,
    SourceNotFoundError,
    UnsupportedSchemaVersionError,
)
from provenance.readers import ReadResult, Secret, Stage

#: Source tables read at once, each on its own connections (SQLite decoding is CPU-bound).
READ_THREADS = max(1, min(4, os.cpu_count() or 1))
_SQLITE_MAGIC = b"SQLite format 3\x00"


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
        try:
            with path.open("rb") as f:
                return f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
        except OSError:
            return False

    def configure(self, location: str, secret: Secret) -> Config:
        return Config(Path(unquote(location.removeprefix("sqlite://"))))

    def read(self, config: Config, stage: Stage) -> ReadResult:
        return read(config, stage)


READER = _SqliteReader()


def check_file(path: Path) -> None:
    """Refuse what cannot be an MLMD SQLite file before opening it.

    Raises:
        SourceNotFoundError, NotAnMlmdStoreError, CorruptSourceError.
    """
    if not path.exists():
        raise SourceNotFoundError(
            f"{path} does not exist; pass the path of an MLMD SQLite "
            "file (TFX writes it as metadata.sqlite or metadata.db)"
        )
    if path.is_dir():
        raise NotAnMlmdStoreError(f"{path} is a directory; pass the MLMD SQLite file inside it")
    with path.open("rb") as f:
        header = f.read(100)
    if not header.startswith(_SQLITE_MAGIC):
        raise NotAnMlmdStoreError(
            f"{path} is not a SQLite file; pass an MLMD SQLite file, or a "
            "grpc://, mysql:// or postgresql:// URL for other stores"
        )
    if len(header) == 100:
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        if pages and path.stat().st_size < page_size * pages:
            raise CorruptSourceError(
                f"{path} is truncated: its header promises {page_size * pages} bytes but the "
                f"file has {path.stat().st_size}; copy the store again"
            )
    else:
        raise CorruptSourceError(f"{path} is truncated ({len(header)} bytes); copy it again")


def _connect(path: Path) -> Any:
    import adbc_driver_sqlite.dbapi

    uri = path.resolve().as_uri() + "?mode=ro"
    return adbc_driver_sqlite.dbapi.connect(uri)


def _schema_version(cur: Any, path: Path) -> int:
    try:
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {r[0] for r in cur.fetchall()}
    except Exception as err:
        raise CorruptSourceError(f"{path} cannot be read as SQLite: {err}") from err
    if "MLMDEnv" not in tables:
        missing = "MLMDEnv" if tables else "any table"
        raise NotAnMlmdStoreError(
            f"{path} is a SQLite file but not an ML Metadata store (it lacks {missing}); "
            "pass the metadata store your pipeline writes, e.g. TFX's metadata.sqlite"
        )
    cur.execute(q.SCHEMA_VERSION_SQL)
    (version,) = cur.fetchone()
    if version not in q.SUPPORTED_SCHEMA_VERSIONS:
        raise UnsupportedSchemaVersionError(q.unsupported_version_message(str(path), version))
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
    try:
        conn = _connect(path)
    except Exception as err:
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
            stage, result, q.SQLITE, new, READ_THREADS, functools.partial(_stage, path, con)
        )
    except duckdb.Error:
        raise
    except Exception as err:  # the driver reports damage only when a page is read
        if "malformed" in str(err) or "not a database" in str(err) or "corrupt" in str(err):
            raise CorruptSourceError(
                f"{path} is damaged: {err}; copy the store again or restore it from a backup"
            ) from err
        raise
    finally:
        conn.close()
    result.marks = new
    return result


def _stage(path: Path, con: duckdb.DuckDBPyConnection, read: q.TableRead, sql: str) -> None:
    """Stream one source query into its staging table, on connections of its own (one driver
    connection, one DuckDB cursor): several run at once, in worker threads."""
    import adbc_driver_sqlite

    conn = _connect(path)
    try:
        cur = conn.cursor()
        cur.adbc_statement.set_options(
            **{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: str(q.BATCH_ROWS)}
        )
        cur.execute(sql)
        q.insert_batches(con, read, cur.fetch_record_batch())
    finally:
        conn.close()

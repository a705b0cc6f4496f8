"""Read an MLMD SQLite store with bulk SQL, read-only, into the staging tables.

Each source table is read with one query through the ADBC SQLite driver, which hands DuckDB
Arrow batches; nothing is fetched row by row in Python. The file is opened with
``mode=ro``, so the source is never written. Incremental reads take rows past the watermarks:
new ids for append-only tables, and new ids or newer update times for executions, artifacts and
contexts (MLMD bumps a node's update time when it or its properties change).

The driver infers a column's Arrow type from its first batch, so text columns are read through
``ifnull(col, '')`` (and turned back into NULL in DuckDB) and each property row arrives as one
coalesced value per kind.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from provenance.errors import (
    CorruptSourceError,
    NotAnMlmdStoreError,
    SourceNotFoundError,
    UnsupportedSchemaVersionError,
)
from provenance.readers import STAGE, Mark, Progress, ReadResult, Skipped
from provenance.sql import scalar

SUPPORTED_SCHEMA_VERSIONS = (10,)
BATCH_ROWS = 65_536
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


# The source queries. :lo/:hi bound ids, :since is the node watermark on update time.
# On a first read the filters only bound ids, and '+col' keeps SQLite on a plain table scan
# instead of an index walk with a lookup per row (several times slower for whole tables).
_NODE_FILTER = "WHERE (id > :lo AND id <= :hi) OR last_update_time_since_epoch >= :since"
_EDGE_FILTER = "WHERE id > :lo AND id <= :hi"
_FIRST_READ_FILTERS = {
    **{
        f"{owner} IN (SELECT id FROM {node} {_NODE_FILTER})": f"+{owner} <= :hi"
        for owner, node in (
            ("context_id", "Context"),
            ("artifact_id", "Artifact"),
            ("execution_id", "Execution"),
        )
    },
    _NODE_FILTER: "WHERE id <= :hi",
    "WHERE event_id > :lo": "WHERE +event_id > :lo",
}
_PROPS = """
SELECT {owner}, name, is_custom_property,
       CASE WHEN int_value IS NOT NULL THEN 1 WHEN double_value IS NOT NULL THEN 2
            WHEN string_value IS NOT NULL THEN 3 WHEN bool_value IS NOT NULL THEN 6
            ELSE 0 END AS kind,
       ifnull(int_value, ifnull(bool_value, 0)) AS i, ifnull(double_value, 0.0) AS d,
       ifnull(string_value, '') AS s
FROM {table} WHERE {owner} IN (SELECT id FROM {node} {node_filter})"""
_PROPS_STAGE = """
SELECT {owner}, name, is_custom_property::BOOLEAN,
       CASE WHEN kind = 1 THEN i END, CASE WHEN kind = 2 THEN d END,
       CASE WHEN kind = 3 THEN s END, CASE WHEN kind = 6 THEN i <> 0 END
FROM src"""


def _props_read(staging: str, table: str, owner: str, node: str) -> tuple[str, str, str, str]:
    """The read of one property table, for the properties of the nodes being read."""
    query = _PROPS.format(owner=owner, table=table, node=node, node_filter=_NODE_FILTER)
    return staging, table, query, _PROPS_STAGE.format(owner=owner)


# (staging table, source table, source query, DuckDB select over `src`); events and their
# paths land in raw tables first and are joined by _EVENTS_STAGE. Slowest reads first: the
# workers start them first and finish together.
_READS: tuple[tuple[str, str, str, str], ...] = (
    _props_read("stg_artifact_props", "ArtifactProperty", "artifact_id", "Artifact"),
    (
        "stg_raw_paths",
        "EventPath",
        "SELECT event_id, is_index_step, step_index, ifnull(step_key, ''), rowid "
        "FROM EventPath WHERE event_id > :lo AND event_id <= :hi",
        "SELECT * FROM src",
    ),
    _props_read("stg_execution_props", "ExecutionProperty", "execution_id", "Execution"),
    (
        "stg_attributions",
        "Attribution",
        f"SELECT context_id, artifact_id FROM Attribution {_EDGE_FILTER}",
        "SELECT * FROM src",
    ),
    (
        "stg_raw_events",
        "Event",
        "SELECT id, artifact_id, execution_id, type, ifnull(milliseconds_since_epoch, 0) "
        f"FROM Event {_EDGE_FILTER}",
        "SELECT * FROM src",
    ),
    (
        "stg_artifacts",
        "Artifact",
        f"SELECT id, type_id, ifnull(uri, ''), ifnull(state, 0), ifnull(name, ''), "
        f"create_time_since_epoch, last_update_time_since_epoch FROM Artifact {_NODE_FILTER}",
        "SELECT * FROM src",
    ),
    (
        "stg_associations",
        "Association",
        f"SELECT context_id, execution_id FROM Association {_EDGE_FILTER}",
        "SELECT * FROM src",
    ),
    (
        "stg_executions",
        "Execution",
        f"SELECT id, type_id, ifnull(last_known_state, 0), ifnull(name, ''), "
        f"create_time_since_epoch, last_update_time_since_epoch FROM Execution {_NODE_FILTER}",
        "SELECT * FROM src",
    ),
    (
        "stg_contexts",
        "Context",
        f"SELECT id, type_id, name, create_time_since_epoch, last_update_time_since_epoch "
        f"FROM Context {_NODE_FILTER}",
        "SELECT * FROM src",
    ),
    _props_read("stg_context_props", "ContextProperty", "context_id", "Context"),
    (
        "stg_parent_contexts",
        "ParentContext",
        "SELECT context_id, parent_context_id FROM ParentContext",
        "SELECT * FROM src",
    ),
    ("stg_types", "Type", "SELECT id, name, type_kind FROM Type", "SELECT * FROM src"),
)

# The first key step and the first index step of each event's path (TFX writes one of each).
_EVENTS_STAGE = """
INSERT INTO stg_events
SELECT e.id_execution, e.id_artifact, e.type, e.ms, p.key, p.idx
FROM (SELECT #1 AS id, #2 AS id_artifact, #3 AS id_execution, #4 AS type, #5 AS ms
      FROM stg_raw_events) e
LEFT JOIN (
    SELECT #1 AS event_id,
           arg_min(NULLIF(#4, ''), #5) FILTER (WHERE #2 = 0) AS key,
           arg_min(#3, #5) FILTER (WHERE #2 = 1) AS idx
    FROM stg_raw_paths GROUP BY #1
) p ON p.event_id = e.id"""

_RAW_STAGING = f"""
CREATE TABLE {STAGE}.stg_raw_events (id BIGINT, artifact_id BIGINT, execution_id BIGINT,
    type INTEGER, ms BIGINT);
CREATE TABLE {STAGE}.stg_raw_paths (event_id BIGINT, is_index_step INTEGER, step_index INTEGER,
    step_key VARCHAR, seq BIGINT)"""

_BOUNDS_SQL = """
SELECT (SELECT max(id) FROM Execution), (SELECT max(last_update_time_since_epoch) FROM Execution),
       (SELECT max(id) FROM Artifact), (SELECT max(last_update_time_since_epoch) FROM Artifact),
       (SELECT max(id) FROM Context), (SELECT max(last_update_time_since_epoch) FROM Context),
       (SELECT max(id) FROM Event), (SELECT max(id) FROM Association),
       (SELECT max(id) FROM Attribution)"""


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
    cur.execute("SELECT max(schema_version) FROM MLMDEnv")
    (version,) = cur.fetchone()
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise UnsupportedSchemaVersionError(
            f"{path} has MLMD schema version {version}; mlprov reads version "
            f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))} (ml-metadata 1.14 to 1.17). "
            "Upgrade the store with the ml-metadata client "
            "(MetadataStore(config, enable_upgrade_migration=True)) on a copy, then ingest it"
        )
    return int(version)


def read(
    config: Config, con: duckdb.DuckDBPyConnection, marks: dict[str, Mark], progress: Progress
) -> ReadResult:
    """Stage every row of the store past ``marks`` into ``con``'s staging tables.

    Raises:
        SourceNotFoundError, NotAnMlmdStoreError, UnsupportedSchemaVersionError,
        CorruptSourceError.
    """
    path = config.path
    check_file(path)
    result = ReadResult()
    try:
        conn = _connect(path)
    except Exception as err:
        raise CorruptSourceError(f"cannot open {path} read-only: {err}") from err
    try:
        cur = conn.cursor()
        result.schema_version = _schema_version(cur, path)
        cur.execute(_BOUNDS_SQL)
        bounds = [b if b is not None else 0 for b in cur.fetchone()]
        new = {
            "Execution": Mark(bounds[0], bounds[1]),
            "Artifact": Mark(bounds[2], bounds[3]),
            "Context": Mark(bounds[4], bounds[5]),
            "Event": Mark(bounds[6]),
            "Association": Mark(bounds[7]),
            "Attribution": Mark(bounds[8]),
        }

        def params(table: str) -> dict[str, int]:
            node = {
                "ContextProperty": "Context",
                "ArtifactProperty": "Artifact",
                "ExecutionProperty": "Execution",
                "EventPath": "Event",
            }.get(table, table)
            old = marks.get(node, Mark())
            # First read: no filter on update time (2**62 matches nothing, ids cover it all).
            since = old.max_update_ms if old.max_id is not None else 2**62
            return {
                "lo": old.max_id if old.max_id is not None else -1,
                "hi": (new[node].max_id or 0) if node in new else 0,
                "since": since if since is not None else 2**62,
            }

        con.execute(_RAW_STAGING)
        # Each table streams from the driver into DuckDB in Arrow batches of BATCH_ROWS rows,
        # so memory stays bounded whatever the store's size, on one connection pair per
        # worker: SQLite decoding, most of the time, runs on every core.
        reads = [
            (staging, table, _bind(sql, params(table)), select)
            for staging, table, sql, select in _READS
        ]
        with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(reads))) as pool:
            staged = [
                pool.submit(_stage, path, con, staging, sql, select)
                for staging, _, sql, select in reads
            ]
            try:
                for (staging, table, _, _), done in zip(reads, staged, strict=True):
                    done.result()
                    if table in _PROPERTY_TABLES:
                        result.skipped.extend(_unloadable(con, staging, table))
                    result.rows_read[table] = _count(con, staging)
                    progress(table, result.rows_read[table])
            finally:
                for future in staged:
                    future.cancel()
        con.execute(_EVENTS_STAGE)
        con.execute("DROP TABLE stg_raw_events; DROP TABLE stg_raw_paths")
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


def _bind(sql: str, params: dict[str, int]) -> str:
    """Put integer bounds into a query (the driver binds only positional parameters)."""
    if params["lo"] < 0:
        for incremental, first in _FIRST_READ_FILTERS.items():
            sql = sql.replace(incremental, first)
    for name, value in params.items():
        sql = sql.replace(f":{name}", str(int(value)))
    return sql


def _stage(path: Path, con: duckdb.DuckDBPyConnection, staging: str, sql: str, select: str) -> None:
    """Stream one source query into a staging table, on connections of its own (one driver
    connection, one DuckDB cursor): several run at once, in worker threads."""
    import adbc_driver_sqlite

    conn = _connect(path)
    db = con.cursor()
    try:
        cur = conn.cursor()
        cur.adbc_statement.set_options(
            **{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: str(BATCH_ROWS)}
        )
        cur.execute(sql)
        db.register("src", cur.fetch_record_batch())
        db.execute(f"INSERT INTO {STAGE}.{staging} {select}")
    finally:
        db.close()
        conn.close()


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(con, f"SELECT count(*) FROM {table}"))


_PROPERTY_TABLES = ("ExecutionProperty", "ArtifactProperty", "ContextProperty")


def _unloadable(con: duckdb.DuckDBPyConnection, staging: str, table: str) -> list[Skipped]:
    """Drop the staged properties held only as protos or bytes (no value column set): no
    analysis uses them; they are counted in the load report, not loaded."""
    unset = (
        "int_value IS NULL AND double_value IS NULL AND string_value IS NULL AND bool_value IS NULL"
    )
    count, first = con.execute(
        f"SELECT count(*), min(owner_id) FROM {staging} WHERE {unset}"
    ).fetchall()[0]
    if not count:
        return []
    con.execute(f"DELETE FROM {staging} WHERE {unset}")
    reason = "proto or byte value (not used by the analysis)"
    return [Skipped(table, reason, int(count), (str(first),))]

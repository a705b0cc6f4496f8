"""One description of the MLMD source queries, rendered for SQLite, MySQL and PostgreSQL.

Both bulk MLMD readers (:mod:`mlprov.provenance.mlmd_sql` for SQLite files,
:mod:`mlprov.provenance.mlmd_server` for servers) read the same schema-10 tables with the same
queries; a :class:`Dialect` holds the few differences: how a flag becomes an integer (PostgreSQL
declares flags ``boolean``), whether ``EventPath`` has a ``rowid`` that orders a path's steps, and
SQLite's ``+col`` planner hint. Unquoted names work everywhere (PostgreSQL folds them to the lower
case it created them in).

Each :class:`TableRead` names its staging table, the MLMD table, the typed columns it selects,
its filter, and the DuckDB select that stages the rows arriving as ``src`` (decoding MLMD's
codes into the canonical vocabulary). Text columns are read through ``coalesce(col, '')`` (the
ADBC SQLite driver infers a column's type from its first batch) and turned back into NULL in
DuckDB; each property row arrives as one coalesced value per kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import duckdb

from mlprov.provenance.mlmd_codes import (
    ArtifactState,
    EventType,
    ExecutionState,
    TypeKind,
    decode_sql,
)
from mlprov.provenance.readers import STAGE, Mark, ReadResult, Skipped, Stage

SUPPORTED_SCHEMA_VERSIONS = (10,)
BATCH_ROWS = 65_536
#: No bound: ids and update times stay below it.
UNBOUNDED = 2**62


#: SQLite: one writer at a time, ids and update times commit in order.
NO_OVERLAP = Mark(max_id=0, max_update_ms=0)


@dataclass(frozen=True)
class Dialect:
    """How one database engine spells the few things the MLMD queries differ in.

    ``overlap`` is how far below the watermarks an incremental read starts again. A server
    lets writers commit concurrently: a row whose id (or update time) was taken before the
    last read's largest can commit after it, and a read from the watermark alone would never
    see it. Re-reading the last ``overlap.ids`` ids and ``overlap.ms`` of updates of every table
    finds such rows; what they re-deliver that was already loaded is upserted or anti-joined
    away (see provenance/canonicalize.sql). SQLite has one writer at a time: no overlap.
    """

    name: str
    flag_as_int: str  # pattern for a flag column read as an integer; {} is the column
    path_order: str  # expression ordering an event's path steps
    plan_hint: str  # prefix that keeps the planner on a table scan ('+' in SQLite)
    overlap: Mark = NO_OVERLAP

    def render(self, sql: str) -> str:
        """Replace ``AS_INT(col)`` and ``PATH_ORDER`` with this dialect's spelling."""
        sql = re.sub(r"AS_INT\((\w+)\)", lambda m: self.flag_as_int.format(m.group(1)), sql)
        return sql.replace("PATH_ORDER", self.path_order).replace("HINT", self.plan_hint)


#: Servers: re-read the last 10,000 ids and 15 minutes of updates (see :class:`Dialect`).
SERVER_OVERLAP = Mark(max_id=10_000, max_update_ms=15 * 60 * 1000)
SQLITE = Dialect("sqlite", "{}", "rowid", "+")
MYSQL = Dialect("mysql", "{}", "0", "", SERVER_OVERLAP)
POSTGRESQL = Dialect("postgresql", "CAST({} AS INTEGER)", "0", "", SERVER_OVERLAP)


@dataclass(frozen=True)
class TableRead:
    """One source query: MLMD ``table`` into staging table ``staging``.

    ``columns`` are (name, source expression, kind) with kind ``i`` (integer), ``d`` (double)
    or ``s`` (text). ``where`` may use the bounds ``:lo``, ``:hi`` and ``:since``; ``node`` is
    the table whose watermark bounds the read. ``stage`` is the DuckDB select over ``src``.
    """

    staging: str
    table: str
    columns: tuple[tuple[str, str, str], ...]
    where: str
    stage: str
    node: str

    def query(
        self,
        dialect: Dialect,
        marks: dict[str, Mark],
        new: dict[str, Mark],
        select_list: str | None = None,
    ) -> str:
        """The source query in ``dialect``, bound to the old marks and the new upper bounds.

        ``select_list`` replaces the columns (the MySQL reader lays them out in slots).
        """
        exprs = select_list or ", ".join(f"{expr} AS {name}" for name, expr, _ in self.columns)
        sql = f"SELECT {exprs} FROM {self.table} {self.where}"
        old = marks.get(self.node, Mark())
        if old.max_id is None:  # first read: ids alone cover it, on plain table scans
            for incremental, first in _FIRST_READ_FILTERS.items():
                sql = sql.replace(incremental, first)
        since = old.max_update_ms if old.max_id is not None else None
        back = dialect.overlap
        bounds = {
            "lo": max(-1, old.max_id - (back.max_id or 0)) if old.max_id is not None else -1,
            "hi": (new[self.node].max_id or 0) if self.node in new else UNBOUNDED,
            "since": since - (back.max_update_ms or 0) if since is not None else UNBOUNDED,
        }
        for name, value in bounds.items():
            sql = sql.replace(f":{name}", str(int(value)))
        return dialect.render(sql)


# :lo/:hi bound ids, :since is the node watermark on update time.
_NODE_FILTER = "WHERE (id > :lo AND id <= :hi) OR last_update_time_since_epoch >= :since"
_EDGE_FILTER = "WHERE id > :lo AND id <= :hi"
_FIRST_READ_FILTERS = {
    **{
        f"{owner} IN (SELECT id FROM {node} {_NODE_FILTER})": f"HINT{owner} <= :hi"
        for owner, node in (
            ("context_id", "Context"),
            ("artifact_id", "Artifact"),
            ("execution_id", "Execution"),
        )
    },
    _NODE_FILTER: "WHERE id <= :hi",
    "WHERE event_id > :lo": "WHERE HINTevent_id > :lo",
}
_PROPS_STAGE = """
SELECT owner_id, name, is_custom::BOOLEAN,
       CASE WHEN kind = 1 THEN i END, CASE WHEN kind = 2 THEN d END,
       CASE WHEN kind = 3 THEN s END, CASE WHEN kind = 6 THEN i <> 0 END
FROM src"""


def _props_read(staging: str, table: str, owner: str, node: str) -> TableRead:
    """The read of one property table, for the properties of the nodes being read."""
    kind = (
        "CASE WHEN int_value IS NOT NULL THEN 1 WHEN double_value IS NOT NULL THEN 2 "
        "WHEN string_value IS NOT NULL THEN 3 WHEN bool_value IS NOT NULL THEN 6 ELSE 0 END"
    )
    columns = (
        ("owner_id", owner, "i"),
        ("name", "name", "s"),
        ("is_custom", "AS_INT(is_custom_property)", "i"),
        ("kind", kind, "i"),
        ("i", "coalesce(int_value, AS_INT(bool_value), 0)", "i"),
        ("d", "coalesce(double_value, 0.0)", "d"),
        ("s", "coalesce(string_value, '')", "s"),
    )
    where = f"WHERE {owner} IN (SELECT id FROM {node} {_NODE_FILTER})"
    return TableRead(staging, table, columns, where, _PROPS_STAGE, node)


def _ints(*names: str) -> tuple[tuple[str, str, str], ...]:
    """Integer columns read as they are."""
    return tuple((name, name, "i") for name in names)


def _edges(staging: str, table: str, left: str, right: str) -> TableRead:
    return TableRead(staging, table, _ints(left, right), _EDGE_FILTER, "SELECT * FROM src", table)


def _node(
    staging: str,
    table: str,
    columns: tuple[tuple[str, str, str], ...],
    states: type[IntEnum] | None = None,
) -> TableRead:
    """The read of a node table: id, type, ``columns`` (a ``state`` decoded with ``states``),
    create and update times."""
    names = [
        decode_sql(states, name) if states and name == "state" else name for name, _, _ in columns
    ]
    return TableRead(
        staging,
        table,
        (
            *_ints("id", "type_id"),
            *columns,
            ("create_ms", "create_time_since_epoch", "i"),
            ("update_ms", "last_update_time_since_epoch", "i"),
        ),
        _NODE_FILTER,
        f"SELECT id, type_id, {', '.join(names)}, create_ms, update_ms FROM src",
        table,
    )


# Slowest reads first: the workers start them first and finish together. Events and their
# paths land in raw tables first and are joined by _EVENTS_STAGE.
READS: tuple[TableRead, ...] = (
    _props_read("stg_artifact_props", "ArtifactProperty", "artifact_id", "Artifact"),
    TableRead(
        "stg_raw_paths",
        "EventPath",
        (
            *_ints("event_id"),
            ("is_index_step", "AS_INT(is_index_step)", "i"),
            *_ints("step_index"),
            ("step_key", "coalesce(step_key, '')", "s"),
            ("seq", "PATH_ORDER", "i"),
        ),
        "WHERE event_id > :lo AND event_id <= :hi",
        "SELECT * FROM src",
        "Event",
    ),
    _props_read("stg_execution_props", "ExecutionProperty", "execution_id", "Execution"),
    _edges("stg_attributions", "Attribution", "context_id", "artifact_id"),
    TableRead(
        "stg_raw_events",
        "Event",
        (
            *_ints("id", "artifact_id", "execution_id", "type"),
            ("ms", "coalesce(milliseconds_since_epoch, 0)", "i"),
        ),
        _EDGE_FILTER,
        "SELECT * FROM src",
        "Event",
    ),
    _node(
        "stg_artifacts",
        "Artifact",
        (
            ("uri", "coalesce(uri, '')", "s"),
            ("state", "coalesce(state, 0)", "i"),
            ("name", "coalesce(name, '')", "s"),
        ),
        ArtifactState,
    ),
    _edges("stg_associations", "Association", "context_id", "execution_id"),
    _node(
        "stg_executions",
        "Execution",
        (("state", "coalesce(last_known_state, 0)", "i"), ("name", "coalesce(name, '')", "s")),
        ExecutionState,
    ),
    _node("stg_contexts", "Context", (("name", "name", "s"),)),
    _props_read("stg_context_props", "ContextProperty", "context_id", "Context"),
    TableRead(
        "stg_parent_contexts",
        "ParentContext",
        _ints("context_id", "parent_context_id"),
        "",
        "SELECT * FROM src",
        "ParentContext",
    ),
    TableRead(
        "stg_types",
        "Type",
        (("id", "id", "i"), ("name", "name", "s"), ("type_kind", "type_kind", "i")),
        "",
        "SELECT id, name, " + decode_sql(TypeKind, "type_kind") + " FROM src",
        "Type",
    ),
)

# The first key step and the first index step of each event's path (TFX writes one of each).
EVENTS_STAGE = f"""
INSERT INTO stg_events
SELECT e.execution_id, e.artifact_id, {decode_sql(EventType, "e.type")}, e.ms, p.key, p.idx
FROM stg_raw_events e
LEFT JOIN (
    SELECT event_id,
           arg_min(NULLIF(step_key, ''), (seq, step_key)) FILTER (WHERE is_index_step = 0)
               AS key,
           arg_min(step_index, (seq, step_index)) FILTER (WHERE is_index_step = 1) AS idx
    FROM stg_raw_paths GROUP BY event_id
) p ON p.event_id = e.id"""

RAW_STAGING = f"""
CREATE TABLE {STAGE}.stg_raw_events (id BIGINT, artifact_id BIGINT, execution_id BIGINT,
    type INTEGER, ms BIGINT);
CREATE TABLE {STAGE}.stg_raw_paths (event_id BIGINT, is_index_step INTEGER, step_index INTEGER,
    step_key VARCHAR, seq BIGINT)"""

#: The watermarks' upper bounds, one column each, in the order of :func:`marks_from_bounds`.
BOUNDS = (
    "(SELECT max(id) FROM Execution)",
    "(SELECT max(last_update_time_since_epoch) FROM Execution)",
    "(SELECT max(id) FROM Artifact)",
    "(SELECT max(last_update_time_since_epoch) FROM Artifact)",
    "(SELECT max(id) FROM Context)",
    "(SELECT max(last_update_time_since_epoch) FROM Context)",
    "(SELECT max(id) FROM Event)",
    "(SELECT max(id) FROM Association)",
    "(SELECT max(id) FROM Attribution)",
)
BOUNDS_SQL = "SELECT " + ", ".join(BOUNDS)
SCHEMA_VERSION_SQL = "SELECT max(schema_version) FROM MLMDEnv"
#: Every MLMD table the readers select from (a user needs SELECT on each).
READ_TABLES = ("MLMDEnv", *sorted({r.table for r in READS}))


def marks_from_bounds(bounds: list[int | None]) -> dict[str, Mark]:
    """The new watermarks from the values of :data:`BOUNDS` (None: an empty table)."""
    b = [v if v is not None else 0 for v in bounds]
    return {
        "Execution": Mark(b[0], b[1]),
        "Artifact": Mark(b[2], b[3]),
        "Context": Mark(b[4], b[5]),
        "Event": Mark(b[6]),
        "Association": Mark(b[7]),
        "Attribution": Mark(b[8]),
    }


def unsupported_version_message(where: str, version: object) -> str:
    """The message for a store whose MLMD schema version mlprov does not read."""
    return (
        f"{where} has MLMD schema version {version}; mlprov reads version "
        f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))} (ml-metadata 1.14 to 1.17). "
        "Upgrade the store with the ml-metadata client "
        "(MetadataStore(config, enable_upgrade_migration=True)) on a copy, then ingest it"
    )


def count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


PROPERTY_TABLES = ("ExecutionProperty", "ArtifactProperty", "ContextProperty")


def unloadable(con: duckdb.DuckDBPyConnection, staging: str, table: str) -> list[Skipped]:
    """Drop the staged properties held only as protos or bytes (no value column set): no
    analysis uses them; they are counted in the load report, not loaded."""
    unset = (
        "int_value IS NULL AND double_value IS NULL AND string_value IS NULL AND bool_value IS NULL"
    )
    n, first = con.execute(
        f"SELECT count(*), min(owner_id) FROM {staging} WHERE {unset}"
    ).fetchall()[0]
    if not n:
        return []
    con.execute(f"DELETE FROM {staging} WHERE {unset}")
    reason = "proto or byte value (not used by the analysis)"
    return [Skipped(table, reason, int(n), (str(first),))]


def staged(con: duckdb.DuckDBPyConnection, read: TableRead) -> tuple[int, list[Skipped]]:
    """After ``read`` is staged: rows read, and property rows left out (then dropped)."""
    skipped = unloadable(con, read.staging, read.table) if read.table in PROPERTY_TABLES else []
    return count(con, read.staging), skipped


def finish(con: duckdb.DuckDBPyConnection) -> None:
    """Join the raw events with their paths into ``stg_events``."""
    con.execute(EVENTS_STAGE)
    con.execute("DROP TABLE stg_raw_events; DROP TABLE stg_raw_paths")


def insert_batches(con: duckdb.DuckDBPyConnection, read: TableRead, batches: Any) -> None:
    """Stage a read's Arrow batches (a RecordBatchReader), on a cursor of ``con``'s database."""
    db = con.cursor()
    try:
        db.register("src", batches)
        db.execute(f"INSERT INTO {STAGE}.{read.staging} {read.stage}")
    finally:
        db.close()


def stage_in_parallel(
    stage: Stage,
    result: ReadResult,
    dialect: Dialect,
    new: dict[str, Mark],
    threads: int,
    read_one: Callable[[TableRead, str], None],
) -> None:
    """Run every read (``read_one(read, query)``, which stages it) on ``threads`` workers,
    slowest first, and fill ``result`` as they finish."""
    con = stage.con
    con.execute(RAW_STAGING)
    queries = [r.query(dialect, stage.marks, new) for r in READS]
    with ThreadPoolExecutor(max_workers=min(threads, len(queries))) as pool:
        futures = [pool.submit(read_one, r, sql) for r, sql in zip(READS, queries, strict=True)]
        try:
            for r, done in zip(READS, futures, strict=True):
                done.result()
                result.rows_read[r.table], skipped = staged(con, r)
                result.skipped.extend(skipped)
                stage.progress(r.table, result.rows_read[r.table])
        finally:
            for future in futures:
                future.cancel()
    finish(con)

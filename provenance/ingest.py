"""Load a provenance source into the canonical store: incremental, atomic, with a load report.

Example:
    >>> from provenance.ingest import parse_source
    >>> parse_source("grpc://metadata:8080").kind
    'mlmd_client'
    >>> parse_source("mysql://reader@127.0.0.1:3306/metadb").kind
    'mlmd_server'
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from provenance.conventions import CONVENTIONS, Convention, Mapping, detect_convention
from provenance.errors import (
    MalformedRecordError,
    UnknownSourceError,
    did_you_mean,
    interrupts_as_keyboard,
)
from provenance.readers import (
    NODE_TABLES,
    REGISTRY,
    Mark,
    NodeKind,
    Progress,
    Secret,
    Skipped,
    Stage,
    reader,
    staging_area,
)
from provenance.sql import first_row, named_queries, scalar, statements
from provenance.store import ProvenanceStore

Strictness = Literal["raise", "warn", "skip"]


@dataclass(frozen=True)
class Source:
    """A parsed SOURCE argument: which reader, and its config."""

    kind: str
    config: Any

    @property
    def location(self) -> str:
        """Where the source is, without credentials (as recorded in ``sources.location``)."""
        return str(self.config.location)


def url_schemes() -> dict[str, str]:
    """URL scheme -> the kind of reader that reads it by default (the first registered)."""
    owners: dict[str, str] = {}
    for kind in REGISTRY:
        for scheme in reader(kind).schemes:
            owners.setdefault(scheme, kind)
    return owners


def parse_source(text: str, kind: str | None = None, *, password: str | None = None) -> Source:
    """Turn a path or URL into a :class:`Source`.

    A URL goes to the reader registered for its scheme (``mysql://user@host/db`` and
    ``postgresql://...`` to the bulk server reader, ``grpc://host:port`` to the ml-metadata
    client); a path to the first reader that recognizes the file, else to the first registered
    reader (the SQLite reader, which says why it cannot read it). ``kind`` forces a reader
    (e.g. ``mlmd_client`` for a MySQL store, to cross-check the two readers).

    Args:
        text: the path or URL; a password in the URL wins over ``password``.
        kind: a key of :data:`provenance.readers.REGISTRY`, or None to choose as above.
        password: the password for URLs that carry none (from a file or the environment).

    Raises:
        UnknownSourceError: an unknown URL scheme or reader kind.
    """
    if kind is not None and kind not in REGISTRY:
        raise UnknownSourceError(
            f"unknown source kind {kind!r}; valid kinds are "
            f"{', '.join(REGISTRY)}.{did_you_mean(kind, REGISTRY)}"
        )
    scheme, sep, _ = text.partition("://")
    if sep:
        schemes = url_schemes()
        if scheme not in schemes:
            raise UnknownSourceError(
                f"unknown source scheme {scheme!r}; valid sources are an MLMD SQLite "
                f"path or a {', '.join(s + '://' for s in schemes)} URL."
                f"{did_you_mean(scheme, schemes)}"
            )
        kind = kind or schemes[scheme]
    else:
        path = Path(text)
        kind = kind or next(
            (k for k in REGISTRY if reader(k).claims_file(path)), next(iter(REGISTRY))
        )
    return Source(kind, reader(kind).configure(text, Secret(password)))


@dataclass(frozen=True)
class LoadReport:
    """What one ingest loaded, left out and why, and how long it took."""

    source: str
    kind: str
    convention: str
    incremental: bool
    rows_read: dict[str, int]
    rows_written: dict[str, int]  # net new canonical rows (updated nodes replace their row)
    skipped: tuple[Skipped, ...]  # records left out
    seconds: float
    empty: bool = False
    warnings: tuple[str, ...] = field(default=())
    repaired: tuple[Skipped, ...] = ()  # records loaded with a bad value unset or repaired

    @property
    def total_read(self) -> int:
        return sum(self.rows_read.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_read": self.total_read}


_SQL = named_queries("provenance", "canonicalize.sql")
SOURCE_TABLES = (  # the canonical tables an ingest writes rows of a source into
    "contexts",
    "context_properties",
    "context_parents",
    "context_executions",
    "context_artifacts",
    "artifacts",
    "artifact_properties",
    "executions",
    "execution_properties",
    "events",
    "pipelines",
    "pipeline_runs",
)


def ingest(
    store: ProvenanceStore,
    source: str | Source,
    *,
    mapping: Mapping | None = None,
    strict: Strictness = "raise",
    progress: Progress | None = None,
) -> LoadReport:
    """Load everything new or changed in ``source`` since its last ingest, in one transaction.

    Args:
        store: the canonical store to write.
        source: a path or URL (see :func:`parse_source`) or a parsed :class:`Source`.
        mapping: category rules, cost property and convention; defaults to the presets.
        strict: what to do with records that break the provenance model (an event naming a
            missing execution, ...): ``raise`` aborts the ingest, ``warn`` and ``skip`` load the
            rest and list them in the report (``warn`` also puts them in ``warnings``).
        progress: called with (source table, rows read so far).

    Returns:
        The load report; also stored in the ``ingest_runs`` table.

    Raises:
        MlprovError subclasses for bad sources; the store is then left as it was.
    """
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).replace(tzinfo=None)
    src = source if isinstance(source, Source) else parse_source(source)
    mapping = mapping or Mapping()
    con = store.con
    # Reading stages rows outside the store (readers may use several connections); only the
    # canonical writes share the one transaction, so a failure anywhere leaves the store as it was.
    with interrupts_as_keyboard(), staging_area(con):
        sid, marks, previous = _source_row(con, src)
        incremental = bool(marks)
        if previous:
            convention = CONVENTIONS[mapping.convention or previous["convention"]]
            if previous["mapping_hash"] != mapping.digest(convention):
                marks = {}  # categories or cost were decided by another mapping: re-read all
        stage = Stage(con, sid, marks, progress or (lambda table, rows: None), mapping)
        read = reader(src.kind).read(src.config, stage)
        if not previous:
            convention = CONVENTIONS[mapping.convention or detect_convention(_context_types(con))]
        digest = mapping.digest(convention)
        skipped, repaired = _check_records(con, sid, src.location, strict, mapping.cost_property)
        skipped = list(read.skipped) + skipped
        new_marks = _plausible_marks(con, read.marks, marks)
        with store.transaction():
            before = {t: _count_source(con, t, sid) for t in SOURCE_TABLES}
            _canonicalize(con, sid, convention, mapping)
            written = {t: _count_source(con, t, sid) - before[t] for t in SOURCE_TABLES}
            _save_source(con, sid, src, convention.name, digest, mapping, new_marks)
            notes = [*skipped, *repaired] if strict == "warn" else []
            report = LoadReport(
                source=src.location,
                kind=src.kind,
                convention=convention.name,
                incremental=incremental,
                rows_read=read.rows_read,
                rows_written=written,
                skipped=tuple(skipped),
                repaired=tuple(repaired),
                seconds=round(time.perf_counter() - started, 3),
                empty=not any(_count_staged(con, t) for t in NODE_TABLES) and not incremental,
                warnings=tuple(f"{n.table}: {n.count} {n.reason}" for n in notes)
                + _convention_warnings(con, sid, convention, mapping),
            )
            con.execute(
                "INSERT INTO ingest_runs SELECT coalesce(max(ingest_id), 0) + 1, ?, ?, ?, ?, ? "
                "FROM ingest_runs",
                [
                    sid,
                    started_at,
                    datetime.now(timezone.utc).replace(tzinfo=None),
                    report.total_read,
                    json.dumps(report.to_dict()),
                ],
            )
    return report


def _plausible_marks(
    con: duckdb.DuckDBPyConnection, new: dict[str, Mark], old: dict[str, Mark]
) -> dict[str, Mark]:
    """The reader's watermarks, with an implausible largest update time (a time in ns, say)
    replaced by the largest plausible one: else no later update would ever be read again."""
    marks = dict(new)
    for table in NODE_TABLES:
        mark = new.get(table)
        if mark is None or mark.max_update_ms is None:
            continue
        if TIME_RANGE_MS[0] <= mark.max_update_ms <= TIME_RANGE_MS[1]:
            continue
        staged = scalar(con, f"SELECT max(update_ms) FROM stg_{table.lower()}s")  # cleaned
        previous = old.get(table, Mark()).max_update_ms
        plausible = [m for m in (staged, previous) if m is not None]
        marks[table] = Mark(mark.max_id, max(plausible) if plausible else None)
    return marks


def _convention_warnings(
    con: duckdb.DuckDBPyConnection, sid: int, convention: Convention, mapping: Mapping
) -> tuple[str, ...]:
    """A warning when executions were loaded but none belongs to a pipeline: the convention
    (forced, or detected) does not match the store's contexts."""
    executions = _count_source(con, "executions", sid)
    if not executions or _count_source(con, "pipelines", sid):
        return ()
    types = ", ".join(convention.pipeline_context_types)
    origin = "the mapping" if mapping.origin == "defaults" else mapping.origin
    how = f"forced by {origin}" if mapping.convention else "detected"
    fix = (
        "remove 'convention' from the mapping to detect it"
        if mapping.convention
        else "set 'convention' in a --mapping file"
    )
    return (
        f"convention {convention.name!r} ({how}) found no pipeline contexts of type {types}: "
        f"the {executions} executions belong to no pipeline; {fix}",
    )


def _source_row(
    con: duckdb.DuckDBPyConnection, src: Source
) -> tuple[int, dict[str, Mark], dict[str, Any] | None]:
    row = first_row(
        con,
        "SELECT source_id, convention, mapping_hash FROM sources WHERE location = ?",
        [src.location],
    )
    if row is None:
        return int(scalar(con, "SELECT coalesce(max(source_id), 0) + 1 FROM sources")), {}, None
    marks = {
        table: Mark(max_id, max_update)
        for table, max_id, max_update in con.execute(
            "SELECT source_table, max_id, max_update_ms FROM watermarks WHERE source_id = ?",
            [row[0]],
        ).fetchall()
    }
    return int(row[0]), marks, {"convention": row[1], "mapping_hash": row[2]}


def _context_types(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            f"SELECT name FROM stg_types WHERE kind = '{NodeKind.CONTEXT.value}' UNION "
            "SELECT DISTINCT type_name FROM contexts"
        ).fetchall()
    ]


# Plausible times, in milliseconds since the epoch: 1990-01-01 to 2200-01-01 UTC. Outside it
# a time is 0 (MLMD's column default), negative, or in another unit (s, us, ns).
TIME_RANGE_MS = (631_152_000_000, 7_258_118_400_000)
#: The largest plausible cost: sums over billions of executions stay finite and exact enough.
MAX_COST = 1e15

_EDGE_COLUMNS = {"execution_id": "execution", "artifact_id": "artifact", "context_id": "context"}
_COST = "coalesce(double_value, int_value::DOUBLE)"  # a cost property's value
_LABELS = {  # staged column -> the source's name for it, in messages
    _COST: "value",
    "create_ms": "create_time_since_epoch",
    "update_ms": "last_update_time_since_epoch",
    "ms": "milliseconds_since_epoch",
}


@dataclass(frozen=True)
class _Check:
    """Staged records of one source table that break the provenance model, and what a lenient
    ingest does with them: ``delete`` (skip the record), ``null`` (load it with ``column``
    unset) or ``keep`` (load it as the reader repaired it)."""

    table: str
    staging: str
    keys: tuple[str, ...]  # columns naming a record in messages
    where: str  # SQL condition on the bad rows; $sid and $lo/$hi/$max_cost/$cost are bound
    problem: str
    action: Literal["delete", "null", "keep"]
    column: str | None = None

    @property
    def remedy(self) -> str:
        return {
            "delete": "load the rest and report them",
            "null": "load them with the value unset and report them",
            "keep": "load them with U+FFFD in place of the bad bytes and report them",
        }[self.action]


def _node_of(column: str) -> str:
    return _EDGE_COLUMNS.get(column, "context")  # parent_context_id names a context


def _missing(column: str) -> str:
    """SQL: ``column`` names a node in neither this batch nor the store."""
    node = _node_of(column)
    return (
        f"({column} NOT IN (SELECT id FROM stg_{node}s) AND {column} NOT IN "
        f"(SELECT {node}_id FROM {node}s WHERE source_id = $sid))"
    )


def _edge_checks() -> list[_Check]:
    edges = (
        ("Event", "stg_events", "execution_id", "artifact_id"),
        ("Association", "stg_associations", "context_id", "execution_id"),
        ("Attribution", "stg_attributions", "context_id", "artifact_id"),
        ("ParentContext", "stg_parent_contexts", "context_id", "parent_context_id"),
    )
    return [
        _Check(
            table,
            staging,
            (a, b),
            f"{_missing(a)} OR {_missing(b)}",
            f"name a missing {' or '.join(dict.fromkeys((_node_of(a), _node_of(b))))}",
            "delete",
        )
        for table, staging, a, b in edges
    ]


def _node_checks() -> list[_Check]:
    checks = []
    for kind, table in zip(NodeKind, ("Execution", "Artifact", "Context"), strict=True):
        staging = f"stg_{table.lower()}s"
        checks += [
            _Check(
                table,
                staging,
                ("id",),
                "type_id NOT IN (SELECT id FROM stg_types)",
                "name a type the store does not define",
                "delete",
            ),
            _Check(
                table,
                staging,
                ("id",),
                f"type_id IN (SELECT id FROM stg_types WHERE kind <> '{kind.value}')",
                f"name a type of another kind than {kind.value.lower()}",
                "delete",
            ),
        ]
    return checks


def _time_checks() -> list[_Check]:
    problem = (
        "have a time outside 1990..2200 in milliseconds since the epoch "
        "(0, negative, or in seconds, microseconds or nanoseconds)"
    )
    staged = (
        ("Execution", "stg_executions", ("id",), ("create_ms", "update_ms")),
        ("Artifact", "stg_artifacts", ("id",), ("create_ms", "update_ms")),
        ("Context", "stg_contexts", ("id",), ("create_ms", "update_ms")),
        ("Event", "stg_events", ("execution_id", "artifact_id"), ("ms",)),
    )
    return [
        _Check(
            table,
            staging,
            keys,
            f"coalesce({column}, 0) NOT BETWEEN $lo AND $hi",
            problem,
            "null",
            column,
        )
        for table, staging, keys, columns in staged
        for column in columns
    ]


def _text_checks() -> list[_Check]:
    staged = [
        ("Type", "stg_types", ("id",), ("name",)),
        ("Execution", "stg_executions", ("id",), ("name",)),
        ("Artifact", "stg_artifacts", ("id",), ("uri", "name")),
        ("Context", "stg_contexts", ("id",), ("name",)),
        ("Event", "stg_events", ("execution_id", "artifact_id"), ("key",)),
    ] + [
        (f"{node}Property", f"stg_{node.lower()}_props", ("owner_id",), ("name", "string_value"))
        for node in ("Execution", "Artifact", "Context")
    ]
    return [
        _Check(
            table,
            staging,
            keys,
            f"contains({column}, '\ufffd')",
            "have text that is not valid UTF-8",
            "keep",
            column,
        )
        for table, staging, keys, columns in staged
        for column in columns
    ]


_CHECKS = (
    *_node_checks(),
    *_edge_checks(),
    *_time_checks(),
    *_text_checks(),
    _Check(
        "ExecutionProperty",
        "stg_execution_props",
        ("owner_id", "name"),
        f"name = $cost AND {_COST} IS NOT NULL "
        f"AND NOT (isfinite({_COST}) AND {_COST} BETWEEN 0 AND $max_cost)",
        "hold a cost that is not a finite number in 0..1e15 (the execution keeps no cost)",
        "delete",
        _COST,
    ),
)


def _check_records(
    con: duckdb.DuckDBPyConnection,
    sid: int,
    location: str,
    strict: Strictness,
    cost_property: str | None,
) -> tuple[list[Skipped], list[Skipped]]:
    """Find staged records that break the provenance model; raise, or drop or repair them.

    Returns:
        (records left out, records loaded with a value unset or repaired).
    """
    params = {
        "sid": sid,
        "lo": TIME_RANGE_MS[0],
        "hi": TIME_RANGE_MS[1],
        "cost": cost_property,
        "max_cost": MAX_COST,
    }
    skipped: list[Skipped] = []
    repaired: list[Skipped] = []
    for table, problem, count, examples in con.execute(
        "SELECT source_table, problem, count(*), list(record ORDER BY rowid)[:5] "
        "FROM stg_rejects GROUP BY ALL ORDER BY min(rowid)"
    ).fetchall():  # records the reader could not stage (an event that is not JSON, ...)
        if strict == "raise":
            raise MalformedRecordError(location, table, examples, problem, count)
        skipped.append(Skipped(table, problem, count, tuple(examples)))
    for check in _CHECKS:
        if "$cost" in check.where and cost_property is None:
            continue
        used = {k: v for k, v in params.items() if f"${k}" in check.where}
        shown = [*check.keys, *([check.column] if check.column else [])]
        rows = con.execute(
            f"SELECT {', '.join(shown)}, count(*) OVER () FROM {check.staging} "
            f"WHERE {check.where} ORDER BY ALL LIMIT 5",
            used,
        ).fetchall()
        if not rows:
            continue
        examples = [_example(check, row) for row in rows]
        count = int(rows[0][-1])
        if strict == "raise":
            raise MalformedRecordError(
                location, check.table, examples, check.problem, count, check.remedy
            )
        if check.action == "delete":
            con.execute(f"DELETE FROM {check.staging} WHERE {check.where}", used)
        elif check.action == "null":
            con.execute(
                f"UPDATE {check.staging} SET {check.column} = NULL WHERE {check.where}", used
            )
        found = Skipped(check.table, check.problem, count, tuple(examples))
        (skipped if check.action == "delete" else repaired).append(found)
    return skipped, repaired


def _example(check: _Check, row: tuple) -> str:
    """How a message names one bad record, in the source's column names."""
    owner = check.table.removesuffix("Property").lower() + "_id"
    named = " ".join(
        f"{owner if k == 'owner_id' else k}={v}" for k, v in zip(check.keys, row, strict=False)
    )
    if check.column is None:
        return named
    column = _LABELS.get(check.column, check.column)
    if check.action == "keep":  # the value is the repaired text: name the column only
        return f"{named} {column}"
    return f"{named} {column}={row[len(check.keys)]}"


def _canonicalize(
    con: duckdb.DuckDBPyConnection, sid: int, convention: Any, mapping: Mapping
) -> None:
    params: dict[str, Any] = {
        "sid": sid,
        "pipeline_types": list(convention.pipeline_context_types),
        "run_types": list(convention.run_context_types),
        "node_types": list(convention.node_context_types) or ["\x00"],
        "component_property": convention.component_property,
        "cost_property": mapping.cost_property,
    }

    def run(name: str) -> None:
        for statement in statements(_SQL[name]):
            used = {k: v for k, v in params.items() if f"${k}" in statement}
            con.execute(statement, used)

    run("upsert_contexts")
    run("append_edges")
    run("upsert_artifacts")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stg_affected AS SELECT id FROM stg_executions "
        "UNION SELECT execution_id FROM stg_associations"
    )
    run("execution_contexts")
    run("execution_base")
    components = con.execute(_SQL["execution_components"]).fetchall()
    con.register(
        "categories",
        pa.table(
            {
                "component": [c for c, _ in components],
                "type_name": [t for _, t in components],
                "category": [mapping.categorize(c, t, convention) for c, t in components],
            }
        ),
    )
    con.execute("CREATE OR REPLACE TEMP TABLE stg_categories AS SELECT * FROM categories")
    con.unregister("categories")
    run("upsert_executions")
    run("refresh_execution_contexts")
    run("append_events")
    run("refresh_pipelines")
    for table in ("stg_affected", "stg_execution_contexts", "stg_execution_base", "stg_categories"):
        con.execute(f"DROP TABLE {table}")


def _count_staged(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(con, f"SELECT count(*) FROM stg_{table.lower()}s"))


def _count_source(con: duckdb.DuckDBPyConnection, table: str, sid: int) -> int:
    return int(scalar(con, f"SELECT count(*) FROM {table} WHERE source_id = ?", [sid]))


def _save_source(
    con: duckdb.DuckDBPyConnection,
    sid: int,
    src: Source,
    convention: str,
    digest: str,
    mapping: Mapping,
    marks: dict[str, Mark],
) -> None:
    rule = mapping.deploy_rule(CONVENTIONS[convention])
    con.execute("DELETE FROM sources WHERE source_id = ?", [sid])
    con.execute(
        "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            sid,
            src.kind,
            src.location,
            convention,
            digest,
            mapping.cost_property,
            rule.to_json() if rule else None,
        ],
    )
    con.execute("INSERT INTO source_ids SELECT ?, space, external_id, id FROM stg_id_map", [sid])
    for table, mark in marks.items():
        con.execute(
            "INSERT OR REPLACE INTO watermarks VALUES (?, ?, ?, ?)",
            [sid, table, mark.max_id, mark.max_update_ms],
        )

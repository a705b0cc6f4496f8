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

from provenance.conventions import CONVENTIONS, Mapping, detect_convention
from provenance.errors import MalformedRecordError, UnknownSourceError, did_you_mean
from provenance.readers import (
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
    skipped: tuple[Skipped, ...]
    seconds: float
    empty: bool = False
    warnings: tuple[str, ...] = field(default=())

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
    with staging_area(con):
        sid, marks, previous = _source_row(con, src)
        incremental = bool(marks)
        if previous:
            convention = CONVENTIONS[mapping.convention or previous["convention"]]
            if previous["mapping_hash"] != mapping.digest(convention):
                marks = {}  # categories or cost were decided by another mapping: re-read all
        stage = Stage(con, sid, marks, progress or (lambda table, rows: None))
        read = reader(src.kind).read(src.config, stage)
        if not previous:
            convention = CONVENTIONS[mapping.convention or detect_convention(_context_types(con))]
        digest = mapping.digest(convention)
        skipped = list(read.skipped) + _check_references(con, sid, src.location, strict)
        with store.transaction():
            before = {t: _count_source(con, t, sid) for t in SOURCE_TABLES}
            _canonicalize(con, sid, convention, mapping)
            written = {t: _count_source(con, t, sid) - before[t] for t in SOURCE_TABLES}
            _save_source(con, sid, src, convention.name, digest, mapping, read.marks)
            report = LoadReport(
                source=src.location,
                kind=src.kind,
                convention=convention.name,
                incremental=incremental,
                rows_read=read.rows_read,
                rows_written=written,
                skipped=tuple(skipped),
                seconds=round(time.perf_counter() - started, 3),
                empty=not any(read.rows_read.get(t) for t in ("Execution", "Artifact", "Context"))
                and not incremental,
                warnings=tuple(
                    f"{s.table}: {s.count} {s.reason}" for s in skipped if strict == "warn"
                ),
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


def _check_references(
    con: duckdb.DuckDBPyConnection, sid: int, location: str, strict: Strictness
) -> list[Skipped]:
    """Find staged records that name nodes the store does not have; raise or drop them."""
    skipped = []
    checks = (
        (
            "Event",
            "name a missing execution or artifact",
            "orphan_events",
            "stg_events",
            ("execution_id", "artifact_id"),
        ),
        (
            "Association",
            "name a missing context or execution",
            "orphan_associations",
            "stg_associations",
            ("context_id", "execution_id"),
        ),
        (
            "Attribution",
            "name a missing context or artifact",
            "orphan_attributions",
            "stg_attributions",
            ("context_id", "artifact_id"),
        ),
    )
    params = {"sid": sid}
    untyped = con.execute(_SQL["untyped_nodes"]).fetchall()
    if untyped:
        if strict == "raise":
            raise MalformedRecordError(
                location,
                untyped[0][0],
                [r[1] for r in untyped],
                "name a type the store does not define",
                len(untyped),
            )
        for table in ("Execution", "Artifact", "Context"):
            ids = [r[1] for r in untyped if r[0] == table]
            if ids:
                staging = {
                    "Execution": "stg_executions",
                    "Artifact": "stg_artifacts",
                    "Context": "stg_contexts",
                }[table]
                con.execute(f"DELETE FROM {staging} WHERE id IN (SELECT unnest(?))", [ids])
                skipped.append(
                    Skipped(
                        table,
                        "name a type the store does not define",
                        len(ids),
                        tuple(map(str, ids[:5])),
                    )
                )
    for table, problem, query, staging, cols in checks:
        bad = con.execute(_SQL[query], params).fetchall()
        if not bad:
            continue
        examples = [f"{cols[0]}={r[0]} {cols[1]}={r[1]}" for r in bad]
        if strict == "raise":
            raise MalformedRecordError(location, table, examples, problem, len(bad))
        con.register("bad_rows", pa.table({c: [r[i] for r in bad] for i, c in enumerate(cols)}))
        con.execute(
            f"DELETE FROM {staging} WHERE ({cols[0]}, {cols[1]}) IN "
            f"(SELECT ({cols[0]}, {cols[1]}) FROM bad_rows)"
        )
        con.unregister("bad_rows")
        skipped.append(Skipped(table, problem, len(bad), tuple(examples[:5])))
    return skipped


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
            mapping.deploy.to_json() if mapping.deploy else None,
        ],
    )
    con.execute("INSERT INTO source_ids SELECT ?, space, external_id, id FROM stg_id_map", [sid])
    for table, mark in marks.items():
        con.execute(
            "INSERT OR REPLACE INTO watermarks VALUES (?, ?, ?, ?)",
            [sid, table, mark.max_id, mark.max_update_ms],
        )

"""Load a provenance source into the canonical store: incremental, atomic, with a load report.

Example:
    >>> from mlprov.provenance.ingest import parse_source
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
from typing import Any

import duckdb
import pyarrow as pa

from mlprov.provenance.checks import TIME_RANGE_MS, Strictness, check_records
from mlprov.provenance.conventions import CONVENTIONS, Convention, Mapping, detect_convention
from mlprov.provenance.errors import UnknownSourceError, did_you_mean, interrupts_as_keyboard
from mlprov.provenance.readers import (
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
from mlprov.provenance.sql import Queries, scalar
from mlprov.provenance.store import ProvenanceStore


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
        kind: a key of :data:`mlprov.provenance.readers.REGISTRY`, or None to choose as above.
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


_SQL = Queries("mlprov.provenance", "ingest.sql", "canonicalize.sql")
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
        skipped, repaired = check_records(con, sid, src.location, strict, mapping.cost_property)
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
            _SQL.run(
                con,
                "record_run",
                {
                    "sid": sid,
                    "started": started_at,
                    "finished": datetime.now(timezone.utc).replace(tzinfo=None),
                    "rows_read": report.total_read,
                    "report": json.dumps(report.to_dict()),
                },
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
    rows = _SQL.run(con, "source_row", {"location": src.location}).fetchall()
    row = rows[0] if rows else None
    if row is None:
        return int(_SQL.run(con, "next_source_id").fetchall()[0][0]), {}, None
    marks = {
        table: Mark(max_id, max_update)
        for table, max_id, max_update in _SQL.run(con, "watermarks", {"sid": row[0]}).fetchall()
    }
    return int(row[0]), marks, {"convention": row[1], "mapping_hash": row[2]}


def _context_types(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in _SQL.run(con, "context_types", {"kind": NodeKind.CONTEXT}).fetchall()]


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

    for name in (
        "upsert_contexts",
        "append_edges",
        "upsert_artifacts",
        "affected_executions",
        "execution_contexts",
        "execution_base",
    ):
        _SQL.run(con, name, params)
    components = _SQL.run(con, "execution_components").fetchall()
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
    _SQL.run(con, "save_categories")
    con.unregister("categories")
    for name in (
        "upsert_executions",
        "refresh_execution_contexts",
        "append_events",
        "refresh_pipelines",
        "drop_batch",
    ):
        _SQL.run(con, name, params)


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
    _SQL.run(
        con,
        "save_source",
        {
            "sid": sid,
            "kind": src.kind,
            "location": src.location,
            "convention": convention,
            "mapping_hash": digest,
            "cost_property": mapping.cost_property,
            "deploy_rule": rule.to_json() if rule else None,
        },
    )
    for table, mark in marks.items():
        _SQL.run(
            con,
            "save_watermark",
            {
                "sid": sid,
                "source_table": table,
                "max_id": mark.max_id,
                "max_update_ms": mark.max_update_ms,
            },
        )

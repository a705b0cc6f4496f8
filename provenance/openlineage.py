"""Read OpenLineage RunEvents: files the client's file transport writes, or Marquez's database.

Sources:

- a file of events, one JSON object per line (the file transport's ``append`` mode), or one
  JSON document (an array of events, or one pretty-printed event: its ``debug_mode``);
- a directory of such files (``*.json``, ``*.ndjson``, ``*.jsonl``, searched recursively; the
  transport's default writes one file per event);
- Marquez's PostgreSQL database (``marquez://user@host:port/marquez``, or a ``postgresql://``
  URL with ``--kind openlineage``), its ``lineage_events`` table read in bulk, read-only, in
  one ``REPEATABLE READ`` snapshot through ADBC, as :mod:`provenance.mlmd_server` reads MLMD.

Mapping (see ``openlineage.sql``): a job's run is an execution (its type
``openlineage.<integration>.<jobType>``, its ``task`` property the job name without the
pipeline's prefix); its state comes from its latest event (COMPLETE, FAIL -> FAILED,
ABORT -> CANCELED, START or RUNNING only -> RUNNING), its times from the eventTimes. The
ParentRunFacet files a task under its pipeline (the parent's, or root's, job) and pipeline run
(its run); an Airflow DAG run's own events (jobType DAG) are its pipeline run, not an
execution. Datasets are artifacts (``namespace/name``): each output is a version (the
DatasetVersion facet's, else the run's own), each input reads the version it names, else the
latest one written before it. Facets analyses use are execution properties (nominal times,
jobType, errorMessage, processing engine).

Every event is checked against the spec major version its ``schemaURL`` declares (the
fields a RunEvent requires); one that is not JSON, declares an unknown ``schemaURL`` or breaks
the spec is a dirty record (``stg_rejects``), named by file and line, that ingest raises,
warns or skips per ``--strict``. Reading the same event twice changes nothing. Incremental
ingest reads only the bytes appended to a file since the last ingest (watermark: offset and
mtime), and Marquez's events from the last ``created_at`` read on (a little before it: events
committed late; see :data:`MARQUEZ_OVERLAP_MS`). The reader needs no OpenLineage library.

DuckDB's JSON reader parses whole NDJSON files, in parallel; Python splits lines only for
appended tails, JSON documents, and files DuckDB cannot read or holding a rejected event (for
its line number).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from provenance import mlmd_server
from provenance.errors import (
    MlprovError,
    NotAnEventSourceError,
    SourceNotFoundError,
    UnknownSourceError,
)
from provenance.readers import NO_SECRET, Mark, ReadResult, Secret, Skipped, Stage
from provenance.sql import named_queries, scalar, statements

#: File names read in a directory.
EVENT_SUFFIXES = (".json", ".ndjson", ".jsonl")
#: Each incremental Marquez read starts this long before the last ``created_at`` read: a row's
#: ``created_at`` is its transaction's start, so a slow insert commits after later ones.
MARQUEZ_OVERLAP_MS = 5 * 60 * 1000
#: Events per Arrow batch handed to DuckDB (its threads parse batches in parallel).
_BATCH_ROWS = 32_768
#: Where an event is recorded in the load report and in errors.
TABLE = "OpenLineage event"

#: The fields of an event the reader uses: column -> JSON path (``inputs`` and ``outputs``
#: are read as JSON text, then parsed as :data:`_DATASETS`).
_COLUMNS = {
    "schema_url": "schemaURL",
    "event_type": "eventType",
    "event_time": "eventTime",
    "producer": "producer",
    "run_id": "run.runId",
    "job_ns": "job.namespace",
    "job": "job.name",
    "parent_run": "run.facets.parent.run.runId",
    "parent_ns": "run.facets.parent.job.namespace",
    "parent_job": "run.facets.parent.job.name",
    "root_run": "run.facets.parent.root.run.runId",
    "root_ns": "run.facets.parent.root.job.namespace",
    "root_job": "run.facets.parent.root.job.name",
    "nominal_start_time": "run.facets.nominalTime.nominalStartTime",
    "nominal_end_time": "run.facets.nominalTime.nominalEndTime",
    "error_message": "run.facets.errorMessage.message",
    "processing_engine": "run.facets.processing_engine.name",
    "processing_engine_version": "run.facets.processing_engine.version",
    "processing_type": "job.facets.jobType.processingType",
    "integration": "job.facets.jobType.integration",
    "job_type": "job.facets.jobType.jobType",
    "inputs": "inputs",
    "outputs": "outputs",
}
_COLUMN_OF = {path: column for column, path in _COLUMNS.items()}
_DATASETS = [
    {
        "namespace": "VARCHAR",
        "name": "VARCHAR",
        "facets": {"version": {"datasetVersion": "VARCHAR"}},
    }
]

#: ``https://openlineage.io/spec/<major>-<minor>-<patch>/OpenLineage.json#/$defs/RunEvent``
#: (``#/definitions/`` before 1-0-2; the fragment may be missing).
SCHEMA_URL = (
    r"^https?://openlineage\.io/spec/(\d+)-\d+-\d+/OpenLineage\.json"
    r"(?:#/(?:\$defs|definitions)/(\w+))?$"
)
#: What a RunEvent must hold, per spec major version (its JSON schema's required fields).
REQUIRED: dict[int, tuple[str, ...]] = {
    1: ("eventTime", "producer", "run.runId", "job.namespace", "job.name"),
    2: ("eventTime", "producer", "run.runId", "job.namespace", "job.name"),
}
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
_KNOWN = ", ".join(f"{m}-x-x" for m in REQUIRED)

#: (SQL condition on an event's columns, its schemaURL's parts ``url``, its time ``ts`` and
#: run id ``uuid``: openlineage.sql's ``check``; problem), in order: an event is rejected for
#: the first it meets (none: left out, counted apart).
_RULES: tuple[tuple[str, str], ...] = (
    ("invalid", "are not valid JSON (one event per line, or one JSON document per file)"),
    ("schema_url IS NULL", "lack schemaURL, so their OpenLineage spec version is unknown"),
    (
        f"url.major NOT IN ({', '.join(repr(str(m)) for m in REQUIRED)})",
        "declare a schemaURL of no OpenLineage spec mlprov knows (known: "
        f"https://openlineage.io/spec/{{{_KNOWN}}}/OpenLineage.json); check the producer",
    ),
    ("url.def IN ('DatasetEvent', 'JobEvent')", ""),  # valid, but no run: left out, reported
    *(
        (
            f"url.major = '{major}' AND {_COLUMN_OF[field]} IS NULL",
            f"lack {field}, which OpenLineage spec {major} requires of a RunEvent",
        )
        for major, fields in REQUIRED.items()
        for field in fields
    ),
    ("uuid IS NULL", "have a run.runId that is not a UUID"),
    ("ts IS NULL", "have an eventTime that is not an ISO 8601 date-time"),
    (
        f"coalesce(event_type, 'OTHER') NOT IN ({', '.join(repr(t) for t in EVENT_TYPES)})",
        f"have an eventType other than {', '.join(EVENT_TYPES)}",
    ),
    (
        "list_bool_or([d.namespace IS NULL OR d.name IS NULL FOR d IN "
        "list_concat(coalesce(input_list, []), coalesce(output_list, []))])",
        "have an input or output dataset without namespace or name",
    ),
)
_NOT_RUN_EVENTS = "are DatasetEvents or JobEvents, which record no run"


def _duck_type(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, list):
        return _duck_type(spec[0]) + "[]"
    return "STRUCT(" + ", ".join(f'"{k}" {_duck_type(v)}' for k, v in spec.items()) + ")"


def _problem_case() -> str:
    whens = " ".join(
        f"WHEN {cond} THEN {_quote(problem) if problem else 'NULL'}" for cond, problem in _RULES
    )
    return f"CASE {whens} END"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_SQL = named_queries("provenance", "openlineage.sql")
_KEPT = [
    c for c in _COLUMNS if c not in ("schema_url", "event_time", "run_id", "inputs", "outputs")
]
_CHECKED = (
    "CREATE TABLE mlprov_stage.ol_checked (src VARCHAR, pos BIGINT, kind VARCHAR, "
    f"problem VARCHAR, ms BIGINT, run_uuid VARCHAR, {', '.join(c + ' VARCHAR' for c in _KEPT)}, "
    f"input_list {_duck_type(_DATASETS)}, output_list {_duck_type(_DATASETS)})"
)


def _check_sql(events: str) -> str:
    return (
        _SQL["check"]
        .replace("{url}", SCHEMA_URL.replace("'", "''"))
        .replace("{problem}", _problem_case())
        .replace("{events}", events)
    )  # last: the events' SQL holds file names


def _lines_sql(validate: bool) -> str:
    extract = (
        f"json_extract_string(doc, [{', '.join(_quote('$.' + p) for p in _COLUMNS.values())}])"
    )
    if validate:
        extract = f"CASE WHEN json_valid(doc) THEN {extract} END"
    columns = ", ".join(f"j[{i}] AS {c}" for i, c in enumerate(_COLUMNS, start=1))
    return (
        _SQL["lines"]
        .replace("{extract}", extract)
        .replace("{columns}", columns)
        .replace("{datasets}", json.dumps(_DATASETS))
    )


def _schema() -> dict[str, Any]:
    """The fields read, nested as the events hold them (inputs and outputs as datasets)."""
    tree: dict[str, Any] = {}
    for path in _COLUMNS.values():
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _DATASETS if path in ("inputs", "outputs") else "VARCHAR"
    return tree


_FILES_SQL = (
    _SQL["files"]
    .replace(
        "{fields}",
        ", ".join(
            "e." + ".".join(f'"{p}"' for p in path.split(".")) + f" AS {column}"
            for column, path in _COLUMNS.items()
            if column not in ("inputs", "outputs")
        ),
    )
    .replace(
        "{schema}",
        "{"
        + ", ".join(f"{_quote(k)}: {_quote(_duck_type(v))}" for k, v in _schema().items())
        + "}",
    )
)


def _files_sql(files: list[tuple[Path, str]]) -> str:
    return _FILES_SQL.replace("{files}", ", ".join(_quote(str(p)) for p, _ in files)).replace(
        "{paths}", ", ".join(f"({_quote(str(p))}, {_quote(n)})" for p, n in files)
    )


# ---- sources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileConfig:
    """A file of events, or a directory of such files."""

    path: Path

    @property
    def location(self) -> str:
        return str(self.path.resolve())


@dataclass(frozen=True)
class MarquezConfig:
    """Marquez's PostgreSQL database (its ``lineage_events`` table)."""

    server: mlmd_server.Config

    @property
    def location(self) -> str:
        return self.server.location


class _OpenLineageReader:
    kind = "openlineage"
    summary = "OpenLineage events: NDJSON/JSON files or directories, or Marquez (marquez://)"
    schemes = ("marquez",)

    def claims_file(self, path: Path) -> bool:
        """A JSON file naming an event's fields near its start, or a directory whose first
        ``*.json``, ``*.ndjson`` or ``*.jsonl`` file is one."""
        if path.is_dir():
            first = next(iter(_event_files(path)), None)
            return first is not None and self.claims_file(first)
        if not path.is_file():  # opening a FIFO would block
            return False
        try:
            with path.open("rb") as f:
                head = f.read(4096)
        except OSError:
            return False
        return head.lstrip()[:1] in (b"{", b"[") and any(
            key in head for key in (b'"eventTime"', b'"schemaURL"', b'"eventType"')
        )

    def configure(self, location: str, secret: Secret) -> FileConfig | MarquezConfig:
        return configure(location, secret)

    def read(self, config: FileConfig | MarquezConfig, stage: Stage) -> ReadResult:
        return read(config, stage)


READER = _OpenLineageReader()


def configure(location: str, secret: Secret = NO_SECRET) -> FileConfig | MarquezConfig:
    """A path, or ``marquez://`` / ``postgresql://user@host:port/database``.

    Raises:
        UnknownSourceError: a URL of another scheme, or without user or database.
    """
    scheme, sep, rest = location.partition("://")
    if not sep:
        return FileConfig(Path(location))
    if scheme not in ("marquez", "postgresql", "postgres"):
        raise UnknownSourceError(
            f"the OpenLineage reader reads files, directories and marquez:// or postgresql:// "
            f"URLs of Marquez's database, not {scheme}://"
        )
    return MarquezConfig(mlmd_server.configure(f"postgresql://{rest}", secret))


def read(config: FileConfig | MarquezConfig, stage: Stage) -> ReadResult:
    """Stage every event new since ``stage.marks``.

    Raises:
        SourceNotFoundError, NotAnEventSourceError, and for Marquez the server reader's errors
        (SourceUnreachableError, SourceAccessError, SourceReadError).
    """
    result = ReadResult()
    stage.con.execute(_CHECKED)
    if isinstance(config, MarquezConfig):
        _read_marquez(config, stage, result)
    else:
        _read_files(config.path, stage, result)
    skipped = int(
        scalar(
            stage.con,
            "SELECT count(*) FROM mlprov_stage.ol_checked WHERE problem IS NULL AND kind IN "
            "('DatasetEvent', 'JobEvent')",
        )
    )
    if skipped:
        result.skipped.append(Skipped(TABLE, _NOT_RUN_EVENTS, skipped))
    _stage_events(stage)
    return result


def _stage_events(stage: Stage) -> None:
    """Turn the checked events into staged nodes and edges (``openlineage.sql``)."""
    con = stage.con

    def run(name: str) -> None:
        for statement in statements(_SQL[name]):
            con.execute(statement, {"sid": stage.source_id} if "$sid" in statement else {})

    run("rejects")
    run("events")
    run("runs")
    stage.stable_ids("run", "SELECT run_id FROM mlprov_stage.ol_run")
    run("executions")
    run("context_keys")
    stage.stable_ids("context", "SELECT key FROM mlprov_stage.ol_ctx")
    run("contexts")
    run("datasets")
    stage.stable_ids("dataset", "SELECT key FROM mlprov_stage.ol_io")
    run("resolve_inputs")
    stage.stable_ids("dataset", "SELECT key FROM mlprov_stage.ol_resolved")
    run("artifacts")


def _check(stage: Stage, source: pa.Table) -> None:
    """Parse and check one batch of events (``src``, ``pos``, ``doc``) into ``ol_checked``."""
    con = stage.con.cursor()  # its own name space for the registered batch
    # DuckDB scans the record batches of an Arrow table in parallel
    source = pa.Table.from_batches(source.to_batches(max_chunksize=_BATCH_ROWS))
    try:
        con.register("ol_source", source)
        try:
            con.execute(_check_sql(_lines_sql(validate=False)))
        except duckdb.InvalidInputException as err:  # a line that is not JSON: check each
            if "JSON" not in str(err):
                raise
            con.execute(_check_sql(_lines_sql(validate=True)))
    finally:
        con.close()


def _check_files(stage: Stage, files: list[tuple[Path, str]]) -> int:
    """Check whole NDJSON files with DuckDB's JSON reader; a file it cannot read, or holding
    a rejected event, is checked line by line instead (for the line numbers). Return how many
    events they hold."""
    con = stage.con.cursor()
    try:
        con.execute(_check_sql(_files_sql(files)))
        rejected = con.execute(
            "SELECT DISTINCT src FROM mlprov_stage.ol_checked "
            "WHERE pos IS NULL AND problem IS NOT NULL"
        ).fetchall()
        again = {r[0] for r in rejected}
    except duckdb.Error:  # not JSON, or a field of another shape than the spec's
        again = {name for _, name in files}
    finally:
        con.close()
    if again:
        stage.con.execute(
            "DELETE FROM mlprov_stage.ol_checked WHERE pos IS NULL AND list_contains(?, src)",
            [sorted(again)],
        )
    events = int(
        scalar(stage.con, "SELECT count(*) FROM mlprov_stage.ol_checked WHERE pos IS NULL")
    )
    for path, name in files:
        if name in again:
            source, _, _ = _lines(path.read_bytes(), name)
            _check(stage, source)
            events += source.num_rows
    return events


# ---- files ------------------------------------------------------------------------------------


def _event_files(path: Path) -> list[Path]:
    return sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in EVENT_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def _read_files(path: Path, stage: Stage, result: ReadResult) -> None:
    if not path.exists():
        raise SourceNotFoundError(
            f"{path} does not exist; pass a file of OpenLineage events (as the file transport "
            "writes them), a directory of such files, or a marquez:// URL"
        )
    if path.is_dir():
        files = _event_files(path)
        if not files:
            raise NotAnEventSourceError(
                f"{path} holds no {', '.join('*' + s for s in EVENT_SUFFIXES)} files; point "
                "mlprov at the directory the OpenLineage file transport writes to"
            )
        names = [str(f.relative_to(path)) for f in files]
    else:
        files, names = [path], [path.name]
    events = 0
    whole: list[tuple[Path, str]] = []  # read by DuckDB, after the others
    for file, name in zip(files, names, strict=True):
        events += _read_file(file, name, stage, result, whole)
        stage.progress(TABLE, events)
    if whole:
        events += _check_files(stage, whole)
        stage.progress(TABLE, events)
    result.rows_read[TABLE] = events


def _read_file(
    path: Path, name: str, stage: Stage, result: ReadResult, whole: list[tuple[Path, str]]
) -> int:
    """Check the events of one file that are new since its watermark; return how many (a
    whole file of complete lines is added to ``whole`` instead, to be read by DuckDB)."""
    stat = path.stat()
    mtime_ms = stat.st_mtime_ns // 1_000_000
    lines_key, document_key = f"file:{name}", f"document:{name}"
    mark = stage.marks.get(lines_key) or stage.marks.get(document_key)
    if mark is not None and (mark.max_id, mark.max_update_ms) == (stat.st_size, mtime_ms):
        return 0
    start = 0
    if lines_key in stage.marks and mark is not None and (mark.max_id or 0) < stat.st_size:
        start = int(mark.max_id or 0)  # appended to: read the new lines only
    if start == 0 and _whole_lines(path, stat.st_size):
        whole.append((path, name))
        result.marks[lines_key] = Mark(stat.st_size, mtime_ms)
        return 0
    with path.open("rb") as f:
        f.seek(start)
        data = f.read()
    if start and not _ends_line(path, start):
        start, data = 0, path.read_bytes()  # rewritten, not appended to
    if start == 0 and _is_document(data):
        source, end = _document(data, name), len(data)
        result.marks[document_key] = Mark(end, mtime_ms)
    else:
        source, end, unfinished = _lines(data, name)
        if unfinished:
            result.skipped.append(
                Skipped(
                    TABLE,
                    "are unfinished last lines (no newline yet), read by a later ingest",
                    1,
                    (f"{name}:{_line_count(path, start + end) + 1}",),
                )
            )
        result.marks[lines_key] = Mark(start + end, mtime_ms)
    if source.num_rows:
        _check(stage, source)
        if start:
            _renumber(stage, name, _line_count(path, start))
    return source.num_rows


def _whole_lines(path: Path, size: int) -> bool:
    """One event a line, the last line finished (judged from the first line and last byte)."""
    with path.open("rb") as f:
        head = f.read(1 << 20)
        f.seek(max(size - 1, 0))
        last = f.read(1)
    return last == b"\n" and not _is_document(head)


def _ends_line(path: Path, offset: int) -> bool:
    with path.open("rb") as f:
        f.seek(offset - 1)
        return f.read(1) == b"\n"


def _line_count(path: Path, offset: int) -> int:
    with path.open("rb") as f:
        return f.read(offset).count(b"\n")


def _renumber(stage: Stage, name: str, before: int) -> None:
    """Line numbers of an appended tail count from the start of the file (only where a
    record was rejected: only messages show them)."""
    stage.con.execute(
        "UPDATE mlprov_stage.ol_checked SET pos = pos + ? WHERE src = ? AND problem IS NOT NULL",
        [before, name],
    )


def _is_document(data: bytes) -> bool:
    """A JSON array, or one event spread over several lines (the transport's debug mode)."""
    start = re.search(rb"\S", data)  # no copies: a file may be large
    if start is None:
        return False
    i = start.start()
    end = data.find(b"\n", i)
    first = data[i : end if end >= 0 else len(data)].rstrip()
    return first[:1] == b"[" or (first[:1] == b"{" and not first.endswith(b"}"))


def _lines(data: bytes, name: str) -> tuple[pa.Table, int, bool]:
    """The complete lines of ``data`` as a batch (line i at 1-based ``pos``), the bytes they
    span, and whether an unfinished last line was left for later."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    end = int(ends[-1]) + 1 if len(ends) else 0
    tail = data[end:]
    unfinished = False
    if tail.strip():
        try:
            json.loads(tail)
        except ValueError:
            unfinished = True  # a writer is still writing it
        else:
            ends, end = np.append(ends, len(data) - 1), len(data)
    offsets = np.concatenate([[0], ends + 1]).astype(np.int64)
    docs = pa.LargeStringArray.from_buffers(
        len(ends), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)
    )
    return _batch(name, np.arange(1, len(ends) + 1), docs), end, unfinished


def _document(data: bytes, name: str) -> pa.Table:
    """The events of a file holding JSON documents (an array, or pretty-printed events), each
    at the line it starts on; one that is not JSON is kept as is, to be rejected."""
    text = data.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    docs: list[str] = []
    lines: list[int] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            break
        line = text.count("\n", 0, i) + 1
        try:
            value, i = decoder.raw_decode(text, i)
        except ValueError:
            docs.append(text[i:])
            lines.append(line)
            break
        for item in value if isinstance(value, list) else [value]:
            docs.append(json.dumps(item))
            lines.append(line)
    return _batch(name, np.array(lines, dtype=np.int64), pa.array(docs, pa.large_string()))


def _batch(src: str, pos: Any, docs: pa.Array) -> pa.Table:
    return pa.table(
        {
            "src": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(len(docs), dtype=np.int32)), pa.array([src])
            ),
            "pos": pa.array(pos, pa.int64()),
            "doc": docs,
        }
    )


# ---- Marquez ----------------------------------------------------------------------------------

_MARQUEZ_COLUMNS = """SELECT column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'lineage_events'"""


def _read_marquez(config: MarquezConfig, stage: Stage, result: ReadResult) -> None:
    server = config.server
    try:
        mlmd_server._check_reachable(server)
        conn = mlmd_server._pg_connect(server)
        try:
            cur = conn.cursor()
            cur.execute(mlmd_server._PG_BEGIN)
            table = _marquez_events(config, cur, stage.marks.get("lineage_events"))
            cur.execute("ROLLBACK")
        finally:
            conn.close()
    except MlprovError:
        raise
    except Exception as err:  # driver errors
        raise mlmd_server._failure(server, err) from err
    if table.num_rows:
        _check(stage, table.drop_columns(["created_ms"]))
        last = pa.compute.max(table["created_ms"]).as_py()
        previous = stage.marks.get("lineage_events", Mark()).max_update_ms
        marks = [m for m in (last, previous) if m is not None]
        result.marks["lineage_events"] = Mark(None, max(marks) if marks else None)
    result.rows_read[TABLE] = table.num_rows
    stage.progress(TABLE, table.num_rows)


def _marquez_events(config: MarquezConfig, cur: Any, mark: Mark | None) -> pa.Table:
    """The run events of ``lineage_events`` past ``mark``, oldest first, each with where it is
    (its run and time) and its ``created_at`` in ms (NULL before Marquez recorded it)."""
    cur.execute(_MARQUEZ_COLUMNS)
    columns = {r[0] for r in cur.fetchall()}
    if "event" not in columns:
        raise NotAnEventSourceError(
            f"{config.location} has no lineage_events table: it is not Marquez's database; "
            "name the database Marquez writes (by default: marquez)"
        )
    created = "created_at" in columns
    # _event_type came with migration V66.2: rows from before hold NULL, and are run events
    where = ["coalesce(_event_type, 'RUN_EVENT') = 'RUN_EVENT'"] if "_event_type" in columns else []
    if created and mark is not None and mark.max_update_ms is not None:
        since = int(mark.max_update_ms) - MARQUEZ_OVERLAP_MS
        where.append(f"created_at >= to_timestamp({since} / 1000.0)")
    cur.execute(
        "SELECT 'lineage_events run ' || coalesce(event->'run'->>'runId', '?') || ' at ' || "
        "coalesce(event->>'eventTime', '?') AS src, NULL::BIGINT AS pos, event::text AS doc, "
        + ("(extract(epoch FROM created_at) * 1000)::BIGINT" if created else "NULL::BIGINT")
        + " AS created_ms FROM lineage_events"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + (" ORDER BY created_at, event_time" if created else " ORDER BY event_time")
    )
    return cur.fetch_arrow_table()

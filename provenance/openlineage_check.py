"""The fields of an OpenLineage event mlprov reads, and the spec's rules, as SQL.

Events are parsed and checked set-at-a-time into ``mlprov_stage.ol_checked`` (one row per
event: where it is, the fields used, and the first rule of the spec it breaks) by the ``check``
block of ``openlineage.sql``: over whole NDJSON files DuckDB's JSON reader parses in parallel
(:func:`check_files`), or over a batch of lines or documents Python split (:func:`check_batch`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from mlprov.provenance.readers import Stage
from mlprov.provenance.sql import literal, named_queries, scalar

#: Where an event is recorded in the load report and in errors.
TABLE = "OpenLineage event"
#: Events per Arrow batch handed to DuckDB (its threads parse batches in parallel).
_BATCH_ROWS = 32_768

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
NOT_RUN_EVENTS = "are DatasetEvents or JobEvents, which record no run"


def _duck_type(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, list):
        return _duck_type(spec[0]) + "[]"
    return "STRUCT(" + ", ".join(f'"{k}" {_duck_type(v)}' for k, v in spec.items()) + ")"


def _problem_case() -> str:
    whens = " ".join(
        f"WHEN {cond} THEN {literal(problem) if problem else 'NULL'}" for cond, problem in _RULES
    )
    return f"CASE {whens} END"


SQL = named_queries("mlprov.provenance", "openlineage.sql")
_KEPT = [
    c for c in _COLUMNS if c not in ("schema_url", "event_time", "run_id", "inputs", "outputs")
]
CHECKED = (
    "CREATE TABLE mlprov_stage.ol_checked (src VARCHAR, pos BIGINT, kind VARCHAR, "
    f"problem VARCHAR, ms BIGINT, run_uuid VARCHAR, {', '.join(c + ' VARCHAR' for c in _KEPT)}, "
    f"input_list {_duck_type(_DATASETS)}, output_list {_duck_type(_DATASETS)})"
)


def _check_sql(events: str) -> str:
    return (
        SQL["check"]
        .replace("{url}", SCHEMA_URL.replace("'", "''"))
        .replace("{problem}", _problem_case())
        .replace("{events}", events)
    )  # last: the events' SQL holds file names


def _lines_sql(validate: bool) -> str:
    extract = (
        f"json_extract_string(doc, [{', '.join(literal('$.' + p) for p in _COLUMNS.values())}])"
    )
    if validate:
        extract = f"CASE WHEN json_valid(doc) THEN {extract} END"
    columns = ", ".join(f"j[{i}] AS {c}" for i, c in enumerate(_COLUMNS, start=1))
    return (
        SQL["lines"]
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
    SQL["files"]
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
        + ", ".join(f"{literal(k)}: {literal(_duck_type(v))}" for k, v in _schema().items())
        + "}",
    )
)


def _files_sql(files: list[tuple[Path, str]]) -> str:
    return _FILES_SQL.replace("{files}", ", ".join(literal(str(p)) for p, _ in files)).replace(
        "{paths}", ", ".join(f"({literal(str(p))}, {literal(n)})" for p, n in files)
    )


def check_batch(stage: Stage, source: pa.Table) -> None:
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


def check_files(stage: Stage, files: list[tuple[Path, str]]) -> tuple[int, set[str]]:
    """Check whole NDJSON files with DuckDB's JSON reader. Return how many events it checked,
    and the files it cannot read or that hold a rejected event: none of their events are
    kept, for the caller to check them line by line (for the line numbers)."""
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
    return events, again

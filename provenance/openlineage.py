"""Read OpenLineage RunEvents: files the client's file transport writes, or Marquez's database.

Sources:

- a file of events, one JSON object per line (the file transport's ``append`` mode), or one
  JSON document (an array of events, or one pretty-printed event: its ``debug_mode``);
- a directory of such files (``*.json``, ``*.ndjson``, ``*.jsonl``, searched recursively; the
  transport's default writes one file per event);
- Marquez's PostgreSQL database (``marquez://user@host:port/marquez``, or a ``postgresql://``
  URL with ``--kind openlineage``), its ``lineage_events`` table read in bulk, read-only, in
  one ``REPEATABLE READ`` snapshot through ADBC, as :mod:`mlprov.provenance.mlmd_server` reads MLMD.

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
committed late; see :data:`mlprov.provenance.openlineage_marquez.MARQUEZ_OVERLAP_MS`). The reader
needs no OpenLineage library.

This module is the reader's entry; :mod:`mlprov.provenance.openlineage_check` holds the fields read
and the spec's rules (SQL that parses and checks events), :mod:`mlprov.provenance.openlineage_files`
the files and their watermarks, :mod:`mlprov.provenance.openlineage_marquez` Marquez's database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlprov.provenance import connect
from mlprov.provenance.errors import UnknownSourceError
from mlprov.provenance.openlineage_check import CHECKED, NOT_RUN_EVENTS, SQL, TABLE
from mlprov.provenance.openlineage_files import event_files, read_files
from mlprov.provenance.openlineage_marquez import read_marquez
from mlprov.provenance.readers import NO_SECRET, ReadResult, Secret, Skipped, Stage
from mlprov.provenance.sql import execute, scalar


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

    server: connect.Config

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
            first = next(iter(event_files(path)), None)
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
    return MarquezConfig(connect.configure(f"postgresql://{rest}", secret))


def read(config: FileConfig | MarquezConfig, stage: Stage) -> ReadResult:
    """Stage every event new since ``stage.marks``.

    Raises:
        SourceNotFoundError, NotAnEventSourceError, and for Marquez the server reader's errors
        (SourceUnreachableError, SourceAccessError, SourceReadError).
    """
    result = ReadResult()
    stage.con.execute(CHECKED)
    if isinstance(config, MarquezConfig):
        read_marquez(config.server, stage, result)
    else:
        read_files(config.path, stage, result)
    skipped = int(
        scalar(
            stage.con,
            "SELECT count(*) FROM mlprov_stage.ol_checked WHERE problem IS NULL AND kind IN "
            "('DatasetEvent', 'JobEvent')",
        )
    )
    if skipped:
        result.skipped.append(Skipped(TABLE, NOT_RUN_EVENTS, skipped))
    _stage_events(stage)
    return result


def _stage_events(stage: Stage) -> None:
    """Turn the checked events into staged nodes and edges (``openlineage.sql``)."""
    con = stage.con

    def run(name: str) -> None:
        execute(con, SQL[name], {"sid": stage.source_id})

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

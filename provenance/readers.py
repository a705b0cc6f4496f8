"""The reader contract: what a source module provides, what it stages, and the registry.

A source is read by a *reader*: one module with a :class:`Reader` object named ``READER`` and
one entry in :data:`REGISTRY`. A new source (OpenLineage, MLflow, ...) is one new module plus
one registry line; ``parse_source``, the CLI's ``--kind`` choices and help, and the "valid kinds
are ..." errors all come from the registry.

A reader has

- ``kind``: its registry key (``mlmd_sql``);
- ``summary``: one line for ``--help``;
- ``schemes``: the URL schemes it reads by default (``mysql``, ``postgresql``); the first
  reader in registry order that lists a scheme gets its URLs, others need ``--kind``;
- ``claims_file(path)``: whether it recognizes a local file by its content (a SQLite header);
- ``configure(location, secret)``: its frozen Config for a path or URL, holding the password
  (:class:`Secret`) apart from ``config.location``, the credential-free text under which the
  source is recorded (``sources.location``, load reports, error messages);
- ``read(config, stage)``: stage every row new or changed since ``stage.marks`` and return a
  :class:`ReadResult` (rows read per source table, new watermarks, rows left out and why).

Readers fill the staging tables below, which live in a scratch in-memory database attached for
one ingest (:func:`staging_area`): a reader may fill them from several connections at once,
before the ingest transaction opens; :mod:`mlprov.provenance.ingest` then turns them into canonical
rows in that one transaction. Node tables hold every new or changed node with all of its properties;
edge tables may repeat edges already loaded. Staging speaks the canonical vocabulary: a type's
``kind`` is a :class:`NodeKind`, states are :class:`ExecutionState` / :class:`ArtifactState` names,
an event's ``type`` an :class:`EventType` name (MLMD readers decode MLMD's integer codes,
:mod:`mlprov.provenance.mlmd_codes`). Ids are integers; a source whose ids are text (run UUIDs, run
ids) maps them with :meth:`Stage.stable_ids`, which gives each text id the same integer on every
ingest, so canonical ids and incremental ingest work as for MLMD. A record a reader cannot stage at
all (an event that is not JSON) goes to ``stg_rejects`` (source table, where the record is, what is
wrong), in source order: ingest raises, warns or skips those per its strictness, like every other
dirty record.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlprov.provenance.conventions import Mapping
from mlprov.provenance.sql import literal

if TYPE_CHECKING:
    import duckdb

# (source table, rows read so far) -> None; called as reading progresses.
Progress = Callable[[str, int], None]


class NodeKind(str, Enum):
    """What a type describes."""

    EXECUTION = "EXECUTION"
    ARTIFACT = "ARTIFACT"
    CONTEXT = "CONTEXT"


class ExecutionState(str, Enum):
    """An execution's last known state (``executions.state``)."""

    UNKNOWN = "UNKNOWN"
    NEW = "NEW"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CACHED = "CACHED"
    CANCELED = "CANCELED"


class ArtifactState(str, Enum):
    """An artifact's state (``artifacts.state``)."""

    UNKNOWN = "UNKNOWN"
    PENDING = "PENDING"
    LIVE = "LIVE"
    MARKED_FOR_DELETION = "MARKED_FOR_DELETION"
    DELETED = "DELETED"
    ABANDONED = "ABANDONED"
    REFERENCE = "REFERENCE"


class EventType(str, Enum):
    """How an execution touched an artifact (``events.type``)."""

    UNKNOWN = "UNKNOWN"
    DECLARED_OUTPUT = "DECLARED_OUTPUT"
    DECLARED_INPUT = "DECLARED_INPUT"
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"
    INTERNAL_INPUT = "INTERNAL_INPUT"
    INTERNAL_OUTPUT = "INTERNAL_OUTPUT"
    PENDING_OUTPUT = "PENDING_OUTPUT"


#: The scratch database of the staging tables, attached for the length of one ingest.
STAGE = "mlprov_stage"

# Every staging table is declared with its columns: DuckDB 2.0.0 loses the rows of a table
# created as a copy of an empty one once an Arrow insert of more than one row group fills it
# inside a transaction (a later scan sees no row groups).
_STAGING = """
CREATE TABLE mlprov_stage.stg_types (id BIGINT, name VARCHAR, kind VARCHAR);
CREATE TABLE mlprov_stage.stg_executions (id BIGINT, type_id BIGINT, state VARCHAR,
    name VARCHAR, create_ms BIGINT, update_ms BIGINT);
CREATE TABLE mlprov_stage.stg_artifacts (id BIGINT, type_id BIGINT, uri VARCHAR,
    state VARCHAR, name VARCHAR, create_ms BIGINT, update_ms BIGINT);
CREATE TABLE mlprov_stage.stg_contexts (id BIGINT, type_id BIGINT, name VARCHAR,
    create_ms BIGINT, update_ms BIGINT);
CREATE TABLE mlprov_stage.stg_execution_props (owner_id BIGINT, name VARCHAR,
    is_custom BOOLEAN, int_value BIGINT, double_value DOUBLE, string_value VARCHAR,
    bool_value BOOLEAN);
CREATE TABLE mlprov_stage.stg_artifact_props (owner_id BIGINT, name VARCHAR,
    is_custom BOOLEAN, int_value BIGINT, double_value DOUBLE, string_value VARCHAR,
    bool_value BOOLEAN);
CREATE TABLE mlprov_stage.stg_context_props (owner_id BIGINT, name VARCHAR,
    is_custom BOOLEAN, int_value BIGINT, double_value DOUBLE, string_value VARCHAR,
    bool_value BOOLEAN);
CREATE TABLE mlprov_stage.stg_events (execution_id BIGINT, artifact_id BIGINT,
    type VARCHAR, ms BIGINT, key VARCHAR, idx INTEGER);
CREATE TABLE mlprov_stage.stg_associations (context_id BIGINT, execution_id BIGINT);
CREATE TABLE mlprov_stage.stg_attributions (context_id BIGINT, artifact_id BIGINT);
CREATE TABLE mlprov_stage.stg_parent_contexts (context_id BIGINT, parent_context_id BIGINT);
CREATE TABLE mlprov_stage.stg_id_map (space VARCHAR, external_id VARCHAR, id BIGINT);
CREATE TABLE mlprov_stage.stg_rejects (source_table VARCHAR, record VARCHAR, problem VARCHAR);
"""


@contextmanager
def staging_area(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Attach the staging tables (:data:`STAGE`, in memory) to ``con`` for one ingest.

    Inside the block ``con`` finds them by their bare names (they are on its search path);
    other connections to the same database (``con.cursor()``) name them ``mlprov_stage.<table>``.
    On leaving, they are detached with every row staged.
    """
    db = str(con.execute("SELECT current_database()").fetchall()[0][0]).replace('"', '""')
    con.execute(f"ATTACH ':memory:' AS {STAGE}")
    try:
        con.execute(_STAGING)
        con.execute(f"""SET search_path = '"{db}".main,{STAGE}.main'""")
        yield
    finally:
        con.execute("RESET search_path")
        con.execute(f"DETACH {STAGE}")


# The MLMD node tables whose rows change in place; everything else is append-only.
NODE_TABLES = ("Execution", "Artifact", "Context")


@dataclass(frozen=True)
class Mark:
    """How far a source table has been read: largest id and largest last-update time."""

    max_id: int | None = None
    max_update_ms: int | None = None


@dataclass(frozen=True)
class Skipped:
    """Source rows an ingest did not load, and why."""

    table: str
    reason: str
    count: int
    examples: tuple[str, ...] = ()


@dataclass
class ReadResult:
    """What a reader staged: rows read per source table, new watermarks, rows left out."""

    rows_read: dict[str, int] = field(default_factory=dict)
    marks: dict[str, Mark] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    schema_version: int | None = None


@dataclass(frozen=True)
class Stage:
    """What a reader gets for one ingest: the store's connection (staging tables attached),
    the source's id, its watermarks, the progress callback and the user's mapping (a reader
    whose source records deployments reads its deploy rule, e.g. MLflow's aliases)."""

    con: duckdb.DuckDBPyConnection
    source_id: int
    marks: dict[str, Mark]
    progress: Progress
    mapping: Mapping = field(default_factory=Mapping)

    def stable_ids(self, space: str, external_ids: str) -> str:
        """Give every text id of ``space`` an integer that stays the same on every ingest.

        Args:
            space: the kind of id (``run``, ``dataset``): ids of different spaces never clash.
            external_ids: a query over the staging tables returning one VARCHAR column.

        Returns:
            The name of a table ``(external_id, id)`` covering those ids (old ones keep
            their integer, new ones continue after the largest given so far); ingest stores
            the new pairs with the rest of the batch.
        """
        if not space.isidentifier():
            raise ValueError(f"id space {space!r} must be an identifier")
        known = (
            f"SELECT external_id, id FROM source_ids WHERE source_id = {int(self.source_id)} "
            f"AND space = {literal(space)} UNION ALL SELECT external_id, id FROM "
            f"mlprov_stage.stg_id_map WHERE space = {literal(space)}"
        )
        self.con.execute(
            f"""INSERT INTO mlprov_stage.stg_id_map
            SELECT {literal(space)}, x, (SELECT coalesce(max(id), 0) FROM ({known}))
                   + row_number() OVER (ORDER BY x)
            FROM (SELECT DISTINCT * FROM ({external_ids}) t(x) WHERE x IS NOT NULL
                  AND x NOT IN (SELECT external_id FROM ({known})))"""
        )
        view = f"ids_{space}"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {known}")
        return view


@dataclass(frozen=True)
class Secret:
    """A password kept out of every printed or stored text (its repr is ``Secret(***)``)."""

    value: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return "Secret(***)" if self.value else "Secret(None)"

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the password replaced by ``***``."""
        return text.replace(self.value, "***") if self.value else text


#: No password.
NO_SECRET = Secret()


class SourceConfig(Protocol):
    """A reader's frozen config: whatever it needs, and a credential-free location."""

    @property
    def location(self) -> str: ...


class Reader(Protocol):
    """What a source module provides as ``READER`` (see the module docstring)."""

    kind: str
    summary: str
    schemes: tuple[str, ...]

    def claims_file(self, path: Path) -> bool: ...

    def configure(self, location: str, secret: Secret) -> Any: ...

    def read(self, config: Any, stage: Stage) -> ReadResult: ...


#: kind -> module holding its ``READER``, in order of precedence for URL schemes and files.
REGISTRY: dict[str, str] = {
    "mlmd_sql": "mlprov.provenance.mlmd_sql",
    "mlmd_server": "mlprov.provenance.mlmd_server",
    "mlmd_client": "mlprov.provenance.mlmd_client",
    "openlineage": "mlprov.provenance.openlineage",
    "mlflow": "mlprov.provenance.mlflow_store",
}


def reader(kind: str) -> Reader:
    """The registered reader of ``kind`` (a key of :data:`REGISTRY`)."""
    module: Any = importlib.import_module(REGISTRY[kind])
    return module.READER


def sqlite_tables(path: Path) -> set[str]:
    """The table names of a SQLite file, for ``claims_file`` (empty when it is none).

    Opened ``immutable``: nothing is written beside the file (no ``-shm`` for a WAL store) and
    no lock is taken; a sniff of the schema needs neither.
    """
    import sqlite3

    try:
        if not path.is_file():  # opening a FIFO would block
            return set()
        with path.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                return set()
        con = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            con.close()
    except (OSError, sqlite3.Error):
        return set()
    return {str(r[0]) for r in rows}


def sqlite_formats() -> str:
    """The SQLite formats the registered readers understand, for error messages."""
    return "; ".join(
        f"{kind}: {reader(kind).summary}" for kind in REGISTRY if "sqlite" in reader(kind).schemes
    )

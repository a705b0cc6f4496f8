"""What every reader shares: staging tables, watermarks and the read result.

A reader fills the staging tables below (MLMD-shaped, one per source table), which live in a
scratch in-memory database attached for one ingest (:func:`staging_area`): a reader may fill them
from several connections at once, before the ingest transaction opens, and
:mod:`provenance.ingest` then turns them into canonical rows in that one transaction. Node
tables hold every new or changed node with all of its properties; edge tables may repeat edges
already loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb

from provenance.sql import scalar

# (source table, rows read so far) -> None; called as reading progresses.
Progress = Callable[[str, int], None]

#: The scratch database of the staging tables, attached for the length of one ingest.
STAGE = "mlprov_stage"

# Every staging table is declared with its columns: DuckDB 2.0.0 loses the rows of a table
# created as a copy of an empty one once an Arrow insert of more than one row group fills it
# inside a transaction (a later scan sees no row groups).
_STAGING = """
CREATE TABLE mlprov_stage.stg_types (id BIGINT, name VARCHAR, type_kind INTEGER);
CREATE TABLE mlprov_stage.stg_executions (id BIGINT, type_id BIGINT, state INTEGER,
    name VARCHAR, create_ms BIGINT, update_ms BIGINT);
CREATE TABLE mlprov_stage.stg_artifacts (id BIGINT, type_id BIGINT, uri VARCHAR,
    state INTEGER, name VARCHAR, create_ms BIGINT, update_ms BIGINT);
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
    type INTEGER, ms BIGINT, key VARCHAR, idx INTEGER);
CREATE TABLE mlprov_stage.stg_associations (context_id BIGINT, execution_id BIGINT);
CREATE TABLE mlprov_stage.stg_attributions (context_id BIGINT, artifact_id BIGINT);
CREATE TABLE mlprov_stage.stg_parent_contexts (context_id BIGINT, parent_context_id BIGINT);
"""


@contextmanager
def staging_area(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Attach the staging tables (:data:`STAGE`, in memory) to ``con`` for one ingest.

    Inside the block ``con`` finds them by their bare names (they are on its search path);
    other connections to the same database (``con.cursor()``) name them ``mlprov_stage.<table>``.
    On leaving, they are detached with every row staged.
    """
    db = str(scalar(con, "SELECT current_database()")).replace('"', '""')
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

"""What every reader shares: staging tables, watermarks and the read result.

A reader fills the staging tables below (MLMD-shaped, one per source table) inside the ingest
transaction; :mod:`provenance.ingest` turns them into canonical rows. Node tables hold every new
or changed node with all of its properties; edge tables may repeat edges already loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# (source table, rows read so far) -> None; called as reading progresses.
Progress = Callable[[str, int], None]

# Every staging table is declared with its columns: DuckDB 2.0.0 loses the rows of a table
# created as a copy of an empty one once an Arrow insert of more than one row group fills it
# inside a transaction (a later scan sees no row groups).
STAGING = """
CREATE OR REPLACE TEMP TABLE stg_types (id BIGINT, name VARCHAR, type_kind INTEGER);
CREATE OR REPLACE TEMP TABLE stg_executions (id BIGINT, type_id BIGINT, state INTEGER,
    name VARCHAR, create_ms BIGINT, update_ms BIGINT);
CREATE OR REPLACE TEMP TABLE stg_artifacts (id BIGINT, type_id BIGINT, uri VARCHAR,
    state INTEGER, name VARCHAR, create_ms BIGINT, update_ms BIGINT);
CREATE OR REPLACE TEMP TABLE stg_contexts (id BIGINT, type_id BIGINT, name VARCHAR,
    create_ms BIGINT, update_ms BIGINT);
CREATE OR REPLACE TEMP TABLE stg_execution_props (owner_id BIGINT, name VARCHAR,
    is_custom BOOLEAN, int_value BIGINT, double_value DOUBLE, string_value VARCHAR,
    bool_value BOOLEAN);
CREATE OR REPLACE TEMP TABLE stg_artifact_props (owner_id BIGINT, name VARCHAR,
    is_custom BOOLEAN, int_value BIGINT, double_value DOUBLE, string_value VARCHAR,
    bool_value BOOLEAN);
CREATE OR REPLACE TEMP TABLE stg_context_props (owner_id BIGINT, name VARCHAR,
    is_custom BOOLEAN, int_value BIGINT, double_value DOUBLE, string_value VARCHAR,
    bool_value BOOLEAN);
CREATE OR REPLACE TEMP TABLE stg_events (execution_id BIGINT, artifact_id BIGINT,
    type INTEGER, ms BIGINT, key VARCHAR, idx INTEGER);
CREATE OR REPLACE TEMP TABLE stg_associations (context_id BIGINT, execution_id BIGINT);
CREATE OR REPLACE TEMP TABLE stg_attributions (context_id BIGINT, artifact_id BIGINT);
CREATE OR REPLACE TEMP TABLE stg_parent_contexts (context_id BIGINT, parent_context_id BIGINT);
"""

STAGING_TABLES = (
    "stg_types",
    "stg_executions",
    "stg_artifacts",
    "stg_contexts",
    "stg_execution_props",
    "stg_artifact_props",
    "stg_context_props",
    "stg_events",
    "stg_associations",
    "stg_attributions",
    "stg_parent_contexts",
)

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

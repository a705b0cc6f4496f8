"""What a store's graphlet tables reflect, and whether they are built and current.

``graphlet_state`` (graphlets/schema.sql) records the tables' layout, the rules of the last
build and the latest ingest the whole store was built from; every change to the canonical store
is an ingest, which records a run, so one look at both tables tells whether the graphlets are
current.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from importlib import resources

import duckdb

from mlprov.graphlets.rules import GraphletRules
from mlprov.provenance.sql import Queries
from mlprov.provenance.store import ProvenanceStore

#: Version of graphlets/schema.sql: bump it with any change there. A store whose graphlet
#: tables have another layout drops and rebuilds them.
LAYOUT = "3"
#: The tables of graphlets/schema.sql.
TABLES = ("graphlets", "graphlet_members", "graphlet_builds", "graphlet_seen", "graphlet_state")
_SQL = Queries("mlprov.graphlets", "state.sql")


def ensure_schema(store: ProvenanceStore) -> None:
    """Create the graphlet tables (graphlets/schema.sql), replacing those of another layout.

    Args:
        store: an open, writable store.
    """
    if layout(store) == LAYOUT:
        return
    for table in TABLES:
        store.con.execute(f"DROP TABLE IF EXISTS {table}")
    store.con.execute(resources.files("mlprov.graphlets").joinpath("schema.sql").read_text())
    _SQL.run(store.con, "set_state", {"key": "layout", "value": LAYOUT})


def layout(store: ProvenanceStore) -> str | None:
    """The layout version of the store's graphlet tables (None when it has none)."""
    return state(store).get("layout")


def state(store: ProvenanceStore) -> dict[str, str | None]:
    """The ``graphlet_state`` rows as a dict (empty when the store has none)."""
    return _known(store.con) if store.has_table("graphlet_state") else {}


def _known(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    return dict(_SQL.run(con, "state").fetchall())


def latest_ingest(con: duckdb.DuckDBPyConnection) -> int | None:
    """The id of the store's latest ingest (None before the first)."""
    latest = _SQL.run(con, "latest_ingest").fetchall()[0][0]
    return None if latest is None else int(latest)


def ingests_since(con: duckdb.DuckDBPyConnection, ingest_id: int) -> int:
    """How many ingests came after ``ingest_id``."""
    return int(_SQL.run(con, "ingests_since", {"ingest_id": ingest_id}).fetchall()[0][0])


def is_current(store: ProvenanceStore, rules: GraphletRules) -> bool:
    """Whether the whole store's graphlets reflect its latest ingest under ``rules``."""
    known = state(store)
    latest = latest_ingest(store.con)
    return (
        known.get("layout") == LAYOUT
        and known.get("rules_hash") == rules.digest()
        and "ingest_id" in known
        and known["ingest_id"] == (None if latest is None else str(latest))
    )


def record(con: duckdb.DuckDBPyConnection, rules: GraphletRules, *, complete: bool) -> None:
    """Record what the graphlets now reflect: per pipeline built (temp tables ``gl_full`` and
    ``gl_part``), and for the whole store (its latest ingest) when the build covered every
    pipeline."""
    _SQL.run(con, "record_builds", {"rules_hash": rules.digest()})
    known: dict[str, str | None] = {
        "rules": json.dumps(asdict(rules), sort_keys=True),
        "rules_hash": rules.digest(),
    }
    if complete:
        latest = latest_ingest(con)
        known["ingest_id"] = None if latest is None else str(latest)
    elif _known(con).get("rules_hash") != rules.digest():
        known["ingest_id"] = None  # other pipelines were cut under other rules: not current
    for key, value in known.items():
        _SQL.run(con, "set_state", {"key": key, "value": value})

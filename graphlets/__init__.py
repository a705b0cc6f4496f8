"""Model graphlets: the piece of the provenance graph around one training run (study.md).

Build them once per store; every reader then refreshes them incrementally after each ingest
(:func:`ensure_current`), so they are never stale. Read the ``graphlets`` and
``graphlet_members`` tables or load one graphlet for display::

    from mlprov.provenance.store import ProvenanceStore
    from mlprov.graphlets import build_graphlets, load_graphlet

    with ProvenanceStore.open("prov.duckdb") as store:
        report = build_graphlets(store)
        view = load_graphlet(store, 42)
"""

from mlprov.graphlets.build import BuildReport, build_graphlets
from mlprov.graphlets.current import current_rules, ensure_current, graphlet_status, open_current
from mlprov.graphlets.load import (
    GraphletView,
    graphlet_summary,
    list_graphlets,
    load_graphlet,
    load_graphlets,
    to_networkx,
)
from mlprov.graphlets.rules import GraphletRules
from mlprov.graphlets.state import ensure_schema
from mlprov.graphlets.vocabulary import EXPORTED_TABLES, REASONS, Outcome, Role

__all__ = [
    "EXPORTED_TABLES",
    "REASONS",
    "BuildReport",
    "GraphletRules",
    "GraphletView",
    "Outcome",
    "Role",
    "build_graphlets",
    "current_rules",
    "ensure_current",
    "ensure_schema",
    "graphlet_status",
    "graphlet_summary",
    "list_graphlets",
    "load_graphlet",
    "load_graphlets",
    "open_current",
    "to_networkx",
]

"""mlprov: where ML pipeline compute goes, and how much of it never reaches production.

The three stages are subpackages, imported one way: :mod:`mlprov.provenance` (ingest into a
canonical DuckDB store) <- :mod:`mlprov.graphlets` (model graphlets) <- :mod:`mlprov.analysis`
(waste, characterization, pruning simulation, reports). The names below are the entry points a
notebook needs; each loads its stage on first use, so ``import mlprov`` stays quick.

Example:
    >>> import mlprov
    >>> with mlprov.ProvenanceStore.open(":memory:") as store:
    ...     mlprov.build_graphlets(store).graphlets
    0
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ProvenanceStore",
    "Scope",
    "build_graphlets",
    "build_report",
    "ingest",
    "list_graphlets",
    "load_graphlet",
    "simulate_pruning",
    "waste_summary",
    "write_report",
]

_HOMES = {
    "ProvenanceStore": "mlprov.provenance.store",
    "ingest": "mlprov.provenance.ingest",
    "build_graphlets": "mlprov.graphlets",
    "list_graphlets": "mlprov.graphlets",
    "load_graphlet": "mlprov.graphlets",
    "Scope": "mlprov.analysis.frames",
    "waste_summary": "mlprov.analysis.waste",
    "simulate_pruning": "mlprov.analysis.pruning",
    "build_report": "mlprov.analysis.report",
    "write_report": "mlprov.analysis.report",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mlprov' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

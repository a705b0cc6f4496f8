"""What the simulation reads from a store, loaded once: :class:`PruningData`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlprov.analysis.frames import ALL, LATEST, Liveness, cost_unit, in_unit
from mlprov.analysis.pruning.features import decision_features, queries
from mlprov.provenance.store import ProvenanceStore


@dataclass(frozen=True)
class PruningData:
    """Everything the simulation reads from a store, loaded once (see :func:`load_pruning_data`).

    Attributes:
        decisions: :func:`mlprov.analysis.pruning.features.decision_features`.
        members: execution memberships: ``row`` (index into ``decisions``), ``exec`` (index
            into ``executions``), ``after_decision`` (anchor or downstream).
        executions: ``cost``, ``start_time``, ``wasted`` per execution.
        cost_unit: unit of ``cost``.
        other_unit: executions left out of cost figures: their cost is in another unit.
    """

    decisions: pd.DataFrame
    members: pd.DataFrame
    executions: pd.DataFrame
    cost_unit: str
    other_unit: int = 0


def load_pruning_data(
    store: ProvenanceStore, unit: str | None = None, liveness: Liveness = LATEST
) -> PruningData:
    """Read decisions, their features, memberships and costs from a store with graphlets.

    Args:
        store: a canonical store with graphlets built.
        unit: the cost unit; default as in :mod:`mlprov.analysis.frames` (the cost property's unit
            when executions have it, else seconds). Executions whose non-zero cost is in
            another unit count as zero and are counted in ``other_unit``.
        liveness: which work is in flight and which abandoned (waste), as in the report.

    Raises:
        StoreError: the store has no graphlets.
        NonFiniteCostError: a cost is infinite, or the costs add up past what sums can hold.
        StaleGraphletsError, NotBuiltError: stale graphlets on a read-only store.
    """
    from mlprov.analysis.frames import require_graphlets
    from mlprov.analysis.waste import check_costs

    require_graphlets(store)
    decisions = decision_features(store, liveness)
    q = queries()
    executions = store.df(q["executions"], liveness.params())
    members = store.df(q["members"])
    unit = cost_unit(store, ALL, unit)
    cost = in_unit(executions["cost"], executions["cost_unit"], unit)
    rows = _key(decisions, "graphlet_id").get_indexer(_key(members, "graphlet_id"))
    execs = _key(executions, "execution_id").get_indexer(_key(members, "execution_id"))
    keep = (rows >= 0) & (execs >= 0)
    members = pd.DataFrame(
        {
            "row": rows[keep],
            "exec": execs[keep],
            "after_decision": members["after_decision"].to_numpy()[keep],
        }
    )
    check_costs(executions.assign(cost=cost))
    frame = pd.DataFrame(
        {
            "cost": cost.fillna(0.0),
            "start_time": executions["start_time"],
            "wasted": executions["wasted"].astype(bool),
        }
    )
    return PruningData(decisions, members, frame, unit, int(cost.isna().sum()))


def _key(frame: pd.DataFrame, id_column: str) -> pd.Index:
    """``(source_id, <id_column>)`` as one int64 per row: MLMD ids are far below 2**40."""
    return pd.Index(
        frame["source_id"].to_numpy(np.int64) << 40 | frame[id_column].to_numpy(np.int64)
    )

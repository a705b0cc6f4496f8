"""The scope of an analysis and the two frames every analysis starts from.

Every analysis takes ``since``/``until`` (a half-open range of execution start times, or of
graphlet train times; naive datetimes are UTC) and ``pipelines`` (names to keep), and reports
costs in one unit: ``unit`` or, by default, the unit of the user's cost property when any
execution in scope has it, else ``seconds``. Executions whose non-zero cost is in another unit
(they lack the cost property) are left out of cost figures and counted, never added in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from graphlets import ensure_current
from provenance.sql import named_queries
from provenance.store import ProvenanceStore

_SQL = named_queries("analysis", "frames.sql")

#: Execution statuses (study.md, "Cost and waste"); wasted = unpushed + orphan.
STATUSES = ("deployed", "in_flight", "unpushed", "orphan")
WASTED = ("unpushed", "orphan")


@dataclass(frozen=True)
class Scope:
    """What an analysis looks at: a time range and a pipeline filter.

    Attributes:
        since: first instant included (UTC), or None for the beginning.
        until: first instant excluded (UTC), or None for the end.
        pipelines: pipeline names to keep, or None for all.
    """

    since: datetime | None = None
    until: datetime | None = None
    pipelines: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        since: datetime | None = None,
        until: datetime | None = None,
        pipelines: Iterable[str] | None = None,
    ) -> Scope:
        """Normalize arguments: aware datetimes to naive UTC, pipelines to a sorted tuple.

        Raises:
            ValueError: ``since`` is not before ``until``.

        Example:
            >>> Scope.of(datetime(2025, 1, 1), pipelines=["b", "a"]).pipelines
            ('a', 'b')
        """
        since, until = _utc(since), _utc(until)
        if since is not None and until is not None and since >= until:
            raise ValueError(f"since ({since}) must be before until ({until})")
        return cls(since, until, None if pipelines is None else tuple(sorted(set(pipelines))))

    def params(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "pipelines": list(self.pipelines) if self.pipelines is not None else None,
        }


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


_SHARED: ContextVar[dict[tuple[int, str, str], pd.DataFrame] | None] = ContextVar(
    "analysis_shared_frames", default=None
)


@contextmanager
def shared_frames() -> Iterator[None]:
    """Inside the block, each distinct query runs once and its frame is shared by every analysis.

    A report runs some fifteen analyses over the same scope, most of them over the same
    execution and graphlet frames; sharing reads each once. Shared frames are read-only: the
    analyses derive new frames (``assign``, filters) and never add to or change the ones they
    are given. The store must not change inside the block.
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def query(store: ProvenanceStore, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run ``sql`` (a named query) with those of ``params`` it uses, as a DataFrame (shared
    inside :func:`shared_frames`; treat it as read-only)."""
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    shared = _SHARED.get()
    if shared is None:
        return store.df(sql, used)
    key = (id(store), sql, repr(sorted(used.items())))
    if key not in shared:
        shared[key] = store.df(sql, used)
    return shared[key]


def require_graphlets(store: ProvenanceStore) -> None:
    """Bring the store's graphlets up to date first: no figure is computed on stale ones.

    Raises:
        StaleGraphletsError, NotBuiltError: stale graphlets on a read-only store (see
            :func:`graphlets.ensure_current`).
    """
    ensure_current(store)


def cost_unit(store: ProvenanceStore, scope: Scope, unit: str | None = None) -> str:
    """The unit cost figures are given in: ``unit`` when given, else the default (module doc).

    Example:
        >>> with ProvenanceStore.open(":memory:") as s:
        ...     cost_unit(s, Scope())
        'seconds'
    """
    if unit is not None:
        return unit
    units = query(store, _SQL["cost_units"], scope.params())
    return str(units["cost_unit"].iloc[0]) if len(units) else "seconds"


def execution_frame(store: ProvenanceStore, scope: Scope, unit: str) -> pd.DataFrame:
    """One row per execution in scope: ids, pipeline, component, category, state, times,
    ``status`` (see :data:`STATUSES`), ``cost`` in ``unit`` (NaN when its cost is in another
    unit) and ``other_unit`` (True for those).
    """
    require_graphlets(store)
    frame = query(store, _SQL["executions"], scope.params())
    cost = in_unit(frame["raw_cost"], frame["cost_unit"], unit)
    return frame.drop(columns=["raw_cost"]).assign(
        cost=cost, other_unit=cost.isna(), wasted=frame["status"].isin(WASTED)
    )


def in_unit(cost: pd.Series, units: pd.Series, unit: str) -> pd.Series:
    """``cost`` where it is in ``unit`` (or zero, which is zero in any unit), else NaN."""
    return cost.where((units == unit) | (cost == 0), np.nan)


def graphlet_frame(store: ProvenanceStore, scope: Scope, unit: str) -> pd.DataFrame:
    """One row per graphlet trained in scope, ordered by pipeline and train time, with
    ``own_cost`` and ``split_cost`` in ``unit`` and an ``outcome``: pushed, in_flight or
    unpushed.
    """
    require_graphlets(store)
    frame = query(store, _SQL["graphlets"], {**scope.params(), "unit": unit})
    return frame.assign(
        outcome=np.where(
            frame["deployed"], "pushed", np.where(frame["in_flight"], "in_flight", "unpushed")
        )
    )


def share(part: float, whole: float) -> float:
    """``part / whole``, or NaN when ``whole`` is zero (no quiet zeros for empty scopes).

    Example:
        >>> share(1, 4), share(0, 0)
        (0.25, nan)
    """
    return float(part) / float(whole) if whole else float("nan")

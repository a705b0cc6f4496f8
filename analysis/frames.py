"""The scope of an analysis and the two frames every analysis starts from.

Every analysis takes a :class:`Scope`: ``since``/``until`` (a half-open range of execution start
times, or of graphlet train times; naive datetimes are UTC), ``pipelines`` (names to keep) and
the :class:`Liveness` that tells work in flight from abandoned work; and it reports costs in
one unit: ``unit`` or, by default, the unit of the user's cost property when any
execution in scope has it, else ``seconds``. Executions whose non-zero cost is in another unit
(they lack the cost property) are left out of cost figures and counted, never added in.

Every analysis reads from a store, or from :class:`Frames` over one: analyses given the same
:class:`Frames` (as the report's are) share the frames they read instead of each reading them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from mlprov.graphlets import Outcome, ensure_current
from mlprov.provenance.sql import bind, named_queries
from mlprov.provenance.store import ProvenanceStore

_SQL = named_queries("mlprov.analysis", "frames.sql")

#: Execution statuses (study.md, "Cost and waste"); wasted = unpushed + orphan + abandoned.
STATUSES = ("deployed", "in_flight", "abandoned", "unpushed", "orphan")
WASTED = ("unpushed", "orphan", "abandoned")

#: RUNNING work not updated for this long before ``as_of`` is abandoned (study.md, item 8).
STALE_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Liveness:
    """When RUNNING work is still in flight and when it is abandoned (study.md, item 8).

    Work still RUNNING (or NEW) whose last update is at least ``stale_after`` before ``as_of``
    will never finish: it is *abandoned*, failed work and so waste. More recent RUNNING work is
    *in flight*: not waste, since it may still push.

    Attributes:
        as_of: the analysis time (UTC). None takes the store's latest recorded time, so a
            snapshot of a store reads the same whenever it is analyzed; a scheduled job passes
            the time it runs.
        stale_after: how long RUNNING work may go without an update and still be in flight.
    """

    as_of: datetime | None = None
    stale_after: timedelta = STALE_AFTER

    def params(self) -> dict[str, Any]:
        return {"as_of": _utc(self.as_of), "stale_after_s": self.stale_after.total_seconds()}


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}  # per duration unit


def parse_duration(text: str) -> timedelta:
    """A duration such as ``24h``, ``90m``, ``2d`` or ``3600s`` (a bare number is hours).

    Raises:
        ValueError: not a non-negative duration.

    Example:
        >>> parse_duration("36h"), parse_duration("1.5d") == parse_duration("36")
        (datetime.timedelta(days=1, seconds=43200), True)
    """
    text = str(text).strip().lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in _SECONDS else (text, "h")
    try:
        amount = float(number)
    except ValueError:
        amount = float("nan")
    if not 0 <= amount < float("inf"):
        raise ValueError(f"{text!r} is not a duration such as 24h, 90m or 2d")
    return timedelta(seconds=amount * _SECONDS[unit])


#: As of the store's latest recorded time, with the default :data:`STALE_AFTER`.
LATEST = Liveness()


@dataclass(frozen=True)
class Scope:
    """What an analysis looks at: a time range, a pipeline filter, and its :class:`Liveness`.

    Attributes:
        since: first instant included (UTC), or None for the beginning.
        until: first instant excluded (UTC), or None for the end.
        pipelines: pipeline names to keep, or None for all.
        liveness: tells in-flight work from abandoned work.
    """

    since: datetime | None = None
    until: datetime | None = None
    pipelines: tuple[str, ...] | None = None
    liveness: Liveness = LATEST

    @classmethod
    def of(
        cls,
        since: datetime | None = None,
        until: datetime | None = None,
        pipelines: Iterable[str] | None = None,
        *,
        as_of: datetime | None = None,
        stale_after: timedelta = STALE_AFTER,
    ) -> Scope:
        """Normalize arguments: aware datetimes to naive UTC, pipelines to a sorted tuple.

        Raises:
            ValueError: ``since`` is not before ``until``, or ``stale_after`` is negative.

        Example:
            >>> Scope.of(datetime(2025, 1, 1), pipelines=["b", "a"]).pipelines
            ('a', 'b')
        """
        since, until = _utc(since), _utc(until)
        if since is not None and until is not None and since >= until:
            raise ValueError(f"since ({since}) must be before until ({until})")
        if stale_after < timedelta(0):
            raise ValueError(f"stale_after must not be negative, got {stale_after}")
        return cls(
            since,
            until,
            None if pipelines is None else tuple(sorted(set(pipelines))),
            Liveness(_utc(as_of), stale_after),
        )

    def params(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "pipelines": list(self.pipelines) if self.pipelines is not None else None,
            **self.liveness.params(),
        }


#: Everything in the store, as of its latest recorded time.
ALL = Scope()


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


class Frames:
    """The frames of one store, each distinct query read once and shared by the analyses that
    are given this object in place of the store.

    A report runs some fifteen analyses over the same scope, most of them over the same
    execution and graphlet frames; a :class:`Frames` reads each once. Shared frames are
    read-only: the analyses derive new frames (``assign``, filters) and never add to or change
    the ones they are given. The store must not change while the object is in use. One-off
    calls pass the store itself, and each reads what it needs.

    Example:
        >>> with ProvenanceStore.open(":memory:") as s:
        ...     frames = Frames(s)
        ...     cost_unit(frames, ALL), len(frames)
        ('seconds', 1)
    """

    def __init__(self, store: ProvenanceStore) -> None:
        self.store = store
        self._frames: dict[tuple[str, str], pd.DataFrame] = {}

    def __len__(self) -> int:
        """How many frames are held."""
        return len(self._frames)

    def df(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        """:meth:`ProvenanceStore.df`, read once per distinct ``sql`` and ``params``."""
        key = (sql, repr(sorted(params.items())))
        if key not in self._frames:
            self._frames[key] = _read(self.store, sql, params)
        return self._frames[key]


#: What the analyses read from: a store, or :class:`Frames` over one to share what they read.
Source = ProvenanceStore | Frames


def store_of(source: Source) -> ProvenanceStore:
    """The store a :data:`Source` reads."""
    return source.store if isinstance(source, Frames) else source


def query(source: Source, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run ``sql`` (a named query of the analyses: it may use the ``in_scope`` macro) with those
    of ``params`` it uses, as a DataFrame (shared by a :class:`Frames`: treat it as read-only)."""
    used = bind(sql, params)
    return source.df(sql, used) if isinstance(source, Frames) else _read(source, sql, used)


def _read(store: ProvenanceStore, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    store.con.execute(_SQL["scope_macro"])  # temporary: a read-only store takes it too
    return store.df(sql, params)


def define_macros(store: ProvenanceStore) -> None:
    """Define the table macros the analyses' queries share (frames.sql, "macros") on the
    store's connection: temporary, so a read-only store takes them too.

    Raises:
        StoreError: the graphlets tables are missing (the macros read them).
    """
    require_graphlets(store)
    store.con.execute(_SQL["macros"])


def require_graphlets(store: ProvenanceStore) -> None:
    """Bring the store's graphlets up to date first: no figure is computed on stale ones.

    Raises:
        StaleGraphletsError, NotBuiltError: stale graphlets on a read-only store (see
            :func:`mlprov.graphlets.ensure_current`).
    """
    ensure_current(store)


def cost_unit(store: Source, scope: Scope, unit: str | None = None) -> str:
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


def execution_frame(store: Source, scope: Scope, unit: str) -> pd.DataFrame:
    """One row per execution in scope: ids, pipeline, component, category, state, times,
    ``status`` (see :data:`STATUSES`), ``cost`` in ``unit`` (NaN when its cost is in another
    unit) and ``other_unit`` (True for those).
    """
    define_macros(store_of(store))
    frame = query(store, _SQL["executions"], scope.params())
    cost = in_unit(frame["raw_cost"], frame["cost_unit"], unit)
    return frame.drop(columns=["raw_cost"]).assign(
        cost=cost, other_unit=cost.isna(), wasted=frame["status"].isin(WASTED)
    )


def in_unit(cost: pd.Series, units: pd.Series, unit: str) -> pd.Series:
    """``cost`` where it is in ``unit`` (or zero, which is zero in any unit), else NaN."""
    return cost.where((units == unit) | (cost == 0), np.nan)


def graphlet_frame(store: Source, scope: Scope, unit: str) -> pd.DataFrame:
    """One row per graphlet trained in scope, ordered by pipeline and train time, with
    ``own_cost`` and ``split_cost`` in ``unit``, ``abandoned`` (its trainer was left RUNNING:
    see :class:`Liveness`) and an ``outcome``: pushed, in_flight or unpushed (abandoned ones
    included: they will never push).
    """
    define_macros(store_of(store))
    frame = query(store, _SQL["graphlets"], {**scope.params(), "unit": unit})
    return frame.assign(
        outcome=np.where(
            frame["deployed"],
            Outcome.PUSHED.value,
            np.where(frame["in_flight"], Outcome.IN_FLIGHT.value, Outcome.UNPUSHED.value),
        )
    )


def share(part: float, whole: float) -> float:
    """``part / whole``, or NaN when ``whole`` is zero (no quiet zeros for empty scopes).

    Example:
        >>> share(1, 4), share(0, 0)
        (0.25, nan)
    """
    return float(part) / float(whole) if whole else float("nan")

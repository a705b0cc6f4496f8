"""Graphlets are always current: every reader brings them up to date first, or refuses.

Every command and analysis that reads graphlets calls :func:`ensure_current` (or opens the
store with :func:`open_current`): a store whose graphlets miss a later ingest is refreshed
incrementally (see graphlets/build.py), and where it may not be (``refresh=False``, a
read-only database) the reader stops with :class:`StaleGraphletsError` saying what changed,
instead of counting every new execution as an orphan.

The rules of the refresh are the ones the graphlets were last cut with (recorded by
:func:`mlprov.graphlets.build_graphlets` in ``graphlet_state``), so a user who built with other
rules keeps them; defaults only for a store never built. Passing ``rules`` asks for those
rules: graphlets cut under others are then stale too.

Example:
    >>> from mlprov.provenance.store import ProvenanceStore
    >>> from mlprov.graphlets import ensure_current
    >>> with ProvenanceStore.open(":memory:") as store:
    ...     ensure_current(store).graphlets
    0
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mlprov.graphlets.build import BuildReport, build_graphlets
from mlprov.graphlets.errors import GraphletError, NotBuiltError, StaleGraphletsError
from mlprov.graphlets.rules import GraphletRules
from mlprov.graphlets.state import LAYOUT, ingests_since, is_current, latest_ingest, state
from mlprov.provenance.sql import scalar
from mlprov.provenance.store import ProvenanceStore


def current_rules(store: ProvenanceStore) -> GraphletRules:
    """The rules the store's graphlets were last cut with (the defaults when never built),
    with the deploy rule of the sources' mappings when they set one: the mapping a source was
    last ingested with decides what deploys (:meth:`GraphletRules.for_store`)."""
    recorded = state(store).get("rules")
    rules = GraphletRules(**_tuples(json.loads(recorded))) if recorded else GraphletRules()
    deploy = GraphletRules.for_store(store)
    if deploy == GraphletRules():
        return rules
    return replace(
        rules, deploy_on_complete=deploy.deploy_on_complete, pushed_property=deploy.pushed_property
    )


def graphlet_status(store: ProvenanceStore) -> dict[str, Any]:
    """Whether the store has graphlets, how many, and whether they reflect its latest ingest
    (a reader refreshes them first when not: see :func:`ensure_current`); nothing is built.

    Example:
        >>> with ProvenanceStore.open(":memory:") as store:
        ...     graphlet_status(store)
        {'graphlets': 0, 'deployed': 0, 'current': False, 'built': False}
    """
    if state(store).get("layout") != LAYOUT:
        return {"graphlets": 0, "deployed": 0, "current": False, "built": False}
    total, deployed = store.con.execute(
        "SELECT count(*), count(*) FILTER (WHERE deployed) FROM graphlets"
    ).fetchall()[0]
    return {
        "graphlets": int(total),
        "deployed": int(deployed),
        "current": is_current(store, current_rules(store)),
        "built": True,
    }


def _tuples(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


def ensure_current(
    store: ProvenanceStore,
    rules: GraphletRules | None = None,
    *,
    refresh: bool = True,
    progress: Callable[[str, int], None] | None = None,
) -> BuildReport | None:
    """Bring the store's graphlets up to date, or refuse stale ones.

    Cheap when they are current: one look at ``graphlet_state`` and ``ingest_runs``.

    Args:
        store: an open store (read-only is fine when its graphlets are current).
        rules: the rules wanted; None keeps those of the last build (see the module doc).
        refresh: refresh stale graphlets; False refuses them instead.
        progress: passed to :func:`mlprov.graphlets.build_graphlets`.

    Returns:
        The refresh's :class:`BuildReport`, or None when they were current.

    Raises:
        StaleGraphletsError: stale graphlets and ``refresh`` False or a read-only store.
        NotBuiltError: likewise, for a store whose graphlets were never built.
    """
    wanted = rules or current_rules(store)
    if is_current(store, wanted):
        return None
    if not refresh or _read_only(store):
        raise _refusal(store, wanted, refresh)
    return build_graphlets(store, wanted, progress=progress)


def open_current(
    path: str,
    rules: GraphletRules | None = None,
    *,
    refresh: bool = True,
    progress: Callable[[str, int], None] | None = None,
    memory_limit: str | None = None,
) -> tuple[ProvenanceStore, BuildReport | None]:
    """Open ``path`` read-only with current graphlets, refreshing them first when needed.

    The write lock is taken only for a refresh, so readers of a current store do not block
    each other. A file the process may not write is read as it is (stale graphlets refused).

    Returns:
        The open store (close it) and the refresh's report, or None when none was needed.

    Raises:
        StoreError: the database cannot be opened.
        StaleGraphletsError: as :func:`ensure_current`.
    """
    store = ProvenanceStore.open(path, read_only=True, memory_limit=memory_limit)
    try:
        wanted = rules or current_rules(store)
        current = is_current(store, wanted)
        if not current and (not refresh or not os.access(path, os.W_OK)):
            raise _refusal(store, wanted, refresh)
    except BaseException:
        store.close()
        raise
    if current:
        return store, None
    store.close()
    with ProvenanceStore.open(path, create=False, memory_limit=memory_limit) as writable:
        report = build_graphlets(writable, wanted, progress=progress)
    return ProvenanceStore.open(path, read_only=True, memory_limit=memory_limit), report


def _read_only(store: ProvenanceStore) -> bool:
    return bool(
        scalar(
            store.con,
            "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()",
        )
    )


def _refusal(store: ProvenanceStore, rules: GraphletRules, refresh: bool) -> GraphletError:
    """The error for graphlets that may not be refreshed: what changed since they were built,
    and the command to run."""
    known = state(store)
    fix = f"refresh them with 'mlprov graphlets --db {store.path}'" + (
        "" if refresh else " (or run without --no-refresh)"
    )
    if "layout" not in known:
        return NotBuiltError(
            f"{store.path} has no graphlets yet; build them with "
            f"'mlprov graphlets --db {store.path}' or build_graphlets(store)"
        )
    if known["layout"] != LAYOUT:
        return StaleGraphletsError(
            f"the graphlets in {store.path} were built by another mlprov version; {fix}"
        )
    if known.get("rules_hash") != rules.digest():
        return StaleGraphletsError(
            f"the graphlets in {store.path} were cut under other rules "
            f"({known.get('rules_hash')}, not {rules.digest()}); {fix}"
        )
    latest = latest_ingest(store.con)
    built = known.get("ingest_id")
    newer = ingests_since(store.con, int(built)) if built and built.isdigit() else None
    what = (
        f"{newer} ingest{'s' if newer != 1 else ''} (latest: {latest}) since they were built"
        if newer
        else "only some pipelines were built since the latest ingest"
    )
    return StaleGraphletsError(f"the graphlets in {store.path} are stale: {what}; {fix}")

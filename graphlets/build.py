"""Cut the canonical provenance graph into model graphlets, set-at-a-time, and keep them current.

The builder walks every anchor's upstream and downstream at once with recursive SQL
(graphlets/build.sql), adds side branches in a few set-at-a-time rounds, and writes
``graphlets`` and ``graphlet_members`` in one transaction.

A refresh (the default, ``incremental=True``) redoes only the graphlets new provenance can
change, and reads only the part of the graph their walks reach (graphlets/refresh.sql says
which and why the result equals a full rebuild). It compares every execution with what the
last build saw (``graphlet_seen``); a pipeline is rebuilt whole only when it is new, was cut
under other rules, or an old execution's edges moved.

Example:
    >>> from mlprov.provenance.store import ProvenanceStore
    >>> from mlprov.graphlets import build_graphlets
    >>> with ProvenanceStore.open(":memory:") as store:
    ...     build_graphlets(store).graphlets
    0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from mlprov.graphlets.errors import UnknownPipelineError
from mlprov.graphlets.rules import GraphletRules
from mlprov.graphlets.state import ensure_schema, is_current, record
from mlprov.provenance.errors import did_you_mean
from mlprov.provenance.sql import Queries, scalar
from mlprov.provenance.store import ProvenanceStore

_SQL = Queries("mlprov.graphlets", "build.sql", "refresh.sql")
#: Pipelines rebuilt whole are built together until a batch holds this many executions.
BATCH_EXECUTIONS = 500_000
#: Rebuilds the pipelines of temp table ``gl_full`` whole (their ``graphlets``,
#: ``graphlet_members`` and ``graphlet_seen`` rows) given (connection, rules, progress step):
#: DuckDB on this machine by default, Spark in :mod:`mlprov.graphlets.spark`.
RebuildWhole = Callable[
    [duckdb.DuckDBPyConnection, GraphletRules, Callable[[str, int], None]], "Written"
]


@dataclass(frozen=True)
class BuildReport:
    """What one :func:`build_graphlets` call did.

    Attributes:
        pipelines_built: pipelines whose graphlets were rebuilt whole or refreshed in part.
        pipelines_unchanged: pipelines in scope nothing new touched.
        graphlets: graphlets written (new, or redone because new provenance touched them).
        deployed: of those, graphlets that pushed a model.
        in_flight: of those, graphlets whose trainer is still RUNNING or NEW.
        members: graphlet_members rows written.
        removed: graphlets deleted and not written again (their trainer no longer anchors).
        pipelines_whole: of ``pipelines_built``, those rebuilt whole (new pipelines, other
            rules, moved edges, or ``incremental=False``).
        changed_executions: executions new or changed since the last build.
        side_rounds: rounds the side-branch fixpoint took.
        rules_hash: :meth:`GraphletRules.digest` of the rules used.
    """

    pipelines_built: int
    pipelines_unchanged: int
    graphlets: int
    deployed: int
    in_flight: int
    members: int
    removed: int
    pipelines_whole: int
    changed_executions: int
    side_rounds: int
    rules_hash: str


def build_graphlets(
    store: ProvenanceStore,
    rules: GraphletRules | None = None,
    pipelines: Iterable[str] | None = None,
    *,
    incremental: bool = True,
    progress: Callable[[str, int], None] | None = None,
    batch_executions: int = BATCH_EXECUTIONS,
    rebuild_whole: RebuildWhole | None = None,
) -> BuildReport:
    """Build the model graphlets of a store's pipelines, or bring them up to date.

    Args:
        store: an open, writable canonical store.
        rules: the boundary rules; defaults to :class:`GraphletRules` (). Pipelines cut
            under other rules are rebuilt whole.
        pipelines: pipeline names to build (in every source that has them); all when None.
        incremental: redo only the graphlets that new or changed provenance can change
            (identical to a full rebuild). False rebuilds every pipeline in scope whole.
        progress: called with (stage, pipelines being built) as the build moves on.
        batch_executions: pipelines rebuilt whole are built in batches of about this many
            executions, which bounds memory (a pipeline is never split).
        rebuild_whole: what rebuilds pipelines whole (see :data:`RebuildWhole`); the
            refresh in part and the build records stay here.

    Returns:
        A :class:`BuildReport`.

    Raises:
        UnknownPipelineError: a name in ``pipelines`` is not a pipeline of the store.
    """
    rules = rules or GraphletRules.for_store(store)
    step = progress or (lambda stage, done: None)
    con = store.con
    params = {
        **_params(rules),
        "rules_hash": rules.digest(),
        "incremental": incremental,
    }
    with store.transaction():
        ensure_schema(store)
        _scope(con, pipelines)
        keys = _count(con, "gl_keys")
        if incremental and is_current(store, rules):
            _drop_temp(con)
            return BuildReport(0, keys, 0, 0, 0, 0, 0, 0, 0, 0, rules.digest())
        step("finding changes", keys)
        changed = _changes(con, params)
        reports = [
            rebuild_whole(con, rules, step)
            if rebuild_whole
            else _build_whole(con, rules, params, step, batch_executions)
        ]
        if _count(con, "gl_part"):
            reports.append(_refresh_part(con, rules, params, step))
        built, whole = _SQL.run(con, "built").fetchall()[0]
        record(con, rules, complete=pipelines is None)
        _drop_temp(con)
    return BuildReport(
        pipelines_built=built,
        pipelines_unchanged=keys - built,
        graphlets=sum(r.graphlets for r in reports),
        deployed=sum(r.deployed for r in reports),
        in_flight=sum(r.in_flight for r in reports),
        members=sum(r.members for r in reports),
        removed=sum(r.removed for r in reports),
        pipelines_whole=whole,
        changed_executions=changed,
        side_rounds=max(r.side_rounds for r in reports),
        rules_hash=rules.digest(),
    )


def _params(rules: GraphletRules) -> dict[str, Any]:
    return {
        "anchor_category": rules.anchor_category,
        "non_anchor_components": list(rules.non_anchor_components) or [""],
        "producing_events": list(rules.producing_events),
        "consuming_events": list(rules.consuming_events),
        "stop_at_warm_start_models": rules.stop_at_warm_start_models,
        "follow_cached": rules.follow_cached_to_original_producer,
        "causal_producers": rules.causal_producers,
        "excluded_keys": list(rules.excluded_keys) or [""],
        "exclude_other_trainers": rules.exclude_other_trainers,
        "newest_rule": rules.newest_model_rule_without_keys,
        "deploy_category": rules.deploy_category,
        "pushed_property": rules.pushed_property,
        "deploy_on_complete": rules.deploy_on_complete,
        "validation_category": rules.validation_category,
        "blessed_property": rules.blessed_property,
    }


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(con, f"SELECT count(*) FROM {table}"))


def _scope(con: duckdb.DuckDBPyConnection, pipelines: Iterable[str] | None) -> None:
    """Fill ``gl_keys``: the (source_id, pkey) of every pipeline in scope."""
    _SQL.run(con, "scope_keys")
    if pipelines is not None:
        con.register("gl_wanted", pipeline_keys(con, list(pipelines)))
        _SQL.run(con, "keep_wanted")
        con.unregister("gl_wanted")


def _changes(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> int:
    """Find what changed since the last build and plan: ``gl_full`` (pipelines rebuilt
    whole), ``gl_part`` (refreshed in part) and ``gl_d`` (their changed executions).

    Returns:
        The number of new, changed or removed executions.
    """
    _SQL.run(con, "usable_builds", params)
    _SQL.run(con, "observe", params)
    _SQL.run(con, "changes", params)
    uncounted = [r[0] for r in _SQL.run(con, "uncounted_events").fetchall()]
    if uncounted:
        _SQL.run(con, "count_all_events", {"sources": uncounted})
        _SQL.run(con, "observe", params)
        _SQL.run(con, "changed_by_events", params)
    _SQL.run(con, "changed_artifacts", params)
    _SQL.run(con, "plan", params)
    _SQL.run(con, "pick_whole", params)
    _SQL.run(con, "observe", params)
    return _count(con, "gl_changed")


def pipeline_keys(con: duckdb.DuckDBPyConnection, names: list[str]) -> pd.DataFrame:
    """The (source_id, pkey) of pipelines named ``names``.

    Raises:
        UnknownPipelineError: a name no source holds (with the names it does hold).
    """
    known = _SQL.run(con, "pipeline_names").df()
    missing = sorted(set(names) - set(known["name"]))
    if missing:
        valid = sorted(set(known["name"]))
        shown = ", ".join(valid[:10]) + (
            f" and {len(valid) - 10:,} more" if len(valid) > 10 else ""
        )
        raise UnknownPipelineError(
            f"no pipeline named {missing[0]!r} in this store; pipelines are: "
            f"{shown or '(none: ingest a source first)'}.{did_you_mean(missing[0], valid)}"
        )
    return known[known["name"].isin(names)][["source_id", "pkey"]]


def _build_whole(
    con: duckdb.DuckDBPyConnection,
    rules: GraphletRules,
    params: dict[str, Any],
    step: Callable[[str, int], None],
    batch_executions: int,
) -> Written:
    """Rebuild the pipelines of ``gl_full`` whole, in batches of about ``batch_executions``."""
    batches = [
        r[0]
        for r in _SQL.run(con, "batches", {"batch_executions": max(1, batch_executions)}).fetchall()
    ]
    written = []
    for i, batch in enumerate(batches):
        _SQL.run(con, "batch_scope", {"batch": batch})

        def batch_step(stage: str, done: int, i: int = i) -> None:
            step(f"{stage} (batch {i + 1}/{len(batches)})", done)

        _SQL.run(con, "whole_region", params)
        written.append(_build(con, rules, params, batch_step, whole=True))
    return Written.sum(written)


def _refresh_part(
    con: duckdb.DuckDBPyConnection,
    rules: GraphletRules,
    params: dict[str, Any],
    step: Callable[[str, int], None],
) -> Written:
    """Redo the graphlets of ``gl_part`` that its changed executions can change."""
    pipelines = _count(con, "gl_part")
    step("finding graphlets to redo", pipelines)
    _SQL.run(con, "feeds_start", params)
    _fixpoint(con, "feeds_step", "gl_cf_front", params)
    _SQL.run(con, "feeds_update", params)
    _SQL.run(con, "affected", params)
    _SQL.run(con, "see_part", params)
    step("reading their region", pipelines)
    _SQL.run(con, "discover_start", params)
    _fixpoint(con, "discover_step", "gl_front", params)
    _SQL.run(con, "part_scope")
    return _build(con, rules, params, step, whole=False)


def _fixpoint(
    con: duckdb.DuckDBPyConnection, name: str, frontier: str, params: dict[str, Any]
) -> int:
    """Run block ``name`` until table ``frontier`` is empty; return the rounds taken."""
    rounds = 0
    while True:  # each round adds new rows only, so this ends
        rounds += 1
        _SQL.run(con, name, params)
        if not _count(con, frontier):
            return rounds


@dataclass(frozen=True)
class Written:
    """What rebuilding or refreshing some pipelines wrote (summed into a :class:`BuildReport`)."""

    graphlets: int = 0
    deployed: int = 0
    in_flight: int = 0
    members: int = 0
    removed: int = 0
    side_rounds: int = 0

    @staticmethod
    def sum(parts: list[Written]) -> Written:
        totals = {
            f: sum(getattr(p, f) for p in parts)
            for f in ("graphlets", "deployed", "in_flight", "members", "removed")
        }
        return Written(**totals, side_rounds=max((p.side_rounds for p in parts), default=0))


def _build(
    con: duckdb.DuckDBPyConnection,
    rules: GraphletRules,
    params: dict[str, Any],
    step: Callable[[str, int], None],
    *,
    whole: bool,
) -> Written:
    """Walk from ``gl_anchor`` over ``gl_region`` and write the graphlets, replacing
    ``gl_drop``; whole pipelines also compute (and record) which executions feed trainers."""
    scope = _count(con, "gl_scope")
    for name in (
        "prepare",
        *(("whole_anchors",) if whole else ()),
        "edges",
        "newest",
        "upstream",
        "downstream",
        "members",
    ):
        step(name, scope)
        _SQL.run(con, name, params)
    rounds = 0
    if whole:
        _SQL.run(con, "feeds", params)
        _SQL.run(con, "see_whole", params)
    else:
        _SQL.run(con, "seen_feeds", params)
    if rules.include_side_branches:
        step("side branches", scope)
        _SQL.run(con, "side_candidates", params)
        rounds = _fixpoint(con, "side_step", "gl_side", params)
    step("writing", scope)
    for name in ("clear", "write_members", "write_graphlets", "split_costs", "span_overlaps"):
        _SQL.run(con, name, {**params, "whole": whole})
    graphlets, deployed, in_flight, removed, members = _SQL.run(con, "written").fetchall()[0]
    return Written(graphlets, deployed, in_flight, members, removed, rounds)


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for (table,) in _SQL.run(con, "temp_tables").fetchall():
        con.execute(f"DROP TABLE IF EXISTS {table}")

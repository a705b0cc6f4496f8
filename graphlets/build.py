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
    >>> from provenance.store import ProvenanceStore
    >>> from graphlets import build_graphlets
    >>> with ProvenanceStore.open(":memory:") as store:
    ...     build_graphlets(store).graphlets
    0
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import duckdb
import pandas as pd

from graphlets.errors import UnknownPipelineError
from graphlets.rules import GraphletRules
from provenance.errors import did_you_mean
from provenance.sql import named_queries, scalar
from provenance.sql import statements as split_statements
from provenance.store import ProvenanceStore

_SQL = {**named_queries("graphlets", "build.sql"), **named_queries("graphlets", "refresh.sql")}
#: Version of graphlets/schema.sql; a store built under another is rebuilt from scratch.
LAYOUT = "3"
_TABLES = ("graphlets", "graphlet_members", "graphlet_builds", "graphlet_seen", "graphlet_state")
#: Pipelines rebuilt whole are built together until a batch holds this many executions.
BATCH_EXECUTIONS = 500_000
#: Rebuilds the pipelines of temp table ``gl_full`` whole (their ``graphlets``,
#: ``graphlet_members`` and ``graphlet_seen`` rows) given (connection, rules, progress step):
#: DuckDB on this machine by default, Spark in :mod:`graphlets.spark`.
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


def ensure_schema(store: ProvenanceStore) -> None:
    """Create the graphlet tables (graphlets/schema.sql), replacing those of another layout.

    Args:
        store: an open, writable store.
    """
    if layout(store) == LAYOUT:
        return
    for table in _TABLES:
        store.con.execute(f"DROP TABLE IF EXISTS {table}")
    store.con.execute(resources.files("graphlets").joinpath("schema.sql").read_text())
    store.con.execute("INSERT INTO graphlet_state VALUES ('layout', ?)", [LAYOUT])


def layout(store: ProvenanceStore) -> str | None:
    """The layout version of the store's graphlet tables (None when it has none)."""
    return state(store).get("layout")


def state(store: ProvenanceStore) -> dict[str, str | None]:
    """The ``graphlet_state`` rows as a dict (empty when the store has none)."""
    if not store.has_table("graphlet_state"):
        return {}
    return dict(store.con.execute("SELECT key, value FROM graphlet_state").fetchall())


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
        keys = int(scalar(con, "SELECT count(*) FROM gl_keys"))
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
        if scalar(con, "SELECT count(*) FROM gl_part"):
            reports.append(_refresh_part(con, rules, params, step))
        built = int(
            scalar(con, "SELECT (SELECT count(*) FROM gl_full) + (SELECT count(*) FROM gl_part)")
        )
        _record(con, rules, complete=pipelines is None)
        whole = int(scalar(con, "SELECT count(*) FROM gl_full"))
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


def is_current(store: ProvenanceStore, rules: GraphletRules) -> bool:
    """Whether the whole store's graphlets reflect its latest ingest under ``rules``.

    One look at ``graphlet_state`` and ``ingest_runs``: every change to the canonical store
    is an ingest, which records a run.
    """
    known = state(store)
    latest = scalar(store.con, "SELECT max(ingest_id) FROM ingest_runs")
    return (
        known.get("layout") == LAYOUT
        and known.get("rules_hash") == rules.digest()
        and known.get("ingest_id") == (None if latest is None else str(latest))
        and "ingest_id" in known
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


def _run(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> None:
    for statement in split_statements(_SQL[name]):
        used = set(re.findall(r"\$(\w+)", statement))
        con.execute(statement, {k: v for k, v in params.items() if k in used})


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(scalar(con, f"SELECT count(*) FROM {table}"))


def _scope(con: duckdb.DuckDBPyConnection, pipelines: Iterable[str] | None) -> None:
    """Fill ``gl_keys``: the (source_id, pkey) of every pipeline in scope."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE gl_keys AS SELECT DISTINCT source_id, "
        "coalesce(pipeline_id, -1) AS pkey FROM executions"
    )
    if pipelines is not None:
        con.register("gl_wanted", pipeline_keys(con, list(pipelines)))
        con.execute(
            "DELETE FROM gl_keys k WHERE NOT EXISTS (SELECT 1 FROM gl_wanted w "
            "WHERE w.source_id = k.source_id AND w.pkey = k.pkey)"
        )
        con.unregister("gl_wanted")


def _changes(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> int:
    """Find what changed since the last build and plan: ``gl_full`` (pipelines rebuilt
    whole), ``gl_part`` (refreshed in part) and ``gl_d`` (their changed executions).

    Returns:
        The number of new, changed or removed executions.
    """
    _run(con, "usable_builds", params)
    _run(con, "observe", params)
    _run(con, "changes", params)
    uncounted = [r[0] for r in con.execute(_SQL["uncounted_events"]).fetchall()]
    if uncounted:
        _run(con, "count_all_events", {"sources": uncounted})
        _run(con, "observe", params)
        _run(con, "changed_by_events", params)
    _run(con, "changed_artifacts", params)
    _run(con, "plan", params)
    _run(con, "pick_whole", params)
    _run(con, "observe", params)
    return _count(con, "gl_changed")


def pipeline_keys(con: duckdb.DuckDBPyConnection, names: list[str]) -> pd.DataFrame:
    """The (source_id, pkey) of pipelines named ``names``.

    Raises:
        UnknownPipelineError: a name no source holds (with the names it does hold).
    """
    known = con.execute("SELECT source_id, pipeline_id AS pkey, name FROM pipelines").df()
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
    con.execute(
        "CREATE OR REPLACE TEMP TABLE gl_batches AS SELECT f.source_id, f.pkey, "
        "(sum(n.n) OVER (ORDER BY f.source_id, f.pkey ROWS UNBOUNDED PRECEDING) - 1) // ? "
        "AS batch FROM gl_full f JOIN (SELECT source_id, pkey, count(*) AS n FROM gl_now "
        "GROUP BY ALL) n USING (source_id, pkey)",
        [max(1, batch_executions)],
    )
    batches = [
        r[0] for r in con.execute("SELECT DISTINCT batch FROM gl_batches ORDER BY 1").fetchall()
    ]
    con.execute(
        "DELETE FROM graphlet_seen s WHERE EXISTS (SELECT 1 FROM gl_full f "
        "WHERE f.source_id = s.source_id AND f.pkey = s.pipeline_key)"
    )
    written = []
    for i, batch in enumerate(batches):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE gl_scope AS SELECT source_id, pkey FROM gl_batches "
            "WHERE batch = ?",
            [batch],
        )

        def batch_step(stage: str, done: int, i: int = i) -> None:
            step(f"{stage} (batch {i + 1}/{len(batches)})", done)

        _run(con, "whole_region", params)
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
    _run(con, "feeds_start", params)
    _fixpoint(con, "feeds_step", "gl_cf_front", params)
    _run(con, "feeds_update", params)
    _run(con, "affected", params)
    _run(con, "see_part", params)
    step("reading their region", pipelines)
    _run(con, "discover_start", params)
    _fixpoint(con, "discover_step", "gl_front", params)
    con.execute("CREATE OR REPLACE TEMP TABLE gl_scope AS SELECT source_id, pkey FROM gl_part")
    return _build(con, rules, params, step, whole=False)


def _fixpoint(
    con: duckdb.DuckDBPyConnection, name: str, frontier: str, params: dict[str, Any]
) -> int:
    """Run block ``name`` until table ``frontier`` is empty; return the rounds taken."""
    rounds = 0
    while True:  # each round adds new rows only, so this ends
        rounds += 1
        _run(con, name, params)
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
        _run(con, name, params)
    rounds = 0
    if whole:
        _run(con, "feeds", params)
        _run(con, "see_whole", params)
    else:
        _run(con, "seen_feeds", params)
    if rules.include_side_branches:
        step("side branches", scope)
        _run(con, "side_candidates", params)
        rounds = _fixpoint(con, "side_step", "gl_side", params)
    step("writing", scope)
    for name in ("clear", "write_members", "write_graphlets", "split_costs", "span_overlaps"):
        _run(con, name, {**params, "whole": whole})
    graphlets, deployed, in_flight = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE deployed), count(*) FILTER (WHERE in_flight) "
        "FROM graphlets g SEMI JOIN gl_anchor a ON a.source_id = g.source_id "
        "AND a.g = g.graphlet_id"
    ).fetchall()[0]
    removed = int(
        scalar(
            con,
            "SELECT count(*) FROM gl_drop d WHERE NOT EXISTS (SELECT 1 FROM gl_anchor a "
            "WHERE a.source_id = d.source_id AND a.g = d.graphlet_id)",
        )
    )
    members = int(scalar(con, "SELECT (SELECT count(*) FROM gl_mx) + (SELECT count(*) FROM gl_ma)"))
    return Written(int(graphlets), int(deployed), int(in_flight), members, removed, rounds)


def _record(con: duckdb.DuckDBPyConnection, rules: GraphletRules, *, complete: bool) -> None:
    """Record what the graphlets now reflect: per pipeline built, and for the whole store
    (its latest ingest) when the build covered every pipeline."""
    con.execute(
        "DELETE FROM graphlet_builds b WHERE EXISTS (SELECT 1 FROM (SELECT * FROM gl_full "
        "UNION SELECT * FROM gl_part) p WHERE p.source_id = b.source_id "
        "AND p.pkey = b.pipeline_key)"
    )
    _run(con, "record_builds", {"rules_hash": rules.digest()})
    known: dict[str, str | None] = {
        "rules": json.dumps(asdict(rules), sort_keys=True),
        "rules_hash": rules.digest(),
    }
    if complete:
        latest = scalar(con, "SELECT max(ingest_id) FROM ingest_runs")
        known["ingest_id"] = None if latest is None else str(latest)
    elif _state_value(con, "rules_hash") != rules.digest():
        known["ingest_id"] = None  # other pipelines were cut under other rules: not current
    for key, value in known.items():
        con.execute("DELETE FROM graphlet_state WHERE key = ?", [key])
        con.execute("INSERT INTO graphlet_state VALUES (?, ?)", [key, value])


def _state_value(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    return scalar(con, "SELECT value FROM graphlet_state WHERE key = ?", [key])


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    temp = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary "
            "AND starts_with(table_name, 'gl_')"
        ).fetchall()
    ]
    for table in temp:
        con.execute(f"DROP TABLE IF EXISTS {table}")

"""Cut the canonical provenance graph into model graphlets, set-at-a-time, per pipeline.

The builder walks every anchor's upstream and downstream at once with recursive SQL over the
pipelines in scope (graphlets/build.sql), adds side branches in a few set-at-a-time rounds,
and replaces those pipelines' rows of ``graphlets`` and ``graphlet_members`` in one
transaction. A pipeline is rebuilt only when its provenance fingerprint or the rules changed,
unless ``incremental=False``.

Example:
    >>> from provenance.store import ProvenanceStore
    >>> from graphlets import build_graphlets
    >>> with ProvenanceStore.open(":memory:") as store:
    ...     build_graphlets(store).graphlets
    0
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import duckdb
import pandas as pd

from graphlets.errors import UnknownPipelineError
from graphlets.rules import GraphletRules
from provenance.errors import did_you_mean
from provenance.sql import named_queries, scalar, statements
from provenance.store import ProvenanceStore

_SQL = named_queries("graphlets", "build.sql")
_TEMP_TABLES = (
    "gl_scope",
    "gl_x",
    "gl_prod",
    "gl_boundary",
    "gl_recached",
    "gl_cons",
    "gl_edge",
    "gl_newest",
    "gl_up",
    "gl_dn",
    "gl_mx",
    "gl_ma",
    "gl_feeds",
    "gl_cand",
    "gl_new_art",
    "gl_side",
    "gl_medge",
    "gl_depth",
    "gl_pushed",
    "gl_spans",
    "gl_todo",
    "gl_fp",
    "gl_keys",
)
#: Pipelines are built together until a batch holds this many executions (bounds memory).
BATCH_EXECUTIONS = 500_000


@dataclass(frozen=True)
class BuildReport:
    """What one :func:`build_graphlets` call did.

    Attributes:
        pipelines_built: pipelines whose graphlets were (re)written.
        pipelines_unchanged: pipelines in scope left as they were (same fingerprint and rules).
        graphlets: graphlets written (in the rebuilt pipelines).
        deployed: of those, graphlets that pushed a model.
        in_flight: of those, graphlets whose trainer is still RUNNING or NEW.
        members: graphlet_members rows written.
        orphan_executions: executions of the rebuilt pipelines that are in no graphlet.
        side_rounds: rounds the side-branch fixpoint took.
        rules_hash: :meth:`GraphletRules.digest` of the rules used.
    """

    pipelines_built: int
    pipelines_unchanged: int
    graphlets: int
    deployed: int
    in_flight: int
    members: int
    orphan_executions: int
    side_rounds: int
    rules_hash: str


def ensure_schema(store: ProvenanceStore) -> None:
    """Create the graphlet tables (graphlets/schema.sql) if the store lacks them.

    Args:
        store: an open, writable store.
    """
    if not store.has_table("graphlet_builds"):
        store.con.execute(resources.files("graphlets").joinpath("schema.sql").read_text())


def build_graphlets(
    store: ProvenanceStore,
    rules: GraphletRules | None = None,
    pipelines: Iterable[str] | None = None,
    *,
    incremental: bool = True,
    progress: Callable[[str, int], None] | None = None,
    batch_executions: int = BATCH_EXECUTIONS,
) -> BuildReport:
    """Build (or rebuild) the model graphlets of a store's pipelines.

    Args:
        store: an open, writable canonical store.
        rules: the boundary rules; defaults to :class:`GraphletRules` ().
        pipelines: pipeline names to build (in every source that has them); all when None.
        incremental: skip pipelines whose provenance fingerprint and rules are unchanged since
            their last build. False rebuilds every pipeline in scope.
        progress: called with (stage, pipelines being built) as the build moves on.
        batch_executions: pipelines are built in batches of about this many executions, which
            bounds memory (a pipeline is never split).

    Returns:
        A :class:`BuildReport`.

    Raises:
        UnknownPipelineError: a name in ``pipelines`` is not a pipeline of the store.
    """
    rules = rules or GraphletRules.for_store(store)
    step = progress or (lambda stage, done: None)
    con = store.con
    params = _params(rules)
    reports = []
    with store.transaction():
        ensure_schema(store)
        todo = _todo(con, pipelines, params, rules.digest(), incremental, batch_executions)
        batches = sorted(set(todo.loc[todo["build"], "batch"]))
        for i, batch in enumerate(batches):
            con.execute(
                "CREATE OR REPLACE TEMP TABLE gl_scope AS SELECT source_id, pkey, fingerprint "
                "FROM gl_todo WHERE build AND batch = ?",
                [batch],
            )

            def batch_step(stage: str, done: int, i: int = i) -> None:
                step(f"{stage} (batch {i + 1}/{len(batches)})", done)

            reports.append(_build(con, rules, params, batch_step))
        _run(con, "confirm_unchanged", {})
        _drop_temp(con)
    return BuildReport(
        pipelines_built=sum(r.pipelines_built for r in reports),
        pipelines_unchanged=int((~todo["build"]).sum()),
        graphlets=sum(r.graphlets for r in reports),
        deployed=sum(r.deployed for r in reports),
        in_flight=sum(r.in_flight for r in reports),
        members=sum(r.members for r in reports),
        orphan_executions=sum(r.orphan_executions for r in reports),
        side_rounds=max((r.side_rounds for r in reports), default=0),
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
    }


def _run(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> None:
    for statement in statements(_SQL[name]):
        used = set(re.findall(r"\$(\w+)", statement))
        con.execute(statement, {k: v for k, v in params.items() if k in used})


def _todo(
    con: duckdb.DuckDBPyConnection,
    pipelines: Iterable[str] | None,
    params: dict[str, Any],
    rules_hash: str,
    incremental: bool,
    batch_executions: int,
) -> pd.DataFrame:
    """Fill ``gl_todo``: every pipeline in scope, whether to build it, and its batch.

    Nothing is ingested but by ingest, which records a run: when every pipeline in scope was
    built under these rules since the latest ingest, the fingerprints need not be computed.
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE gl_keys AS SELECT DISTINCT source_id, "
        "coalesce(pipeline_id, -1) AS pkey FROM executions"
    )
    if pipelines is not None:
        con.register("gl_wanted", _pipeline_keys(con, list(pipelines)))
        con.execute(
            "DELETE FROM gl_keys k WHERE NOT EXISTS (SELECT 1 FROM gl_wanted w "
            "WHERE w.source_id = k.source_id AND w.pkey = k.pkey)"
        )
        con.unregister("gl_wanted")
    stale = scalar(con, _SQL["stale"], {"rules_hash": rules_hash})
    if incremental and stale == 0:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE gl_todo AS SELECT source_id, pkey, "
            "NULL::UBIGINT AS fingerprint, 0 AS n, false AS build, 0 AS batch FROM gl_keys"
        )
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE gl_fp AS {_SQL['fingerprints']}",
            {"pushed_property": params["pushed_property"]},
        )
        con.execute(
            "DELETE FROM gl_fp f WHERE NOT EXISTS (SELECT 1 FROM gl_keys k "
            "WHERE k.source_id = f.source_id AND k.pkey = f.pkey)"
        )
        _run(
            con,
            "todo",
            {
                "incremental": incremental,
                "rules_hash": rules_hash,
                "batch_executions": max(1, batch_executions),
            },
        )
    return con.execute("SELECT build, batch FROM gl_todo").df()


def _pipeline_keys(con: duckdb.DuckDBPyConnection, names: list[str]) -> pd.DataFrame:
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


def _build(
    con: duckdb.DuckDBPyConnection,
    rules: GraphletRules,
    params: dict[str, Any],
    step: Callable[[str, int], None],
) -> BuildReport:
    scope = int(scalar(con, "SELECT count(*) FROM gl_scope"))
    for name in ("prepare", "edges", "newest", "upstream", "downstream", "members"):
        step(name, scope)
        _run(con, name, params)
    rounds = 0
    if rules.include_side_branches:
        step("side branches", scope)
        _run(con, "side_candidates", params)
        while True:  # each round adds new members only, so this ends
            rounds += 1
            _run(con, "side_step", params)
            if not scalar(con, "SELECT count(*) FROM gl_side"):
                break
    step("writing", scope)
    _run(con, "clear", params)
    _run(con, "write_members", params)
    _run(con, "write_graphlets", params)
    orphans = int(scalar(con, _SQL["orphans"]))
    ingest_id = scalar(con, "SELECT max(ingest_id) FROM ingest_runs")
    con.execute(
        "INSERT INTO graphlet_builds SELECT source_id, pkey, fingerprint, ?, ? FROM gl_scope",
        [rules.digest(), ingest_id],
    )
    built, graphlets, deployed, in_flight = con.execute(
        "SELECT (SELECT count(*) FROM gl_scope), count(*), count(*) FILTER (WHERE deployed), "
        "count(*) FILTER (WHERE in_flight) FROM graphlets g SEMI JOIN gl_scope s "
        "ON s.source_id = g.source_id AND s.pkey = coalesce(g.pipeline_id, -1)"
    ).fetchall()[0]
    members = int(scalar(con, "SELECT (SELECT count(*) FROM gl_mx) + (SELECT count(*) FROM gl_ma)"))
    return BuildReport(
        int(built),
        0,
        int(graphlets),
        int(deployed),
        int(in_flight),
        members,
        orphans,
        rounds,
        rules.digest(),
    )


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for table in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")

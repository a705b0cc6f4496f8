"""Read built graphlets: a listing, a summary, and one graphlet with its edges for display.

Example:
    >>> from mlprov.provenance.store import ProvenanceStore
    >>> from mlprov.graphlets import graphlet_summary
    >>> with ProvenanceStore.open(":memory:") as store:
    ...     graphlet_summary(store).graphlets
    0
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import networkx as nx
import pandas as pd

from mlprov.graphlets.build import pipeline_keys
from mlprov.graphlets.current import current_rules, ensure_current
from mlprov.graphlets.errors import UnknownGraphletError
from mlprov.graphlets.rules import GraphletRules
from mlprov.provenance.sql import Queries
from mlprov.provenance.store import ProvenanceStore

_SQL = Queries("mlprov.graphlets", "load.sql")


@dataclass(frozen=True)
class GraphletSummary:
    """Counts over built graphlets.

    Attributes:
        graphlets: graphlets in the selection.
        deployed: graphlets that pushed a model.
        in_flight: graphlets whose trainer is still RUNNING or NEW (neither pushed nor waste).
        not_deployed: finished graphlets that did not push.
        pipelines: pipelines with at least one graphlet.
    """

    graphlets: int
    deployed: int
    in_flight: int
    not_deployed: int
    pipelines: int

    @property
    def deployed_share(self) -> float | None:
        """Deployed graphlets over finished ones (in-flight graphlets are left out)."""
        finished = self.graphlets - self.in_flight
        return self.deployed / finished if finished else None


@dataclass(frozen=True, eq=False)
class GraphletView:
    """One graphlet, ready to print or draw.

    Attributes:
        source_id: the source the graphlet belongs to.
        graphlet_id: its id (the anchoring training execution's id).
        info: its ``graphlets`` row plus ``pipeline`` (the pipeline's name).
        members: one row per member: node_kind, node_id, role, shared_by, label (component or
            artifact type), category, state, span, pushed, blessed, cost, start_time,
            end_time.
        edges: events between members: execution_id, artifact_id, type, direction, key.
        rules: the rules it was cut with (which categories validate and deploy).
    """

    source_id: int
    graphlet_id: int
    info: dict[str, Any]
    members: pd.DataFrame = field(repr=False)
    edges: pd.DataFrame = field(repr=False)
    rules: GraphletRules = field(default_factory=GraphletRules, repr=False)

    def _repr_png_(self) -> bytes:
        """In a notebook, a graphlet shows as its drawing (graphlets.display)."""
        from mlprov.graphlets.display import graphlet_png

        return graphlet_png(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """In IPython's text display: one line saying what it is and whether it pushed."""
        from mlprov.graphlets.display import status

        printer.text(
            f"graphlet {self.graphlet_id} of pipeline {self.info.get('pipeline')}: "
            f"{status(self.info)}"
        )


def _run(store: ProvenanceStore, name: str, params: dict[str, Any]) -> pd.DataFrame:
    return _SQL.run(store.con, name, params).df()


def _selection(store: ProvenanceStore, pipelines: Iterable[str] | None) -> dict[str, Any]:
    names = list(pipelines) if pipelines is not None else []
    if names:
        pipeline_keys(store.con, names)  # unknown names are an error, not an empty answer
    return {"all_pipelines": pipelines is None, "pipelines": names or [""]}


def list_graphlets(
    store: ProvenanceStore, pipelines: Iterable[str] | None = None, *, refresh: bool = True
) -> pd.DataFrame:
    """The store's graphlets (brought up to date first), one row each, ordered by pipeline and
    training time.

    Args:
        store: an open store.
        pipelines: pipeline names to keep; all when None.
        refresh: refresh stale graphlets (see :func:`mlprov.graphlets.ensure_current`); False
            refuses them.

    Returns:
        A DataFrame: graphlet_id, source_id, pipeline, trainer_state, model_type, train_time,
        deployed, in_flight, reason (see :data:`REASONS`), blessed, push_time, window_size,
        span_overlap, n_executions, n_artifacts, depth, own_cost, split_cost, cost_unit.

    Raises:
        StaleGraphletsError, NotBuiltError: stale graphlets that may not be refreshed.
        UnknownPipelineError: a name in ``pipelines`` is not a pipeline of the store.
    """
    ensure_current(store, refresh=refresh)
    return _run(store, "list", _selection(store, pipelines))


def graphlet_summary(
    store: ProvenanceStore, pipelines: Iterable[str] | None = None, *, refresh: bool = True
) -> GraphletSummary:
    """Count graphlets (brought up to date first), deployed ones and in-flight ones.

    Args:
        store: an open store.
        pipelines: pipeline names to count; all when None.
        refresh: as for :func:`list_graphlets`.

    Returns:
        A :class:`GraphletSummary`.

    Raises:
        StaleGraphletsError, NotBuiltError: stale graphlets that may not be refreshed.
    """
    ensure_current(store, refresh=refresh)
    row = _run(store, "summary", _selection(store, pipelines)).iloc[0]
    return GraphletSummary(
        *(int(row[c]) for c in ("graphlets", "deployed", "in_flight", "not_deployed", "pipelines"))
    )


def load_graphlet(
    store: ProvenanceStore,
    graphlet_id: int,
    source_id: int | None = None,
    *,
    rules: GraphletRules | None = None,
    refresh: bool = True,
) -> GraphletView:
    """Load one graphlet's members and the events between them (graphlets brought up to date
    first).

    Args:
        store: an open store.
        graphlet_id: the graphlet (= its training execution's id).
        source_id: the source, needed only when several sources have that id.
        rules: the rules to cut with; those of the last build when None.
        refresh: as for :func:`list_graphlets`.

    Returns:
        A :class:`GraphletView`.

    Raises:
        StaleGraphletsError, NotBuiltError: stale graphlets that may not be refreshed.
        UnknownGraphletError: no such graphlet, or the id is ambiguous without ``source_id``.
    """
    return load_graphlets(store, [(source_id, graphlet_id)], rules=rules, refresh=refresh)[0]


def load_graphlets(
    store: ProvenanceStore,
    keys: Sequence[tuple[int | None, int]],
    *,
    rules: GraphletRules | None = None,
    refresh: bool = True,
) -> list[GraphletView]:
    """:func:`load_graphlet` for several graphlets at once, in three queries whatever their
    number.

    Args:
        keys: (source id, or None when only one source has the id; graphlet id) of each.

    Returns:
        Their views, in the order of ``keys``.

    Raises:
        As :func:`load_graphlet`.
    """
    ensure_current(store, rules, refresh=refresh)
    rules = rules or current_rules(store)
    params: dict[str, Any] = {
        "source_ids": [sid for sid, _ in keys],
        "graphlet_ids": [gid for _, gid in keys],
    }
    headers = _run(store, "header", params)
    infos: dict[tuple[int, int], dict[str, Any]] = {}
    wanted: list[tuple[int, int]] = []
    for sid, gid in keys:
        mine = headers[
            (headers["graphlet_id"] == gid) & ((sid is None) | (headers["source_id"] == sid))
        ]
        if mine.empty:
            raise UnknownGraphletError(
                f"no graphlet {gid}{'' if sid is None else f' in source {sid}'}; list them "
                "with 'mlprov graphlets' (graphlet ids are training execution ids)"
            )
        if len(mine) > 1:
            raise UnknownGraphletError(
                f"graphlet {gid} exists in sources {', '.join(map(str, mine.source_id))}; "
                "pass a source id (--source)"
            )
        info = {str(k): _plain(v) for k, v in mine.iloc[0].to_dict().items()}
        wanted.append((int(info["source_id"]), gid))
        infos[wanted[-1]] = info
    params = {
        "source_ids": [sid for sid, _ in infos],
        "graphlet_ids": [gid for _, gid in infos],
        "pushed_property": rules.pushed_property,
        "blessed_property": rules.blessed_property,
    }
    members = _by_graphlet(_run(store, "members", params))
    edges = _by_graphlet(_run(store, "edges", params))
    return [
        GraphletView(key[0], key[1], infos[key], members[key], edges[key], rules) for key in wanted
    ]


def _by_graphlet(frame: pd.DataFrame) -> defaultdict[tuple[int, int], pd.DataFrame]:
    """The rows of each (source_id, graphlet_id), without those two columns (none: no rows,
    of the same columns and types)."""
    rows = frame.drop(columns=["source_id", "graphlet_id"])
    groups: defaultdict[tuple[int, int], pd.DataFrame] = defaultdict(
        lambda: rows.iloc[0:0].reset_index(drop=True)
    )
    keys = frame.groupby(["source_id", "graphlet_id"], sort=False).indices
    for key, index in keys.items():
        sid, gid = cast(tuple[int, int], key)
        groups[int(sid), int(gid)] = rows.iloc[index].reset_index(drop=True)
    return groups


def _plain(value: Any) -> Any:
    """Turn numpy / pandas scalars into plain Python values (None for missing)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
        return [_plain(v) for v in value] if isinstance(value, list) else value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def node_key(kind: str, node_id: int) -> str:
    """The networkx node name of a member: ``x<id>`` for executions, ``a<id>`` for artifacts."""
    return f"{'x' if kind == 'execution' else 'a'}{node_id}"


def to_networkx(view: GraphletView) -> nx.DiGraph:
    """One graphlet as a DiGraph (small graphs only: pictures and checks, not analysis).

    Nodes are ``x<id>`` (executions) and ``a<id>`` (artifacts) carrying every member column
    as attributes; edges run execution -> artifact (outputs) and artifact -> execution
    (inputs) with the event ``type`` and ``key``.

    Args:
        view: a loaded graphlet.

    Returns:
        The graph, with ``graph["deployed"]`` and ``graph["graphlet_id"]`` set.
    """
    g = nx.DiGraph(graphlet_id=view.graphlet_id, deployed=bool(view.info.get("deployed")))
    for row in view.members.to_dict("records"):
        g.add_node(
            node_key(row["node_kind"], int(row["node_id"])),
            **{str(k): _plain(v) for k, v in row.items()},
        )
    for row in view.edges.to_dict("records"):
        x, a = (
            node_key("execution", int(row["execution_id"])),
            node_key("artifact", int(row["artifact_id"])),
        )
        src, dst = (x, a) if row["direction"] == "output" else (a, x)
        g.add_edge(src, dst, type=row["type"], key=_plain(row["key"]))
    return g

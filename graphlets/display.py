"""Show one graphlet: a text tree for the terminal and a drawn DAG (PNG) for a closer look.

Both take a :class:`~mlprov.graphlets.load.GraphletView`; neither prints. The drawing uses
matplotlib's Agg canvas directly (no pyplot state) and writes the file atomically.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from mlprov.graphlets.load import GraphletView, to_networkx
from mlprov.graphlets.vocabulary import REASONS, Role

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROLE_COLORS = {
    Role.UPSTREAM: "#4C72B0",
    Role.ANCHOR: "#C44E52",
    Role.DOWNSTREAM: "#55A868",
    Role.SIDE: "#8172B2",
    Role.BOUNDARY: "#999999",
}
CATEGORY_COLORS = {
    "ingest": "#A6CEE3",
    "data_validation": "#B2DF8A",
    "transform": "#FDBF6F",
    "train": "#FB9A99",
    "model_validation": "#CAB2D6",
    "deploy": "#FFFF99",
    "other": "#DDDDDD",
}


def status(info: dict[str, Any]) -> str:
    """``deployed at <time>``, ``in flight``, or ``not deployed: <why>`` (see REASONS)."""
    if info.get("deployed"):
        pushed = info.get("push_time")
        when = (  # isoformat: strftime fails on pandas times past the year 2262
            f"{pushed.isoformat(sep=' ', timespec='minutes')} UTC"
            if isinstance(pushed, datetime)
            else pushed
        )
        return f"deployed at {when}"
    if info.get("in_flight"):
        return "in flight"
    reason = info.get("reason")
    return f"not deployed: {REASONS.get(reason, reason)}" if reason else "not deployed"


def _cost(value: Any) -> str:
    return "cost -" if value is None else f"cost {value:,.2f}"


def _order(graph: nx.DiGraph) -> list[str]:
    """Nodes in a stable topological order (by start time, then id, among ready nodes)."""

    def rank(n: str) -> tuple[str, int]:
        start = graph.nodes[n].get("start_time")
        return (str(start) if start is not None else "", int(n[1:]))

    try:
        return list(nx.lexicographical_topological_sort(graph, key=rank))
    except nx.NetworkXUnfeasible:  # provenance with a cycle: fall back to start order
        return sorted(graph.nodes, key=rank)


def _artifact(graph: nx.DiGraph, node: str) -> str:
    a = graph.nodes[node]
    bits = [f"{a.get('label')} #{node[1:]}"]
    if a.get("span") is not None:
        bits.append(f"span {int(a['span'])}")
    for flag in ("pushed", "blessed"):
        if a.get(flag) is not None:
            bits.append(f"{flag}={int(a[flag])}")
    if a.get("role") == Role.BOUNDARY:
        bits.append("(boundary)")
    return " ".join(bits)


def graphlet_tree(view: GraphletView) -> str:
    """Render a graphlet as an indented text tree, grouped by role in walk order.

    Each execution shows its component, category, state, cost (in the graphlet's cost unit)
    and how many graphlets share it, with the artifacts it wrote (and, for the anchor, what it
    read) beneath; the deploy decision's evidence closes it (:func:`decision_evidence`).

    Args:
        view: a loaded graphlet.

    Returns:
        The text, lines separated by newlines, without a trailing newline.
    """
    info, graph = view.info, to_networkx(view)
    lines = [
        f"graphlet {view.graphlet_id}  pipeline {info.get('pipeline')}  source {view.source_id}",
        f"trainer {info.get('trainer_state')}  model_type {info.get('model_type') or '-'}  "
        f"{status(info)}",
        f"{info.get('n_executions')} executions, {info.get('n_artifacts')} artifacts, "
        f"depth {info.get('depth')}, spans {info.get('input_spans') or '-'}; cost "
        f"{info.get('own_cost'):,.1f} {info.get('cost_unit')} "
        f"(split among sharing graphlets: {info.get('split_cost'):,.1f})",
    ]
    order = [n for n in _order(graph) if n.startswith("x")]
    for role in (Role.UPSTREAM, Role.ANCHOR, Role.DOWNSTREAM, Role.SIDE):
        nodes = [n for n in order if graph.nodes[n]["role"] == role]
        if not nodes:
            continue
        lines.append(role.value)
        for i, n in enumerate(nodes):
            x = graph.nodes[n]
            last = i == len(nodes) - 1
            shared = f"  shared by {x['shared_by']}" if x["shared_by"] > 1 else ""
            lines.append(
                f"{'└─' if last else '├─'} {x['label']} #{n[1:]} [{x['category']}] "
                f"{x['state']}  {_cost(x.get('cost'))}{shared}"
            )
            stem = "   " if last else "│  "
            reads = (
                [f"← {_artifact(graph, a)}" for a in graph.predecessors(n)]
                if role == Role.ANCHOR
                else []
            )
            writes = [f"→ {_artifact(graph, a)}" for a in graph.successors(n)]
            for j, text in enumerate(reads + writes):
                end = j == len(reads) + len(writes) - 1
                lines.append(f"{stem}{'└─' if end else '├─'} {text}")
    lines.append("deploy decision")
    evidence = decision_evidence(view)
    lines += [f"{'└─' if i == len(evidence) - 1 else '├─'} {e}" for i, e in enumerate(evidence)]
    return "\n".join(lines)


def decision_evidence(view: GraphletView) -> list[str]:
    """What the deploy decision rests on, one sentence each: every validation step with the
    verdicts it wrote, every deploy step with its push flags (or that none ran), and every
    step that did not finish (failed, or still RUNNING).

    Args:
        view: a loaded graphlet (its rules say which categories validate and deploy).
    """
    graph = to_networkx(view)
    execs = [n for n in _order(graph) if n.startswith("x")]

    def step(n: str, flag: str) -> str:
        x = graph.nodes[n]
        wrote = [
            f"{graph.nodes[a]['label']} #{a[1:]} {flag}={int(graph.nodes[a][flag])}"
            for a in graph.successors(n)
            if graph.nodes[a].get(flag) is not None
        ]
        return f"{x['label']} #{n[1:]} {x['state']}" + (f": {', '.join(wrote)}" if wrote else "")

    lines = []
    judged = (
        (view.rules.validation_category, "blessed", "validation step (Evaluator)"),
        (view.rules.deploy_category, "pushed", "push step (Pusher)"),
    )
    for category, flag, what in judged:
        steps = [n for n in execs if graph.nodes[n]["category"] == category]
        lines += [step(n, flag) for n in steps] or [f"no {what} in the graphlet"]
    lines += [
        f"{graph.nodes[n]['label']} #{n[1:]} did not finish: {graph.nodes[n]['state']}"
        for n in execs
        if graph.nodes[n]["state"] not in ("COMPLETE", "CACHED")
        and graph.nodes[n]["category"] not in (c for c, _, _ in judged)
    ]
    return lines


def _layers(graph: nx.DiGraph) -> dict[str, int]:
    """Longest distance from a source, so data flows left to right."""
    layer: dict[str, int] = {}
    for n in _order(graph):
        preds = [layer[p] + 1 for p in graph.predecessors(n) if p in layer]
        layer[n] = max(preds, default=0)
    return layer


def _positions(graph: nx.DiGraph, layer: dict[str, int]) -> dict[str, tuple[float, float]]:
    """Layers left to right; within a layer, nodes sit near the mean of their predecessors
    (one barycentre sweep), which removes most edge crossings of TFX-shaped graphlets."""
    by_layer: dict[int, list[str]] = {}
    for n in _order(graph):
        by_layer.setdefault(layer[n], []).append(n)
    rank: dict[str, float] = {}
    for k in sorted(by_layer):
        nodes = by_layer[k]
        if k > 0:

            def centre(n: str) -> float:
                ranks = [rank[p] for p in graph.predecessors(n) if p in rank]
                return sum(ranks) / len(ranks) if ranks else 0.0

            nodes.sort(key=centre)
        for i, n in enumerate(nodes):
            rank[n] = i - (len(nodes) - 1) / 2
    return {n: (float(layer[n]), -rank[n]) for n in graph}


def draw_graphlet(view: GraphletView, path: str | Path, *, dpi: int = 110) -> Path:
    """Draw a graphlet as a left-to-right DAG (:func:`graphlet_figure`) and write it as a
    PNG, atomically.

    Args:
        view: a loaded graphlet.
        path: the PNG to write (replaced only once the new picture is complete).
        dpi: resolution.

    Returns:
        The path written.
    """
    return _save(graphlet_figure(view), Path(path), dpi)


def graphlet_png(view: GraphletView, *, dpi: int = 80) -> bytes:
    """The drawing of :func:`graphlet_figure` as PNG bytes (notebooks, report pages)."""
    buffer = io.BytesIO()
    graphlet_figure(view).savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def graphlet_figure(view: GraphletView) -> Figure:
    """A graphlet as a left-to-right DAG on a matplotlib figure (Agg canvas, no pyplot).

    Executions are squares filled by category and outlined by role, labelled with their
    cost; artifacts are small circles filled by role. The title says whether the graphlet
    deployed, and if not, why.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    graph = to_networkx(view)
    layer = _layers(graph)
    pos = _positions(graph, layer)
    width = max(layer.values(), default=0) + 1
    tallest = max((list(layer.values()).count(k) for k in set(layer.values())), default=1)
    fig = Figure(figsize=(max(9.0, 1.15 * width + 2.5), max(4.5, 1.25 * tallest + 1.5)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_axis_off()
    execs = [n for n in graph if n.startswith("x")]
    arts = [n for n in graph if n.startswith("a")]
    styles = [
        "dashed" if d.get("key") == "baseline_model" else "solid"
        for _, _, d in graph.edges(data=True)
    ]
    nx.draw_networkx_edges(
        graph,
        pos,
        ax=ax,
        arrows=True,
        arrowsize=9,
        edge_color="#888888",
        width=0.8,
        node_size=1500,
        style=styles,
    )
    nx.draw_networkx_nodes(
        graph,
        pos,
        nodelist=execs,
        ax=ax,
        node_shape="s",
        node_size=1500,
        node_color=[CATEGORY_COLORS.get(graph.nodes[n]["category"], "#DDDDDD") for n in execs],
        edgecolors=[ROLE_COLORS[graph.nodes[n]["role"]] for n in execs],
        linewidths=2.5,
    )
    nx.draw_networkx_nodes(
        graph,
        pos,
        nodelist=arts,
        ax=ax,
        node_shape="o",
        node_size=220,
        node_color=[ROLE_COLORS[graph.nodes[n]["role"]] for n in arts],
        edgecolors="white",
    )
    for n in execs:
        x = graph.nodes[n]
        text = f"{_wrap(str(x['label']))}\n#{n[1:]}\n{_cost(x.get('cost'))}"
        if x["state"] != "COMPLETE":
            text += f"\n{x['state']}"
        ax.annotate(text, pos[n], ha="center", va="center", fontsize=6.5)
    for n in arts:
        ax.annotate(
            _artifact_label(graph.nodes[n], n),
            pos[n],
            xytext=(0, -8),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=6.5,
            color="#333333",
        )
    info = view.info
    ax.set_title(
        f"graphlet {view.graphlet_id} · {info.get('pipeline')} · {status(info)}\n"
        f"cost {info.get('own_cost') or 0:,.2f} {info.get('cost_unit')} (per node: its "
        f"whole cost, shared nodes included)",
        color="#2E7D32" if info.get("deployed") else "#B71C1C",
        fontsize=11,
        loc="left",  # a wide graphlet is read from its left end: start there
    )
    handles = [
        Line2D(
            [],
            [],
            marker="s",
            linestyle="",
            markersize=9,
            markerfacecolor=c,
            markeredgecolor="#555555",
            label=k,
        )
        for k, c in CATEGORY_COLORS.items()
        if any(graph.nodes[n]["category"] == k for n in execs)
    ]
    handles += [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=8,
            markerfacecolor=c,
            markeredgecolor=c,
            label=f"role: {k.value}",
        )
        for k, c in ROLE_COLORS.items()
        if any(d["role"] == k for _, d in graph.nodes(data=True))
    ]
    ax.legend(  # below, from the left: in view where reading starts, however wide
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.0, 0.0),
        ncols=min(len(handles), 8),
        fontsize=8,
        frameon=False,
    )
    ax.margins(x=0.04, y=0.06)
    fig.tight_layout()
    return fig


def _artifact_label(node: dict[str, Any], key: str) -> str:
    label = f"{_wrap(str(node['label']))} #{key[1:]}"
    if node.get("pushed") is not None:
        label += f"\npushed={int(node['pushed'])}"
    elif node.get("blessed") is not None:
        label += f"\nblessed={int(node['blessed'])}"
    elif node.get("span") is not None:
        label += f"\nspan {int(node['span'])}"
    return label


def _wrap(name: str, width: int = 11) -> str:
    """Break a CamelCase name so it fits a node: ExampleStatistics -> Example\nStatistics."""
    if len(name) <= width:
        return name
    cut = max((i for i in range(1, len(name)) if name[i].isupper() and i <= width), default=0)
    return name if not cut else name[:cut] + "\n" + _wrap(name[cut:], width)


def _save(fig: Any, path: Path, dpi: int) -> Path:
    """Write the figure to a temporary file beside ``path``, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=dpi)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path

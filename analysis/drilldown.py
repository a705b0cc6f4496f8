"""The report's drill-down pages: one per pipeline the report shows, one per graphlet shown.

A pipeline page has its graphlets over time, why they did not push, the latest graphlets
(each linked to its page) and what the report's sections say about that pipeline (the pruning
simulation's decisions); a graphlet page has its lineage drawing with the cost of every node
and the deploy decision with its evidence. Pages are static HTML with figures embedded, in
:data:`PAGES` beside ``report.html``; :func:`mlprov.analysis.report.write_report` swaps them in with
the rest. Their number is bounded: the report's top pipelines, and ``graphlet_pages`` graphlets
each (the latest).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import pandas as pd

from mlprov.analysis import plots
from mlprov.analysis.drawings import Drawings
from mlprov.analysis.present import EmbeddedFigure, Table, cell, num, pct, template_env
from mlprov.analysis.waste import reason_table
from mlprov.graphlets import REASONS, load_graphlets
from mlprov.graphlets.display import decision_evidence, graphlet_figure
from mlprov.graphlets.load import GraphletView
from mlprov.provenance.store import ProvenanceStore

#: The directory of the pages, inside the report's directory.
PAGES = "pages"
#: Graphlets per pipeline page that get a page of their own (the latest), by default.
GRAPHLET_PAGES = 5
#: Colors of the pages' pictures (see :func:`mlprov.analysis.plots.png_bytes`).
PALETTE = 64
#: A section's fragment for one pipeline's page: (pipeline name, its graphlets) -> HTML.
PipelineHtml = Callable[[str | None, pd.DataFrame], str]


def pipeline_href(name: str | None) -> str:
    """The file name of a pipeline's page: a readable slug and a hash that keeps it unique.

    Example:
        >>> pipeline_href("taxi/daily v2")
        'pipeline-taxi-daily-v2-be0789bc.html'
    """
    text = name if isinstance(name, str) else ""  # None, or NaN from a frame
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60] or "none"
    return f"pipeline-{slug}-{hashlib.sha1(text.encode()).hexdigest()[:8]}.html"


def graphlet_href(source_id: int, graphlet_id: int) -> str:
    """The file name of a graphlet's page."""
    return f"graphlet-{source_id}-{graphlet_id}.html"


class Drilldown:
    """The pages of the pipelines in ``pipelines`` and of their latest graphlets; their figures
    start drawing (see :class:`~mlprov.analysis.drawings.Drawings`) when it is made, and
    :meth:`pages` waits for them. Use it as a context manager: leaving it stops the drawing.

    Args:
        store: the store the report reads (its graphlets current).
        unit: the report's cost unit.
        pipelines: the rows of :func:`mlprov.analysis.waste.waste_by_pipeline` to give pages.
        graphlets: :func:`mlprov.analysis.frames.graphlet_frame` of the report's scope.
        graphlet_pages: how many graphlets per pipeline get a page (the latest).
    """

    def __init__(
        self,
        store: ProvenanceStore,
        unit: str,
        pipelines: pd.DataFrame,
        graphlets: pd.DataFrame,
        *,
        graphlet_pages: int = GRAPHLET_PAGES,
    ) -> None:
        self.unit = unit
        by_name = graphlets.assign(key=graphlets["pipeline"].fillna("\0"))
        chosen = []
        for row in pipelines.to_dict("records"):
            name = row["pipeline"] if isinstance(row["pipeline"], str) else None
            mine = by_name[by_name["key"] == ("\0" if name is None else name)].sort_values(
                ["train_time", "graphlet_id"]
            )
            chosen.append((row, name, mine, mine.tail(max(graphlet_pages, 0)).iloc[::-1]))
        shown = [g for *_, latest in chosen for g in latest.to_dict("records")]
        views = load_graphlets(
            store, [(int(g["source_id"]), int(g["graphlet_id"])) for g in shown], refresh=False
        )
        self._drawings = Drawings(figures=len(chosen) + len(shown))
        draw = self._drawings.draw
        self._graphlets: dict[tuple[int, int], tuple[GraphletView, Future[str]]] = {}
        try:
            self._pipelines = [
                (row, name, mine, latest, draw(_timeline, mine, unit))
                for row, name, mine, latest in chosen
            ]
            for g, view in zip(shown, views, strict=True):
                # as of the report's time: an in-flight trainer may be abandoned by now
                view = replace(
                    view, info={**view.info, "in_flight": g["in_flight"], "reason": g["reason"]}
                )
                self._graphlets[view.source_id, view.graphlet_id] = (view, draw(_lineage, view))
        except BaseException:  # Ctrl-C among the submissions: stop the workers now
            self._drawings.close()
            raise

    def pages(
        self, sections: Sequence[tuple[str, str, PipelineHtml]], report_name: str = "report.html"
    ) -> dict[str, str]:
        """Path inside the report directory (``pages/...``) -> HTML.

        Args:
            sections: (key, title, fragment) of each report section with a per-pipeline part.
            report_name: the main page, linked from every page.
        """
        env = template_env(autoescape=True)
        report, unit = f"../{report_name}", self.unit
        pages: dict[str, str] = {}
        for row, name, mine, latest, timeline in self._pipelines:
            context = {
                "name": name or "(no pipeline)",
                "report": report,
                "unit": unit,
                "facts": _pipeline_facts(row, unit),
                "timeline": EmbeddedFigure(
                    "timeline",
                    "Graphlets over time",
                    f"Each graphlet (model training) of the pipeline at its training time, with "
                    f"its split cost ({unit}), colored by outcome.",
                    timeline.result(),
                ),
                "reasons": _reasons_table(mine, unit),
                "graphlets": _graphlets_table(latest, len(mine), unit),
                "sections": [(key, title, html(name, mine)) for key, title, html in sections],
            }
            href = pipeline_href(name)
            pages[f"{PAGES}/{href}"] = env.get_template("pipeline.html.j2").render(context)
            for g in latest.to_dict("records"):
                view, drawing = self._graphlets[int(g["source_id"]), int(g["graphlet_id"])]
                page = _graphlet_page(env, view, g, unit, href, report, drawing.result())
                pages[f"{PAGES}/{graphlet_href(view.source_id, view.graphlet_id)}"] = page
        return pages

    def __enter__(self) -> Drilldown:
        return self

    def __exit__(self, *exc: object) -> None:
        self._drawings.close()


def _timeline(graphlets: pd.DataFrame, unit: str) -> str:
    """A pipeline's graphlets over time (drawn in a worker: see :class:`Drilldown`)."""
    return plots.png_base64(plots.graphlet_timeline(graphlets, unit), 110, colors=PALETTE)


def _lineage(view: GraphletView) -> str:
    """A graphlet's drawing, shown at its size, not scaled down: node labels stay legible."""
    return plots.png_base64(graphlet_figure(view), 100, colors=PALETTE)


def _pipeline_facts(row: dict[Any, Any], unit: str) -> list[tuple[str, str]]:
    return [
        ("Total cost", f"{num(row['total_cost'])} {unit}"),
        ("Wasted cost", f"{num(row['wasted_cost'])} {unit} ({pct(row['wasted_share'])})"),
        ("Graphlets", num(row["graphlets"])),
        ("Did not push", f"{num(row['unpushed_graphlets'])} ({pct(row['unpushed_share'])})"),
    ]


def _reasons_table(graphlets: pd.DataFrame, unit: str) -> Table:
    return Table(
        "Why graphlets did not push",
        ("outcome", "graphlets", "share", f"split cost ({unit})"),
        tuple(
            (
                REASONS.get(r["reason"], r["reason"]),
                num(r["graphlets"]),
                pct(r["share"]),
                num(r["split_cost"]),
            )
            for r in reason_table(graphlets).to_dict("records")
        ),
    )


def _graphlets_table(shown: pd.DataFrame, total: int, unit: str) -> Table:
    return Table(
        f"The latest {len(shown):,} of {total:,} graphlets",
        (
            "graphlet",
            "trained (UTC)",
            "outcome",
            "blessed",
            "input spans",
            "executions",
            f"split cost ({unit})",
            f"own cost ({unit})",
        ),
        tuple(
            (
                f"#{g['graphlet_id']}",
                cell("train_time", g["train_time"]),
                g["reason"].replace("_", " "),
                {True: "yes", False: "no"}.get(g["blessed"], "–"),
                _spans(g["input_spans"]),
                num(g["n_executions"]),
                num(g["split_cost"]),
                num(g["own_cost"]),
            )
            for g in shown.to_dict("records")
        ),
        note="Split cost divides each shared execution's cost among the graphlets holding it. "
        "Older graphlets have no page of their own: raise --graphlet-pages for more.",
        text_columns=3,
        links=tuple(
            graphlet_href(g["source_id"], g["graphlet_id"]) for g in shown.to_dict("records")
        ),
    )


def _spans(spans: Any) -> str:
    spans = [int(s) for s in (spans if spans is not None else [])]
    if not spans:
        return "–"
    return str(spans[0]) if len(spans) == 1 else f"{spans[0]}–{spans[-1]} ({len(spans)})"


def _graphlet_page(
    env: Any,
    view: GraphletView,
    row: dict[Any, Any],
    unit: str,
    pipeline: str,
    report: str,
    drawing: str,
) -> str:
    execs = view.members[view.members["node_kind"] == "execution"]
    members = Table(
        "Executions",
        ("component", "role", "category", "state", f"cost ({unit})", "shared by", "started"),
        tuple(
            (
                f"{x['label']} #{x['node_id']}",
                x["role"],
                str(x["category"]),
                str(x["state"]),
                num(x["cost"]),
                num(x["shared_by"]),
                cell("start_time", x["start_time"]),
            )
            for x in execs.to_dict("records")
        ),
        note="Costs are each execution's whole cost; an execution shared by n graphlets "
        "counts 1/n of it in each one's split cost.",
        text_columns=4,
    )
    info = view.info
    facts = [
        ("Trained (UTC)", cell("train_time", row["train_time"])),
        ("Trainer", f"#{info['trainer_execution_id']} {info['trainer_state']}"),
        ("Model type", info.get("model_type") or "–"),
        ("Pushed at (UTC)", cell("push_time", row["push_time"])),
        ("Input spans", _spans(row["input_spans"])),
        (
            "Executions, artifacts, depth",
            f"{info['n_executions']}, {info['n_artifacts']}, {info['depth']}",
        ),
        ("Own cost", f"{num(row['own_cost'])} {unit}"),
        ("Split cost", f"{num(row['split_cost'])} {unit}"),
    ]
    context = {
        "view": view,
        "pipeline": info.get("pipeline") or "(no pipeline)",
        "pipeline_href": pipeline,
        "report": report,
        "reason": REASONS.get(row["reason"], row["reason"]),
        "pushed": bool(row["deployed"]),
        "facts": facts,
        "push_time": cell("push_time", row["push_time"]),
        "evidence": decision_evidence(view),
        "drawing": EmbeddedFigure(
            "lineage",
            "Lineage",
            "Executions (squares, filled by category, outlined by role) with their cost; "
            "artifacts (circles) with their span, verdict or push flag. Scroll sideways "
            "for wide graphlets.",
            drawing,
        ),
        "members": members,
    }
    return str(env.get_template("graphlet.html.j2").render(context))

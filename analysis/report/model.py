"""The report model: what the report shows of one scope (:class:`Analyses`), its extra
sections (:class:`Section`), and the built :class:`Report` with its summary.json.

The keys of ``summary.json`` are a stable, documented contract for dashboards (README,
"summary.json"); :data:`SUMMARY_FORMAT` changes when a key changes meaning or goes away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlprov.analysis.characterize import (
    Characterization,
    characterization_summary,
    component_usage,
    execution_states,
    input_windows,
    model_types,
    pipeline_lifespans,
    training_cadence,
    training_gaps,
)
from mlprov.analysis.drilldown import GRAPHLET_PAGES, PAGES, Drilldown, pipeline_href
from mlprov.analysis.errors import ReportError
from mlprov.analysis.frames import ALL, Frames, Scope, graphlet_frame
from mlprov.analysis.present import num, pct
from mlprov.analysis.report.formatting import finite, json_ready, pipelines_text, range_text, render
from mlprov.analysis.report.sections import Section, extra_sections
from mlprov.analysis.report.tables import figures, headline_rows, tables, trait_rows
from mlprov.analysis.reuse import ReuseSummary, cache_savings, recomputed_work, reuse_summary
from mlprov.analysis.waste import (
    WasteSummary,
    waste_by_category,
    waste_by_pipeline,
    waste_by_week,
    waste_summary,
)
from mlprov.provenance.store import ProvenanceStore
from mlprov.provenance.summary import no_deploy_signal, no_deploy_signal_note

#: Version of the summary.json layout (README, "summary.json").
SUMMARY_FORMAT = 1


@dataclass(frozen=True)
class Report:
    """A built report: the three files' contents, and the drill-down pages (path inside the
    report directory, under :data:`~mlprov.analysis.drilldown.PAGES`, to HTML)."""

    summary: dict[str, Any]
    html: str
    markdown: str
    pages: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Analyses:
    """What the report shows of one scope, costs in ``unit`` (see :func:`analyze`)."""

    unit: str
    waste: WasteSummary
    reuse: ReuseSummary
    traits: Characterization
    by_pipeline: pd.DataFrame
    by_category: pd.DataFrame
    by_component: pd.DataFrame
    by_week: pd.DataFrame
    usage: pd.DataFrame
    component_use: pd.DataFrame
    lifespans: pd.DataFrame
    cadence: pd.DataFrame
    gaps: pd.DataFrame
    windows: pd.DataFrame
    models: pd.DataFrame
    states: pd.DataFrame
    recomputed: pd.DataFrame
    savings: pd.DataFrame
    graphlets: pd.DataFrame


def analyze(frames: Frames, scope: Scope, unit: str | None = None, top: int = 10) -> Analyses:
    """Run every analysis the report shows over the scope, sharing ``frames``.

    Raises:
        ReportError: no executions in scope.
        StoreError: graphlets have not been built.
    """
    waste = waste_summary(frames, scope, unit=unit)
    if waste.executions == 0:
        raise ReportError(
            f"no executions in {frames.store.path} {range_text(scope)}"
            f"{pipelines_text(scope)}; widen --since/--until or check --pipeline"
        )
    unit = waste.cost_unit
    return Analyses(
        unit=unit,
        waste=waste,
        reuse=reuse_summary(frames, scope, unit=unit),
        traits=characterization_summary(frames, scope),
        by_pipeline=waste_by_pipeline(frames, scope, top=top, unit=unit),
        by_category=waste_by_category(frames, scope, unit=unit),
        by_component=waste_by_category(frames, scope, by="component", unit=unit),
        by_week=waste_by_week(frames, scope, unit=unit),
        usage=component_usage(frames, scope, unit=unit),
        component_use=component_usage(frames, scope, by="component", unit=unit),
        lifespans=pipeline_lifespans(frames, scope),
        cadence=training_cadence(frames, scope),
        gaps=training_gaps(frames, scope),
        windows=input_windows(frames, scope),
        models=model_types(frames, scope),
        states=execution_states(frames, scope, unit=unit),
        recomputed=recomputed_work(frames, scope, unit=unit),
        savings=cache_savings(frames, scope, unit=unit),
        graphlets=graphlet_frame(frames, scope, unit),
    )


def build_report(
    store: ProvenanceStore,
    scope: Scope = ALL,
    *,
    unit: str | None = None,
    previous: Mapping[str, Any] | None = None,
    top: int = 10,
    sections: Sequence[Section] | None = None,
    graphlet_pages: int = GRAPHLET_PAGES,
) -> Report:
    """Run every analysis over the scope and render the report.

    Args:
        store: a store with graphlets built.
        scope, unit: the scope and cost unit (see :mod:`mlprov.analysis.frames`).
        previous: an earlier report's summary.json; each headline figure then shows its change
            (not when it covered another kind of range or other pipelines: see ``changes``).
        top: how many pipelines the "most wasteful" table and figure show; each gets a
            drill-down page.
        sections: extra sections; default :func:`mlprov.analysis.report.sections.extra_sections`.
        graphlet_pages: how many graphlets of each of those pipelines get a page (the
            latest; 0: none).

    Returns:
        The :class:`Report`; nothing is written (see :func:`mlprov.analysis.report.write_report`).

    Raises:
        ReportError: no executions in scope.
        StoreError: graphlets have not been built.
    """
    # the shared frames go when analyze returns: the pruning simulation loads its own data
    a = analyze(Frames(store), scope, unit, top)
    unit = a.unit
    with Drilldown(
        store, unit, a.by_pipeline, a.graphlets, graphlet_pages=graphlet_pages
    ) as drilldown:
        # the pages' figures draw in worker processes while the sections run here
        sections = list(extra_sections(store, scope) if sections is None else sections)
        pages = drilldown.pages(
            [(s.key, s.title, s.pipeline_html) for s in sections if s.pipeline_html is not None]
        )
    pipeline_links = [
        (name if isinstance(name, str) else "(no pipeline)", f"{PAGES}/{pipeline_href(name)}")
        for name in a.by_pipeline["pipeline"]
    ]
    headline = _headline(a)
    changes, changes_note = _changes(headline, unit, scope, previous)
    notes = source_notes(store, headline)
    summary = _summary(store, scope, a, headline, changes, sections, notes)
    context = {
        "summary": summary,
        "unit": unit,
        "range": range_text(scope, a.waste.first_start, a.waste.last_end),
        "pipelines_text": pipelines_text(scope),
        "headline": headline_rows(headline, changes, unit),
        "has_previous": previous is not None,
        "changes_note": changes_note,
        **notes,
        "waste": a.waste,
        "reuse": a.reuse,
        "traits": trait_rows(a.traits),
        "figures": figures(a, top),
        "tables": tables(a, top, [href for _, href in pipeline_links]),
        "sections": sections,
        "pipeline_links": pipeline_links,
        "pct": pct,
        "num": num,
    }
    return Report(
        summary=summary,
        html=render("report", "html", context),
        markdown=render("report", "markdown", context),
        pages=pages,
    )


def _headline(a: Analyses) -> dict[str, Any]:
    """summary.json's ``headline``: the waste summary's figures with reuse and traits."""
    return {
        **{
            k: v
            for k, v in a.waste.to_dict().items()
            if k not in ("cost_unit", "since", "until", "first_start", "last_end")
        },
        "cached_share": a.traits.cached_share,
        "failed_share": a.traits.failed_share,
        "recomputed_cost": a.reuse.recomputed_cost,
        "recomputed_share": a.reuse.recomputed_share,
        "cache_hits": a.reuse.cache_hits,
        "cache_saved_cost": a.reuse.cache_saved_cost,
    }


def _summary(
    store: ProvenanceStore,
    scope: Scope,
    a: Analyses,
    headline: dict[str, Any],
    changes: dict[str, Any] | None,
    sections: Sequence[Section],
    notes: dict[str, Any],
) -> dict[str, Any]:
    """summary.json (README, "summary.json"), JSON-ready."""
    by_week = a.by_week
    return json_ready(
        {
            "format": SUMMARY_FORMAT,
            "database": Path(store.path).name,
            "cost_unit": a.unit,
            "since": scope.since,
            "until": scope.until,
            "as_of": scope.liveness.as_of,
            "stale_after_hours": scope.liveness.stale_after.total_seconds() / 3600,
            "first_start": a.waste.first_start,
            "last_end": a.waste.last_end,
            "pipeline_filter": list(scope.pipelines) if scope.pipelines is not None else None,
            "headline": headline,
            "changes": changes,
            "characterization": a.traits.to_dict(),
            "top_pipelines": a.by_pipeline[
                [
                    "pipeline",
                    "total_cost",
                    "wasted_cost",
                    "wasted_share",
                    "graphlets",
                    "unpushed_graphlets",
                ]
            ].to_dict("records"),
            "by_category": a.by_category[
                ["category", "total_cost", "share_of_total", "wasted_cost", "wasted_share"]
            ].to_dict("records"),
            "by_week": by_week.assign(week=by_week["week"].dt.strftime("%Y-%m-%d"))[
                ["week", "total_cost", "wasted_cost", "in_flight_cost", "wasted_share"]
            ].to_dict("records"),
            "sections": {s.key: dict(s.summary) for s in sections},
            **notes,
        }
    )


def _changes(
    headline: Mapping[str, Any], unit: str, scope: Scope, previous: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, str]:
    """Per headline key: the previous value and the change.

    Nothing is subtracted across reports of other pipelines or of another kind of range (a
    range of another length, or a bounded range against the whole history), and costs only in
    the same unit; the note says what was left out and why.
    """
    if previous is None:
        return None, ""
    why = _incomparable(scope, previous)
    if why:
        return {}, f"Changes are not shown: {why}."
    before = previous.get("headline") or {}
    same_unit = previous.get("cost_unit") == unit
    changes = {}
    for key, value in headline.items():
        old = before.get(key)
        if key.endswith("_cost") and not same_unit:
            continue
        if finite(value) and finite(old):
            changes[key] = {"previous": old, "change": value - old}
    note = (
        ""
        if same_unit
        else (
            f"The previous report counted cost in {previous.get('cost_unit')!r}, this one in "
            f"{unit!r}: cost changes are not shown."
        )
    )
    return changes, note


def _incomparable(scope: Scope, previous: Mapping[str, Any]) -> str:
    """Why a previous summary cannot be compared with a report over ``scope`` ('' if it can)."""
    pipelines = list(scope.pipelines) if scope.pipelines is not None else None
    if previous.get("pipeline_filter") != pipelines:
        return (
            f"the previous report covered pipelines {previous.get('pipeline_filter') or 'all'}, "
            f"this one {pipelines or 'all'}"
        )

    def length(since: Any, until: Any) -> Any:
        if since is None or until is None:
            return (since is None, until is None)
        return pd.Timestamp(until) - pd.Timestamp(since)

    try:
        before = length(previous.get("since"), previous.get("until"))
    except (TypeError, ValueError):
        return "the previous report's since/until are not times"
    if before != length(scope.since, scope.until):
        return (
            f"the previous report covered {previous.get('since') or 'the beginning'} to "
            f"{previous.get('until') or 'the end'}, a range of another length than this one's"
        )
    return ""


# Caveats of source kinds, said wherever a report includes such a source.
SOURCE_CAVEATS = {
    "mlflow": "MLflow keeps only the current alias or stage of a model version, not its "
    "history: a version deployed earlier and since replaced counts as not deployed, so the "
    "waste of MLflow sources is an upper bound.",
}


def source_notes(store: ProvenanceStore, headline: dict[str, Any]) -> dict[str, Any]:
    """The report's notes on its sources: caveats of their kinds, and sources whose deploy
    signal cannot be found (every graphlet of theirs counts as not deployed).

    Returns:
        ``source_notes`` (sentences), ``no_deploy_signal`` (the locations of the sources
        without a deploy signal) and ``withhold_share`` (some source has none and nothing was
        deployed: the headline says so instead of a wasted share of 100%).
    """
    kinds = [
        k for (k,) in store.con.execute("SELECT kind FROM sources ORDER BY source_id").fetchall()
    ]
    silent = no_deploy_signal(store)
    return {
        "source_notes": [
            *dict.fromkeys(SOURCE_CAVEATS[k] for k in kinds if k in SOURCE_CAVEATS),
            *map(no_deploy_signal_note, silent),
        ],
        "no_deploy_signal": silent,
        "withhold_share": bool(silent) and not headline.get("pushed_graphlets"),
    }

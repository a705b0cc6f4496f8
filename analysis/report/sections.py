"""The sections other analyses contribute to the report: the pruning simulation, and data
drift when statistics payloads were read (:func:`extra_sections`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from mlprov.analysis.drilldown import PipelineHtml
from mlprov.analysis.frames import Scope
from mlprov.provenance.store import ProvenanceStore

PRUNING_TITLE = "Pruning simulation"
#: What the pruning section says of its range.
PRUNING_NOTE = "Simulated over the whole history in the store (not only the report's time range)."


@dataclass(frozen=True)
class Section:
    """An extra section of the report, contributed by another analysis (see
    :func:`pruning_section`).

    Attributes:
        key: its key under ``sections`` in summary.json, e.g. ``pruning``.
        title: its heading.
        html: its body as HTML (figures as base64 ``data:`` URLs: the report is self-contained).
        markdown: its body as Markdown.
        summary: JSON-ready figures for summary.json.
        pipeline_html: its part of each pipeline's page, when it has one: (pipeline name,
            the pipeline's graphlets) -> HTML (see :mod:`mlprov.analysis.drilldown`).
    """

    key: str
    title: str
    html: str
    markdown: str
    summary: Mapping[str, Any] = field(default_factory=dict)
    pipeline_html: PipelineHtml | None = None


def pruning_section(store: ProvenanceStore, scope: Scope) -> Section | None:
    """The pruning simulation's section: what skipping likely non-pushes would have saved.

    The simulation needs the whole history to train on the past and test on the future, so it
    runs over every graphlet whatever the report's ``scope``; the section says so. Where the
    history is too short to split, the section says why instead of showing figures.
    """
    from mlprov.analysis.errors import NonFiniteCostError
    from mlprov.analysis.pruning import PruningError, simulate_pruning
    from mlprov.analysis.pruning_report import headline_text, not_simulated, pipeline_decisions
    from mlprov.analysis.pruning_report import pruning_section as render

    try:
        result = simulate_pruning(store, seed=0, liveness=scope.liveness)
    except (PruningError, NonFiniteCostError) as err:
        return Section(
            "pruning",
            PRUNING_TITLE,
            not_simulated(str(err), "html"),
            not_simulated(str(err), "markdown"),
            {"simulated": False, "reason": str(err)},
        )
    headline = result.headline
    summary: dict[str, Any] = {
        "simulated": True,
        "headline": headline_text(result),
        "train_graphlets": result.n_train,
        "test_graphlets": result.n_test,
        "learned_wasted_saved": headline.wasted_saved if headline else None,
        "learned_total_saved": headline.total_saved if headline else None,
        "learned_pushes_kept": headline.pushes_kept if headline else None,
        "learned_threshold": headline.threshold if headline else None,
    }
    return Section(
        "pruning",
        PRUNING_TITLE,
        render(result, fmt="html", title=False, note=PRUNING_NOTE),
        render(result, fmt="markdown", title=False, note=PRUNING_NOTE),
        summary,
        pipeline_html=partial(pipeline_decisions, result),
    )


def extra_sections(store: ProvenanceStore, scope: Scope) -> list[Section]:
    """The sections other analyses contribute to the report (pruning; drift, when payloads
    were read)."""
    from mlprov.analysis.drift_report import drift_section

    return [
        s for s in (pruning_section(store, scope), drift_section(store, scope)) if s is not None
    ]

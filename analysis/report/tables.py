"""The report's tables and figures: the analyses' frames as rows of formatted cells and as
embedded PNGs, shared by the HTML and Markdown templates."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlprov.analysis import plots
from mlprov.analysis.characterize import Characterization
from mlprov.analysis.present import EmbeddedFigure, Table, num, pct
from mlprov.analysis.report.formatting import change_text, figure_text

if TYPE_CHECKING:
    from mlprov.analysis.report.model import Analyses

#: Headline figures: summary.json key under "headline", label, kind (cost, share, count).
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("wasted_share", "Wasted share of total cost", "share"),
    ("wasted_cost", "Wasted cost", "cost"),
    ("total_cost", "Total cost", "cost"),
    ("orphan_cost", "of which orphan computation (in no graphlet)", "cost"),
    ("abandoned_cost", "of which abandoned work (left running, never finished)", "cost"),
    ("in_flight_cost", "In flight (trainer still running; not waste)", "cost"),
    ("unpushed_share", "Graphlets that did not push", "share"),
    ("graphlets", "Graphlets (model trainings)", "count"),
    ("in_flight_graphlets", "Graphlets in flight", "count"),
    ("abandoned_graphlets", "Graphlets abandoned (trainer left running)", "count"),
    ("unpushed_split_cost", "Split cost of unpushed graphlets", "cost"),
    ("recomputed_cost", "Upstream work recomputed over spans already processed", "cost"),
    ("cache_saved_cost", "Cost saved by cache hits", "cost"),
    ("pipelines", "Pipelines", "count"),
    ("executions", "Executions", "count"),
)


def headline_rows(
    headline: Mapping[str, Any], changes: Mapping[str, Any] | None, unit: str
) -> list[dict[str, str]]:
    rows = []
    for key, label, kind in HEADLINE:
        value = headline[key]
        change = (changes or {}).get(key)
        rows.append(
            {
                "key": key,
                "label": label,
                "value": figure_text(value, kind, unit),
                "change": "" if change is None else change_text(change["change"], kind, unit),
            }
        )
    return rows


def trait_rows(traits: Characterization) -> list[tuple[str, str]]:
    return [
        ("Median pipeline lifespan", f"{num(traits.median_lifespan_days)} days"),
        ("Median trainings per pipeline-day", num(traits.median_graphlets_per_day)),
        ("Median time between trainings", f"{num(traits.median_gap_hours)} hours"),
        ("Median executions per graphlet", num(traits.median_graphlet_executions)),
        ("Median graphlet depth", num(traits.median_graphlet_depth)),
        ("Median input spans per graphlet", num(traits.median_window_spans)),
        ("Mean span overlap with the previous graphlet", pct(traits.mean_span_overlap)),
        ("Cached executions", pct(traits.cached_share)),
        ("Failed executions", pct(traits.failed_share)),
    ]


def frame_table(frame: pd.DataFrame, title: str = "", note: str = "") -> Table:
    """A frame of formatted cells as a :class:`~mlprov.analysis.present.Table`, its columns as
    headings."""
    return Table(
        title,
        tuple(str(c) for c in frame.columns),
        tuple(tuple(str(v) for v in row) for row in frame.itertuples(index=False)),
        note=note,
    )


def tables(a: Analyses, top: int, pipeline_links: list[str]) -> dict[str, Table]:
    """The report's tables, keyed as the templates name them; the pipelines table's rows link
    to ``pipeline_links``."""
    unit = a.unit

    def rows(frame: pd.DataFrame, cells: Any) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(cells(r)) for r in frame.itertuples(index=False))

    reuse_by_component = (
        a.recomputed.groupby(["category", "component"], as_index=False)
        .agg(
            executions=("execution_id", "size"),
            recomputed_cost=("recomputed_cost", "sum"),
            cost=("cost", "sum"),
        )
        .sort_values("recomputed_cost", ascending=False)
    )
    saved_by_component = (
        a.savings.groupby(["category", "component"], as_index=False)
        .agg(
            hits=("execution_id", "size"),
            saved_cost=("saved_cost", "sum"),
            unknown=("originals", lambda o: int((o == 0).sum())),
        )
        .sort_values("saved_cost", ascending=False)
    )
    return {
        "pipelines": Table(
            f"Top {top} pipelines by wasted cost",
            (
                "pipeline",
                f"total ({unit})",
                f"wasted ({unit})",
                "wasted share",
                "graphlets",
                "unpushed",
                "unpushed share",
            ),
            rows(
                a.by_pipeline,
                lambda r: (
                    r.pipeline or "(no pipeline)",
                    num(r.total_cost),
                    num(r.wasted_cost),
                    pct(r.wasted_share),
                    str(r.graphlets),
                    str(r.unpushed_graphlets),
                    pct(r.unpushed_share),
                ),
            ),
            links=tuple(pipeline_links),
        ),
        "categories": Table(
            "Cost and waste by operator category",
            (
                "category",
                "executions",
                f"cost ({unit})",
                "share of cost",
                f"wasted ({unit})",
                "wasted share",
                "share of waste",
            ),
            rows(
                a.by_category,
                lambda r: (
                    r.category,
                    f"{r.executions:,}",
                    num(r.total_cost),
                    pct(r.share_of_total),
                    num(r.wasted_cost),
                    pct(r.wasted_share),
                    pct(r.share_of_waste),
                ),
            ),
        ),
        "components": Table(
            "Cost and waste by component",
            (
                "category",
                "component",
                "executions",
                f"cost ({unit})",
                "share of cost",
                "wasted share",
            ),
            rows(
                a.by_component,
                lambda r: (
                    r.category,
                    r.component,
                    f"{r.executions:,}",
                    num(r.total_cost),
                    pct(r.share_of_total),
                    pct(r.wasted_share),
                ),
            ),
            text_columns=2,
        ),
        "usage": Table(
            "Component usage",
            ("category", "component", "pipelines using it", "share of pipelines", "executions"),
            rows(
                a.component_use.sort_values(
                    ["pipelines", "category", "component"], ascending=[False, True, True]
                ),
                lambda r: (
                    r.category,
                    r.component,
                    str(r.pipelines),
                    pct(r.pipeline_share),
                    f"{r.executions:,}",
                ),
            ),
            text_columns=2,
        ),
        "states": Table(
            "Executions by state",
            ("state", "executions", "share", f"cost ({unit})"),
            rows(a.states, lambda r: (r.state, f"{r.executions:,}", pct(r.share), num(r.cost))),
        ),
        "models": Table(
            "Model types",
            ("model type", "graphlets", "pipelines", "share of graphlets", "pushed share"),
            rows(
                a.models,
                lambda r: (
                    r.model_type,
                    str(r.graphlets),
                    str(r.pipelines),
                    pct(r.graphlet_share),
                    pct(r.pushed_share),
                ),
            ),
        ),
        "recomputed": Table(
            "Upstream work recomputed over spans already processed",
            ("category", "component", "executions", f"cost ({unit})", f"recomputed ({unit})"),
            rows(
                reuse_by_component,
                lambda r: (
                    r.category,
                    r.component,
                    f"{r.executions:,}",
                    num(r.cost),
                    num(r.recomputed_cost),
                ),
            ),
            text_columns=2,
            note="An execution reading n spanned inputs, s of which an earlier run of the same "
            "node already read, is charged s/n of its cost.",
        ),
        "cache": Table(
            "What caching already saves",
            ("category", "component", "cache hits", f"saved ({unit})", "original unknown"),
            rows(
                saved_by_component,
                lambda r: (
                    r.category,
                    r.component,
                    str(r.hits),
                    num(r.saved_cost),
                    str(r.unknown),
                ),
            ),
            text_columns=2,
            note="A cache hit is costed at what the original run it re-published cost.",
        ),
    }


#: The report's figures: key -> (title, caption), ``{unit}`` and ``{top}`` filled in.
FIGURES = {
    "waste_over_time": (
        "Cost per week by outcome",
        "Weekly cost ({unit}) of executions by the week they started: reached a deployed "
        "model, wasted (in no deployed graphlet), or still in flight.",
    ),
    "top_wasteful": (
        "Most wasteful pipelines",
        "Wasted cost ({unit}) of the {top} pipelines that waste the most.",
    ),
    "compute_share": (
        "Compute share by category",
        "Share of total cost ({unit}) per operator category.",
    ),
    "lifespan_cdf": (
        "Pipeline lifespan",
        "CDF over pipelines of the days from first execution start to last execution "
        "end (within the range).",
    ),
    "cadence_cdf": (
        "Training cadence",
        "CDF over pipelines of graphlets (model trainings) per day of lifespan.",
    ),
    "gap_cdf": (
        "Gaps between trainings",
        "CDF over consecutive trainings of a pipeline of the hours between them.",
    ),
    "span_overlap": (
        "Input span overlap",
        "Share of each graphlet's input spans that the previous graphlet of its "
        "pipeline also read.",
    ),
}


def figures(a: Analyses, top: int) -> dict[str, EmbeddedFigure]:
    """The report's :data:`FIGURES` by key (``top``: how many pipelines the wasteful one
    shows)."""
    unit = a.unit
    log_cdf = partial(plots.cdf, log=True)
    shown = {
        "waste_over_time": plots.waste_over_time(a.by_week, unit),
        "top_wasteful": plots.top_wasteful(a.by_pipeline, unit),
        "compute_share": plots.compute_share(a.usage, unit),
        "lifespan_cdf": plots.cdf(
            a.lifespans["lifespan_days"], xlabel="lifespan (days)", title="Pipeline lifespan (CDF)"
        ),
        "cadence_cdf": log_cdf(
            a.cadence["graphlets_per_day"],
            xlabel="trainings per day (log)",
            title="Training cadence (CDF)",
        ),
        "gap_cdf": log_cdf(
            a.gaps["gap_hours"], xlabel="hours (log)", title="Time between trainings (CDF)"
        ),
        "span_overlap": plots.span_overlap(a.windows),
    }
    return {
        key: EmbeddedFigure(
            key,
            FIGURES[key][0],
            FIGURES[key][1].format(unit=unit, top=top),
            plots.png_base64(fig),
        )
        for key, fig in shown.items()
    }

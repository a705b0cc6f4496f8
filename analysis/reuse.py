"""Reuse opportunities: upstream work recomputed over data already processed, and what caching
already saves.

In continuously running pipelines with rolling windows, a Transform (or statistics, validation)
run over spans 1-7 today reads spans 1-6 that yesterday's run already read; the study points to
reusing that work. Caching already saves the cost of every cache hit: a hit re-publishes an
earlier run's outputs, so it saves what that original run cost. Costs are in the cost unit of
:mod:`mlprov.analysis.frames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from mlprov.analysis.frames import (
    ALL,
    Scope,
    Source,
    cost_unit,
    execution_frame,
    in_unit,
    query,
    share,
)
from mlprov.analysis.present import Readable
from mlprov.provenance.sql import named_queries

_SQL = named_queries("mlprov.analysis", "reuse.sql")

#: Categories whose per-span work is recomputed over overlapping windows by default.
UPSTREAM = ("data_validation", "transform")


def recomputed_work(
    store: Source,
    scope: Scope = ALL,
    *,
    unit: str | None = None,
    categories: Sequence[str] = UPSTREAM,
) -> pd.DataFrame:
    """Upstream executions that re-read input spans their node had already processed.

    An execution of a pipeline node that reads n spanned artifacts (Examples, statistics, ...),
    s of them already read by an earlier non-cached execution of the same node, is charged
    ``cost * s / n`` as recomputed: the share of its work a reuse of earlier results would save,
    assuming cost proportional to spans.

    Args:
        categories: operator categories to examine (default: data validation and transform).

    Returns:
        One row per execution that read spanned inputs: pipeline, node, component, category,
        execution_id, start_time, spans (spanned inputs), seen_spans (already read),
        cost and recomputed_cost (cost unit; NaN when its cost is in another unit).
    """
    unit = cost_unit(store, scope, unit)
    frame = query(store, _SQL["span_inputs"], {**scope.params(), "categories": list(categories)})
    cost = in_unit(frame["cost"], frame["cost_unit"], unit)
    frame = frame.assign(cost=cost, recomputed_cost=cost * frame["seen_spans"] / frame["spans"])
    return frame[
        [
            "pipeline",
            "node",
            "component",
            "category",
            "source_id",
            "execution_id",
            "start_time",
            "spans",
            "seen_spans",
            "cost",
            "recomputed_cost",
        ]
    ]


def cache_savings(store: Source, scope: Scope = ALL, *, unit: str | None = None) -> pd.DataFrame:
    """What each cache hit saved: the cost of the original run whose outputs it re-published.

    Returns:
        One row per cache hit in scope: pipeline, node, component, category, execution_id,
        start_time, originals (non-cached producers of what it re-published; 0 when none is
        known) and saved_cost (their cost in the cost unit; NaN when none is known or it is in
        another unit).
    """
    unit = cost_unit(store, scope, unit)
    hits = query(store, _SQL["cache_hits"], scope.params())
    hits = hits.assign(saved=in_unit(hits["original_cost"], hits["original_unit"], unit))
    keys = ["pipeline", "node", "component", "category", "source_id", "execution_id", "start_time"]
    table = (
        hits.groupby(keys, dropna=False)
        .agg(
            originals=("original_id", "count"),
            saved_cost=("saved", "sum"),
            priced=("saved", "count"),
        )
        .reset_index()
    )
    table["saved_cost"] = table["saved_cost"].where(table.pop("priced") > 0)  # none known: NaN
    return table.sort_values(["source_id", "execution_id"], ignore_index=True)


@dataclass(frozen=True, repr=False)  # Readable's table instead
class ReuseSummary(Readable):
    """Headline reuse figures of one scope; costs in ``cost_unit``.

    Attributes:
        cost_unit: the unit of every cost.
        total_cost: cost of all executions in scope.
        recomputed_cost: upstream cost spent re-reading spans already processed
            (:func:`recomputed_work`).
        recomputed_share: recomputed_cost / total_cost.
        cache_hits: cached executions in scope.
        cache_saved_cost: the original cost of what they re-published (:func:`cache_savings`).
        cache_hits_unknown_original: cache hits whose original run is not in the store.
    """

    cost_unit: str
    total_cost: float
    recomputed_cost: float
    recomputed_share: float
    cache_hits: int
    cache_saved_cost: float
    cache_hits_unknown_original: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reuse_summary(
    store: Source,
    scope: Scope = ALL,
    *,
    unit: str | None = None,
    categories: Sequence[str] = UPSTREAM,
) -> ReuseSummary:
    """The headline reuse figures (see :class:`ReuseSummary`)."""
    unit = cost_unit(store, scope, unit)
    total = float(execution_frame(store, scope, unit)["cost"].sum())
    recomputed = float(
        recomputed_work(store, scope, unit=unit, categories=categories)["recomputed_cost"].sum()
    )
    hits = cache_savings(store, scope, unit=unit)
    return ReuseSummary(
        cost_unit=unit,
        total_cost=total,
        recomputed_cost=recomputed,
        recomputed_share=share(recomputed, total),
        cache_hits=len(hits),
        cache_saved_cost=float(hits["saved_cost"].sum()),
        cache_hits_unknown_original=int((hits["originals"] == 0).sum()),
    )

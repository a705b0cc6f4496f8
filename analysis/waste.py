"""Wasted computation: the cost of executions that never reached a deployed model.

Definitions are study.md's "Cost and waste": an execution is *wasted* when it is a member of no
deployed graphlet, except that work whose only graphlets are still in flight (trainer RUNNING,
recently updated) is counted on its own line and not as waste. Orphans (executions in no
graphlet) and abandoned work (left RUNNING, see :class:`mlprov.analysis.frames.Liveness`) are part
of the waste and also reported alone. Every cost figure is in the summary's ``cost_unit``; the scope
arguments are described in :mod:`mlprov.analysis.frames`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mlprov.analysis.errors import NonFiniteCostError
from mlprov.analysis.frames import (
    ALL,
    Scope,
    Source,
    cost_unit,
    execution_frame,
    graphlet_frame,
    share,
)
from mlprov.analysis.present import Readable
from mlprov.graphlets import Outcome


@dataclass(frozen=True, repr=False)  # Readable's table instead
class WasteSummary(Readable):
    """The headline waste figures of one scope. Costs are in ``cost_unit``; shares in [0, 1]
    (NaN when their denominator is zero).

    Attributes:
        cost_unit: the unit of every cost (the cost property, e.g. ``cpu_hours``, or seconds).
        since, until: the scope's range of execution start times (None: open).
        first_start, last_end: the first start and last end of the executions in scope.
        pipelines: pipelines with executions in scope.
        executions: executions in scope.
        total_cost: their cost.
        deployed_cost: cost of executions in at least one deployed graphlet.
        wasted_cost: cost of executions in no deployed graphlet (orphans included, in-flight
            work excluded).
        wasted_share: wasted_cost / total_cost: the headline.
        orphan_executions, orphan_cost, orphan_share: executions in no graphlet.
        in_flight_cost: cost of work whose only graphlets are still training (not waste).
        abandoned_executions, abandoned_cost: work left RUNNING, or only in graphlets whose
            trainer was (part of the waste).
        graphlets: graphlets trained in scope.
        pushed_graphlets, unpushed_graphlets, in_flight_graphlets: their outcomes.
        abandoned_graphlets: of the unpushed graphlets, those whose trainer was left RUNNING.
        unpushed_share: unpushed / (pushed + unpushed) graphlets; in-flight ones are left out.
        unpushed_split_cost: split cost of the unpushed graphlets (shared work divided equally).
        graphlet_split_cost: split cost of all graphlets in scope.
        other_unit_executions: executions with a non-zero cost in another unit (they lack the
            cost property), left out of every cost figure.
    """

    cost_unit: str
    since: datetime | None
    until: datetime | None
    first_start: datetime | None
    last_end: datetime | None
    pipelines: int
    executions: int
    total_cost: float
    deployed_cost: float
    wasted_cost: float
    wasted_share: float
    orphan_executions: int
    orphan_cost: float
    orphan_share: float
    in_flight_cost: float
    abandoned_executions: int
    abandoned_cost: float
    graphlets: int
    pushed_graphlets: int
    unpushed_graphlets: int
    in_flight_graphlets: int
    abandoned_graphlets: int
    unpushed_share: float
    unpushed_split_cost: float
    graphlet_split_cost: float
    other_unit_executions: int

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (datetimes as ISO strings)."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


def waste_summary(store: Source, scope: Scope = ALL, *, unit: str | None = None) -> WasteSummary:
    """The headline waste figures of the executions and graphlets in scope.

    Args:
        store: a store with graphlets built, or :class:`~mlprov.analysis.frames.Frames` over one.
        scope, unit: the scope and cost unit (see :mod:`mlprov.analysis.frames`).

    Returns:
        A :class:`WasteSummary`; costs in its ``cost_unit``.

    Raises:
        StoreError: graphlets have not been built.
        NonFiniteCostError: a cost in scope is infinite, or the costs add up past
            :data:`MAX_TOTAL_COST`.
    """
    unit = cost_unit(store, scope, unit)
    ex = execution_frame(store, scope, unit)
    check_costs(ex)
    gr = graphlet_frame(store, scope, unit)
    by_status = ex.groupby("status")["cost"].sum()
    total = float(ex["cost"].sum())
    wasted = float(ex.loc[ex["wasted"], "cost"].sum())
    orphans = ex["status"] == "orphan"
    abandoned = ex["status"] == "abandoned"
    outcomes = gr["outcome"].value_counts()
    pushed, unpushed = (int(outcomes.get(o, 0)) for o in (Outcome.PUSHED, Outcome.UNPUSHED))
    return WasteSummary(
        cost_unit=unit,
        since=scope.since,
        until=scope.until,
        first_start=_timestamp(ex["start_time"].min()),
        last_end=_timestamp(ex["end_time"].max()),
        pipelines=int(ex["pipeline"].nunique()),
        executions=len(ex),
        total_cost=total,
        deployed_cost=float(by_status.get("deployed", 0.0)),
        wasted_cost=wasted,
        wasted_share=share(wasted, total),
        orphan_executions=int(orphans.sum()),
        orphan_cost=float(ex.loc[orphans, "cost"].sum()),
        orphan_share=share(float(ex.loc[orphans, "cost"].sum()), total),
        in_flight_cost=float(by_status.get("in_flight", 0.0)),
        abandoned_executions=int(abandoned.sum()),
        abandoned_cost=float(by_status.get("abandoned", 0.0)),
        graphlets=len(gr),
        pushed_graphlets=pushed,
        unpushed_graphlets=unpushed,
        in_flight_graphlets=int(outcomes.get(Outcome.IN_FLIGHT, 0)),
        abandoned_graphlets=int(gr["abandoned"].sum()),
        unpushed_share=share(unpushed, pushed + unpushed),
        unpushed_split_cost=float(gr.loc[gr["outcome"] == Outcome.UNPUSHED, "split_cost"].sum()),
        graphlet_split_cost=float(gr["split_cost"].sum()),
        other_unit_executions=int(ex["other_unit"].sum()),
    )


#: Cost magnitudes in one scope may add up to at most this. No cost unit comes near it; far
#: below float's limit (1.8e308), so no sum or share an analysis takes overflows to infinity.
MAX_TOTAL_COST = 1e300


def check_costs(executions: pd.DataFrame) -> None:
    """Raise unless the ``cost`` of every execution (``source_id``, ``execution_id``) is finite
    or NaN and their magnitudes add up to at most :data:`MAX_TOTAL_COST`.

    Raises:
        NonFiniteCostError: with the first offending execution, or the sum.
    """
    cost = executions["cost"].to_numpy(dtype=float)
    infinite = np.isinf(cost)
    if infinite.any():
        first = executions[infinite].iloc[0]
        raise NonFiniteCostError(
            f"{int(infinite.sum()):,} execution(s) have an infinite cost (first: source "
            f"{first['source_id']} execution {first['execution_id']}, cost {first['cost']}), "
            "so no total or share would be a number; fix the cost property in the source "
            "and ingest again"
        )
    with np.errstate(over="ignore"):  # an overflow to infinity is what this looks for
        total = float(np.nansum(np.abs(cost)))
    if total > MAX_TOTAL_COST:
        raise NonFiniteCostError(
            f"the costs add up past {MAX_TOTAL_COST:.0e} in magnitude (to {total:.3g}), more than "
            "sums and shares can hold; check the unit of the cost property in the source"
        )


def _timestamp(value: Any) -> datetime | None:
    """``value`` as a datetime; None when missing or past what a datetime holds (year 9999:
    a time in µs or ns read as ms lands there)."""
    if pd.isna(value):
        return None
    try:
        return pd.Timestamp(value).to_pydatetime()
    except (ValueError, OverflowError):
        return None


def _waste_table(ex: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Cost by status under ``keys``: total, wasted, orphan, abandoned, in-flight, shares."""
    ex = ex.assign(
        wasted_cost=ex["cost"].where(ex["wasted"], 0.0),
        orphan_cost=ex["cost"].where(ex["status"] == "orphan", 0.0),
        abandoned_cost=ex["cost"].where(ex["status"] == "abandoned", 0.0),
        in_flight_cost=ex["cost"].where(ex["status"] == "in_flight", 0.0),
    )
    table = (
        ex.groupby(keys, dropna=False)
        .agg(
            executions=("execution_id", "size"),
            total_cost=("cost", "sum"),
            wasted_cost=("wasted_cost", "sum"),
            orphan_cost=("orphan_cost", "sum"),
            abandoned_cost=("abandoned_cost", "sum"),
            in_flight_cost=("in_flight_cost", "sum"),
        )
        .reset_index()
    )
    total = float(ex["cost"].sum())
    table["wasted_share"] = table["wasted_cost"] / table["total_cost"].where(
        table["total_cost"] != 0
    )
    table["share_of_total"] = table["total_cost"] / total if total else float("nan")
    table["share_of_waste"] = (
        table["wasted_cost"] / table["wasted_cost"].sum()
        if table["wasted_cost"].sum()
        else float("nan")
    )
    return table


def waste_by_pipeline(
    store: Source,
    scope: Scope = ALL,
    *,
    unit: str | None = None,
    top: int | None = None,
) -> pd.DataFrame:
    """Waste per pipeline, most wasted cost first.

    Returns:
        One row per pipeline (None: executions of no pipeline): executions, total_cost,
        wasted_cost, orphan_cost, abandoned_cost, in_flight_cost (in the cost unit),
        wasted_share (of the pipeline's cost), share_of_total (of all cost), share_of_waste
        (of all waste),
        graphlets, unpushed_graphlets, unpushed_share; the first ``top`` rows when given.
    """
    unit = cost_unit(store, scope, unit)
    table = _waste_table(execution_frame(store, scope, unit), ["pipeline"])
    gr = graphlet_frame(store, scope, unit)
    # counts of flags, not lambdas: an empty scope then still gives integer columns
    outcomes = (
        gr.assign(
            unpushed=gr["outcome"] == Outcome.UNPUSHED, finished=gr["outcome"] != Outcome.IN_FLIGHT
        )
        .groupby("pipeline")
        .agg(
            graphlets=("graphlet_id", "size"),
            unpushed_graphlets=("unpushed", "sum"),
            finished_graphlets=("finished", "sum"),
        )
    )
    table = table.merge(outcomes, how="left", left_on="pipeline", right_index=True)
    table[["graphlets", "unpushed_graphlets", "finished_graphlets"]] = (
        table[["graphlets", "unpushed_graphlets", "finished_graphlets"]].fillna(0).astype(int)
    )
    table["unpushed_share"] = table["unpushed_graphlets"] / table["finished_graphlets"].where(
        table["finished_graphlets"] > 0
    )
    table = table.drop(columns="finished_graphlets").sort_values(
        ["wasted_cost", "pipeline"], ascending=[False, True], ignore_index=True
    )
    return table.head(top) if top is not None else table


def waste_by_category(
    store: Source,
    scope: Scope = ALL,
    *,
    unit: str | None = None,
    by: str = "category",
) -> pd.DataFrame:
    """Waste per operator category (``by="category"``) or per component (``by="component"``).

    Returns:
        One row per category or (category, component), largest cost first: executions,
        total_cost, wasted_cost, orphan_cost, abandoned_cost, in_flight_cost (cost unit),
        wasted_share, share_of_total (these add up to 1), share_of_waste.

    Raises:
        ValueError: ``by`` is neither ``category`` nor ``component``.
    """
    if by not in ("category", "component"):
        raise ValueError(f"by must be 'category' or 'component', got {by!r}")
    unit = cost_unit(store, scope, unit)
    keys = ["category"] if by == "category" else ["category", "component"]
    table = _waste_table(execution_frame(store, scope, unit), keys)
    return table.sort_values(
        ["total_cost", *keys], ascending=[False] + [True] * len(keys), ignore_index=True
    )


def waste_by_week(store: Source, scope: Scope = ALL, *, unit: str | None = None) -> pd.DataFrame:
    """Waste per calendar week (Monday 00:00 UTC) of execution start.

    Returns:
        One row per week with executions: week (its Monday), executions, total_cost,
        wasted_cost, orphan_cost, abandoned_cost, in_flight_cost (cost unit), wasted_share.
    """
    unit = cost_unit(store, scope, unit)
    ex = execution_frame(store, scope, unit)
    table = _waste_table(
        ex.assign(week=ex["start_time"].dt.to_period("W-SUN").dt.start_time), ["week"]
    )
    return table.drop(columns=["share_of_total", "share_of_waste"]).sort_values(
        "week", ignore_index=True
    )


def graphlet_outcomes(
    store: Source, scope: Scope = ALL, *, unit: str | None = None
) -> pd.DataFrame:
    """Every graphlet trained in scope with its outcome and cost.

    Returns:
        One row per graphlet, by pipeline and train time: pipeline, graphlet_id,
        trainer_execution_id, trainer_state, model_type, train_time, push_time, outcome
        (pushed, unpushed, in_flight), reason (why it did not push: ``mlprov.graphlets.REASONS``),
        own_cost and split_cost (cost unit), n_executions.
    """
    unit = cost_unit(store, scope, unit)
    gr = graphlet_frame(store, scope, unit)
    return gr[
        [
            "pipeline",
            "source_id",
            "graphlet_id",
            "trainer_execution_id",
            "trainer_state",
            "model_type",
            "train_time",
            "push_time",
            "outcome",
            "reason",
            "own_cost",
            "split_cost",
            "n_executions",
        ]
    ]


def execution_outcomes(store: Source, scope: Scope = ALL) -> pd.DataFrame:
    """Every execution started in scope with what became of it, as of ``scope.liveness``.

    Returns:
        One row per execution: source_id, execution_id, status (see
        :data:`mlprov.analysis.frames.STATUSES`), and the flags wasted (unpushed, orphan or
        abandoned), in_flight and abandoned.
    """
    frame = execution_frame(store, scope, cost_unit(store, scope))
    status = frame["status"]
    return frame[["source_id", "execution_id", "status", "wasted"]].assign(
        in_flight=status == "in_flight", abandoned=status == "abandoned"
    )


def graphlet_reasons(store: Source, scope: Scope = ALL, *, unit: str | None = None) -> pd.DataFrame:
    """Why the graphlets trained in scope did not push (see ``mlprov.graphlets.REASONS``).

    Returns:
        One row per reason (see ``mlprov.graphlets.REASONS``), pushed first, then the most common:
        reason, graphlets, share (of the graphlets in scope), split_cost (cost unit).
    """
    return reason_table(graphlet_frame(store, scope, cost_unit(store, scope, unit)))


def reason_table(graphlets: pd.DataFrame) -> pd.DataFrame:
    """:func:`graphlet_reasons` of a ``graphlet_frame`` (e.g. one pipeline's rows)."""
    table = (
        graphlets.groupby("reason")
        .agg(graphlets=("graphlet_id", "size"), split_cost=("split_cost", "sum"))
        .reset_index()
        .assign(unpushed=lambda t: t["reason"] != "pushed")
        .sort_values(["unpushed", "graphlets", "reason"], ascending=[True, False, True])
        .drop(columns="unpushed")
        .reset_index(drop=True)
    )
    table.insert(2, "share", table["graphlets"] / max(len(graphlets), 1))
    return table

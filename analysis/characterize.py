"""Characterize pipelines the way the study does: lifespan, training cadence, model types,
component usage and compute share, graphlet topology, input windows, cached and failed work.

Every function takes the scope arguments of :mod:`mlprov.analysis.frames` and returns a DataFrame
(or, for :func:`characterization_summary`, a frozen dataclass); each docstring names its units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

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

DAY_S = 86_400.0


def pipeline_lifespans(store: Source, scope: Scope = ALL) -> pd.DataFrame:
    """How long each pipeline has been running, within the scope.

    Returns:
        One row per pipeline, longest first: pipeline, first_start, last_end (UTC),
        lifespan_days (days from its first execution's start to its last execution's end),
        executions.
    """
    ex = execution_frame(store, scope, cost_unit(store, scope))
    ex = ex[ex["pipeline"].notna()]
    table = (
        ex.groupby("pipeline")
        .agg(
            first_start=("start_time", "min"),
            last_end=("end_time", "max"),
            executions=("execution_id", "size"),
        )
        .reset_index()
    )
    table["lifespan_days"] = (table["last_end"] - table["first_start"]).dt.total_seconds() / DAY_S
    return table[
        ["pipeline", "first_start", "last_end", "lifespan_days", "executions"]
    ].sort_values(["lifespan_days", "pipeline"], ascending=[False, True], ignore_index=True)


def training_gaps(store: Source, scope: Scope = ALL) -> pd.DataFrame:
    """Time between consecutive trainings (graphlets) of each pipeline.

    Returns:
        One row per graphlet that has an earlier graphlet of its pipeline in scope: pipeline,
        graphlet_id, train_time (UTC), gap_hours (hours since the previous graphlet's train
        time).
    """
    gr = graphlet_frame(store, scope, "seconds")
    gr = gr[gr["pipeline"].notna()].sort_values(["pipeline", "train_time", "graphlet_id"])
    gap = gr.groupby("pipeline")["train_time"].diff().dt.total_seconds() / 3600.0
    out = gr.assign(gap_hours=gap)[["pipeline", "graphlet_id", "train_time", "gap_hours"]]
    return out[out["gap_hours"].notna()].reset_index(drop=True)


def training_cadence(store: Source, scope: Scope = ALL) -> pd.DataFrame:
    """How often each pipeline trains a model.

    Returns:
        One row per pipeline with executions in scope, most graphlets first: pipeline,
        graphlets, lifespan_days, graphlets_per_day (graphlets / lifespan_days; NaN for a
        lifespan of zero), median_gap_hours and max_gap_hours between consecutive trainings.
    """
    life = pipeline_lifespans(store, scope)
    counts = graphlet_frame(store, scope, "seconds").groupby("pipeline").size()
    gaps = training_gaps(store, scope).groupby("pipeline")["gap_hours"].agg(["median", "max"])
    table = life[["pipeline", "lifespan_days"]].assign(
        graphlets=life["pipeline"].map(counts).fillna(0).astype(int)
    )
    table["graphlets_per_day"] = table["graphlets"] / table["lifespan_days"].where(
        table["lifespan_days"] > 0
    )
    table["median_gap_hours"] = table["pipeline"].map(gaps["median"])
    table["max_gap_hours"] = table["pipeline"].map(gaps["max"])
    return table[
        [
            "pipeline",
            "graphlets",
            "lifespan_days",
            "graphlets_per_day",
            "median_gap_hours",
            "max_gap_hours",
        ]
    ].sort_values(["graphlets", "pipeline"], ascending=[False, True], ignore_index=True)


def model_types(store: Source, scope: Scope = ALL) -> pd.DataFrame:
    """Which model types are trained, and how often they push.

    Returns:
        One row per model type ("unrecorded" when the trainer does not say), most graphlets
        first: model_type, graphlets, pipelines, graphlet_share (of all graphlets),
        pushed_share (pushed / finished graphlets of that type).
    """
    gr = graphlet_frame(store, scope, "seconds")
    gr = gr.assign(
        model_type=gr["model_type"].fillna("unrecorded"),
        pushed=gr["outcome"] == Outcome.PUSHED,
        finished=gr["outcome"] != Outcome.IN_FLIGHT,
    )
    table = (
        gr.groupby("model_type")
        .agg(
            graphlets=("graphlet_id", "size"),
            pipelines=("pipeline", "nunique"),
            pushed=("pushed", "sum"),
            finished=("finished", "sum"),
        )
        .reset_index()
    )
    table["graphlet_share"] = table["graphlets"] / max(len(gr), 1)
    table["pushed_share"] = table["pushed"] / table["finished"].where(table["finished"] > 0)
    return table.drop(columns=["pushed", "finished"]).sort_values(
        ["graphlets", "model_type"], ascending=[False, True], ignore_index=True
    )


def component_usage(
    store: Source,
    scope: Scope = ALL,
    *,
    unit: str | None = None,
    by: str = "category",
) -> pd.DataFrame:
    """Which operators pipelines use, and where the compute goes.

    Args:
        by: ``category`` (study.md's operator categories) or ``component``.

    Returns:
        One row per category (or component), largest cost first: the key column(s),
        pipelines (using it), pipeline_share (of pipelines in scope), executions, cost (in the
        cost unit) and cost_share (of all cost; the shares add up to 1).

    Raises:
        ValueError: ``by`` is neither ``category`` nor ``component``.
    """
    if by not in ("category", "component"):
        raise ValueError(f"by must be 'category' or 'component', got {by!r}")
    ex = execution_frame(store, scope, cost_unit(store, scope, unit))
    keys = ["category"] if by == "category" else ["category", "component"]
    table = (
        ex.groupby(keys)
        .agg(
            pipelines=("pipeline", "nunique"),
            executions=("execution_id", "size"),
            cost=("cost", "sum"),
        )
        .reset_index()
    )
    table["pipeline_share"] = table["pipelines"] / max(ex["pipeline"].nunique(), 1)
    total = float(ex["cost"].sum())
    table["cost_share"] = table["cost"] / total if total else np.nan
    return table[
        [*keys, "pipelines", "pipeline_share", "executions", "cost", "cost_share"]
    ].sort_values(["cost", *keys], ascending=[False] + [True] * len(keys), ignore_index=True)


def graphlet_topology(store: Source, scope: Scope = ALL) -> pd.DataFrame:
    """The size and shape of each graphlet.

    Returns:
        One row per graphlet: pipeline, graphlet_id, outcome, n_executions, n_artifacts
        (counts) and depth (executions on the longest path inside the graphlet).
    """
    gr = graphlet_frame(store, scope, "seconds")
    return gr[["pipeline", "graphlet_id", "outcome", "n_executions", "n_artifacts", "depth"]]


def input_windows(store: Source, scope: Scope = ALL) -> pd.DataFrame:
    """How much input data each graphlet reads, and how much it shares with the previous one.

    Returns:
        One row per graphlet: pipeline, graphlet_id, train_time, window_size (distinct input
        spans), span_overlap (share of its spans the previous graphlet of the pipeline also
        read, 0-1; NaN for a pipeline's first graphlet) and new_spans (spans the previous
        graphlet did not read).
    """
    gr = graphlet_frame(store, scope, "seconds")
    out = gr[["pipeline", "graphlet_id", "train_time", "window_size", "span_overlap"]].copy()
    out["new_spans"] = (out["window_size"] * (1.0 - out["span_overlap"].astype(float))).round()
    return out.reset_index(drop=True)


def execution_states(store: Source, scope: Scope = ALL, *, unit: str | None = None) -> pd.DataFrame:
    """How executions ended: complete, cached (cache hits), failed, running, ...

    Returns:
        One row per state, most executions first: state, executions, share (of executions),
        cost (in the cost unit; cache hits cost nothing).
    """
    ex = execution_frame(store, scope, cost_unit(store, scope, unit))
    table = (
        ex.groupby("state")
        .agg(executions=("execution_id", "size"), cost=("cost", "sum"))
        .reset_index()
    )
    table["share"] = table["executions"] / max(len(ex), 1)
    return table[["state", "executions", "share", "cost"]].sort_values(
        ["executions", "state"], ascending=[False, True], ignore_index=True
    )


@dataclass(frozen=True, repr=False)  # Readable's table instead
class Characterization(Readable):
    """Medians and shares that summarize the characterization of one scope.

    Attributes:
        pipelines: pipelines with executions in scope.
        graphlets: graphlets trained in scope.
        median_lifespan_days: median pipeline lifespan, days.
        median_graphlets_per_day: median over pipelines of graphlets per day of lifespan.
        median_gap_hours: median hours between consecutive trainings of a pipeline.
        median_graphlet_executions: median executions per graphlet.
        median_graphlet_depth: median longest execution path per graphlet.
        median_window_spans: median distinct input spans per graphlet.
        mean_span_overlap: mean share of a graphlet's spans its predecessor also read (0-1).
        cached_share: cache hits / executions.
        failed_share: failed executions / executions.
    """

    pipelines: int
    graphlets: int
    median_lifespan_days: float
    median_graphlets_per_day: float
    median_gap_hours: float
    median_graphlet_executions: float
    median_graphlet_depth: float
    median_window_spans: float
    mean_span_overlap: float
    cached_share: float
    failed_share: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def characterization_summary(store: Source, scope: Scope = ALL) -> Characterization:
    """The headline numbers of the characterization (see :class:`Characterization`)."""
    cadence = training_cadence(store, scope)
    gaps = training_gaps(store, scope)
    topo = graphlet_topology(store, scope)
    windows = input_windows(store, scope)
    states = execution_states(store, scope).set_index("state")["executions"]
    executions = int(states.sum())
    return Characterization(
        pipelines=len(cadence),
        graphlets=len(topo),
        median_lifespan_days=_median(cadence["lifespan_days"]),
        median_graphlets_per_day=_median(cadence["graphlets_per_day"]),
        median_gap_hours=_median(gaps["gap_hours"]),
        median_graphlet_executions=_median(topo["n_executions"]),
        median_graphlet_depth=_median(topo["depth"]),
        median_window_spans=_median(windows["window_size"]),
        mean_span_overlap=float(windows["span_overlap"].astype(float).mean())
        if windows["span_overlap"].notna().any()
        else float("nan"),
        cached_share=share(int(states.get("CACHED", 0)), executions),
        failed_share=share(int(states.get("FAILED", 0)), executions),
    )


def _median(values: pd.Series) -> float:
    values = values.dropna().astype(float)
    return float(values.median()) if len(values) else float("nan")

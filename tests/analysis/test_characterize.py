"""Characterization figures on the committed TFX fixture, computed by hand."""

from __future__ import annotations

import pytest

from mlprov.analysis.characterize import (
    characterization_summary,
    component_usage,
    execution_states,
    graphlet_topology,
    input_windows,
    model_types,
    pipeline_lifespans,
    training_cadence,
    training_gaps,
)
from mlprov.provenance.store import ProvenanceStore


def test_lifespans(tfx: ProvenanceStore) -> None:
    life = pipeline_lifespans(tfx).set_index("pipeline")
    # taxi: 2025-01-06 00:00 to run 3's failed trainer end, 2025-01-08 00:16.
    assert life.loc["taxi", "lifespan_days"] == pytest.approx(2 + 16 / 1440)
    assert life.loc["churn", "lifespan_days"] == pytest.approx(21 / 1440)
    assert life["executions"].to_dict() == {"taxi": 18, "churn": 2}


def test_cadence_and_gaps(tfx: ProvenanceStore) -> None:
    gaps = training_gaps(tfx)
    # Trainers of taxi start at day 0 00:55, day 1 00:45 and day 2 00:11.
    assert gaps["graphlet_id"].tolist() == [14, 18]
    assert gaps["gap_hours"].tolist() == pytest.approx([24 - 10 / 60, 24 - 34 / 60])
    cadence = training_cadence(tfx).set_index("pipeline")
    assert cadence.loc["taxi", "graphlets"] == 3
    assert cadence.loc["taxi", "graphlets_per_day"] == pytest.approx(3 / (2 + 16 / 1440))
    assert cadence.loc["taxi", "max_gap_hours"] == pytest.approx(24 - 10 / 60)
    assert cadence.loc["churn", "graphlets"] == 1


def test_usage_and_compute_share(tfx: ProvenanceStore) -> None:
    usage = component_usage(tfx).set_index("category")
    assert usage["cost_share"].sum() == pytest.approx(1.0)
    assert usage.loc["train", "cost"] == 3600 + 3000 + 300 + 600
    assert usage.loc["train", "pipeline_share"] == 1.0  # both pipelines train
    assert usage.loc["transform", "pipeline_share"] == 0.5  # only taxi
    by_component = component_usage(tfx, by="component")
    assert by_component["cost_share"].sum() == pytest.approx(1.0)
    assert by_component.set_index("component").loc["SchemaGen", "executions"] == 2


def test_states_topology_windows(tfx: ProvenanceStore) -> None:
    states = execution_states(tfx).set_index("state")
    assert states["executions"].to_dict() == {
        "COMPLETE": 17,
        "CACHED": 1,
        "FAILED": 1,
        "RUNNING": 1,
    }
    topo = graphlet_topology(tfx).set_index("graphlet_id")
    assert topo["n_executions"].to_dict() == {6: 8, 14: 11, 18: 2, 20: 2}
    windows = input_windows(tfx).set_index("graphlet_id")
    assert windows.loc[14, "window_size"] == 2  # spans 1 and 2
    assert windows.loc[14, "span_overlap"] == 0.5
    assert windows.loc[14, "new_spans"] == 1
    assert model_types(tfx)["model_type"].tolist() == ["unrecorded"]


def test_summary(tfx: ProvenanceStore) -> None:
    c = characterization_summary(tfx)
    assert (c.pipelines, c.graphlets) == (2, 4)
    assert c.cached_share == c.failed_share == 1 / 20
    assert c.median_graphlet_executions == 5.0  # of 8, 11, 2, 2


def test_sample_model_types(sample: ProvenanceStore) -> None:
    # sample_data/README.md: dnn 130, boosted_trees 49, linear 15.
    types = model_types(sample).set_index("model_type")["graphlets"].to_dict()
    assert types == {"dnn": 130, "boosted_trees": 49, "linear": 15}

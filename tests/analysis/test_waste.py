"""Exact waste figures on small genuine MLMD stores, computed by hand from the stores' shape."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from mlprov.analysis.frames import Scope
from mlprov.analysis.waste import (
    graphlet_outcomes,
    waste_by_category,
    waste_by_pipeline,
    waste_by_week,
    waste_summary,
)
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES

# tests/fixtures/stores.py, build_tfx: every execution lasts 10 minutes (600 s) except Trainer 1
# (3600 s), Trainer 2 (3000 s), the failed Trainer 3 (300 s) and the Resolver (0 s); the cached
# SchemaGen (execution 11) costs nothing. Graphlets (study.md's definition):
#   G6  (pushed)    executions 1-8: ExampleGen, StatisticsGen, SchemaGen, Transform, Trainer,
#                   Evaluator, Pusher of run 1 and the ExampleValidator as a side branch.
#   G14 (unpushed)  1-4 (run 1's data: span 1 is in its window) and 9-12, 14-16 of run 2.
#   G18 (unpushed)  17-18: run 3's ExampleGen and failed Trainer.
#   G20 (in flight) 19-20: churn's ExampleGen and running Trainer.
#   orphan          13: the Resolver.
TOTAL = 5 * 600 + 3600 + 2 * 600 + 2 * 600 + 0 + 600 + 0 + 3000 + 2 * 600 + 600 + 300 + 2 * 600
DEPLOYED = 4 * 600 + 600 + 3600 + 2 * 600  # executions 1-8
IN_FLIGHT = 2 * 600  # 19, 20
WASTED = TOTAL - DEPLOYED - IN_FLIGHT


def test_tfx_fixture_headline(tfx: ProvenanceStore) -> None:
    w = waste_summary(tfx)
    assert (TOTAL, DEPLOYED, WASTED) == (15_900, 7_800, 6_900)
    assert w.cost_unit == "seconds"
    assert w.total_cost == TOTAL
    assert w.deployed_cost == DEPLOYED
    assert w.wasted_cost == WASTED
    assert w.wasted_share == pytest.approx(6_900 / 15_900)
    assert w.in_flight_cost == IN_FLIGHT
    assert (w.orphan_executions, w.orphan_cost) == (1, 0.0)
    assert (w.graphlets, w.pushed_graphlets, w.unpushed_graphlets, w.in_flight_graphlets) == (
        4,
        1,
        2,
        1,
    )
    assert w.unpushed_share == pytest.approx(2 / 3)  # in-flight graphlets left out
    # Split costs: executions 1-4 are shared by G6 and G14 (half of 2,400 s each).
    g6 = 1_200 + 600 + 3_600 + 1_200
    g14 = 1_200 + 3 * 600 + 0 + 3_000 + 1_200
    g18, g20 = 900, 1_200
    assert w.unpushed_split_cost == g14 + g18 == 8_100
    assert w.graphlet_split_cost == g6 + g14 + g18 + g20 == TOTAL  # no orphan cost here
    assert (w.executions, w.pipelines, w.other_unit_executions) == (20, 2, 0)
    assert w.first_start == datetime(2025, 1, 6)


def test_tfx_fixture_outcomes(tfx: ProvenanceStore) -> None:
    g = graphlet_outcomes(tfx).set_index("graphlet_id")
    assert g["outcome"].to_dict() == {6: "pushed", 14: "unpushed", 18: "unpushed", 20: "in_flight"}
    assert g["split_cost"].to_dict() == {6: 6_600.0, 14: 7_200.0, 18: 900.0, 20: 1_200.0}


def test_mixed_units_are_left_out_not_added(tfx_cpu: ProvenanceStore) -> None:
    # Only ExampleGen 1 (1.5), Trainer 6 (8.0) and Trainer 14 (7.0) record cpu_hours; the 15
    # other executions with a non-zero duration are counted apart, never added as seconds.
    w = waste_summary(tfx_cpu)
    assert w.cost_unit == "cpu_hours"
    assert (w.total_cost, w.deployed_cost, w.wasted_cost) == (16.5, 9.5, 7.0)
    assert w.other_unit_executions == 15
    seconds = waste_summary(tfx_cpu, unit="seconds")
    assert seconds.total_cost == TOTAL - 600 - 3600 - 3000
    assert seconds.other_unit_executions == 3


def test_two_pipelines_headline(two_pipelines: ProvenanceStore) -> None:
    w = waste_summary(two_pipelines)
    assert w.cost_unit == "cpu_hours"
    total = 2 + 10 + 1 + 3 + 12 + 1 + 4 + 5 + 6
    deployed = 2 + 10 + 1
    assert (w.total_cost, w.deployed_cost) == (total, deployed)
    assert w.wasted_cost == total - deployed == 31
    assert w.wasted_share == pytest.approx(31 / 44)
    assert (w.orphan_executions, w.orphan_cost, w.orphan_share) == (1, 4.0, 4 / 44)
    assert w.in_flight_cost == 0
    assert w.unpushed_share == pytest.approx(2 / 3)
    # ExampleGen 1 is shared by both graphlets of a: 1 each. a1 = 1+10+1, a2 = 1+3+12+1,
    # b1 = 5+6; they add up to everything but the orphan.
    assert w.unpushed_split_cost == 17 + 11
    assert w.graphlet_split_cost == 12 + 17 + 11 == total - 4


def test_two_pipelines_breakdowns(two_pipelines: ProvenanceStore) -> None:
    by_pipeline = waste_by_pipeline(two_pipelines)
    assert by_pipeline[["pipeline", "total_cost", "wasted_cost", "orphan_cost"]].to_dict(
        "records"
    ) == [
        {"pipeline": "a", "total_cost": 33.0, "wasted_cost": 20.0, "orphan_cost": 4.0},
        {"pipeline": "b", "total_cost": 11.0, "wasted_cost": 11.0, "orphan_cost": 0.0},
    ]
    assert by_pipeline["unpushed_share"].tolist() == [0.5, 1.0]
    assert waste_by_pipeline(two_pipelines, top=1)["pipeline"].tolist() == ["a"]

    weeks = waste_by_week(two_pipelines)
    assert weeks["week"].tolist() == [pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-13")]
    assert weeks["total_cost"].tolist() == [33.0, 11.0]
    assert weeks["wasted_cost"].tolist() == [20.0, 11.0]

    cats = waste_by_category(two_pipelines).set_index("category")
    assert cats.loc["train", "total_cost"] == 28 and cats.loc["train", "wasted_cost"] == 18
    assert cats.loc["ingest", "total_cost"] == 14 and cats.loc["ingest", "wasted_cost"] == 12
    assert cats["share_of_total"].sum() == pytest.approx(1.0)
    assert cats["share_of_waste"].sum() == pytest.approx(1.0)
    components = waste_by_category(two_pipelines, by="component")
    assert set(components["component"]) == {"CsvExampleGen", "Trainer", "Pusher"}


def test_scope_filters(two_pipelines: ProvenanceStore) -> None:
    day1 = datetime(2025, 1, 7)
    later = waste_summary(two_pipelines, Scope.of(since=day1))
    assert later.total_cost == 3 + 12 + 1 + 4 + 5 + 6
    assert later.wasted_share == 1.0
    assert (later.graphlets, later.unpushed_graphlets) == (2, 2)
    # An aware datetime means the same instant.
    aware = waste_summary(
        two_pipelines, Scope.of(since=day1.replace(tzinfo=timezone.utc) + timedelta(hours=0))
    )
    assert aware == later
    before = waste_summary(two_pipelines, Scope.of(until=day1))
    assert (before.total_cost, before.wasted_cost, before.graphlets) == (13.0, 0.0, 1)
    only_a = waste_summary(two_pipelines, Scope.of(pipelines=["a"]))
    assert (only_a.total_cost, only_a.wasted_cost, only_a.pipelines) == (33.0, 20.0, 1)
    nothing = waste_summary(two_pipelines, Scope.of(pipelines=["nope"]))
    assert nothing.executions == 0 and nothing.total_cost == 0
    assert nothing.wasted_share != nothing.wasted_share  # NaN, not a quiet 0%


def test_since_must_precede_until(tfx: ProvenanceStore) -> None:
    with pytest.raises(ValueError, match="must be before until"):
        Scope.of(since=datetime(2025, 2, 1), until=datetime(2025, 1, 1))


def test_waste_builds_missing_graphlets() -> None:  # refusals: tests/graphlets/test_current.py
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(FIXTURES / "tfx_small.sqlite"))
        assert waste_summary(store).graphlets == 4


def test_unknown_breakdown(tfx: ProvenanceStore) -> None:
    with pytest.raises(ValueError, match="by must be 'category' or 'component', got 'node'"):
        waste_by_category(tfx, by="node")

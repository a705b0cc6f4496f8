"""Invariants over generated stores: wasted <= total, shares add up, ingest order is irrelevant."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlprov.analysis.characterize import component_usage
from mlprov.analysis.waste import waste_by_category, waste_by_pipeline, waste_summary
from mlprov.graphlets import build_graphlets
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.generator import SynthConfig, generate
from tests.analysis.conftest import CPU, built

configs = st.builds(
    SynthConfig, pipelines=st.integers(1, 3), days=st.integers(2, 10), seed=st.integers(0, 10_000)
)


def _generate(config: SynthConfig, folder: Path) -> Path:
    path = folder / f"s{config.seed}-{config.pipelines}-{config.days}.sqlite"
    if not path.exists():
        generate(config, path, writer="bulk")
    return path


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(config=configs, unit=st.sampled_from([None, "seconds"]))
def test_waste_invariants(tmp_path: Path, config: SynthConfig, unit: str | None) -> None:
    with built(_generate(config, tmp_path), CPU) as store:
        w = waste_summary(store, unit=unit)
        assert 0 <= w.orphan_cost <= w.wasted_cost <= w.total_cost
        assert w.deployed_cost + w.wasted_cost + w.in_flight_cost == pytest.approx(w.total_cost)
        assert w.graphlet_split_cost == pytest.approx(w.total_cost - w.orphan_cost)
        assert w.pushed_graphlets + w.unpushed_graphlets + w.in_flight_graphlets == w.graphlets
        if w.total_cost:
            assert 0 <= w.wasted_share <= 1
            for table in (
                waste_by_category(store, unit=unit),
                waste_by_category(store, unit=unit, by="component"),
                waste_by_pipeline(store, unit=unit),
            ):
                assert table["share_of_total"].sum() == pytest.approx(1.0)
                assert table["wasted_cost"].sum() == pytest.approx(w.wasted_cost)
            assert component_usage(store, unit=unit)["cost_share"].sum() == pytest.approx(1.0)


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=configs, second=configs)
def test_independent_of_ingest_order(
    tmp_path: Path, first: SynthConfig, second: SynthConfig
) -> None:
    paths = [_generate(first, tmp_path), _generate(second, tmp_path)]
    if paths[0] == paths[1]:
        return
    summaries = []
    for order in (paths, paths[::-1]):
        with ProvenanceStore.open(":memory:") as store:
            for path in order:
                ingest(store, str(path), mapping=CPU)
            build_graphlets(store)
            summaries.append(waste_summary(store).to_dict())
    a, b = summaries
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], float) and not math.isnan(a[key]):
            assert a[key] == pytest.approx(b[key], rel=1e-12), key
        elif isinstance(a[key], float):
            assert math.isnan(b[key]), key
        else:
            assert a[key] == b[key], key

"""Shared frames: analyses given one :class:`Frames` give what they give alone, reading each
frame once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import pytest

from mlprov.analysis import characterize, reuse, waste
from mlprov.analysis.frames import ALL, Frames, query
from mlprov.provenance.store import ProvenanceStore

ANALYSES: list[Callable[..., Any]] = [
    waste.waste_summary,
    waste.waste_by_pipeline,
    waste.waste_by_category,
    waste.waste_by_week,
    waste.graphlet_outcomes,
    characterize.pipeline_lifespans,
    characterize.training_gaps,
    characterize.training_cadence,
    characterize.model_types,
    characterize.component_usage,
    characterize.graphlet_topology,
    characterize.input_windows,
    characterize.execution_states,
    characterize.characterization_summary,
    reuse.recomputed_work,
    reuse.cache_savings,
    reuse.reuse_summary,
]


def _same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    else:
        assert repr(a) == repr(b)  # dataclasses holding NaN: compare their text


@pytest.mark.parametrize("unit", [None, "cpu_hours"])
def test_shared_frames_change_nothing(tfx_cpu: ProvenanceStore, unit: str | None) -> None:
    def kwargs(f: Callable[..., Any]) -> dict[str, Any]:
        return {"unit": unit} if "unit" in f.__code__.co_varnames else {}

    alone = [f(tfx_cpu, **kwargs(f)) for f in ANALYSES]
    frames = Frames(tfx_cpu)
    for _ in range(2):  # twice each: a later analysis must not see what an earlier changed
        for f, expected in zip(ANALYSES, alone, strict=True):
            _same(f(frames, **kwargs(f)), expected)
    # read once each: the cost units, the executions, the graphlets in the cost unit and in
    # seconds (for counts), and the two reuse queries
    assert len(frames) == 6


def test_frames_read_each_query_once(tfx_cpu: ProvenanceStore) -> None:
    frames, params = Frames(tfx_cpu), ALL.params()
    sql = (
        "SELECT count(*) AS n FROM executions "
        "WHERE in_scope(start_time, NULL, $since, $until, NULL)"
    )
    shared = query(frames, sql, params)
    assert query(frames, sql, params) is shared and len(frames) == 1
    assert query(frames, sql, {**params, "until": datetime(2000, 1, 1)}) is not shared
    alone = query(tfx_cpu, sql, params)  # a store: read each time, nothing kept
    assert alone is not query(tfx_cpu, sql, params) and alone.equals(shared)
    assert len(Frames(tfx_cpu)) == 0 and len(frames) == 2

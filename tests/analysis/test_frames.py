"""Shared frames: analyses run inside :func:`shared_frames` give what they give alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from analysis import characterize, reuse, waste
from analysis.frames import shared_frames
from provenance.store import ProvenanceStore

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
    with shared_frames():  # twice each: a later analysis must not see what an earlier changed
        for _ in range(2):
            for f, expected in zip(ANALYSES, alone, strict=True):
                _same(f(tfx_cpu, **kwargs(f)), expected)

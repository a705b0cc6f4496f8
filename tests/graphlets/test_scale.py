"""Opt-in scale check (``pytest -m slow``): a generated multi-pipeline store, built in batches,
matches its ground truth; prints build time and peak memory."""

from __future__ import annotations

import resource
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from mlprov.graphlets import build_graphlets
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.generator import PRESETS, generate, truth_path


@pytest.mark.slow
def test_generated_store_at_scale(tmp_path: Path) -> None:
    config = replace(PRESETS["paper"], pipelines=100)
    result = generate(config, tmp_path / "paper100.sqlite", writer="bulk")
    with ProvenanceStore.open(tmp_path / "prov.duckdb") as store:
        ingest(store, str(result.path))
        started = time.perf_counter()
        report = build_graphlets(store, batch_executions=50_000)
        seconds = time.perf_counter() - started
        got = store.df("SELECT graphlet_id, deployed FROM graphlets")
    truth = pd.read_parquet(truth_path(result.path))
    both = truth.merge(got, left_on="trainer_execution_id", right_on="graphlet_id")
    assert len(both) == len(truth) == report.graphlets
    assert (both["deployed"] == both["pushed"]).all()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{report.graphlets:,} graphlets in {seconds:.1f} s, peak RSS {peak:,.0f} MB")

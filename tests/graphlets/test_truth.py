"""On the corpus generator's stores, deployed flags equal the ground-truth sidecar exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from mlprov.graphlets import build_graphlets, list_graphlets
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.generator import PRESETS, generate, truth_path
from tests.graphlets.reference import assert_matches_reference

SAMPLE = Path(__file__).parent.parent.parent / "sample_data" / "tfx_sample.sqlite"


def check_truth(store_path: Path) -> pd.DataFrame:
    """Build the graphlets of a generated store and compare them with its truth table."""
    truth = pd.read_parquet(truth_path(store_path))
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(store_path))
        report = build_graphlets(store)
        got = list_graphlets(store).merge(
            store.df("SELECT graphlet_id, input_spans FROM graphlets"), on="graphlet_id"
        )
        assert_matches_reference(store)
    both = truth.merge(
        got, left_on="trainer_execution_id", right_on="graphlet_id", how="outer", indicator=True
    )
    assert (both["_merge"] == "both").all(), "every training execution anchors one graphlet"
    assert report.graphlets == len(truth)
    assert (both["deployed"] == both["pushed"]).all()
    # in flight = the trainer is still running; the truth also calls a finished trainer whose
    # evaluation the window cut off "in_flight", and such a graphlet is simply not deployed
    assert both.loc[both["in_flight"], "cause"].eq("in_flight").all()
    cut = both["cause"].eq("in_flight") & ~both["in_flight"]
    assert both.loc[cut, "trainer_state"].eq("COMPLETE").all()
    assert (both["model_type_x"] == both["model_type_y"]).all()
    # the window the simulator trained on is exactly the Examples on the trainer's data path
    assert [list(s) for s in both["window_spans"]] == [list(s) for s in both["input_spans"]]
    return both


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample_data/tfx_sample.sqlite not present")
def test_committed_sample_matches_truth() -> None:
    both = check_truth(SAMPLE)
    assert 0 < both["deployed"].sum() < len(both)


def test_bulk_generated_store_matches_truth(tmp_path: Path) -> None:
    config = replace(
        PRESETS["sample"],
        pipelines=6,
        days=45,
        seed=11,
        cadence_hours=(6.0, 24.0),
        cadence_weights=(0.5, 0.5),
    )
    result = generate(config, tmp_path / "gen.sqlite", writer="bulk")
    both = check_truth(result.path)
    assert len(both) == result.trainers > 20

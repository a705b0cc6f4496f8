"""On generator stores, graphlet outcomes match the ground-truth sidecar exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlprov.analysis.waste import graphlet_outcomes, waste_by_pipeline, waste_summary
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.generator import SynthConfig, generate, truth_path
from tests.analysis.conftest import CPU, SAMPLE, built


def check_against_truth(store: ProvenanceStore, truth: pd.DataFrame) -> None:
    outcomes = graphlet_outcomes(store).set_index("trainer_execution_id")
    truth = truth.set_index("trainer_execution_id")
    assert sorted(outcomes.index) == sorted(truth.index)  # one graphlet per trainer
    in_flight = outcomes.index[outcomes["outcome"] == "in_flight"]
    assert (truth.loc[in_flight, "cause"] == "in_flight").all()
    finished = truth.drop(index=in_flight)
    assert (outcomes.loc[finished.index, "outcome"] == "pushed").tolist() == (
        finished["pushed"].tolist()
    )
    w = waste_summary(store)
    assert w.unpushed_share == (~finished["pushed"]).sum() / len(finished)
    assert w.in_flight_graphlets == len(in_flight)
    per_pipeline = waste_by_pipeline(store).set_index("pipeline")["unpushed_graphlets"]
    expected = (~finished["pushed"]).groupby(finished["pipeline"]).sum()
    assert per_pipeline.loc[expected.index].tolist() == expected.tolist()


def test_sample_store_matches_truth(sample: ProvenanceStore) -> None:
    truth = pd.read_parquet(truth_path(SAMPLE))
    check_against_truth(sample, truth)
    assert waste_summary(sample).unpushed_graphlets == 64  # sample_data/README.md


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_store_matches_truth(tmp_path: Path, seed: int) -> None:
    result = generate(
        SynthConfig(pipelines=3, days=15, seed=seed), tmp_path / "s.sqlite", writer="bulk"
    )
    with built(result.path, CPU) as store:
        check_against_truth(store, pd.read_parquet(result.truth_path))

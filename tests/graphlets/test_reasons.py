"""Why a graphlet did not push: the ``reason`` and ``blessed`` columns, from the provenance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mlprov.graphlets import REASONS, build_graphlets, load_graphlet
from mlprov.graphlets.display import decision_evidence, graphlet_tree
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from tests.graphlets.scenarios import Ids

EXPECTED = {  # scenario run -> (reason, blessed)
    "pushed": ("pushed", True),
    "not_blessed": ("not_blessed", False),
    "infra_rejected": ("not_blessed", False),  # the Evaluator blessed, InfraValidator did not
    "trainer_failed": ("trainer_failed", None),
    "in_flight": ("in_flight", None),
    "cut_before_evaluation": ("cut_before_evaluation", None),
    "evaluation_failed": ("cut_before_evaluation", None),
    "push_failed": ("push_failed", True),
    "push_skipped": ("push_skipped", True),
}


def test_every_reason(scenario_path: Callable[[str], tuple[Path, Ids]]) -> None:
    path, ids = scenario_path("outcomes")
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(path))
        build_graphlets(store)
        rows = store.df("SELECT graphlet_id, reason, blessed, deployed FROM graphlets")
        got = {
            r.graphlet_id: (
                r.reason,
                None if pd.isna(r.blessed) else bool(r.blessed),
            )
            for r in rows.itertuples()
        }
        assert got == {ids.x[name]: want for name, want in EXPECTED.items()}
        assert set(rows["reason"]) <= set(REASONS)
        assert (rows["reason"] == "pushed").equals(rows["deployed"])

        evidence = decision_evidence(load_graphlet(store, ids.x["infra_rejected"]))
        assert any("InfraBlessing" in e and "blessed=0" in e for e in evidence), evidence
        assert any("ModelBlessing" in e and "blessed=1" in e for e in evidence), evidence
        skipped = load_graphlet(store, ids.x["push_skipped"])
        assert "no push step (Pusher) in the graphlet" in decision_evidence(skipped)
        tree = graphlet_tree(load_graphlet(store, ids.x["push_failed"]))
        assert "not deployed: blessed, but the push failed" in tree
        assert "Pusher #" in tree.split("deploy decision")[1] and "FAILED" in tree

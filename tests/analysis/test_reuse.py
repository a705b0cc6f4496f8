"""Recomputed upstream work and cache savings, by hand on the committed TFX fixture."""

from __future__ import annotations

from mlprov.analysis.reuse import cache_savings, recomputed_work, reuse_summary
from mlprov.provenance.store import ProvenanceStore


def test_transform_rereads_span_one(tfx: ProvenanceStore) -> None:
    # Run 2's Transform (execution 12, 600 s) reads spans 1 and 2; run 1's Transform already
    # read span 1, so half of it is recomputation. StatisticsGen reads only new spans.
    work = recomputed_work(tfx).set_index("execution_id")
    assert work.loc[12, ["spans", "seen_spans", "recomputed_cost"]].tolist() == [2, 1, 300.0]
    assert work.drop(index=12)["recomputed_cost"].sum() == 0
    assert set(work["category"]) == {"data_validation", "transform"}
    assert recomputed_work(tfx, categories=["train"])["spans"].sum() > 0


def test_cache_hit_costed_as_original(tfx: ProvenanceStore) -> None:
    # The cached SchemaGen of run 2 re-published run 1's schema (execution 3, 600 s).
    hits = cache_savings(tfx)
    assert hits[["execution_id", "originals", "saved_cost"]].to_dict("records") == [
        {"execution_id": 11, "originals": 1, "saved_cost": 600.0}
    ]
    summary = reuse_summary(tfx)
    assert (summary.recomputed_cost, summary.cache_saved_cost, summary.cache_hits) == (
        300.0,
        600.0,
        1,
    )
    assert summary.recomputed_share == 300 / 15_900


def test_sample_reuse_is_positive(sample: ProvenanceStore) -> None:
    summary = reuse_summary(sample)
    assert summary.cost_unit == "cpu_hours"
    assert 0 < summary.recomputed_cost < summary.total_cost
    assert summary.cache_hits == 10  # sample_data/README.md: CACHED 10

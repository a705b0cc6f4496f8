"""The set-at-a-time builder agrees with the node-at-a-time reference, and invariants hold.

Random TFX-shaped pipelines (hypothesis) are written through the ml-metadata client; random
rule switches are drawn with them. The generator's committed sample store is checked too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlprov.graphlets import GraphletRules, build_graphlets
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from tests.fixtures.stores import EVALUATOR, RESOLVER, TRAINER, TRANSFORM
from tests.graphlets.reference import assert_matches_reference
from tests.graphlets.scenarios import TUNER, Story, write

SAMPLE = Path(__file__).parent.parent.parent / "sample_data" / "tfx_sample.sqlite"


@dataclass(frozen=True)
class RunSpec:
    """One run of a random pipeline: which TFX nodes run, and how they end."""

    window: int
    validator: bool
    schema_cached: bool
    transform: bool
    tuner: str  # none, new, reuse
    warm: bool
    trainer: str  # COMPLETE, FAILED, RUNNING, or SKIP (the run fails before training)
    evaluator: str  # none, ok, failed_then_retry
    baseline: bool
    pushed: int  # -1: no Pusher
    keyless: bool


runs = st.builds(
    RunSpec,
    window=st.integers(1, 3),
    validator=st.booleans(),
    schema_cached=st.booleans(),
    transform=st.booleans(),
    tuner=st.sampled_from(["none", "none", "new", "reuse"]),
    warm=st.booleans(),
    trainer=st.sampled_from(["COMPLETE"] * 5 + ["FAILED", "RUNNING", "SKIP"]),
    evaluator=st.sampled_from(["ok", "ok", "none", "failed_then_retry"]),
    baseline=st.booleans(),
    pushed=st.sampled_from([1, 1, 0, -1]),
    keyless=st.sampled_from([False, False, False, True]),
)

rule_sets = st.builds(
    GraphletRules,
    stop_at_warm_start_models=st.booleans(),
    expand_through_resolvers=st.booleans(),
    follow_cached_to_original_producer=st.booleans(),
    causal_producers=st.booleans(),
    excluded_keys=st.sampled_from([("baseline_model",), ()]),
    exclude_other_trainers=st.booleans(),
    newest_model_rule_without_keys=st.booleans(),
    include_side_branches=st.booleans(),
    deploy_on_complete=st.booleans(),
)


def write_random(s: Story, specs: list[RunSpec]) -> None:
    """Write one pipeline whose k-th run follows ``specs[k]``."""
    examples: dict[int, int] = {}
    first_schema: int | None = None
    last_model: int | None = None
    hp: int | None = None
    for k, spec in enumerate(specs, start=1):
        r = s.run()
        d = s.data(r, k, validator=spec.validator)
        examples[k] = d["examples"]
        schema = d["schema"]
        if spec.schema_cached and first_schema is not None:
            s.node(
                r,
                f"schema_cached{k}",
                "tfx.components.schema_gen.component.SchemaGen",
                state="CACHED",
                inputs={"statistics": [d["statistics"]]},
                outputs={"schema": [first_schema]},
            )
            schema = first_schema
        first_schema = first_schema or d["schema"]
        if spec.trainer == "SKIP":
            s.node(
                r,
                f"transform_failed{k}",
                TRANSFORM,
                state="FAILED",
                inputs={"examples": [d["examples"]], "schema": [schema]},
            )
            continue
        window = [examples[j] for j in range(k - spec.window + 1, k + 1) if j in examples]
        tin: dict[str, list[int]] = {"examples": window, "schema": [schema]}
        if spec.transform:
            tf = s.node(
                r,
                f"transform{k}",
                TRANSFORM,
                inputs={"examples": window, "schema": [schema]},
                outputs={
                    "transform_graph": [s.new("TransformGraph")],
                    "transformed_examples": [s.new("Examples", span=k)],
                },
            )
            tin = {
                "examples": [tf["transformed_examples"]],
                "transform_graph": [tf["transform_graph"]],
            }
        if spec.tuner == "new" or (spec.tuner == "reuse" and hp is None):
            hp = s.node(
                r,
                f"tuner{k}",
                TUNER,
                inputs=dict(tin),
                outputs={"best_hyperparameters": [s.new("HyperParameters")]},
            )["best_hyperparameters"]
        if spec.tuner != "none" and hp is not None:
            tin["hyperparameters"] = [hp]
        if spec.warm and last_model is not None:
            s.node(r, f"resolver{k}", RESOLVER, minutes=0, internal_outputs={"model": [last_model]})
            tin["base_model"] = [last_model]
        model = s.train(r, k, tin, state=spec.trainer)
        if model is None or spec.evaluator == "none":
            continue
        baseline = last_model if spec.baseline else None
        last_model = model
        if spec.evaluator == "failed_then_retry":
            s.node(r, f"evaluator_failed{k}", EVALUATOR, state="FAILED", inputs={"model": [model]})
            r = s.run()
            s.node(
                r,
                f"trainer_cached{k}",
                TRAINER,
                state="CACHED",
                inputs=tin,
                outputs={"model": [model]},
            )
        if spec.pushed < 0:
            s.node(
                r,
                f"evaluator{k}",
                EVALUATOR,
                inputs={"model": [model]},
                outputs={"blessing": [s.new("ModelBlessing", custom={"blessed": 1})]},
            )
            continue
        s.evaluate_push(r, k, model, spec.pushed, baseline=baseline, keyless=spec.keyless)


@pytest.mark.client
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(specs=st.lists(runs, min_size=1, max_size=4), rules=rule_sets)
def test_builder_agrees_with_reference(specs: list[RunSpec], rules: GraphletRules) -> None:
    pytest.importorskip("ml_metadata")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.sqlite"
        write(path, lambda s: write_random(s, specs))
        with ProvenanceStore.open(":memory:") as store:
            ingest(store, str(path))
            assert_matches_reference(store, rules)
            assert_matches_reference(store)
            check_invariants(store)


def check_invariants(store: ProvenanceStore) -> None:
    """Under the default rules: one graphlet per training execution; split costs add up."""
    build_graphlets(store, incremental=False)
    per_trainer = store.df(
        "SELECT x.execution_id, count(m.graphlet_id) AS n FROM executions x "
        "LEFT JOIN graphlet_members m ON m.source_id = x.source_id AND m.node_kind = 'execution' "
        "AND m.node_id = x.execution_id "
        "WHERE x.category = 'train' AND x.component <> 'Tuner' AND x.state <> 'CACHED' "
        "GROUP BY ALL"
    )
    assert (per_trainer.n == 1).all()
    anchors = store.df(
        "SELECT count(*) AS n FROM graphlets WHERE graphlet_id = trainer_execution_id"
    ).n[0]
    assert anchors == len(per_trainer)
    split, member_cost = store.con.execute(
        "SELECT (SELECT coalesce(sum(split_cost), 0) FROM graphlets), "
        "(SELECT coalesce(sum(c.cost), 0) FROM execution_costs c WHERE EXISTS ("
        "SELECT 1 FROM graphlet_members m WHERE m.source_id = c.source_id "
        "AND m.node_kind = 'execution' AND m.node_id = c.execution_id))"
    ).fetchall()[0]
    assert abs(split - member_cost) <= 1e-9 * max(1.0, member_cost)


@pytest.mark.parametrize(
    "name",
    [
        "rolling_window",
        "warm_start",
        "baseline_push",
        "cached_retry",
        "failures",
        "tuner",
        "structure_change",
        "keyless",
    ],
)
def test_scenarios_agree_with_reference(scenario_path: object, name: str) -> None:
    path, _ = scenario_path(name)  # type: ignore[operator]
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(path))
        assert assert_matches_reference(store) > 0
        check_invariants(store)


def test_committed_fixture_agrees_with_reference() -> None:
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(Path(__file__).parent.parent / "fixtures" / "tfx_small.sqlite"))
        assert assert_matches_reference(store) == 4
        for rules in (
            GraphletRules(causal_producers=False),
            GraphletRules(follow_cached_to_original_producer=False),
            GraphletRules(stop_at_warm_start_models=False, excluded_keys=()),
        ):
            assert_matches_reference(store, rules)
        check_invariants(store)

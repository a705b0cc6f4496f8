"""One test per boundary rule of study.md ("Model graphlet") and per switch, on genuine stores."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mlprov.graphlets import GraphletRules
from tests.graphlets.conftest import FIXTURES, Built

Scenario = Callable[[str], Built]
DATA = ("gen{k}", "stats{k}", "schema{k}")


def data(*spans: int, validator: bool = False) -> set[str]:
    names = {n.format(k=k) for k in spans for n in DATA}
    return names | ({f"validator{k}" for k in spans} if validator else set())


def chain(k: int) -> set[str]:
    return {f"trainer{k}", f"evaluator{k}", f"pusher{k}"}


def test_rolling_window_shares_example_gens(scenario: Scenario) -> None:
    b = scenario("rolling_window").build()
    assert b.executions("trainer1") == data(1, validator=True) | chain(1)
    # the window is spans 1-2: gen1 is shared; stats1 feeds trainer 1 (through schema1), so
    # it is no side branch of graphlet 2
    assert b.executions("trainer2") == {"gen1"} | data(2, validator=True) | chain(2)
    assert b.executions("trainer3") == {"gen2"} | data(3, validator=True) | chain(3)
    shared = b.store.df(
        "SELECT node_id, shared_by FROM graphlet_members WHERE node_kind = 'execution' "
        "AND node_id = ? GROUP BY ALL",
        [b.ids.x["gen2"]],
    )
    assert shared.shared_by.tolist() == [2]
    assert [b.row(f"trainer{k}")["input_spans"].tolist() for k in (1, 2, 3)] == [
        [1],
        [1, 2],
        [2, 3],
    ]
    assert [b.row(f"trainer{k}")["span_overlap"] for k in (2, 3)] == [0.5, 0.5]
    assert b.row("trainer2")["deployed"]
    roles = b.members("trainer2", "execution")
    assert roles[b.ids.x["validator2"]] == "side"
    assert roles[b.ids.x["trainer2"]] == "anchor"
    assert roles[b.ids.x["pusher2"]] == "downstream"


def test_warm_start_model_is_a_boundary(scenario: Scenario) -> None:
    b = scenario("warm_start").build()
    assert b.executions("trainer2") == data(2) | chain(2)
    artifacts = b.members("trainer2", "artifact")
    assert artifacts[b.ids.a["trainer1.model"]] == "boundary"
    # the Evaluator reads model 1 as baseline_model: not part of graphlet 1
    assert b.executions("trainer1") == data(1) | chain(1)
    assert "resolver2" not in b.executions("trainer1") | b.executions("trainer2")


def test_without_warm_start_stop_the_chain_is_swallowed(scenario: Scenario) -> None:
    b = scenario("warm_start").build(GraphletRules(stop_at_warm_start_models=False))
    # model 1 is now an ordinary upstream artifact: run 1's checks of it join as side branches
    assert b.executions("trainer2") == data(1, 2) | chain(1) | chain(2)
    assert b.members("trainer2", "execution")[b.ids.x["pusher1"]] == "side"
    b.build(GraphletRules(stop_at_warm_start_models=False, expand_through_resolvers=True))
    assert b.executions("trainer2") == data(1, 2) | chain(1) | chain(2) | {"resolver2"}


def test_baseline_model_consumer_stays_out(scenario: Scenario) -> None:
    b = scenario("baseline_push").build()
    assert b.executions("trainer1") == data(1) | chain(1)
    assert not b.row("trainer1")["deployed"]
    assert b.row("trainer2")["deployed"]
    # without the key rule, run 2's Evaluator and its push leak into graphlet 1
    b.build(GraphletRules(excluded_keys=()))
    assert b.executions("trainer1") == data(1) | chain(1) | {"evaluator2", "pusher2"}
    assert b.row("trainer1")["deployed"]


def test_cached_retry(scenario: Scenario) -> None:
    b = scenario("cached_retry").build()
    assert b.graphlet_names() == {"trainer1"}
    assert b.executions("trainer1") == data(1) | {"transform1", "evaluator_failed"} | chain(1)
    assert b.row("trainer1")["deployed"]
    # the cache hits ran after trainer 1 consumed the artifacts they re-publish
    b.build(GraphletRules(causal_producers=False))
    assert b.executions("trainer1") == (
        data(1) | {"transform1", "evaluator_failed"} | chain(1) | {"gen_cached", "transform_cached"}
    )


def test_cached_upstream_follows_original_producer() -> None:
    # tests/fixtures/tfx_small.sqlite, run 2: SchemaGen is a cache hit re-publishing run 1's
    # schema; trainer 2's graphlet holds both SchemaGens and both statistics chains.
    b = _small().build()
    assert set(b.members(14, "execution")) == {1, 2, 3, 4, 9, 10, 11, 12, 14, 15, 16}
    assert set(b.members(6, "execution")) == {1, 2, 3, 4, 5, 6, 7, 8}
    b.build(GraphletRules(follow_cached_to_original_producer=False))
    # the cache hit (11) stands for SchemaGen 1 (3), whose statistics chain (2) then drops out
    assert set(b.members(14, "execution")) == {1, 9, 10, 11, 12, 14, 15, 16}
    b.build(GraphletRules(causal_producers=False))
    # without causality, run 2's cache hit is upstream of run 1's Transform too
    assert set(b.members(6, "execution")) == {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}


def test_failures_running_and_unpushed(scenario: Scenario) -> None:
    b = scenario("failures").build()
    assert b.graphlet_names() == {"trainer2", "trainer3", "trainer4"}
    assert b.executions("trainer2") == data(2) | {"trainer2"}
    assert b.executions("trainer3") == data(3) | chain(3)
    assert b.executions("trainer4") == data(4) | {"trainer4"}
    rows = {k: b.row(k) for k in ("trainer2", "trainer3", "trainer4")}
    assert [r["deployed"] for r in rows.values()] == [False, False, False]
    assert [r["in_flight"] for r in rows.values()] == [False, False, True]
    assert [r["trainer_state"] for r in rows.values()] == ["FAILED", "COMPLETE", "RUNNING"]
    roles = b.members("trainer2", "execution")
    assert roles[b.ids.x["stats2"]] == roles[b.ids.x["schema2"]] == "side"
    # the run that failed before training is orphaned
    orphans = b.store.df(
        "SELECT execution_id FROM executions ANTI JOIN graphlet_members m "
        "ON m.node_kind = 'execution' AND m.node_id = execution_id"
    )
    assert b.ids.names(set(orphans.execution_id)) == data(1) | {"transform_failed"}
    # a deploy rule for sources without push records does not override pushed = 0
    b.build(GraphletRules(deploy_on_complete=True))
    assert not b.row("trainer3")["deployed"]


def test_without_side_branches(scenario: Scenario) -> None:
    b = scenario("failures").build(GraphletRules(include_side_branches=False))
    assert b.executions("trainer2") == {"gen2", "trainer2"}


def test_tuner_is_upstream_not_an_anchor(scenario: Scenario) -> None:
    b = scenario("tuner").build()
    assert b.graphlet_names() == {"trainer1", "trainer2"}
    assert b.executions("trainer1") == data(1) | {"tuner1"} | chain(1)
    # the tuner's data (span 1) comes along, with the checks that read only it
    assert b.executions("trainer2") == data(1, 2) | {"tuner1"} | chain(2)
    assert b.members("trainer2", "execution")[b.ids.x["tuner1"]] == "upstream"
    # the tuner's old window is not the trainer's window
    assert b.row("trainer2")["input_spans"].tolist() == [2]
    b.build(GraphletRules(non_anchor_components=()))
    assert b.graphlet_names() == {"tuner1", "trainer1", "trainer2"}
    assert b.executions("tuner1") == data(1) | {"tuner1"}
    assert b.executions("trainer2") == data(2) | chain(2)
    assert b.members("trainer2", "artifact")[b.ids.a["tuner1.best_hyperparameters"]] == "boundary"


def test_structure_change(scenario: Scenario) -> None:
    b = scenario("structure_change").build()
    assert b.executions("trainer1") == data(1) | {"transform1"} | chain(1)
    assert b.executions("trainer2") == data(2) | {"transform2"} | chain(2)
    assert b.executions("trainer3") == data(3) | {"infra3"} | chain(3)
    rows = [b.row(f"trainer{k}") for k in (1, 2, 3)]
    assert [r["deployed"] for r in rows] == [True, True, False]
    assert [r["model_type"] for r in rows] == ["dnn", "dnn", "linear"]
    assert [r["depth"] for r in rows] == [7, 7, 6]


def test_keyless_events_follow_the_newest_model(scenario: Scenario) -> None:
    b = scenario("keyless").build()
    keys = b.store.df(
        "SELECT DISTINCT key FROM events WHERE execution_id = ? AND direction = 'input'",
        [b.ids.x["evaluator2"]],
    )
    assert keys.key.isna().all()
    assert b.executions("trainer1") == data(1) | {"trainer1"}
    assert b.executions("trainer2") == data(2) | chain(2)
    assert not b.row("trainer1")["deployed"]
    b.build(GraphletRules(newest_model_rule_without_keys=False))
    assert b.executions("trainer1") == data(1) | {"trainer1", "evaluator2", "pusher2"}
    assert b.row("trainer1")["deployed"]


def test_other_trainers_enter_when_allowed(scenario: Scenario) -> None:
    b = scenario("warm_start").build(GraphletRules(exclude_other_trainers=False))
    # trainer 2 reads model 1 as base_model: graphlet 1 runs on into run 2's chain
    assert b.executions("trainer1") == data(1) | chain(1) | chain(2)


def test_kfp_deploy_rule() -> None:
    b = _open(FIXTURES / "kfp_small.sqlite").build()
    [row] = b.store.df("SELECT * FROM graphlets").to_dict("records")
    assert row["n_executions"] == 4 and not row["deployed"]
    b.build(GraphletRules(deploy_on_complete=True))
    [row] = b.store.df("SELECT * FROM graphlets").to_dict("records")
    assert row["deployed"]
    assert row["push_time"] == row["end_time"]


def test_tfx_small_summary() -> None:
    b = _small().build()
    rows = b.store.df(
        "SELECT graphlet_id, deployed, in_flight, trainer_state, push_time, "
        "n_executions, n_artifacts, depth FROM graphlets ORDER BY 1"
    )
    assert rows.graphlet_id.tolist() == [6, 14, 18, 20]
    assert rows.deployed.tolist() == [True, False, False, False]
    assert rows.in_flight.tolist() == [False, False, False, True]
    assert rows.n_executions.tolist() == [8, 11, 2, 2]
    assert rows.depth.tolist() == [7, 7, 2, 2]
    assert str(rows.push_time[0]) == "2025-01-06 02:17:00"
    # the Resolver is the only orphan
    assert b.members(14, "artifact")[7] == "boundary"


@pytest.mark.parametrize(
    "name",
    [
        "rolling_window",
        "warm_start",
        "cached_retry",
        "failures",
        "tuner",
        "structure_change",
        "keyless",
        "baseline_push",
    ],
)
def test_every_trainer_has_exactly_one_graphlet(scenario: Scenario, name: str) -> None:
    b = scenario(name).build()
    counts = b.store.df(
        "SELECT x.execution_id, count(m.graphlet_id) AS n FROM executions x "
        "LEFT JOIN graphlet_members m ON m.node_kind = 'execution' "
        "AND m.node_id = x.execution_id WHERE x.component = 'Trainer' AND x.state <> 'CACHED' "
        "GROUP BY ALL"
    )
    assert (counts.n == 1).all()


def _open(path: object) -> Built:
    from mlprov.provenance.ingest import ingest
    from mlprov.provenance.store import ProvenanceStore

    store = ProvenanceStore.open(":memory:")
    ingest(store, str(path))
    return Built(store)


def _small() -> Built:
    return _open(FIXTURES / "tfx_small.sqlite")

"""Building: idempotent, incremental per graphlet, restricted to pipelines; loading and views."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from mlprov.graphlets import (
    GraphletRules,
    build_graphlets,
    graphlet_summary,
    list_graphlets,
    load_graphlet,
    load_graphlets,
    to_networkx,
)
from mlprov.graphlets.display import graphlet_tree
from mlprov.graphlets.errors import (
    NotBuiltError,
    StaleGraphletsError,
    UnknownGraphletError,
    UnknownPipelineError,
)
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore

SMALL = Path(__file__).parent.parent / "fixtures" / "tfx_small.sqlite"


@pytest.fixture
def store() -> ProvenanceStore:
    s = ProvenanceStore.open(":memory:")
    ingest(s, str(SMALL))
    return s


def tables(store: ProvenanceStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    graphlets = store.df(
        "SELECT * EXCLUDE (input_spans), input_spans::VARCHAR AS spans FROM graphlets ORDER BY ALL"
    )
    members = store.df("SELECT * FROM graphlet_members ORDER BY ALL")
    return graphlets, members


def test_rebuild_is_idempotent(store: ProvenanceStore) -> None:
    first = build_graphlets(store)
    before = tables(store)
    again = build_graphlets(store, incremental=False)
    after = tables(store)
    assert replace(first, changed_executions=0, pipelines_whole=2) == again
    pd.testing.assert_frame_equal(before[0], after[0])
    pd.testing.assert_frame_equal(before[1], after[1])


def test_incremental_skips_unchanged_and_rebuilds_on_new_rules(store: ProvenanceStore) -> None:
    assert build_graphlets(store).pipelines_built == 2
    report = build_graphlets(store)
    assert (report.pipelines_built, report.pipelines_unchanged, report.graphlets) == (0, 2, 0)
    rules = GraphletRules(include_side_branches=False)
    assert build_graphlets(store, rules).pipelines_built == 2
    assert store.count("graphlet_builds") == 2


def test_only_the_named_pipelines(store: ProvenanceStore) -> None:
    report = build_graphlets(store, pipelines=["churn"])
    assert (report.pipelines_built, report.graphlets, report.in_flight) == (1, 1, 1)
    with pytest.raises(StaleGraphletsError, match="only some pipelines were built"):
        list_graphlets(store, refresh=False)
    report = build_graphlets(store)
    assert (report.pipelines_built, report.pipelines_unchanged) == (1, 1)
    assert list_graphlets(store, ["taxi"]).graphlet_id.tolist() == [6, 14, 18]
    summary = graphlet_summary(store)
    assert (
        summary.graphlets,
        summary.deployed,
        summary.in_flight,
        summary.not_deployed,
        summary.pipelines,
    ) == (4, 1, 1, 2, 2)
    assert summary.deployed_share == pytest.approx(1 / 3)


def test_unknown_pipeline(store: ProvenanceStore) -> None:
    with pytest.raises(
        UnknownPipelineError,
        match=r"no pipeline named 'taxy' in this store; "
        r"pipelines are: churn, taxi\. Did you mean 'taxi'\?",
    ):
        build_graphlets(store, pipelines=["taxy"])
    assert not store.has_table("graphlets")  # nothing was written


def test_new_runs_redo_their_graphlets_only(tmp_path: Path) -> None:
    pytest.importorskip("ml_metadata")
    from mlprov.sample.synth.writer import MlmdWriter
    from tests.fixtures.stores import EXAMPLE_GEN, TRAINER, TfxPipeline, extend_tfx

    source = tmp_path / "tfx.sqlite"
    shutil.copy(SMALL, source)
    with ProvenanceStore.open(tmp_path / "prov.duckdb") as s:
        ingest(s, str(source))
        build_graphlets(s)
        extend_tfx(source)  # a new taxi run, and churn's running trainer completes
        ingest(s, str(source))
        report = build_graphlets(s)
        # the new taxi graphlet and churn's completed one are redone, nothing else
        assert (report.pipelines_built, report.pipelines_whole, report.graphlets) == (2, 0, 2)
        assert (report.deployed, report.in_flight, report.changed_executions) == (1, 0, 4)
        with MlmdWriter(source) as w:  # another taxi run; churn untouched
            r = TfxPipeline(w, "taxi").run("taxi-r5", 5)
            _, gen = r.node(EXAMPLE_GEN, outputs={"examples": [w.new_artifact("Examples")]})
            r.node(TRAINER, state="FAILED", inputs={"examples": gen["examples"]})
        ingest(s, str(source))
        report = build_graphlets(s)
        assert (report.pipelines_built, report.pipelines_unchanged) == (1, 1)
        assert (report.graphlets, report.deployed, report.changed_executions) == (1, 0, 2)
        assert build_graphlets(s).pipelines_unchanged == 2
        incremental = tables(s)
        build_graphlets(s, incremental=False)
        full = tables(s)
    pd.testing.assert_frame_equal(incremental[0], full[0])
    pd.testing.assert_frame_equal(incremental[1], full[1])


def test_load_and_networkx(store: ProvenanceStore) -> None:
    build_graphlets(store)
    view = load_graphlet(store, 14)
    assert view.info["pipeline"] == "taxi" and view.info["deployed"] is False
    assert view.info["input_spans"] == [1, 2]
    assert len(view.members) == view.info["n_executions"] + view.info["n_artifacts"]
    g = to_networkx(view)
    assert g.number_of_nodes() == 23 and g.graph == {"graphlet_id": 14, "deployed": False}
    assert g.nodes["x14"]["role"] == "anchor" and g.nodes["a7"]["role"] == "boundary"
    assert g.edges["a7", "x14"]["key"] == "base_model"
    assert g.edges["x16", "a18"]["type"] == "OUTPUT"
    assert g.nodes["a18"]["pushed"] == 0
    tree = graphlet_tree(view)
    assert view.info["reason"] == "not_blessed" and view.info["blessed"] is False
    assert tree.splitlines()[1] == (
        "trainer COMPLETE  model_type -  not deployed: not blessed: validation rejected the model"
    )
    trainer = next(line for line in tree.splitlines() if "#14 [train]" in line)
    assert f"cost {g.nodes['x14']['cost']:,.2f}" in trainer


def test_load_errors(store: ProvenanceStore, tmp_path: Path) -> None:
    with pytest.raises(NotBuiltError, match="has no graphlets yet; build them with"):
        load_graphlet(store, 14, refresh=False)
    build_graphlets(store)
    with pytest.raises(UnknownGraphletError, match="no graphlet 15; list them with"):
        load_graphlet(store, 15)
    second = tmp_path / "copy.sqlite"
    shutil.copy(SMALL, second)
    ingest(store, str(second))
    build_graphlets(store)
    with pytest.raises(UnknownGraphletError, match=r"graphlet 14 exists in sources 1, 2; pass"):
        load_graphlet(store, 14)
    assert load_graphlet(store, 14, source_id=2).source_id == 2


def test_load_many_at_once(store: ProvenanceStore, tmp_path: Path) -> None:
    """load_graphlets: the views load_graphlet gives, in the order asked, over two sources."""
    second = tmp_path / "copy.sqlite"
    shutil.copy(SMALL, second)
    ingest(store, str(second))
    build_graphlets(store)
    keys = [
        (int(s), int(g))
        for s, g in store.con.execute(
            "SELECT source_id, graphlet_id FROM graphlets ORDER BY graphlet_id DESC, source_id"
        ).fetchall()
    ]
    assert len(keys) > 4 and {s for s, _ in keys} == {1, 2}
    views = load_graphlets(store, keys)
    assert [(v.source_id, v.graphlet_id) for v in views] == keys
    for (sid, gid), view in zip(keys, views, strict=True):
        alone = load_graphlet(store, gid, sid)
        assert view.info == alone.info and len(view.members) > 0
        pd.testing.assert_frame_equal(view.members, alone.members)
        pd.testing.assert_frame_equal(view.edges, alone.edges)
    with pytest.raises(UnknownGraphletError, match="no graphlet 15 in source 2; list them"):
        load_graphlets(store, [keys[0], (2, 15)])
    with pytest.raises(UnknownGraphletError, match=r"graphlet 14 exists in sources 1, 2; pass"):
        load_graphlets(store, [keys[0], (None, 14)])


def test_batches_give_the_same_graphlets(store: ProvenanceStore, tmp_path: Path) -> None:
    second = tmp_path / "copy.sqlite"
    shutil.copy(SMALL, second)
    ingest(store, str(second))  # four pipelines in two sources
    one = build_graphlets(store, incremental=False)
    whole = tables(store)
    many = build_graphlets(store, incremental=False, batch_executions=5)
    assert many == replace(one, changed_executions=0) and many.pipelines_built == 4
    split = tables(store)
    pd.testing.assert_frame_equal(whole[0], split[0])
    pd.testing.assert_frame_equal(whole[1], split[1])

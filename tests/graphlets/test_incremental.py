"""A refresh after more provenance arrives writes exactly what a full rebuild writes.

A store is cut at a random execution (in put order, as MLMD wrote it), with some of the last
executions before the cut held back as still RUNNING with their outputs unpublished; the prefix
is ingested and built, the rest appended and the held executions completed, then ingested and
refreshed. The graphlets and graphlet_members tables must equal those of a full rebuild.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.corpus import append_last_day, split_at
from mlprov.graphlets import build_graphlets
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.generator import SynthConfig, generate
from tests.graphlets.scenarios import Ids, Story, write

SCENARIOS = (
    "rolling_window",
    "warm_start",
    "baseline_push",
    "cached_retry",
    "tuner",
    "keyless",
    "outcomes",
)
RUNNING, OUTPUT = 2, 4


def late_work(s: Story) -> None:
    """Work that reaches back into older graphlets, each case alone at some cut: a check of
    span 1's statistics and schema (a side branch of graphlet 1), a digest of span 2's
    anomalies with span 3's examples that trainer 4 reads (span 2's validation then feeds a
    trainer through work outside graphlet 2 and leaves its side branch), and an export of
    model 3 that also reads span 4's schema (downstream of graphlet 3)."""
    data: dict[int, dict[str, int]] = {}
    models: dict[int, int] = {}
    digest: dict[str, int] = {}
    for k in (1, 2, 3, 4):
        r = s.run()
        data[k] = s.data(r, k, validator=True)
        inputs = {"examples": [data[k]["examples"]], "schema": [data[k]["schema"]]}
        if k == 2:
            s.node(
                r,
                "check1",
                "custom.StatsCheck",
                inputs={"statistics": [data[1]["statistics"]], "schema": [data[1]["schema"]]},
                outputs={"report": [s.new("CheckReport")]},
            )
        if k == 3:
            digest = s.node(
                r,
                "digest",
                "custom.AnomalyDigest",
                inputs={
                    "anomalies": [s.ids.a["validator2.anomalies"]],
                    "examples": [data[3]["examples"]],
                },
                outputs={"digest": [s.new("AnomalyDigest")]},
            )
        if k == 4:
            inputs["digest"] = [digest["digest"]]
        model = s.train(r, k, inputs)
        assert model is not None
        models[k] = model
        s.evaluate_push(r, k, model, pushed=k % 2)
    s.node(
        r,
        "export3",
        "custom.ModelExport",
        inputs={"model": [models[3]], "schema": [data[4]["schema"]]},
        outputs={"exported": [s.new("ExportedModel")]},
    )


@pytest.fixture(scope="module")
def late(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ids]:
    pytest.importorskip("ml_metadata")
    path = tmp_path_factory.mktemp("late") / "late.sqlite"
    return path, write(path, late_work)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generated pipelines over two weeks: caching, failures, pushes, warm starts."""
    path = tmp_path_factory.mktemp("synth") / "tfx.sqlite"
    generate(SynthConfig(pipelines=3, days=14, seed=5), path, writer="bulk")
    return path


def tables(store: ProvenanceStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables in one order; sums of split costs compared to 9 digits."""
    graphlets = store.df(
        "SELECT * EXCLUDE (input_spans, split_cost, span_overlap), "
        "input_spans::VARCHAR AS spans, round(split_cost, 9) AS split_cost, "
        "round(span_overlap, 12) AS span_overlap FROM graphlets ORDER BY source_id, graphlet_id"
    )
    return graphlets, store.df("SELECT * FROM graphlet_members ORDER BY ALL")


def hold_back(prefix: Path, executions: list[int]) -> list[tuple]:
    """Make ``executions`` look still running in ``prefix``: outputs not yet published, last
    update at creation. Returns what :func:`publish` needs to finish them."""
    con = sqlite3.connect(prefix, isolation_level=None)
    try:
        con.execute("BEGIN")
        held = []
        for x in executions:
            state, update = con.execute(
                "SELECT last_known_state, last_update_time_since_epoch FROM Execution WHERE id = ?",
                (x,),
            ).fetchone()
            events = con.execute(
                "SELECT id, artifact_id, milliseconds_since_epoch FROM Event "
                "WHERE execution_id = ? AND type = ?",
                (x, OUTPUT),
            ).fetchall()
            paths = {
                e[0]: con.execute(
                    "SELECT is_index_step, step_index, step_key FROM EventPath WHERE event_id = ?",
                    (e[0],),
                ).fetchall()
                for e in events
            }
            for e in events:
                con.execute("DELETE FROM EventPath WHERE event_id = ?", (e[0],))
                con.execute("DELETE FROM Event WHERE id = ?", (e[0],))
            con.execute(
                "UPDATE Execution SET last_known_state = ?, "
                "last_update_time_since_epoch = create_time_since_epoch WHERE id = ?",
                (RUNNING, x),
            )
            held.append((x, state, update, [(e[1], e[2], paths[e[0]]) for e in events]))
        con.execute("COMMIT")
        return held
    finally:
        con.close()


def publish(prefix: Path, held: list[tuple]) -> None:
    """Finish the held executions as MLMD would: new output events, final state, a new
    update time."""
    con = sqlite3.connect(prefix, isolation_level=None)
    try:
        con.execute("BEGIN")
        for x, state, update, events in held:
            for artifact, ms, paths in events:
                (event,) = con.execute(
                    "INSERT INTO Event (artifact_id, execution_id, type, "
                    "milliseconds_since_epoch) VALUES (?, ?, ?, ?) RETURNING id",
                    (artifact, x, OUTPUT, ms),
                ).fetchone()
                con.executemany(
                    "INSERT INTO EventPath (event_id, is_index_step, step_index, step_key) "
                    "VALUES (?, ?, ?, ?)",
                    [(event, *p) for p in paths],
                )
            con.execute(
                "UPDATE Execution SET last_known_state = ?, last_update_time_since_epoch = "
                "max(?, (SELECT max(last_update_time_since_epoch) FROM Execution)) WHERE id = ?",
                (state, update, x),
            )
        con.execute("COMMIT")
    finally:
        con.close()


def executions(source: Path) -> list[int]:
    con = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT id FROM Execution ORDER BY id")]
    finally:
        con.close()


def refresh_equals_rebuild(source: Path, cut: int, held: int) -> None:
    """Cut after the ``cut``-th execution (modulo their number), holding ``held`` back."""
    ids = executions(source)
    last = ids[cut % (len(ids) - 1)]
    with tempfile.TemporaryDirectory() as tmp:
        split = split_at(source, Path(tmp), last)
        kept = [x for x in ids if x <= last]
        back = hold_back(split.prefix, kept[len(kept) - held :] if held else [])
        with ProvenanceStore.open(":memory:") as store:
            ingest(store, str(split.prefix))
            build_graphlets(store)
            append_last_day(split)
            publish(split.prefix, back)
            ingest(store, str(split.prefix))
            report = build_graphlets(store)
            refreshed = tables(store)
            build_graphlets(store, incremental=False)
            rebuilt = tables(store)
    assert report.changed_executions >= len(ids) - len(kept)
    pd.testing.assert_frame_equal(refreshed[0], rebuilt[0])
    pd.testing.assert_frame_equal(refreshed[1], rebuilt[1])


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(0, 10_000), held=st.integers(0, 6))
def test_refresh_equals_rebuild_on_generated_pipelines(
    synthetic: Path, cut: int, held: int
) -> None:
    refresh_equals_rebuild(synthetic, cut, held)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(SCENARIOS), cut=st.integers(0, 1_000), held=st.integers(0, 3))
def test_refresh_equals_rebuild_on_boundary_scenarios(
    scenario_path: Callable[[str], tuple[Path, Ids]], name: str, cut: int, held: int
) -> None:
    """The rules' corner cases: warm starts, cache hits re-publishing, baselines, Tuners,
    keyless model reads, side branches."""
    refresh_equals_rebuild(scenario_path(name)[0], cut, held)


@pytest.mark.parametrize(
    ("before", "held"),
    [("check1", 0), ("digest", 0), ("trainer4", 0), ("export3", 0), ("export3", 3)],
)
def test_refresh_equals_rebuild_with_late_work(
    late: tuple[Path, Ids], before: str, held: int
) -> None:
    """Each case alone: the cut falls just before the execution named (with ``held``
    executions before it still running at the cut)."""
    path, ids = late
    refresh_equals_rebuild(path, executions(path).index(ids.x[before]) - 1, held)


@pytest.mark.slow
def test_refresh_equals_rebuild_with_late_work_at_every_cut(late: tuple[Path, Ids]) -> None:
    path, _ = late
    for i in range(len(executions(path)) - 1):
        refresh_equals_rebuild(path, i, held=i % 3)


def test_one_more_run_redoes_few_graphlets(synthetic: Path) -> None:
    """The point of it: a day's runs redo a few graphlets, not their pipelines."""
    ids = executions(synthetic)
    with tempfile.TemporaryDirectory() as tmp:
        split = split_at(synthetic, Path(tmp), ids[-40])
        with ProvenanceStore.open(":memory:") as store:
            ingest(store, str(split.prefix))
            before = build_graphlets(store).graphlets
            append_last_day(split)
            ingest(store, str(split.prefix))
            report = build_graphlets(store)
    assert report.pipelines_whole == 0 and report.changed_executions == 39
    assert 0 < report.graphlets < before / 4


@pytest.mark.parametrize(("before", "held"), [("evaluator2", 0), ("infra3", 0), ("pusher8", 1)])
def test_refresh_equals_rebuild_as_verdicts_arrive(
    scenario_path: Callable[[str], tuple[Path, Ids]], before: str, held: int
) -> None:
    """A graphlet's reason changes when its Evaluator, InfraValidator or Pusher arrives later:
    the refresh gives the reason a rebuild gives."""
    path, ids = scenario_path("outcomes")
    refresh_equals_rebuild(path, executions(path).index(ids.x[before]) - 1, held)

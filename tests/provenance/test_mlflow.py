"""The MLflow reader on tracking databases written by the real ``mlflow`` client.

One store per module (the client's migrations take seconds), written by :func:`write_store`
with fixed run times, so every duration, graphlet and waste figure below is worked out by
hand. PostgreSQL and MariaDB (tests/fixtures/servers.py) get the same store where their
binaries are installed.

The store ("churn" and "fraud" experiments; times in seconds after T0, 2026-01-01 UTC):

==========  ======================  =========  ===========================================
run         parent (pipeline run)   start/dur  logs
==========  ======================  =========  ===========================================
pipeline    -  (P1)                 0 / 100    nested: preprocess, train, evaluate
preprocess  P1                      1 / 10     input raw (training)
train       P1                      12 / 30    input raw, params, metrics, logged model m1
evaluate    P1                      43 / 5     model m1 as input, metric auc
pipeline    -  (P2)                 1d / 100   nested: train (FAILED)
train       P2                      1d+1 / 20  input raw, FAILED
train       -  (S1)                 2d / 60    logged model m2
train       -  (S2)                 3d / 7     KILLED
train       -  (deleted)            4d / 9     deleted
fit         -  (fraud)              5d / 40    its files registered as fraud-model/1
==========  ======================  =========  ===========================================

Registry: churn-model/1 from m1 holds alias ``champion`` (deployed); churn-model/2 from m2 is
in stage Staging; churn-model/3 was registered by hand (no run) into Production; fraud-model/1
(from the run's files, MLflow 2 style) is in stage Production (deployed).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.graphlets import build_graphlets
from mlprov.provenance.conventions import load_mapping
from mlprov.provenance.ingest import ingest, parse_source
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES, canonical_rows
from tests.fixtures.servers import Server, run_sql

mlflow = pytest.importorskip("mlflow", reason="mlflow is a test dependency (pip install .[test])")

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC, in ms
S, DAY = 1000, 86_400_000


@pytest.fixture(autouse=True)
def _slow_is_opt_in(request: pytest.FixtureRequest) -> None:
    """The server and benchmark tests run only when ``-m`` names ``slow``."""
    if request.node.get_closest_marker("slow") and "slow" not in (
        request.config.getoption("markexpr") or ""
    ):
        pytest.skip("slow (servers, benchmark): run with -m slow")


def _run(client: Any, exp: str, name: str, start: int, parent: str | None = None) -> str:
    tags = {"mlflow.parentRunId": parent} if parent else {}
    return str(client.create_run(exp, start_time=T0 + start, tags=tags, run_name=name).info.run_id)


def _end(client: Any, run: str, start: int, seconds: int, status: str = "FINISHED") -> None:
    client.set_terminated(run, status, end_time=T0 + start + seconds * S)


@pytest.fixture(scope="module", autouse=True)
def _main_has_a_file() -> Iterator[None]:
    """mlflow imports pyspark when it is installed, and pyspark exits when ``__main__`` has
    neither a file nor a spec (it takes that for a doctest run of its own): a pytest-xdist
    worker has neither, so it gets a file while the client runs here."""
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is not None or hasattr(main, "__file__"):
        yield
        return
    main.__file__ = "pytest worker"
    try:
        yield
    finally:
        del main.__file__


def write_store(uri: str, artifacts: Path) -> dict[str, str]:
    """Write the module docstring's store through the client; return its run ids by label."""
    import pandas as pd
    from mlflow.entities import LoggedModelInput

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(uri, uri)
    churn = client.create_experiment("churn", artifact_location=(artifacts / "churn").as_uri())
    fraud = client.create_experiment("fraud", artifact_location=(artifacts / "fraud").as_uri())
    raw = mlflow.data.from_pandas(
        pd.DataFrame({"tenure": [1, 5, 9], "churned": [0, 1, 0]}),
        source="s3://lake/churn/raw.parquet",
        name="churn-raw",
        targets="churned",
    )
    ids: dict[str, str] = {}
    ids["P1"] = p1 = _run(client, churn, "pipeline", 0)
    ids["preprocess"] = _run(client, churn, "preprocess", 1 * S, p1)
    ids["train"] = _run(client, churn, "train", 12 * S, p1)
    ids["evaluate"] = _run(client, churn, "evaluate", 43 * S, p1)
    with mlflow.start_run(run_id=p1):
        with mlflow.start_run(run_id=ids["preprocess"], nested=True):
            mlflow.log_input(raw, context="training")
            mlflow.log_param("rows", 3)
        with mlflow.start_run(run_id=ids["train"], nested=True):
            mlflow.log_input(raw, context="training")
            mlflow.log_params({"lr": 0.1, "depth": 4})
            mlflow.log_metric("acc", 0.5, step=0)
            mlflow.log_metric("acc", 0.9, step=1)
            m1 = mlflow.create_external_model(name="churn-clf", model_type="gbdt")
        with mlflow.start_run(run_id=ids["evaluate"], nested=True):
            # the fluent log_inputs takes models on Databricks only; the client everywhere
            client.log_inputs(ids["evaluate"], models=[LoggedModelInput(m1.model_id)])
            mlflow.log_metric("auc", 0.8)
    for label, start, seconds in (("preprocess", 1, 10), ("train", 12, 30), ("evaluate", 43, 5)):
        _end(client, ids[label], start * S, seconds)
    _end(client, p1, 0, 100)

    ids["P2"] = p2 = _run(client, churn, "pipeline", DAY)
    ids["train2"] = _run(client, churn, "train", DAY + 1 * S, p2)
    with mlflow.start_run(run_id=p2), mlflow.start_run(run_id=ids["train2"], nested=True):
        mlflow.log_input(raw, context="training")
    _end(client, ids["train2"], DAY + 1 * S, 20, "FAILED")
    _end(client, p2, DAY, 100)

    ids["S1"] = _run(client, churn, "train", 2 * DAY)
    with mlflow.start_run(run_id=ids["S1"]):
        m2 = mlflow.create_external_model(name="churn-clf")
    _end(client, ids["S1"], 2 * DAY, 60)
    ids["S2"] = _run(client, churn, "train", 3 * DAY)
    _end(client, ids["S2"], 3 * DAY, 7, "KILLED")
    ids["deleted"] = _run(client, churn, "train", 4 * DAY)
    _end(client, ids["deleted"], 4 * DAY, 9)
    client.delete_run(ids["deleted"])
    ids["fit"] = _run(client, fraud, "fit", 5 * DAY)
    _end(client, ids["fit"], 5 * DAY, 40)

    client.create_registered_model("churn-model")
    v1 = client.create_model_version(
        "churn-model", f"models:/{m1.model_id}", ids["train"], model_id=m1.model_id
    )
    client.set_registered_model_alias("churn-model", "champion", v1.version)
    v2 = client.create_model_version(
        "churn-model", f"models:/{m2.model_id}", ids["S1"], model_id=m2.model_id
    )
    client.transition_model_version_stage("churn-model", v2.version, "Staging")
    v3 = client.create_model_version("churn-model", "s3://models/handmade")
    client.transition_model_version_stage("churn-model", v3.version, "Production")
    client.create_registered_model("fraud-model")
    f1 = client.create_model_version("fraud-model", f"runs:/{ids['fit']}/model", ids["fit"])
    client.transition_model_version_stage("fraud-model", f1.version, "Production")
    return ids


def write_more(uri: str, ids: dict[str, str]) -> None:
    """Later: one more training of churn (6d, 50 s, model m4) whose version takes the alias."""
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri, uri)
    churn = client.get_experiment_by_name("churn").experiment_id
    ids["S3"] = _run(client, churn, "train", 6 * DAY)
    with mlflow.start_run(run_id=ids["S3"]):
        m4 = mlflow.create_external_model(name="churn-clf")
    _end(client, ids["S3"], 6 * DAY, 50)
    v4 = client.create_model_version(
        "churn-model", f"models:/{m4.model_id}", ids["S3"], model_id=m4.model_id
    )
    client.set_registered_model_alias("churn-model", "champion", v4.version)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """The store (a SQLite file, never changed by tests: they copy it) and its run ids."""
    root = tmp_path_factory.mktemp("mlflow")
    cwd = Path.cwd()
    os.chdir(root)  # the client puts ./mlruns beside the working directory
    try:
        path = root / "mlflow.db"
        ids = write_store(f"sqlite:///{path}", root / "artifacts")
    finally:
        os.chdir(cwd)
    yield path, ids


@pytest.fixture
def store_file(written: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    target = tmp_path / "mlflow.db"
    shutil.copy(written[0], target)
    return target


def _executions(store: ProvenanceStore) -> list[tuple]:
    return store.con.execute(
        "SELECT x.name, x.component, x.type_name, x.category, x.state, x.duration_s, "
        "r.name AS run FROM executions x "
        "JOIN pipeline_runs r ON r.source_id = x.source_id AND r.run_id = x.run_id "
        "JOIN pipelines p ON p.source_id = x.source_id AND p.pipeline_id = x.pipeline_id "
        "ORDER BY p.name, x.start_time"
    ).fetchall()


def _registration(version: str, pipeline_run: str) -> tuple:
    return (version, "register_model", "mlflow.ModelRegistration", "deploy", "COMPLETE", 0.0,
            pipeline_run)  # fmt: skip


def test_canonical_rows(store_file: Path, written: tuple[Path, dict[str, str]]) -> None:
    ids = written[1]
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, str(store_file))
        assert (report.kind, report.convention, report.empty) == ("mlflow", "mlflow", False)
        assert _executions(store) == [
            ("preprocess", "preprocess", "mlflow.Run", "transform", "COMPLETE", 10.0, ids["P1"]),
            ("train", "train", "mlflow.ModelRun", "train", "COMPLETE", 30.0, ids["P1"]),
            ("evaluate", "evaluate", "mlflow.Run", "model_validation", "COMPLETE", 5.0, ids["P1"]),
            ("train", "train", "mlflow.Run", "train", "FAILED", 20.0, ids["P2"]),
            ("train", "train", "mlflow.ModelRun", "train", "COMPLETE", 60.0, ids["S1"]),
            ("train", "train", "mlflow.Run", "train", "CANCELED", 7.0, ids["S2"]),
            _registration("churn-model/1", ids["P1"]),
            _registration("churn-model/2", ids["S1"]),
            ("fit", "fit", "mlflow.ModelRun", "train", "COMPLETE", 40.0, ids["fit"]),
            _registration("fraud-model/1", ids["fit"]),
        ]
        assert store.con.execute(
            "SELECT p.name, count(*) FROM pipeline_runs r JOIN pipelines p "
            "USING (source_id, pipeline_id) GROUP BY ALL ORDER BY ALL"
        ).fetchall() == [("churn", 4), ("fraud", 1)]
        # every edge, by names: datasets and models read, models written, registrations
        assert store.con.execute(
            "SELECT x.name, e.direction, e.key, a.type_name, coalesce(a.name, a.uri) "
            "FROM events e JOIN executions x USING (source_id, execution_id) "
            "JOIN artifacts a USING (source_id, artifact_id) ORDER BY e.time, e.direction"
        ).fetchall() == [
            ("preprocess", "input", "training", "mlflow.Dataset", "churn-raw"),
            ("train", "input", "training", "mlflow.Dataset", "churn-raw"),
            ("train", "output", "model", "mlflow.Model", "churn-clf"),
            ("evaluate", "input", "model", "mlflow.Model", "churn-clf"),
            ("train", "input", "training", "mlflow.Dataset", "churn-raw"),
            ("train", "output", "model", "mlflow.Model", "churn-clf"),
            ("fit", "output", "model", "mlflow.RunModel", f"runs:/{ids['fit']}/model"),
            # registered after the runs, at the client's clock
            ("churn-model/1", "input", "model", "mlflow.Model", "churn-clf"),
            ("churn-model/1", "output", "model_version", "mlflow.ModelVersion", "churn-model/1"),
            ("churn-model/2", "input", "model", "mlflow.Model", "churn-clf"),
            ("churn-model/2", "output", "model_version", "mlflow.ModelVersion", "churn-model/2"),
            ("fraud-model/1", "input", "model", "mlflow.RunModel", f"runs:/{ids['fit']}/model"),
            ("fraud-model/1", "output", "model_version", "mlflow.ModelVersion", "fraud-model/1"),
        ]
        props = dict(
            store.con.execute(
                "SELECT p.name, coalesce(p.string_value, p.double_value::VARCHAR) "
                "FROM execution_properties p JOIN executions x USING (source_id, execution_id) "
                "WHERE x.name = 'train' AND x.type_name = 'mlflow.ModelRun' "
                "AND x.duration_s = 30 AND p.name NOT LIKE 'tags.mlflow.source%'"
            ).fetchall()
        )
        assert props == {
            "component": "train",
            "run_uuid": ids["train"],
            "status": "FINISHED",
            "params.lr": "0.1",
            "params.depth": "4",
            "metrics.acc": "0.9",  # the latest
            "tags.mlflow.parentRunId": ids["P1"],
            "tags.mlflow.runName": "train",
        }
        assert store.con.execute(
            "SELECT a.name, p.name, coalesce(p.string_value, p.int_value::VARCHAR) "
            "FROM artifact_properties p JOIN artifacts a USING (source_id, artifact_id) "
            "WHERE a.type_name = 'mlflow.ModelVersion' ORDER BY ALL"
        ).fetchall() == [
            ("churn-model/1", "aliases", "champion"),
            ("churn-model/1", "model_version", "1"),
            ("churn-model/1", "pushed", "1"),
            ("churn-model/1", "registered_model", "churn-model"),
            ("churn-model/1", "stage", "None"),
            ("churn-model/2", "model_version", "2"),
            ("churn-model/2", "pushed", "0"),
            ("churn-model/2", "registered_model", "churn-model"),
            ("churn-model/2", "stage", "Staging"),
            ("fraud-model/1", "model_version", "1"),
            ("fraud-model/1", "pushed", "1"),
            ("fraud-model/1", "registered_model", "fraud-model"),
            ("fraud-model/1", "stage", "Production"),
        ]
        # the parent runs are pipeline-run contexts carrying their own tags
        assert store.con.execute(
            "SELECT count(*) FROM context_properties WHERE name = 'tags.mlflow.runName' "
            "AND string_value = 'pipeline'"
        ).fetchall() == [(2,)]
        # the reader's views, Arrow tables and scratch tables are gone from the connection
        assert not store.con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = 'temp' AND table_name LIKE 'mlf%'"
        ).fetchall()
        skipped = {(s.table, s.reason.split(" (")[0].split(":")[0]): s for s in report.skipped}
        assert {k: (s.count, s.examples) for k, s in skipped.items()} == {
            ("runs", "deleted runs"): (1, (ids["deleted"],)),
            ("runs", "runs with nested runs"): (2, tuple(sorted((ids["P1"], ids["P2"])))),
            ("model_versions", "model versions registered by hand"): (1, ("churn-model/3",)),
        }


def _graphlets(store: ProvenanceStore) -> list[tuple]:
    build_graphlets(store)
    return store.con.execute(
        "SELECT x.name, x.state, g.deployed, g.n_executions, g.own_cost, "
        "list(m.name ORDER BY m.name) FROM graphlets g "
        "JOIN executions x ON x.source_id = g.source_id AND x.execution_id = g.graphlet_id "
        "JOIN graphlet_members gm ON gm.source_id = g.source_id "
        "AND gm.graphlet_id = g.graphlet_id AND gm.node_kind = 'execution' "
        "JOIN executions m ON m.source_id = gm.source_id AND m.execution_id = gm.node_id "
        "GROUP BY ALL ORDER BY min(g.train_time)"
    ).fetchall()


def _waste(store: ProvenanceStore) -> tuple[float, float]:
    from mlprov.analysis.waste import waste_summary

    w = waste_summary(store)
    return w.wasted_cost, w.total_cost


def test_graphlets_deployed_and_waste(store_file: Path) -> None:
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(store_file))
        assert _graphlets(store) == [
            # the champion's training: its evaluation, registration and the preprocessing
            # that read the same data (a side branch)
            (
                "train",
                "COMPLETE",
                True,
                4,
                45.0,
                ["churn-model/1", "evaluate", "preprocess", "train"],
            ),
            ("train", "FAILED", False, 2, 30.0, ["preprocess", "train"]),
            ("train", "COMPLETE", False, 2, 60.0, ["churn-model/2", "train"]),  # Staging
            ("train", "CANCELED", False, 1, 7.0, ["train"]),
            ("fit", "COMPLETE", True, 2, 40.0, ["fit", "fraud-model/1"]),  # Production
        ]
        # 172 s in all, 85 s reached a deployed model: the failed, staged and killed trainings
        assert _waste(store) == (87.0, 172.0)


def test_deploy_aliases_from_the_mapping(store_file: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[deploy]\naliases = ["challenger"]\n')
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(store_file), mapping=load_mapping(mapping))
        # champion no longer deploys: only fraud-model/1 (stage Production) does
        assert [g[2] for g in _graphlets(store)] == [False, False, False, False, True]
        assert _waste(store) == (132.0, 172.0)


def test_incremental_ingest_equals_one_shot(
    store_file: Path, written: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    db = tmp_path / "prov.duckdb"
    moved = "SELECT update_time FROM artifacts WHERE name = 'churn-model/1'"
    with ProvenanceStore.open(db) as store:
        ingest(store, str(store_file))
        _graphlets(store)
        ((registered,),) = store.con.execute(moved).fetchall()
    ids = dict(written[1])
    write_more(f"sqlite:///{store_file}", ids)
    with ProvenanceStore.open(db) as store:
        report = ingest(store, str(store_file))
        assert report.incremental and report.rows_written["executions"] == 2  # S3, its version
        graphlets = _graphlets(store)  # refreshed: the alias moved from version 1 to 4
        assert [(g[0], g[2]) for g in graphlets] == [
            ("train", False),
            ("train", False),
            ("train", False),
            ("train", False),
            ("fit", True),
            ("train", True),
        ]
        # 222 s: only fit (40 s) and the new training (50 s) reached a deployed model now
        assert _waste(store) == (132.0, 222.0)
        # MLflow records no time for an alias move: version 1 counts as updated after all
        # the store held, which the graphlet refresh noticed
        ((noticed,),) = store.con.execute(moved).fetchall()
        assert noticed > registered
        incremental = _rows_by_text_id(store)
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(store_file))  # the same rows, but for that time
        store.con.execute(
            "UPDATE artifacts SET update_time = ? WHERE name = 'churn-model/1'", [noticed]
        )
        assert _rows_by_text_id(store) == incremental


def _rows_by_text_id(store: ProvenanceStore) -> dict[str, list[tuple]]:
    """The canonical rows with each integer id replaced by the MLflow id it stands for (an
    incremental ingest numbers new nodes after the old ones, a one-shot one in text order)."""

    def text(space: str, column: str) -> str:
        return (
            f"(SELECT external_id FROM source_ids i WHERE i.space = '{space}' "
            f"AND i.id = t.{column})"
        )

    ctx, exe, art = (
        ("context", "context_id"),
        ("execution", "execution_id"),
        ("artifact", "artifact_id"),
    )
    renamed = {
        "contexts": [ctx],
        "context_properties": [ctx],
        "context_parents": [ctx, ("context", "parent_context_id")],
        "context_executions": [ctx, exe],
        "context_artifacts": [ctx, art],
        "artifacts": [art],
        "artifact_properties": [art],
        "executions": [exe, ("context", "pipeline_id"), ("context", "run_id")],
        "execution_properties": [exe],
        "events": [exe, art],
        "pipelines": [("context", "pipeline_id")],
        "pipeline_runs": [("context", "run_id"), ("context", "pipeline_id")],
    }
    out = {}
    for table, columns in renamed.items():
        replace = ", ".join(f"{text(space, c)} AS {c}" for space, c in columns)
        rows = store.con.execute(f"SELECT * REPLACE ({replace}) FROM {table} t").fetchall()
        out[table] = sorted(rows, key=repr)
    return out


def _state(store: ProvenanceStore, run_uuid: str) -> tuple:
    return store.con.execute(
        "SELECT x.state, x.duration_s FROM executions x JOIN execution_properties p "
        "USING (source_id, execution_id) WHERE p.name = 'run_uuid' AND p.string_value = ?",
        [run_uuid],
    ).fetchall()[0]


def test_incremental_reads_only_changed_runs(
    store_file: Path, written: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A re-ingest reads params, metrics and tags only for the runs that are new, were
    running, changed (a status set, a param or metric logged late), or lie within a day of
    the latest run time seen."""
    uri = f"sqlite:///{store_file}"
    client = mlflow.MlflowClient(uri, uri)
    churn = client.get_experiment_by_name("churn").experiment_id
    ongoing = _run(client, churn, "train", 7 * DAY)  # RUNNING at the first ingest
    client.log_param(ongoing, "lr", "0.2")
    client.log_param(ongoing, "depth", "6")
    db = tmp_path / "prov.duckdb"
    with ProvenanceStore.open(db) as store:
        first = ingest(store, str(store_file))
        assert _state(store, ongoing) == ("RUNNING", 0.0)
    # Later: the running run ends, a finished run's status is set again (its end time
    # unchanged), finished runs get a param and a newer metric value, and a new run arrives
    # stamped by a client whose clock is days behind.
    _end(client, ongoing, 7 * DAY, 30)
    ids = written[1]
    _end(client, ids["S2"], 3 * DAY, 7, "FAILED")
    client.log_param(ids["S1"], "note", "late")
    client.log_metric(ids["evaluate"], "auc", 0.85, step=1)
    late = _run(client, churn, "train", DAY // 2)
    client.log_param(late, "lr", "0.3")
    _end(client, late, DAY // 2, 4)
    with ProvenanceStore.open(db) as store:
        second = ingest(store, str(store_file))
        assert second.incremental
        assert _state(store, ongoing) == ("COMPLETE", 30.0)
        assert _state(store, ids["S2"]) == ("FAILED", 7.0)
        assert _state(store, late) == ("COMPLETE", 4.0)
        assert second.rows_written["executions"] == 1  # the late run
        assert store.con.execute(
            "SELECT name, coalesce(string_value, double_value::VARCHAR) "
            "FROM execution_properties WHERE name IN ('params.note', 'metrics.auc') ORDER BY 1"
        ).fetchall() == [("metrics.auc", "0.85"), ("params.note", "late")]
        incremental = _rows_by_text_id(store)
    # the params of the changed runs only (S2 and evaluate have none), of 7 in the store
    assert (first.rows_read["params"], second.rows_read["params"]) == (5, 4)
    assert second.rows_read["tags"] < first.rows_read["tags"]
    assert second.rows_read["runs"] == first.rows_read["runs"] + 1  # runs are always read
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(store_file))
        assert _rows_by_text_id(store) == incremental
    with ProvenanceStore.open(db) as store:
        again = ingest(store, str(store_file))  # unchanged: only the latest day is read
        assert again.rows_read["params"] == 2 and not any(again.rows_written.values())


def test_source_left_untouched(store_file: Path) -> None:
    before = (store_file.read_bytes(), store_file.stat().st_mtime_ns)
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(store_file))
    assert (store_file.read_bytes(), store_file.stat().st_mtime_ns) == before
    assert sorted(p.name for p in store_file.parent.iterdir()) == ["mlflow.db"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_ingest_and_report(store_file: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "prov.duckdb")
    code, out, err = run("ingest", str(store_file), "--db", db, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["kind"] == "mlflow"
    code, _, err = run("report", "--db", db, "--out", str(tmp_path / "report"))
    assert code == 0, err
    text = (tmp_path / "report" / "report.md").read_text()
    assert "MLflow keeps only the current alias or stage" in text
    assert "No deploy signal" not in text
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert not summary["no_deploy_signal"] and len(summary["source_notes"]) == 1


def test_report_says_when_no_deploy_signal(store_file: Path, tmp_path: Path) -> None:
    with sqlite3.connect(store_file) as con:  # a copy: no version is deployed any more
        con.execute("DELETE FROM registered_model_aliases")
        con.execute("UPDATE model_versions SET current_stage = 'Archived'")
    con.close()
    db = str(tmp_path / "prov.duckdb")
    assert run("ingest", str(store_file), "--db", db)[0] == 0
    code, out, err = run("report", "--db", db, "--out", str(tmp_path / "report"))
    assert code == 0, err
    assert "no deploy signal found, so no wasted share (172.0 seconds" in out
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["no_deploy_signal"] == [str(store_file.resolve())]
    for name in ("report.md", "report.html"):
        text = (tmp_path / "report" / name).read_text()
        assert f"No deploy signal found for source {store_file.resolve()}" in text
        assert "100.0% of compute was wasted" not in text


def _unknown_revision(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.execute("UPDATE alembic_version SET version_num = '0123456789ab'")
    con.close()
    return path


def _neither(path: Path) -> Path:
    path.unlink()
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE runs (x)")
    con.close()
    return path


def _altered(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.execute("DROP TABLE latest_metrics")
    con.close()
    return path


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (
            _altered,
            (),
            "lacks the table latest_metrics of MLflow's tracking schema; it was altered or "
            "written by another tool",
        ),
        (
            _unknown_revision,
            (),
            "is an MLflow tracking database at schema revision 0123456789ab, which mlprov "
            "does not read; it reads the revisions of MLflow 2.4 to 3.18: 7f2a7d5fae7d, ",
        ),
        (
            _neither,
            (),
            "is a SQLite file but not an ML Metadata store (it lacks MLMDEnv) nor any other "
            "format mlprov reads from SQLite (mlmd_sql: MLMD SQLite files",
        ),
        (
            _neither,
            ("--kind", "mlflow"),
            "is not an MLflow tracking database (it has no alembic_version table)",
        ),
    ],
)
def test_bad_input(store_file: Path, tmp_path: Path, make: Any, args: Any, message: str) -> None:
    db = tmp_path / "prov.duckdb"
    assert run("ingest", str(FIXTURES / "kfp_small.sqlite"), "--db", str(db))[0] == 0
    with ProvenanceStore.open(db) as store:
        before = canonical_rows(store)
    code, out, err = run("ingest", str(make(store_file)), "--db", str(db), *args)
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    with ProvenanceStore.open(db) as store:
        assert canonical_rows(store) == before


def test_reader_imports_no_mlflow() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import mlprov.provenance.mlflow_store, mlprov.provenance.ingest; "
        "assert 'mlflow' not in sys.modules and 'sqlalchemy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- servers --------------------------------------------------------------------------------


def _server_uri(server: Server, database: str) -> str:
    url = server.admin_url(database)
    scheme, rest = url.split("://", 1)
    return ("mysql+pymysql" if scheme == "mysql" else "postgresql+psycopg2") + "://" + rest


@pytest.mark.slow
def test_same_rows_on_a_server(
    server: Server, written: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The same client script on PostgreSQL or MariaDB gives the SQLite store's rows, but for
    the run ids the server store has its own of."""
    pytest.importorskip("psycopg2" if server.scheme == "postgresql" else "pymysql")
    database = f"mlflow_{os.getpid()}"
    run_sql(server, "postgres" if server.scheme == "postgresql" else "mysql",
            f"CREATE DATABASE {database}")  # fmt: skip
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        ids = write_store(_server_uri(server, database), tmp_path / "artifacts")
    finally:
        os.chdir(cwd)
    with ProvenanceStore.open(":memory:") as store:
        source = parse_source(server.admin_url(database), "mlflow")
        ingest(store, source)
        on_server = (_executions(store), _graphlets(store), _waste(store))
        # again, unchanged: the digests match, only the last day's run (fit, no params) is read
        again = ingest(store, source)
        assert again.incremental and again.rows_read["params"] == 0
        assert not any(again.rows_written.values())
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(written[0]))
        rename = {written[1][k]: v for k, v in ids.items()}
        local = [tuple(rename.get(c, c) for c in row) for row in _executions(store)]
        assert on_server == (local, _graphlets(store), _waste(store))


def test_sample_data(tmp_path: Path) -> None:
    """The bundled sample is this module's store (sample_data/README.md gives its figures)."""
    sample = tmp_path / "mlflow_sample.sqlite"
    shutil.copy(Path(__file__).parents[2] / "sample_data" / "mlflow_sample.sqlite", sample)
    with ProvenanceStore.open(":memory:") as store:
        assert ingest(store, str(sample)).kind == "mlflow"
        graphlets = _graphlets(store)
        assert (len(_executions(store)), len(graphlets)) == (10, 5)
        assert [g[2] for g in graphlets].count(True) == 2
        assert _waste(store) == (87.0, 172.0)


def test_bad_deploy_aliases(tmp_path: Path) -> None:
    from mlprov.provenance.errors import MappingError

    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[deploy]\naliases = "champion"\n')
    with pytest.raises(MappingError, match=r"deploy.aliases must be a list of MLflow model "):
        load_mapping(mapping)

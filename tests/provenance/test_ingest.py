"""Ingest of genuine MLMD stores into the canonical store."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlprov.provenance.conventions import Mapping
from mlprov.provenance.errors import MalformedRecordError
from mlprov.provenance.ingest import ingest, parse_source
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES, canonical_rows, needs_client
from tests.fixtures import stores


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tfx_executions_are_canonical(tfx_store: ProvenanceStore) -> None:
    rows = tfx_store.con.execute(
        "SELECT execution_id, pipeline_id, run_id, component, node, category, state, "
        "duration_s FROM executions ORDER BY execution_id"
    ).fetchall()
    assert rows == [
        (1, 1, 2, "CsvExampleGen", "CsvExampleGen", "ingest", "COMPLETE", 600.0),
        (2, 1, 2, "StatisticsGen", "StatisticsGen", "data_validation", "COMPLETE", 600.0),
        (3, 1, 2, "SchemaGen", "SchemaGen", "data_validation", "COMPLETE", 600.0),
        (4, 1, 2, "ExampleValidator", "ExampleValidator", "data_validation", "COMPLETE", 600.0),
        (5, 1, 2, "Transform", "Transform", "transform", "COMPLETE", 600.0),
        (6, 1, 2, "Trainer", "Trainer", "train", "COMPLETE", 3600.0),
        (7, 1, 2, "Evaluator", "Evaluator", "model_validation", "COMPLETE", 600.0),
        (8, 1, 2, "Pusher", "Pusher", "deploy", "COMPLETE", 600.0),
        (9, 1, 11, "CsvExampleGen", "CsvExampleGen", "ingest", "COMPLETE", 600.0),
        (10, 1, 11, "StatisticsGen", "StatisticsGen", "data_validation", "COMPLETE", 600.0),
        (11, 1, 11, "SchemaGen", "SchemaGen", "data_validation", "CACHED", 600.0),
        (12, 1, 11, "Transform", "Transform", "transform", "COMPLETE", 600.0),
        (13, 1, 11, "Resolver", "latest_blessed_model_resolver", "other", "COMPLETE", 0.0),
        (14, 1, 11, "Trainer", "Trainer", "train", "COMPLETE", 3000.0),
        (15, 1, 11, "Evaluator", "Evaluator", "model_validation", "COMPLETE", 600.0),
        (16, 1, 11, "Pusher", "Pusher", "deploy", "COMPLETE", 600.0),
        (17, 1, 13, "CsvExampleGen", "CsvExampleGen", "ingest", "COMPLETE", 600.0),
        (18, 1, 13, "Trainer", "Trainer", "train", "FAILED", 300.0),
        (19, 14, 15, "CsvExampleGen", "CsvExampleGen", "ingest", "COMPLETE", 600.0),
        (20, 14, 15, "Trainer", "Trainer", "train", "RUNNING", 600.0),
    ]
    assert tfx_store.con.execute(
        "SELECT type_name FROM executions WHERE execution_id = 6"
    ).fetchall() == [("tfx.components.trainer.component.Trainer",)]


def test_tfx_edges_and_properties_survive(tfx_store: ProvenanceStore) -> None:
    df = tfx_store.df
    # The cache hit re-publishes run 1's schema: two producers of artifact 3.
    assert df(
        "SELECT execution_id, type, key, idx FROM events WHERE artifact_id = 3 "
        "AND direction = 'output' ORDER BY 1"
    ).values.tolist() == [[3, "OUTPUT", "schema", 0], [11, "OUTPUT", "schema", 0]]
    # The Resolver re-emits model 1; the Evaluator of run 2 reads it as its baseline.
    assert df(
        "SELECT execution_id, type, key FROM events WHERE artifact_id = "
        "(SELECT artifact_id FROM artifacts WHERE uri = '/d/m/1') ORDER BY 1"
    ).values.tolist() == [
        [6, "OUTPUT", "model"],
        [7, "INPUT", "model"],
        [8, "INPUT", "model"],
        [13, "INTERNAL_OUTPUT", "model"],
        [14, "INPUT", "base_model"],
        [15, "INPUT", "baseline_model"],
    ]
    assert df(
        "SELECT a.uri, p.int_value FROM artifact_properties p JOIN artifacts a "
        "USING (source_id, artifact_id) WHERE p.name = 'pushed' ORDER BY 1"
    ).values.tolist() == [["/d/push/1", 1], ["/d/push/2", 0]]
    assert df(
        "SELECT a.uri, p.int_value FROM artifact_properties p JOIN artifacts a "
        "USING (source_id, artifact_id) WHERE p.name = 'blessed' ORDER BY 1"
    ).values.tolist() == [["/d/bl/1", 1], ["/d/bl/2", 0]]
    assert df(
        "SELECT uri, span, version FROM artifacts WHERE type_name = 'Examples' "
        "AND uri LIKE '/d/ex/%' ORDER BY 1"
    ).values.tolist() == [["/d/ex/1", 1, 0], ["/d/ex/2", 2, 0], ["/d/ex/3", 3, 0]]
    assert df("SELECT name, pipeline_id FROM pipeline_runs ORDER BY 1").values.tolist() == [
        ["churn-r1", 14],
        ["taxi-r1", 1],
        ["taxi-r2", 1],
        ["taxi-r3", 1],
    ]
    assert df("SELECT count(*) AS n FROM events WHERE key IS NULL").n[0] == 0


def test_cost_property_and_user_categories(tmp_path: Path) -> None:
    mapping_file = tmp_path / "mapping.toml"
    mapping_file.write_text(
        'cost_property = "cpu_hours"\n[categories]\n'
        '"latest_blessed*" = "train"\n"*Resolver" = "ingest"\n'
    )
    from mlprov.provenance.conventions import load_mapping

    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(FIXTURES / "tfx_small.sqlite"), mapping=load_mapping(mapping_file))
        assert store.con.execute(
            "SELECT execution_id, cost, category FROM executions "
            "WHERE cost IS NOT NULL OR component = 'Resolver' ORDER BY 1"
        ).fetchall() == [
            (1, 1.5, "ingest"),
            (6, 8.0, "train"),
            (13, None, "ingest"),
            (14, 7.0, "train"),
        ]
        assert store.df(
            "SELECT execution_id, cost, cost_unit FROM execution_costs "
            "WHERE execution_id IN (6, 11, 12) ORDER BY 1"
        ).values.tolist() == [[6, 8.0, "cpu_hours"], [11, 0.0, "seconds"], [12, 600.0, "seconds"]]


def test_kfp_convention() -> None:
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, str(FIXTURES / "kfp_small.sqlite"))
        assert report.convention == "kfp"
        assert store.df(
            "SELECT component, category, pipeline_id, run_id FROM executions ORDER BY execution_id"
        ).values.tolist() == [
            ["ingest-data", "ingest", 1, 2],
            ["train-model", "train", 1, 2],
            ["evaluate-model", "model_validation", 1, 2],
            ["deploy-model", "deploy", 1, 2],
        ]


def test_legacy_tfx_convention() -> None:
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, str(FIXTURES / "legacy_small.sqlite"))
        assert report.convention == "tfx_legacy"
        assert store.df(
            "SELECT component, state, run_id FROM executions ORDER BY 1"
        ).values.tolist() == [["CsvExampleGen", "COMPLETE", 2], ["Trainer", "CACHED", 2]]


@pytest.mark.parametrize("name", ["tfx_small.sqlite", "kfp_small.sqlite", "legacy_small.sqlite"])
def test_sql_and_client_readers_agree(name: str) -> None:
    needs_client()
    path = FIXTURES / name
    before = sha256(path)
    results = []
    for kind in ("mlmd_sql", "mlmd_client"):
        with ProvenanceStore.open(":memory:") as store:
            ingest(store, parse_source(str(path), kind))
            results.append(canonical_rows(store))
    assert results[0] == results[1]
    assert sha256(path) == before


def test_source_is_byte_identical_after_ingest(tfx_copy: Path, tmp_path: Path) -> None:
    before = sha256(tfx_copy)
    with ProvenanceStore.open(tmp_path / "prov.duckdb") as store:
        ingest(store, str(tfx_copy))
        ingest(store, str(tfx_copy))
    assert sha256(tfx_copy) == before
    assert sorted(p.name for p in tfx_copy.parent.iterdir()) == ["metadata.sqlite", "prov.duckdb"]


def test_committed_fixtures_match_their_builders(tmp_path: Path) -> None:
    needs_client()
    for name, build in stores.BUILDERS.items():
        fresh = tmp_path / name
        build(fresh)
        rows = []
        for path in (fresh, FIXTURES / name):
            with ProvenanceStore.open(":memory:") as store:
                ingest(store, str(path))
                rows.append(canonical_rows(store))
        assert rows[0] == rows[1], name


def test_incremental_equals_one_shot(tfx_copy: Path, tmp_path: Path) -> None:
    needs_client()
    with ProvenanceStore.open(tmp_path / "inc.duckdb") as store:
        ingest(store, str(tfx_copy))
        stores.extend_tfx(tfx_copy)
        report = ingest(store, str(tfx_copy))
        assert report.incremental
        assert report.rows_written["executions"] == 3  # run 4; churn's trainer replaced in place
        incremental = canonical_rows(store)
        state = store.df(
            "SELECT state FROM executions WHERE execution_id = ?", [stores.CHURN_TRAINER]
        ).state.tolist()
    assert state == ["COMPLETE"]
    with ProvenanceStore.open(tmp_path / "once.duckdb") as store:
        ingest(store, str(tfx_copy))
        assert canonical_rows(store) == incremental


def test_changed_mapping_reclassifies_old_rows(tmp_path: Path) -> None:
    with ProvenanceStore.open(tmp_path / "p.duckdb") as store:
        ingest(store, str(FIXTURES / "tfx_small.sqlite"))
        ingest(
            store,
            str(FIXTURES / "tfx_small.sqlite"),
            mapping=Mapping(rules=(("Resolver", "ingest"),), cost_property="cpu_hours"),
        )
        assert store.df(
            "SELECT category FROM executions WHERE component = 'Resolver'"
        ).category.tolist() == ["ingest"]
        assert store.df("SELECT cost FROM executions WHERE execution_id = 6").cost[0] == 8.0
        assert store.count("executions") == 20


def test_killed_ingest_leaves_database_unchanged(tfx_copy: Path, tmp_path: Path) -> None:
    db = tmp_path / "prov.duckdb"
    with ProvenanceStore.open(db) as store:
        ingest(store, str(FIXTURES / "kfp_small.sqlite"))
        before = canonical_rows(store)
    script = textwrap.dedent(f"""
        import os, signal
        from mlprov.provenance.ingest import ingest
        from mlprov.provenance.store import ProvenanceStore

        def die(table, rows):
            if table == "Event":  # mid-way: nodes staged, edges not yet
                os.kill(os.getpid(), signal.SIGKILL)

        with ProvenanceStore.open({str(db)!r}) as store:
            ingest(store, {str(tfx_copy)!r}, progress=die)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    with ProvenanceStore.open(db) as store:
        assert canonical_rows(store) == before
        ingest(store, str(tfx_copy))
        assert store.count("executions") == 20 + 4


def test_events_naming_missing_nodes(tfx_copy: Path) -> None:
    with sqlite3.connect(tfx_copy) as con:
        con.execute(
            "INSERT INTO Event (artifact_id, execution_id, type, "
            "milliseconds_since_epoch) VALUES (1, 999, 3, 0)"
        )
    con.close()
    with ProvenanceStore.open(":memory:") as store:
        with pytest.raises(MalformedRecordError, match="execution_id=999"):
            ingest(store, str(tfx_copy))
        assert store.count("executions") == 0
        report = ingest(store, str(tfx_copy), strict="warn")
        assert [(s.table, s.count) for s in report.skipped] == [("Event", 1)]
        assert report.warnings and "missing execution" in report.warnings[0]
        assert store.count("events") == 50


def test_empty_store_is_valid(tfx_copy: Path) -> None:
    with sqlite3.connect(tfx_copy) as con:
        for table in (
            "Execution",
            "Artifact",
            "Context",
            "Event",
            "EventPath",
            "Association",
            "Attribution",
            "ParentContext",
            "ExecutionProperty",
            "ArtifactProperty",
            "ContextProperty",
        ):
            con.execute(f"DELETE FROM {table}")
    con.close()
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, str(tfx_copy))
        assert report.empty
        assert store.count("executions") == 0


def test_parse_source_kinds() -> None:
    assert parse_source("grpc://localhost:8080").kind == "mlmd_client"
    assert parse_source("mysql://u:secret@db:3306/mlmd").location == "mysql://u@db:3306/mlmd"
    assert parse_source("sqlite:///tmp/x.sqlite").kind == "mlmd_sql"
    assert parse_source("store.sqlite").kind == "mlmd_sql"


def test_proto_properties_are_counted_not_loaded(tfx_copy: Path) -> None:
    with sqlite3.connect(tfx_copy) as con:
        con.execute(
            "INSERT INTO ExecutionProperty (execution_id, name, is_custom_property, byte_value) "
            "VALUES (6, 'serialized_config', 1, x'0a0b')"
        )
    con.close()
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, str(tfx_copy))
        assert [(s.table, s.count, s.examples) for s in report.skipped] == [
            ("ExecutionProperty", 1, ("6",))
        ]
        assert store.count("execution_properties") == 6


def test_every_source_row_is_accounted_for(tmp_path: Path) -> None:
    """On the bundled sample store, each canonical table holds exactly the source's rows."""
    sample = FIXTURES.parents[1] / "sample_data" / "tfx_sample.sqlite"
    with sqlite3.connect(f"{sample.resolve().as_uri()}?mode=ro", uri=True) as src:
        expected = {
            table: src.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
            for table, source in (
                ("executions", "Execution"),
                ("artifacts", "Artifact"),
                ("contexts", "Context"),
                ("events", "Event"),
                ("context_executions", "Association"),
                ("context_artifacts", "Attribution"),
                ("context_parents", "ParentContext"),
                ("execution_properties", "ExecutionProperty"),
                ("artifact_properties", "ArtifactProperty"),
                ("context_properties", "ContextProperty"),
            )
        }
    src.close()
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, str(sample))
        assert report.skipped == ()
        assert {t: store.count(t) for t in expected} == expected
        assert report.rows_written["executions"] == expected["executions"]

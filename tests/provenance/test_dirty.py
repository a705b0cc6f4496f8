"""Dirty records, broken stores and bad inputs: one line under --strict raise, listed and
survived under warn/skip; the canonical store stays free of values that crash what reads it.

Each case damages a copy of the committed TFX fixture with sqlite3, as a buggy writer would.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mlprov.graphlets.build import build_graphlets
from mlprov.provenance.conventions import Mapping, load_mapping
from mlprov.provenance.errors import (
    CorruptSourceError,
    MalformedRecordError,
    MappingError,
    NotAnMlmdStoreError,
    StoreError,
)
from mlprov.provenance.ingest import TIME_RANGE_MS, LoadReport, ingest
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES

DAY = 86_400_000


def damage(path: Path, *statements: str) -> Path:
    with sqlite3.connect(path) as con:
        for sql in statements:
            con.execute(sql)
    con.close()
    return path


def ingest_both(path: Path, message: str, mapping: Mapping | None = None) -> LoadReport:
    """Ingest under raise (must fail with ``message``, loading nothing), then under warn."""
    with ProvenanceStore.open(":memory:") as store:
        with pytest.raises(MalformedRecordError, match=message) as failure:
            ingest(store, str(path), mapping=mapping)
        assert str(failure.value).count("\n") == 0
        assert store.count("executions") == 0
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, str(path), mapping=mapping, strict="warn")
        build_graphlets(store)  # what reads the canonical rows copes with them
        lo, hi = (duckdb_ts(ms) for ms in TIME_RANGE_MS)
        for table, column in (
            ("executions", "start_time"),
            ("executions", "end_time"),
            ("artifacts", "create_time"),
            ("contexts", "update_time"),
            ("events", "time"),
        ):
            assert store.con.execute(
                f"SELECT count(*) FROM {table} WHERE {column} NOT BETWEEN ? AND ?", [lo, hi]
            ).fetchone() == (0,)
        store.con.execute("SELECT * FROM execution_costs").fetchall()
    return report


def duckdb_ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("sql", "example"),
    [
        (  # MLMD's column default
            "UPDATE Execution SET create_time_since_epoch = 0 WHERE id = 5",
            "id=5 create_time_since_epoch=0",
        ),
        (
            "UPDATE Artifact SET create_time_since_epoch = -86400000 WHERE id = 2",
            "id=2 create_time_since_epoch=-86400000",
        ),
        (  # microseconds
            "UPDATE Execution SET last_update_time_since_epoch = 1736122200000000 WHERE id = 6",
            "id=6 last_update_time_since_epoch=1736122200000000",
        ),
        (  # nanoseconds
            "UPDATE Event SET milliseconds_since_epoch = 1736122200000000000 WHERE id = 3",
            "execution_id=2 artifact_id=2 milliseconds_since_epoch=1736122200000000000",
        ),
        (
            "UPDATE Context SET last_update_time_since_epoch = 9223372036854775807 WHERE id = 1",
            "id=1 last_update_time_since_epoch=9223372036854775807",
        ),
    ],
)
def test_implausible_times_are_kept_unset(tfx_copy: Path, sql: str, example: str) -> None:
    report = ingest_both(damage(tfx_copy, sql), f"outside 1990..2200 .*first: {example}\\)")
    assert [(r.count, r.examples) for r in report.repaired] == [(1, (example,))]
    assert report.skipped == ()
    assert "outside 1990..2200" in report.warnings[0]


def test_implausible_update_time_does_not_stop_incremental_reads(
    tfx_copy: Path, tmp_path: Path
) -> None:
    damage(tfx_copy, "UPDATE Execution SET last_update_time_since_epoch = 9e18 WHERE id = 1")
    with ProvenanceStore.open(tmp_path / "p.duckdb") as store:
        ingest(store, str(tfx_copy), strict="skip")
        damage(
            tfx_copy,
            "UPDATE Execution SET last_known_state = 4, last_update_time_since_epoch = "
            f"last_update_time_since_epoch + {DAY} WHERE id = 20",
        )
        report = ingest(store, str(tfx_copy), strict="skip")
        assert report.incremental
        assert store.con.execute(
            "SELECT state FROM executions WHERE execution_id = 20"
        ).fetchone() == ("FAILED",)


@pytest.mark.parametrize(
    ("sql", "example", "table", "column"),
    [
        (
            "UPDATE Execution SET name = CAST(x'747261696eff' AS TEXT) WHERE id = 6",
            "id=6 name",
            "executions",
            "name",
        ),
        (  # the pipeline's name
            "UPDATE Context SET name = CAST(x'74617869c3' AS TEXT) WHERE id = 1",
            "id=1 name",
            "pipelines",
            "name",
        ),
        (
            "UPDATE Artifact SET uri = CAST(x'2f642f80' AS TEXT) WHERE id = 1",
            "id=1 uri",
            "artifacts",
            "uri",
        ),
        (
            "UPDATE Type SET name = CAST(x'4d6f64656cfe' AS TEXT) WHERE name = 'Model'",
            "name",
            "artifacts",
            "type_name",
        ),
        (
            "UPDATE EventPath SET step_key = CAST(x'6dff' AS TEXT) WHERE event_id = 2 "
            "AND is_index_step = 0",
            "execution_id=2 artifact_id=1 key",
            "events",
            "key",
        ),
        (
            "UPDATE ExecutionProperty SET string_value = CAST(x'7bff7d' AS TEXT) "
            "WHERE name = 'train_args' AND execution_id = 6",
            "execution_id=6 string_value",
            "execution_properties",
            "string_value",
        ),
    ],
)
def test_invalid_utf8_is_loaded_with_replacement_characters(
    tfx_copy: Path, sql: str, example: str, table: str, column: str
) -> None:
    report = ingest_both(damage(tfx_copy, sql), f"not valid UTF-8 .*{example}")
    assert len(report.repaired) == 1 and report.repaired[0].examples[0].endswith(example)
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(tfx_copy), strict="skip")
        bad = store.con.execute(
            f"SELECT count(*) FROM {table} WHERE contains({column}, '\ufffd')"
        ).fetchone()
    assert bad is not None and bad[0] >= 1


# SQLite stores a NaN as NULL (no cost, not a dirty one); a server-backed store can hold one,
# and the same check refuses it.
@pytest.mark.parametrize("value", [math.inf, -math.inf, -1.0, 1e300])
def test_implausible_costs_are_skipped(tfx_copy: Path, value: float) -> None:
    with sqlite3.connect(tfx_copy) as con:
        con.execute(
            "UPDATE ExecutionProperty SET double_value = ? "
            "WHERE name = 'cpu_hours' AND execution_id = 6",
            [value],
        )
    con.close()
    mapping = Mapping(cost_property="cpu_hours")
    report = ingest_both(tfx_copy, "cost that is not a finite number .*execution_id=6", mapping)
    assert [(s.table, s.count) for s in report.skipped] == [("ExecutionProperty", 1)]
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(tfx_copy), mapping=mapping, strict="skip")
        assert store.con.execute(
            "SELECT cost, cost_unit FROM execution_costs WHERE execution_id = 6"
        ).fetchone() == (3600.0, "seconds")  # no cost property: another unit, left out


def test_dangling_parent_context(tfx_copy: Path) -> None:
    damage(tfx_copy, "INSERT INTO ParentContext VALUES (2, 999)")
    report = ingest_both(
        tfx_copy, "ParentContext record.* missing context .*context_id=2 parent_context_id=999"
    )
    assert [(s.table, s.count) for s in report.skipped] == [("ParentContext", 1)]


def test_execution_of_an_artifact_type(tfx_copy: Path) -> None:
    damage(tfx_copy, "UPDATE Execution SET type_id = (SELECT id FROM Type WHERE name = 'Model')")
    report = ingest_both(tfx_copy, r"20 Execution record.* type of another kind than execution")
    assert report.skipped[0].table == "Execution" and report.skipped[0].count == 20
    assert {s.table for s in report.skipped} == {"Execution", "Event", "Association"}


def test_forced_convention_that_finds_no_pipeline_warns(tmp_path: Path) -> None:
    mapping_file = tmp_path / "m.toml"
    mapping_file.write_text('convention = "kfp"\n')
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(
            store, str(FIXTURES / "tfx_small.sqlite"), mapping=load_mapping(mapping_file)
        )
        assert report.warnings == (
            f"convention 'kfp' (forced by {mapping_file}) found no pipeline contexts of type "
            "system.Pipeline: the 20 executions belong to no pipeline; remove 'convention' from "
            "the mapping to detect it",
        )
        assert ingest(store, str(FIXTURES / "kfp_small.sqlite")).warnings == ()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP TABLE EventPath", "lacks table EventPath, which schema version 10 has"),
        (
            "ALTER TABLE Execution RENAME COLUMN last_known_state TO state",
            "lacks column Execution.last_known_state",
        ),
    ],
)
def test_structurally_broken_store(tfx_copy: Path, sql: str, message: str) -> None:
    damage(tfx_copy, sql)
    with ProvenanceStore.open(":memory:") as store, pytest.raises(CorruptSourceError) as err:
        ingest(store, str(tfx_copy))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('categories = "Trainer"', "categories must be a table"),
        ('convention = ["kfp"]', "convention must be a name"),
        ("cost_property = 3", "cost_property must be a property name"),
        ('[categories]\n"Trainer" = 1', "maps to unknown category 1"),
    ],
)
def test_mapping_of_the_wrong_shape(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(toml + "\n")
    with pytest.raises(MappingError, match=message):
        load_mapping(path)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE mlprov_meta SET value = 'one' WHERE key = 'schema_version'", "version one"),
        ("DROP TABLE events", "lacks table events"),
        ("ALTER TABLE executions DROP COLUMN cost", "lacks column executions.cost"),
    ],
)
def test_damaged_canonical_store(tmp_path: Path, sql: str, message: str) -> None:
    db = tmp_path / "p.duckdb"
    with ProvenanceStore.open(db) as store:
        ingest(store, str(FIXTURES / "kfp_small.sqlite"))
        store.con.execute(sql)
    with pytest.raises(StoreError, match=message):
        ProvenanceStore.open(db)


def test_failed_first_ingest_leaves_no_database(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    broken = damage(tmp_path / "x.sqlite", "CREATE TABLE t (x)")
    with pytest.raises(NotAnMlmdStoreError), ProvenanceStore.open(db) as store:
        ingest(store, str(broken))
    assert list(tmp_path.iterdir()) == [broken]
    with ProvenanceStore.open(db) as store:  # an existing database stays, failure or not
        ingest(store, str(FIXTURES / "kfp_small.sqlite"))
    with pytest.raises(NotAnMlmdStoreError), ProvenanceStore.open(db) as store:
        ingest(store, str(broken))
    with ProvenanceStore.open(db) as store:
        assert store.count("executions") == 4

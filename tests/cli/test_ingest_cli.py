"""`mlprov ingest`, `info` and `export`: output, and one clear line for each kind of bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES, canonical_rows


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ingest_info_export(tmp_path: Path) -> None:
    db = str(tmp_path / "prov.duckdb")
    code, out, _ = run("ingest", str(FIXTURES / "tfx_small.sqlite"), "--db", db)
    assert code == 0
    assert "executions" in out and "rows/s" in out
    code, out, _ = run("ingest", str(FIXTURES / "tfx_small.sqlite"), "--db", db, "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["incremental"] and report["rows_written"]["executions"] == 0
    code, out, _ = run("info", "--db", db, "--format", "json")
    info = json.loads(out)
    assert (info["executions"], info["pipelines"]) == (20, 2)
    assert {c["category"] for c in info["categories"]} >= {"train", "deploy", "ingest"}
    assert info["cost_unit"] == "seconds"
    [source] = info["sources"]
    assert source["ingests"] == 2 and source["last_ingest"].endswith(" UTC")
    assert info["graphlets"] == {"graphlets": 0, "deployed": 0, "current": False, "built": False}
    code, out, _ = run("info", "--db", db)
    assert "not built: mlprov graphlets" in out and "last_ingest" in out
    code, out, _ = run("export", str(tmp_path / "parquet"), "--db", db, "--as-of", "2025-03-01")
    assert code == 0
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "parquet" / "executions.parquet").num_rows == 20
    assert pq.read_table(tmp_path / "parquet" / "execution_costs.parquet").num_rows == 20
    outcomes = pq.read_table(tmp_path / "parquet" / "execution_outcomes.parquet").to_pandas()
    assert len(outcomes) == 20 and outcomes["wasted"].any() and outcomes["abandoned"].any()
    assert (
        outcomes["wasted"] == outcomes["status"].isin(["unpushed", "orphan", "abandoned"])
    ).all()
    code, out, _ = run("info", "--db", db, "--format", "json")  # export brought them up to date
    assert json.loads(out)["graphlets"]["current"] is True


def _not_mlmd(tmp: Path) -> Path:
    path = tmp / "other.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (x)")
    con.close()
    return path


def _old_schema(tmp: Path) -> Path:
    path = tmp / "old.sqlite"
    path.write_bytes((FIXTURES / "tfx_small.sqlite").read_bytes())
    with sqlite3.connect(path) as con:
        con.execute("UPDATE MLMDEnv SET schema_version = 7")
    con.close()
    return path


def _truncated(tmp: Path) -> Path:
    path = tmp / "cut.sqlite"
    path.write_bytes((FIXTURES / "tfx_small.sqlite").read_bytes()[:50_000])
    return path


def _corrupt(tmp: Path) -> Path:
    path = tmp / "corrupt.sqlite"
    data = bytearray((FIXTURES / "tfx_small.sqlite").read_bytes())
    data[4096:8192] = b"\xff" * 4096  # overwrite a b-tree page, keep the size
    path.write_bytes(bytes(data))
    return path


def _orphan_event(tmp: Path) -> Path:
    path = tmp / "orphan.sqlite"
    path.write_bytes((FIXTURES / "tfx_small.sqlite").read_bytes())
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO Event (artifact_id, execution_id, type) VALUES (1, 999, 3)")
    con.close()
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.sqlite", "does not exist; pass the path of an MLMD SQLite"),
        (lambda tmp: FIXTURES / "stores.py", "is not a SQLite file"),
        (_not_mlmd, "is a SQLite file but not an ML Metadata store"),
        (_old_schema, "has MLMD schema version 7; mlprov reads version 10"),
        (_truncated, "is truncated"),
        (_corrupt, "is damaged"),
        (_orphan_event, "1 Event record(s) name a missing execution or artifact"),
        (lambda tmp: "ftp://host/store", "unknown source scheme 'ftp'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_db_unchanged(
    tmp_path: Path, make, message: str
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "prov.duckdb"
    assert run("ingest", str(FIXTURES / "kfp_small.sqlite"), "--db", str(db))[0] == 0
    with ProvenanceStore.open(db) as store:
        before = canonical_rows(store)
    code, out, err = run("ingest", str(make(tmp_path)), "--db", str(db))
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err
    with ProvenanceStore.open(db) as store:
        assert canonical_rows(store) == before


def test_strict_skip_loads_the_rest(tmp_path: Path) -> None:
    code, out, _ = run(
        "ingest",
        str(_orphan_event(tmp_path)),
        "--db",
        str(tmp_path / "p.duckdb"),
        "--strict",
        "skip",
    )
    assert code == 0
    assert "skipped 1 Event rows: name a missing execution or artifact" in out


def test_empty_store_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.write_bytes((FIXTURES / "tfx_small.sqlite").read_bytes())
    with sqlite3.connect(path) as con:
        for table in (
            "Execution",
            "Artifact",
            "Context",
            "Event",
            "EventPath",
            "Association",
            "Attribution",
            "ParentContext",
        ):
            con.execute(f"DELETE FROM {table}")
    con.close()
    code, out, _ = run("ingest", str(path), "--db", str(tmp_path / "p.duckdb"))
    assert code == 0 and "the source store is empty" in out


def test_bad_mapping_and_missing_db(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('[categories]\n"Trainer" = "trainning"\n')
    code, _, err = run(
        "ingest",
        str(FIXTURES / "tfx_small.sqlite"),
        "--db",
        str(tmp_path / "p.duckdb"),
        "--mapping",
        str(mapping),
    )
    assert code == 2 and "unknown category 'trainning'" in err and "Did you mean 'train'" in err
    code, _, err = run("info", "--db", str(tmp_path / "nothing.duckdb"))
    assert code == 2 and "no mlprov database" in err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--debug", "ingest", str(tmp_path / "nope.sqlite"), "--db", str(tmp_path / "p.duckdb")],
    )
    assert result.exit_code == 1 and result.exception is not None


def test_warnings_and_repaired_records_are_printed(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('convention = "kfp"\n')
    store = tmp_path / "zero.sqlite"
    store.write_bytes((FIXTURES / "tfx_small.sqlite").read_bytes())
    with sqlite3.connect(store) as con:
        con.execute("UPDATE Execution SET create_time_since_epoch = 0 WHERE id = 5")
    con.close()
    db = str(tmp_path / "p.duckdb")
    code, out, err = run("ingest", str(store), "--db", db, "--mapping", str(mapping))
    assert code == 2 and "id=5 create_time_since_epoch=0" in err
    code, out, err = run(
        "ingest", str(store), "--db", db, "--mapping", str(mapping), "--strict", "skip",
        "--no-payloads",  # the fixture's payload files are not there: that would be a note too
    )  # fmt: skip
    assert code == 0
    assert err == (
        f"warning: convention 'kfp' (forced by {mapping}) found no pipeline contexts of type "
        "system.Pipeline: the 20 executions belong to no pipeline; remove 'convention' from "
        "the mapping to detect it\n"
    )
    assert "repaired 1 Execution rows: have a time outside 1990..2200" in out

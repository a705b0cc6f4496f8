"""The bulk server reader against live MariaDB and PostgreSQL servers (tests/fixtures/servers.py).

Stores are written there by the ml-metadata client (its mysql and postgresql connection
configs), so these tests carry the ``client`` marker; the error tests that need no store run
everywhere the server binaries are installed.
"""

from __future__ import annotations

import functools
import itertools
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.provenance.ingest import ingest, parse_source
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import canonical_rows, needs_client
from tests.fixtures import stores
from tests.fixtures.servers import (
    ADMIN_PASSWORD,
    Relay,
    Server,
    create_reader,
    free_port,
    run_sql,
    table_checksums,
)

READER_PASSWORD = "s3cr3t-Reader-pw"
_names = itertools.count()


def _new_database(server: Server) -> str:
    name = f"mlmd{next(_names)}"
    if server.scheme == "postgresql":
        run_sql(server, "postgres", f"CREATE DATABASE {name}")
    else:
        run_sql(server, "mysql", f"CREATE DATABASE {name}")
    return name


def _write(server: Server, build: Callable[..., None]) -> str:
    """A new database holding the store ``build`` writes through the ml-metadata client."""
    needs_client()
    database = _new_database(server)
    build(server.admin_url(database), functools.partial(run_sql, server, database))
    return database


def _reference(tmp_path: Path, *builds: Callable[..., None]) -> dict[str, list[tuple]]:
    path = tmp_path / "metadata.sqlite"
    for build in builds:
        build(path)
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(path))
        return canonical_rows(store)


def _rows(source: str, kind: str | None = None) -> dict[str, list[tuple]]:
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, parse_source(source, kind))
        assert report.kind == (kind or "mlmd_server")
        return canonical_rows(store)


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="session")
def tfx_database(server: Server) -> str:
    """The TFX fixture store, written on the server once per session (read-only for tests)."""
    return _write(server, stores.build_tfx)


@pytest.mark.client
def test_same_rows_as_the_sqlite_reader(server: Server, tfx_database: str, tmp_path: Path) -> None:
    assert _rows(server.admin_url(tfx_database)) == _reference(tmp_path, stores.build_tfx)


@pytest.mark.client
def test_kubeflow_store_same_rows_as_the_sqlite_reader(server: Server, tmp_path: Path) -> None:
    database = _write(server, stores.build_kfp)
    assert _rows(server.admin_url(database)) == _reference(tmp_path, stores.build_kfp)


@pytest.mark.client
def test_client_reader_gives_the_same_rows(server: Server, tfx_database: str) -> None:
    url = server.admin_url(tfx_database)
    assert _rows(url, "mlmd_client") == _rows(url)


@pytest.mark.client
def test_incremental_ingest_equals_one_shot(server: Server, tmp_path: Path) -> None:
    database = _write(server, stores.build_tfx)
    url = server.admin_url(database)
    with ProvenanceStore.open(tmp_path / "prov.duckdb") as store:
        ingest(store, url)
        stores.extend_tfx(url, functools.partial(run_sql, server, database))
        report = ingest(store, url)
        assert report.incremental and report.rows_written["executions"] > 0
        incremental = canonical_rows(store)
    assert incremental == _rows(url)
    assert incremental == _reference(tmp_path, stores.build_tfx, stores.extend_tfx)


def _open_transaction(server: Server, database: str) -> Any:
    """A connection of its own to ``database`` with a transaction left open (no autocommit)."""
    if server.scheme == "mysql":
        import pymysql

        return pymysql.connect(
            host="127.0.0.1",
            port=server.port,
            user=server.admin_user,
            password=ADMIN_PASSWORD,
            database=database,
            autocommit=False,
        )
    import adbc_driver_postgresql.dbapi

    return adbc_driver_postgresql.dbapi.connect(server.admin_url(database))


def _insert_execution(cur: Any, name: str, ms: int) -> None:
    cur.execute(
        "INSERT INTO Execution (type_id, last_known_state, name, create_time_since_epoch, "
        f"last_update_time_since_epoch) SELECT min(id), 3, '{name}', {ms}, {ms} "
        "FROM Type WHERE type_kind = 0"
    )


@pytest.mark.client
def test_rows_committed_late_below_the_watermark_are_read(server: Server, tmp_path: Path) -> None:
    """A writer takes an id, another commits a later one, the ingest runs, then the first
    commits: the next ingest must still find its row (servers hand out ids before commit)."""
    database = _write(server, stores.build_tfx)
    url = server.admin_url(database)
    with ProvenanceStore.open(tmp_path / "prov.duckdb") as store:
        ingest(store, url)
        first, second = (_open_transaction(server, database) for _ in range(2))
        try:
            _insert_execution(first.cursor(), "taken-first-committed-last", 1_700_000_000_000)
            _insert_execution(second.cursor(), "taken-second", 1_700_000_001_000)
            second.commit()
            ingest(store, url)
            first.commit()
        finally:
            first.close()
            second.close()
        ingest(store, url)
        names = store.con.execute(
            "SELECT name FROM executions WHERE name LIKE 'taken-%' ORDER BY execution_id"
        ).fetchall()
    assert names == [("taken-first-committed-last",), ("taken-second",)]


@pytest.mark.client
def test_select_only_user_leaves_the_source_untouched(server: Server, tfx_database: str) -> None:
    create_reader(server, tfx_database, "mlprov_reader", READER_PASSWORD)
    before = table_checksums(server, tfx_database)
    url = server.url("mlprov_reader", None, tfx_database)
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, parse_source(url, password=READER_PASSWORD))
        assert report.rows_written["executions"] == 20
        assert canonical_rows(store) == _rows(server.admin_url(tfx_database))
    assert table_checksums(server, tfx_database) == before


@pytest.mark.client
def test_password_never_shown_or_stored(server: Server, tfx_database: str, tmp_path: Path) -> None:
    create_reader(server, tfx_database, "mlprov_reader", READER_PASSWORD)
    db = tmp_path / "prov.duckdb"
    secret_file = tmp_path / "pw"
    secret_file.write_text(READER_PASSWORD + "\n")
    bare = server.url("mlprov_reader", None, tfx_database)
    outputs = [
        run("ingest", server.url("mlprov_reader", READER_PASSWORD, tfx_database), "--db", str(db)),
        run(
            "ingest", bare, "--db", str(db), "--password-file", str(secret_file), "--format", "json"
        ),
        run("ingest", bare, "--db", str(db), env={"MLPROV_PASSWORD": READER_PASSWORD}),
        run("ingest", bare, "--db", str(db), env={"MLPROV_PASSWORD": "wrong-" + READER_PASSWORD}),
    ]
    assert [code for code, _, _ in outputs] == [0, 0, 0, 2]
    assert "refused user 'mlprov_reader'" in outputs[3][2]
    with ProvenanceStore.open(db, read_only=True) as store:
        stored = repr(store.con.execute("SELECT * FROM sources").fetchall())
        stored += repr(store.con.execute("SELECT * FROM ingest_runs").fetchall())
        assert store.count("ingest_runs") == 3
    assert bare in stored
    for text in [stored, *(out + err for _, out, err in outputs)]:
        assert READER_PASSWORD not in text
    assert READER_PASSWORD.encode() not in db.read_bytes()


@pytest.mark.client
def test_killed_ingest_leaves_database_unchanged(
    server: Server, tfx_database: str, tmp_path: Path
) -> None:
    db = tmp_path / "prov.duckdb"
    with ProvenanceStore.open(db) as store:
        ingest(store, str(stores.HERE / "kfp_small.sqlite"))
        before = canonical_rows(store)
    url = server.admin_url(tfx_database)
    script = textwrap.dedent(f"""
        import os, signal
        from mlprov.provenance.ingest import ingest
        from mlprov.provenance.store import ProvenanceStore

        def die(table, rows):
            if table == "Event":  # mid-way through staging
                os.kill(os.getpid(), signal.SIGKILL)

        with ProvenanceStore.open({str(db)!r}) as store:
            ingest(store, {url!r}, progress=die)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    with ProvenanceStore.open(db) as store:
        assert canonical_rows(store) == before
        ingest(store, url)
        assert store.count("executions") == 4 + 20


# ---- bad input: one line, exit 2, no traceback, no password, database unchanged -------------


def _fails(url: str, tmp_path: Path, expected: str, password: str = ADMIN_PASSWORD) -> str:
    db = tmp_path / "prov.duckdb"
    with ProvenanceStore.open(db) as store:
        ingest(store, str(stores.HERE / "kfp_small.sqlite"))
        before = canonical_rows(store)
    code, out, err = run("ingest", url, "--db", str(db))
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in out + err and password not in out + err
    with ProvenanceStore.open(db, read_only=True) as store:
        assert canonical_rows(store) == before
    return err


def test_unreachable_server(server: Server, tmp_path: Path) -> None:
    port = free_port()  # nobody listens there
    url = server.admin_url("metadb").replace(f":{server.port}/", f":{port}/")
    _fails(url, tmp_path, f"no server answers at 127.0.0.1:{port}")


def test_wrong_password(server: Server, tmp_path: Path) -> None:
    url = server.url(server.admin_user, "not-the-password", "metadb")
    _fails(url, tmp_path, "refused user", password="not-the-password")


def test_unknown_database(server: Server, tmp_path: Path) -> None:
    _fails(server.admin_url("no_such_db"), tmp_path, "has no database 'no_such_db'")


def test_database_that_is_not_mlmd(server: Server, tmp_path: Path) -> None:
    database = _new_database(server)
    run_sql(server, database, "CREATE TABLE orders (id INTEGER)")
    _fails(server.admin_url(database), tmp_path, "is not an ML Metadata database")


@pytest.mark.client
def test_unsupported_schema_version(server: Server, tmp_path: Path) -> None:
    database = _write(server, lambda url, run_sql: stores.MlmdWriter(url, run_sql).close())
    run_sql(server, database, "UPDATE MLMDEnv SET schema_version = 7")
    _fails(server.admin_url(database), tmp_path, "has MLMD schema version 7")


@pytest.mark.client
def test_user_without_select_on_one_table(
    server: Server, tfx_database: str, tmp_path: Path
) -> None:
    user, password = "mlprov_partial", "partial-pw-77"
    if server.scheme == "mysql":
        tables = run_sql(server, tfx_database, "SHOW TABLES").split()
        grants = "".join(
            f"GRANT SELECT ON {tfx_database}.{t} TO '{user}'@'127.0.0.1';"
            for t in tables
            if t != "Attribution"
        )
        run_sql(
            server,
            tfx_database,
            f"CREATE OR REPLACE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}';{grants}",
        )
    else:
        create_reader(server, tfx_database, user, password)
        run_sql(server, tfx_database, f"REVOKE SELECT ON attribution FROM {user}")
    url = server.url(user, password, tfx_database)
    _fails(url, tmp_path, f"user {user!r} may not read table", password=password)


@pytest.mark.client
def test_server_going_away_mid_read(server: Server, tfx_database: str, tmp_path: Path) -> None:
    relay = Relay(server.port, cut_on=b"ArtifactProperty")  # the checks pass, the read dies
    try:
        url = server.admin_url(tfx_database).replace(f":{server.port}/", f":{relay.port}/")
        _fails(url, tmp_path, "the server went away in the middle of the read")
    finally:
        assert relay.close() > 0

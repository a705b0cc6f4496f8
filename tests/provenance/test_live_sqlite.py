"""SQLite sources in live use: writers committing during an ingest, WAL stores, read-only
directories, hot journals, locks held too long, pipes given as SOURCE, and Ctrl-C.

Nothing may be written beside a source. The tests run as root, where permissions do not stop a
write, so they check that no file appears and that every file's bytes and mtime stay the same.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlprov.provenance import sqlite_source
from mlprov.provenance.errors import CorruptSourceError, SourceBusyError
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES, canonical_rows

# A writer committing one execution with its input event and its pipeline association per
# transaction, every few milliseconds, until killed; it counts its commits in a file.
WRITER = """
import sqlite3, sys, time
path, journal_mode, counter = sys.argv[1:4]
con = sqlite3.connect(path, timeout=60, isolation_level=None)
con.execute(f"PRAGMA journal_mode = {journal_mode}")
type_id = con.execute("SELECT type_id FROM Execution LIMIT 1").fetchone()[0]
n = 0
while True:
    con.execute("BEGIN IMMEDIATE")
    x = con.execute(
        "INSERT INTO Execution (type_id, last_known_state, name, create_time_since_epoch, "
        "last_update_time_since_epoch) VALUES (?, 3, ?, 1736121600000, 1736121660000)",
        [type_id, f"live-{n}"],
    ).lastrowid
    con.execute("INSERT INTO Event (artifact_id, execution_id, type, milliseconds_since_epoch) "
                "VALUES (1, ?, 3, 1736121600000)", [x])
    con.execute("INSERT INTO Association (context_id, execution_id) VALUES (1, ?)", [x])
    con.execute("COMMIT")
    n += 1
    with open(counter, "w") as f:
        f.write(str(n))
    time.sleep(0.003)
"""


def files(directory: Path) -> dict[str, tuple[str, int]]:
    """Every file in ``directory`` with its hash and mtime."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(directory.iterdir())
    }


def commits(counter: Path) -> int:
    return int(counter.read_text() or 0) if counter.exists() else 0


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A directory holding only a copy of the TFX fixture, ``metadata.sqlite``."""
    directory = tmp_path / "source"
    directory.mkdir()
    shutil.copy(FIXTURES / "tfx_small.sqlite", directory / "metadata.sqlite")
    return directory


@pytest.fixture
def read_only(store_dir: Path) -> Iterator[Path]:
    """``store_dir`` with the directory and its files made read-only (restored afterwards)."""
    modes = {p: p.stat().st_mode for p in [store_dir, *store_dir.iterdir()]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    yield store_dir
    for p, mode in modes.items():
        p.chmod(mode)


def set_journal_mode(path: Path, mode: str) -> None:
    with sqlite3.connect(path) as con:
        con.execute(f"PRAGMA journal_mode = {mode}")
    con.close()


def kill_mid_write(path: Path, sql: str, *pragmas: str) -> None:
    """Run ``sql`` in a process killed before it closes the store (SIGKILL)."""
    script = textwrap.dedent(f"""
        import os, signal, sqlite3
        con = sqlite3.connect({str(path)!r}, isolation_level=None)
        for pragma in {list(pragmas)!r}:
            con.execute(pragma)
        {sql}
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == -signal.SIGKILL


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_writer_committing_while_ingest_runs(
    store_dir: Path, tmp_path: Path, journal_mode: str
) -> None:
    source, counter = store_dir / "metadata.sqlite", tmp_path / "commits"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(source), journal_mode, str(counter)]
    )
    try:
        deadline = time.monotonic() + 30
        while commits(counter) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        with ProvenanceStore.open(tmp_path / "p.duckdb") as store:
            seen = []
            for _ in range(4):  # strict raise: any torn snapshot (an event before its
                ingest(store, str(source))  # execution) would fail
                seen.append(store.count("executions"))
                assert writer.poll() is None
    finally:
        writer.kill()
        writer.wait()
    with ProvenanceStore.open(tmp_path / "p.duckdb") as store:
        live = store.con.execute(
            "SELECT count(*), count(DISTINCT e.execution_id), count(DISTINCT a.execution_id) "
            "FROM executions x "
            "LEFT JOIN events e USING (source_id, execution_id) "
            "LEFT JOIN context_executions a USING (source_id, execution_id) "
            "WHERE x.name LIKE 'live-%'"
        ).fetchone()
    assert live is not None and live[0] == live[1] == live[2] == seen[-1] - 20
    assert seen == sorted(seen) and seen[-1] > seen[0]  # the writer went on committing


def test_wal_store_is_read_without_writing_beside_it(read_only: Path, tmp_path: Path) -> None:
    source = read_only / "metadata.sqlite"
    source.chmod(0o644)
    set_journal_mode(source, "wal")
    source.chmod(0o444)
    before = files(read_only)
    assert list(before) == ["metadata.sqlite"]
    with ProvenanceStore.open(tmp_path / "p.duckdb") as store:
        ingest(store, str(source))
        assert store.count("executions") == 20
    assert files(read_only) == before


def test_commits_left_in_a_wal_file_are_read(store_dir: Path, tmp_path: Path) -> None:
    source = store_dir / "metadata.sqlite"
    set_journal_mode(source, "wal")
    kill_mid_write(
        source,
        'con.execute("UPDATE Execution SET last_known_state = 4 WHERE id = 20")',
        "PRAGMA wal_autocheckpoint = 0",
    )
    assert sorted(p.name for p in store_dir.iterdir())[1:] == [
        "metadata.sqlite-shm",
        "metadata.sqlite-wal",
    ]
    for p in [store_dir, *store_dir.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        before = files(store_dir)
        with ProvenanceStore.open(tmp_path / "p.duckdb") as store:
            ingest(store, str(source))
            assert store.con.execute(
                "SELECT state FROM executions WHERE execution_id = 20"
            ).fetchone() == ("FAILED",)
        assert files(store_dir) == before
    finally:
        for p in [store_dir, *store_dir.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_hot_journal_is_read_as_of_the_last_commit(store_dir: Path, tmp_path: Path) -> None:
    source = store_dir / "metadata.sqlite"
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(source))
        committed = canonical_rows(store)
    # A transaction big enough to spill into the file, killed before it commits.
    kill_mid_write(
        source,
        'con.execute("BEGIN"); con.execute("CREATE TABLE filler (x)"); '
        'con.executemany("INSERT INTO filler VALUES (randomblob(2000))", [()] * 2000); '
        'con.execute("DELETE FROM Execution")',
        "PRAGMA cache_size = 1",
    )
    assert (store_dir / "metadata.sqlite-journal").stat().st_size > 0
    before = files(store_dir)
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(source))
        assert canonical_rows(store) == committed
    assert files(store_dir) == before
    # Were the journal to turn hot after mlprov looked for one, the driver's refusal says so.
    conn = sqlite_source.connect(source)
    with pytest.raises(Exception, match="readonly database") as refusal:
        conn.cursor().execute("SELECT count(*) FROM sqlite_master")
    conn.close()
    assert str(sqlite_source.source_error(source, refusal.value)) == (
        f"{source} has a hot journal (a writer was killed mid-transaction); ingest again: "
        "mlprov then reads it as of its last commit"
    )
    assert files(store_dir) == before


def test_damaged_wal_store(store_dir: Path) -> None:
    source = store_dir / "metadata.sqlite"
    data = bytearray(source.read_bytes())
    data[18:20] = b"\x02\x02"  # WAL mode
    data[100:4096] = b"\xff" * 3996  # the schema page: the copy cannot be opened
    source.write_bytes(bytes(data))
    with ProvenanceStore.open(":memory:") as store, pytest.raises(CorruptSourceError) as err:
        ingest(store, str(source))
    assert str(err.value) == (
        f"{source} is damaged: database disk image is malformed; copy the store again or "
        "restore it from a backup"
    )


@pytest.mark.parametrize("write", ["", "UPDATE Execution SET name = 'x' WHERE id = 1"])
def test_writer_holding_its_lock_too_long(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    """Met on opening (no journal yet) or while telling a live journal from a hot one."""
    source, ready = store_dir / "metadata.sqlite", tmp_path / "locked"
    script = textwrap.dedent(f"""
        import pathlib, sqlite3, time
        con = sqlite3.connect({str(source)!r}, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        if {write!r}:
            con.execute({write!r})
        pathlib.Path({str(ready)!r}).touch()
        time.sleep(120)
    """)
    writer = subprocess.Popen([sys.executable, "-c", script])
    monkeypatch.setattr(sqlite_source, "BUSY_TIMEOUT_S", 0.3)
    try:
        while not ready.exists():
            time.sleep(0.01)
        with ProvenanceStore.open(":memory:") as store, pytest.raises(SourceBusyError) as err:
            ingest(store, str(source))
    finally:
        writer.kill()
        writer.wait()
    assert str(err.value) == (
        f"{source} is locked by a writer: mlprov waited 0.3 s for it to finish its "
        "transaction; ingest again when the pipeline is idle"
    )


def test_a_pipe_as_source_is_refused_at_once(tmp_path: Path) -> None:
    fifo, db = tmp_path / "metadata.sqlite", tmp_path / "p.duckdb"
    os.mkfifo(fifo)
    mlprov = Path(sys.executable).parent / "mlprov"
    proc = subprocess.run(
        [str(mlprov), "ingest", str(fifo), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"error: {fifo} is not a regular file (a pipe, socket or device); "
        "pass the MLMD SQLite file\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.sqlite"]


def run_script(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True
    )


def test_ctrl_c_during_ingest_is_a_keyboard_interrupt_and_changes_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "prov.duckdb"
    with ProvenanceStore.open(db) as store:
        ingest(store, str(FIXTURES / "kfp_small.sqlite"))
        before = canonical_rows(store)
    proc = run_script(f"""
        import os, signal
        from mlprov.provenance.ingest import ingest
        from mlprov.provenance.store import ProvenanceStore

        def ctrl_c(table, rows):
            if table == "Event":
                os.kill(os.getpid(), signal.SIGINT)

        try:
            with ProvenanceStore.open({str(db)!r}) as store:
                ingest(store, {str(FIXTURES / "tfx_small.sqlite")!r}, progress=ctrl_c)
        except KeyboardInterrupt:
            print("interrupted")
    """)
    assert proc.stdout == "interrupted\n", proc.stderr
    with ProvenanceStore.open(db) as store:
        assert canonical_rows(store) == before


@pytest.mark.parametrize("how", ["signal", "interrupt"])
def test_duckdb_interrupts_become_keyboard_interrupts(how: str) -> None:
    """A SIGINT during a query (RuntimeError 'Query interrupted') and an interrupted
    connection (duckdb.InterruptException) both leave ingest as KeyboardInterrupt. (DuckDB may
    notice the SIGINT only when the query ends: the query is long enough to start, short
    enough to end.)"""
    interrupt = "os.kill(os.getpid(), signal.SIGINT)" if how == "signal" else "con.interrupt()"
    proc = run_script(f"""
        import os, signal, threading
        import duckdb
        from mlprov.provenance.errors import interrupts_as_keyboard

        con = duckdb.connect()
        threading.Timer(0.3, lambda: {interrupt}).start()
        try:
            with interrupts_as_keyboard():
                con.execute("SELECT count(*) FROM range(400000000) t(i) WHERE i % 7 = 3")
        except KeyboardInterrupt as err:
            print(type(err.__cause__).__name__)
    """)
    assert proc.stdout == ("RuntimeError\n" if how == "signal" else "InterruptException\n")


def test_wal_store_that_keeps_changing_during_every_copy(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, counter = store_dir / "metadata.sqlite", tmp_path / "commits"
    with sqlite3.connect(source) as con:  # big enough that a copy takes a while
        con.execute("CREATE TABLE filler (x)")
        con.executemany("INSERT INTO filler VALUES (randomblob(65536))", [()] * 512)
    con.close()
    set_journal_mode(source, "wal")
    script = f"""
        import sqlite3
        con = sqlite3.connect({str(source)!r}, isolation_level=None)
        con.execute("PRAGMA synchronous = OFF")
        n = 0
        while True:  # each commit restarts the log: a new -wal header
            con.execute("INSERT INTO filler VALUES (1)")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            n += 1
            if n == 10:
                open({str(counter)!r}, "w").write("10")
    """
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    monkeypatch.setattr(sqlite_source, "BUSY_TIMEOUT_S", 0.05)
    errors = []
    try:
        while commits(counter) < 10:
            time.sleep(0.01)
        for _ in range(5):  # a copy that falls between two commits reads fine: try again
            with ProvenanceStore.open(":memory:") as store:
                try:
                    ingest(store, str(source))
                except SourceBusyError as err:
                    errors.append(str(err))
                    break
    finally:
        writer.kill()
        writer.wait()
    assert errors == [
        f"{source} kept changing while mlprov copied it for a consistent read (a writer "
        "restarted its write-ahead log during each copy for 0.05 s); ingest again when the "
        "pipeline is idle, or ingest a copy made with sqlite3's .backup"
    ]

"""A SQLite source file, opened safely: read-only (``mode=ro``), nothing written beside it (a
store in WAL mode, or one with a hot journal, is read through a consistent copy), errors as one
sentence. The MLMD and MLflow SQLite readers share it.
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlprov.provenance.errors import (
    CorruptSourceError,
    NotAnMlmdStoreError,
    SourceBusyError,
    SourceNotFoundError,
)

_SQLITE_MAGIC = b"SQLite format 3\x00"
#: How long a read waits for a writer's lock, and keeps retrying a copy of a changing WAL store.
BUSY_TIMEOUT_S = 10.0
_SQLITE_READONLY_ROLLBACK = 776  # a hot journal that a read-only connection cannot roll back


def check_file(path: Path) -> None:
    """Refuse what cannot be an MLMD SQLite file before opening it.

    Raises:
        SourceNotFoundError, NotAnMlmdStoreError, CorruptSourceError.
    """
    if not path.exists():
        raise SourceNotFoundError(
            f"{path} does not exist; pass the path of an MLMD SQLite "
            "file (TFX writes it as metadata.sqlite or metadata.db)"
        )
    if path.is_dir():
        raise NotAnMlmdStoreError(f"{path} is a directory; pass the MLMD SQLite file inside it")
    if not path.is_file():  # a FIFO would block the read below forever
        raise NotAnMlmdStoreError(
            f"{path} is not a regular file (a pipe, socket or device); pass the MLMD SQLite file"
        )
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as err:
        raise NotAnMlmdStoreError(f"cannot read {path}: {err.strerror}") from err
    if not header.startswith(_SQLITE_MAGIC):
        raise NotAnMlmdStoreError(
            f"{path} is not a SQLite file; pass an MLMD SQLite file, or a "
            "grpc://, mysql:// or postgresql:// URL for other stores"
        )
    if len(header) == 100:
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        if pages and path.stat().st_size < page_size * pages:
            raise CorruptSourceError(
                f"{path} is truncated: its header promises {page_size * pages} bytes but the "
                f"file has {path.stat().st_size}; copy the store again"
            )
    else:
        raise CorruptSourceError(f"{path} is truncated ({len(header)} bytes); copy it again")


def connect(path: Path) -> Any:
    """A read-only driver connection that waits up to BUSY_TIMEOUT_S for a writer's lock.

    The driver keeps a transaction open, so the first connection of a read holds SQLite's
    shared lock until it closes: writers cannot commit meanwhile, and the other connections of
    the read (same process, same SQLite library) see the same snapshot without locking again.
    Nothing else in the process may open and close the source meanwhile: closing any file
    descriptor of it drops every POSIX lock the process holds on it.
    """
    import adbc_driver_sqlite.dbapi

    conn = adbc_driver_sqlite.dbapi.connect(path.resolve().as_uri() + "?mode=ro")
    cur = conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    cur.close()
    return conn


@contextmanager
def readable(path: Path) -> Iterator[Path]:
    """The file to read ``path`` through: the store itself, or a consistent copy of it.

    A rollback-journal store (SQLite's default, and MLMD's) is read in place. A WAL store is
    not: a read-only connection would create or write its ``-shm`` index, and ``immutable=1``
    would ignore the commits still in its ``-wal``. It is copied with its ``-wal`` into a
    temporary directory and checkpointed there; the copy costs the file's size in temporary
    space and about the time of reading it once. A hot journal, left by a writer killed
    mid-transaction, is rolled back the same way in a copy: the read sees the last commit.

    Raises:
        SourceBusyError: a live writer kept resetting the WAL during every copy.
        CorruptSourceError: the copy cannot be opened as SQLite.
    """
    if _head(path, 20)[18:20] == b"\x02\x02":  # read and write versions 2: WAL
        copy = _consistent_copy(path, "-wal", _wal_state)
    elif _has_hot_journal(path):
        copy = _consistent_copy(path, "-journal", _journal_state)
    else:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="mlprov-") as tmp:
        target = Path(tmp) / path.name
        copy(target)
        try:  # replays the -wal (or rolls back the journal) into the copy, in rollback mode
            with sqlite3.connect(target) as con:
                con.execute("PRAGMA journal_mode = DELETE").fetchall()
            con.close()
        except sqlite3.DatabaseError as err:
            raise source_error(path, err) from err
        yield target


def _has_hot_journal(path: Path) -> bool:
    """Whether a rollback journal beside ``path`` is hot (its writer died mid-transaction)."""
    journal = path.with_name(path.name + "-journal")
    if not journal.is_file() or journal.stat().st_size == 0:
        return False
    # Opening the source read-only here writes nothing: SQLite refuses to roll the journal back.
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except sqlite3.OperationalError as err:
        if getattr(err, "sqlite_errorcode", None) == _SQLITE_READONLY_ROLLBACK:
            return True
        if "locked" in str(err):
            raise _busy(path) from err
        return False  # the read proper reports other problems
    finally:
        con.close()
    return False


def _wal_state(path: Path, wal: Path) -> tuple[object, ...]:
    """What must not change while a WAL store is copied: the -wal header (its salts change when
    a writer restarts the log), or, with no log, the main file (a checkpoint writes it)."""
    head = _head(wal, 32)
    if head:  # a checkpoint may write the main file meanwhile: the copied log overrides it
        return (head,)
    st = path.stat()
    return (head, st.st_ino, st.st_size, st.st_mtime_ns)


def _journal_state(path: Path, journal: Path) -> tuple[object, ...]:
    main, log = path.stat(), journal.stat() if journal.exists() else None
    return (main.st_ino, main.st_size, main.st_mtime_ns, log and (log.st_size, log.st_mtime_ns))


def _head(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(size)
    except FileNotFoundError:
        return b""


def _consistent_copy(
    path: Path, suffix: str, state: Callable[[Path, Path], tuple[object, ...]]
) -> Callable[[Path], None]:
    """A function copying ``path`` and its ``suffix`` sidecar to a target, retried until
    ``state`` is the same before and after a copy (for BUSY_TIMEOUT_S, and at least twice)."""
    sidecar = path.with_name(path.name + suffix)

    def copy(target: Path) -> None:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        for attempt in itertools.count():
            before = state(path, sidecar)
            shutil.copyfile(path, target)
            target_sidecar = target.with_name(target.name + suffix)
            try:
                shutil.copyfile(sidecar, target_sidecar)
            except FileNotFoundError:
                target_sidecar.unlink(missing_ok=True)
            if state(path, sidecar) == before:
                return
            if attempt and time.monotonic() > deadline:
                break
            time.sleep(0.01)
        raise SourceBusyError(
            f"{path} kept changing while mlprov copied it for a consistent read (a writer "
            f"restarted its write-ahead log during each copy for {BUSY_TIMEOUT_S:g} s); ingest "
            "again when the pipeline is idle, or ingest a copy made with sqlite3's .backup"
        )

    return copy


def _busy(path: Path) -> SourceBusyError:
    return SourceBusyError(
        f"{path} is locked by a writer: mlprov waited {BUSY_TIMEOUT_S:g} s for it to finish its "
        "transaction; ingest again when the pipeline is idle"
    )


def batched_cursor(conn: Any, rows: int) -> Any:
    """A cursor of an ADBC SQLite connection (:func:`connect`) handing out Arrow batches of
    ``rows`` rows."""
    import adbc_driver_sqlite

    cur = conn.cursor()
    cur.adbc_statement.set_options(
        **{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: str(rows)}
    )
    return cur


def source_error(path: Path, err: Exception) -> BaseException:
    """The one-line error for a SQLite failure reading ``path`` (KeyboardInterrupt when the
    driver stopped for Ctrl-C, so the command says it was interrupted)."""
    text = str(err)
    if "interrupt" in text.lower():
        return KeyboardInterrupt()
    if "database is locked" in text:
        return _busy(path)
    if "readonly database" in text:  # a writer died mid-transaction just now
        return SourceBusyError(
            f"{path} has a hot journal (a writer was killed mid-transaction); ingest again: "
            "mlprov then reads it as of its last commit"
        )
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return CorruptSourceError(
            f"{path} is damaged: {text.splitlines()[0]}; copy the store again or restore it "
            "from a backup"
        )
    return CorruptSourceError(f"{path} cannot be read as SQLite: {text.splitlines()[0]}")


def valid_text(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """Pass the batches on with invalid UTF-8 replaced by U+FFFD: SQLite stores any bytes as
    TEXT, DuckDB refuses them. Ingest reports the records holding U+FFFD as dirty text."""

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            try:
                batch.validate(full=True)
            except pa.ArrowInvalid:
                batch = pa.RecordBatch.from_arrays(
                    [_replace_invalid(c) for c in batch.columns], schema=batch.schema
                )
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _replace_invalid(column: pa.Array) -> pa.Array:
    if not pa.types.is_string(column.type):
        return column
    try:
        column.validate(full=True)
        return column
    except pa.ArrowInvalid:
        raw = column.view(pa.binary()).to_pylist()
        return pa.array([v if v is None else v.decode("utf-8", "replace") for v in raw])

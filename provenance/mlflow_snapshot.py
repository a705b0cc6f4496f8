"""One read-only snapshot of an MLflow tracking database, as a function from SQL to Arrow.

SQLite through the ADBC driver (with :mod:`mlprov.provenance.mlmd_sql`'s handling of WAL files and
hot journals), PostgreSQL through ADBC in one ``REPEATABLE READ, READ ONLY`` transaction,
MySQL through PyMySQL in one consistent snapshot (the MLMD server reader's connections and
sessions). Driver errors inside the snapshot become the one-line errors of
:mod:`mlprov.provenance.errors`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlprov.provenance import connect, sqlite_source
from mlprov.provenance.errors import MlprovError, NotAnMlmdStoreError

BATCH_ROWS = 65_536
#: How SQLite, PostgreSQL and MySQL say a table is missing.
NO_TABLE = r"no such table|relation .* does not exist|doesn't exist"

# (SQL) -> Arrow batches of its result, inside one snapshot of the source.
Fetch = Callable[[str], pa.RecordBatchReader]


@dataclass(frozen=True)
class Config:
    """An MLflow tracking database: a SQLite file, or a server (``server``)."""

    path: Path | None = None
    server: connect.Config | None = None

    @property
    def location(self) -> str:
        return self.server.location if self.server else str(Path(str(self.path)).resolve())


@contextmanager
def snapshot(config: Config) -> Iterator[Fetch]:
    """A fetch function over one read-only snapshot of the source (closed on leaving)."""
    if config.server is None:
        with _sqlite(Path(str(config.path))) as fetch:
            yield fetch
    else:
        with _server(config.server) as fetch:
            yield fetch


@contextmanager
def _sqlite(path: Path) -> Iterator[Fetch]:
    sqlite_source.check_file(path)
    with sqlite_source.readable(path) as source:
        failure = functools.partial(sqlite_source.source_error, path)
        with _errors(path, failure):
            conn = sqlite_source.connect(source)
        cur = sqlite_source.batched_cursor(conn, BATCH_ROWS)

        def fetch(sql: str) -> pa.RecordBatchReader:
            cur.execute(sql)
            return sqlite_source.valid_text(cur.fetch_record_batch())

        try:  # the driver reports damage only when a page is read
            with _errors(path, failure):
                yield fetch
        finally:
            conn.close()


@contextmanager
def _server(server: connect.Config) -> Iterator[Fetch]:
    """PostgreSQL through ADBC (Arrow), MySQL through PyMySQL (rows), in one read-only
    snapshot: the MLMD server reader's connections and sessions."""
    connect.check_reachable(server)
    pg = server.scheme == "postgresql"
    with _errors(server.location, functools.partial(connect.failure, server)):
        conn = connect.pg_connect(server) if pg else connect.pymysql_connect(server)
        try:
            cur = conn.cursor()
            for sql in [connect.PG_BEGIN] if pg else connect.MYSQL_SESSION:
                cur.execute(sql)
            yield functools.partial(_arrow if pg else _rows, cur)
            cur.execute("ROLLBACK")
        finally:
            conn.close()


def _arrow(cur: Any, sql: str) -> pa.RecordBatchReader:
    cur.execute(sql)
    return cur.fetch_record_batch()


def _rows(cur: Any, sql: str) -> pa.RecordBatchReader:
    cur.execute(sql)
    names = [d[0] for d in cur.description]
    columns = list(zip(*cur.fetchall(), strict=True)) or [()] * len(names)
    return pa.table({n: pa.array(c) for n, c in zip(names, columns, strict=True)}).to_reader()


@contextmanager
def _errors(where: object, failure: Callable[[Exception], BaseException]) -> Iterator[None]:
    """Driver errors inside the block as one-line errors: a table missing, else
    ``failure(err)``."""
    try:
        yield
    except (MlprovError, KeyboardInterrupt):
        raise
    except Exception as err:
        if re.search(NO_TABLE, str(err)):
            raise _incomplete(where, err) from err
        raise failure(err) from err


def _incomplete(where: object, err: Exception) -> NotAnMlmdStoreError:
    named = re.search(r"no such table: (\w+)|relation \"(\w+)\"|Table '[^.']*\.?(\w+)'", str(err))
    table = next((g for g in named.groups() if g), "?") if named else "?"
    return NotAnMlmdStoreError(
        f"{where} lacks the table {table} of MLflow's tracking schema; it was altered or "
        "written by another tool: point mlprov at the database MLflow itself writes"
    )

"""The canonical provenance store: one DuckDB file every stage reads and writes.

Example:
    >>> from mlprov.provenance.store import ProvenanceStore
    >>> with ProvenanceStore.open(":memory:") as store:
    ...     store.count("executions")
    0
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from mlprov.provenance.errors import StoreError
from mlprov.provenance.resources import default_memory_limit, is_size, usable_cpus
from mlprov.provenance.sql import scalar

SCHEMA_VERSION = 3
#: Older versions whose stores lack only tables added since: a writable open adds them.
ADDITIVE_UPGRADES = frozenset({"2"})


def _schema_sql() -> str:
    return resources.files("mlprov.provenance").joinpath("schema.sql").read_text()


def _table_statements() -> dict[str, str]:
    """{table: its CREATE TABLE statement} for the tables schema.sql creates."""
    found = re.finditer(r"^CREATE TABLE (\w+) \(.*?^\);", _schema_sql(), re.M | re.S)
    return {m.group(1): m.group(0) for m in found}


_COLUMNS_SQL = (
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
)


@functools.cache
def _canonical_columns() -> frozenset[tuple[str, str]]:
    """(table, column) of every table and view schema.sql creates."""
    with duckdb.connect() as con:
        con.execute(_schema_sql())
        return frozenset(con.execute(_COLUMNS_SQL).fetchall())


class ProvenanceStore:
    """An open canonical store; owns its DuckDB connection. Use :meth:`open`.

    Opening refuses a store that lacks a canonical table or column (:class:`StoreError`). A
    file :meth:`open` created is removed again when a ``with`` block over the store ends in an
    exception before anything was ingested into it: a failed first ingest leaves no file.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str, created: bool = False) -> None:
        self.con = con
        self.path = path
        self.created = created  # this open created the file

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        read_only: bool = False,
        create: bool = True,
        memory_limit: str | None = None,
    ) -> ProvenanceStore:
        """Open (and, unless ``read_only``, create) the store at ``path``.

        DuckDB runs on the CPUs the process may use
        (:func:`mlprov.provenance.resources.usable_cpus`) within ``memory_limit``, spilling to disk
        beyond it.

        Args:
            path: a DuckDB file, or ``":memory:"``.
            read_only: open without write access; the file must already exist.
            create: create the file when missing; when False a missing file is an error.
            memory_limit: DuckDB's memory limit, e.g. ``"4GB"``; default
                :func:`mlprov.provenance.resources.default_memory_limit` (half the usable memory).

        Raises:
            StoreError: the file is missing, locked by another process, not a DuckDB file, or
                of another schema version; or ``memory_limit`` is not a size.
        """
        path = str(path)
        created = path != ":memory:" and not Path(path).exists()
        if path != ":memory:" and not Path(path).exists() and (read_only or not create):
            raise StoreError(
                f"no mlprov database at {path}; create one with "
                f"'mlprov ingest SOURCE --db {path}' (or 'mlprov demo')"
            )
        if memory_limit is not None and not is_size(memory_limit):
            raise StoreError(
                f"memory limit {memory_limit!r} is not a size; give one such as 4GB or 800MB"
            )
        config: dict[str, str | bool | int | float | list[str]] = {
            "threads": usable_cpus(),
            "memory_limit": memory_limit or default_memory_limit(),
        }
        try:
            con = duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.IOException as err:
            raise StoreError(
                f"cannot open {path}: {err}. Is another mlprov process using it? "
                "If it is not a DuckDB file, pass another --db"
            ) from err
        except duckdb.Error as err:
            raise StoreError(f"cannot open {path} as a DuckDB database: {err}") from err
        # The library never prints: no DuckDB progress bar on long queries. (Under Jupyter,
        # DuckDB manages its own widget and refuses the setting.)
        with contextlib.suppress(duckdb.Error):
            con.execute("SET enable_progress_bar = false")
        store = cls(con, path, created=created)
        try:
            store._check_schema(read_only)
        except BaseException:
            store._discard()
            raise
        return store

    def _check_schema(self, read_only: bool) -> None:
        tables = {
            r[0]
            for r in self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
        if "mlprov_meta" not in tables:
            if tables:
                raise StoreError(
                    f"{self.path} is a DuckDB database but not an mlprov store "
                    f"(it has tables {sorted(tables)[:5]}); pass another --db"
                )
            if read_only:
                raise StoreError(f"{self.path} is empty; ingest a source into it first")
            with self.transaction():
                self.con.execute(_schema_sql())
                self.con.execute(
                    "INSERT INTO mlprov_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
                )
            return
        value = scalar(self.con, "SELECT value FROM mlprov_meta WHERE key = 'schema_version'")
        if value in ADDITIVE_UPGRADES and not read_only:
            self._add_tables(tables)
            tables = set(tables) | set(_table_statements())
        elif value in ADDITIVE_UPGRADES:
            raise StoreError(
                f"{self.path} has mlprov schema version {value}; this mlprov reads version "
                f"{SCHEMA_VERSION}. Upgrade it in place with 'mlprov payloads --db {self.path}' "
                "(or any command that writes to it)"
            )
        elif value != str(SCHEMA_VERSION):
            raise StoreError(
                f"{self.path} has mlprov schema version {value}; this mlprov reads version "
                f"{SCHEMA_VERSION}. Re-ingest the source into a new --db file"
            )
        lacking = sorted(_canonical_columns() - set(self.con.execute(_COLUMNS_SQL).fetchall()))
        if lacking:
            table, column = lacking[0]
            what = f"table {table}" if table not in tables else f"column {table}.{column}"
            raise StoreError(
                f"{self.path} is a damaged mlprov store: it lacks {what}; re-ingest the "
                "source into a new --db file"
            )

    def _add_tables(self, tables: set[str]) -> None:
        """Upgrade a store of an additive older version: create the tables it lacks."""
        with self.transaction():
            for table, sql in _table_statements().items():
                if table not in tables:
                    self.con.execute(sql)
            self.con.execute(
                "UPDATE mlprov_meta SET value = ? WHERE key = 'schema_version'",
                [str(SCHEMA_VERSION)],
            )

    def __enter__(self) -> ProvenanceStore:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self._discard()
        else:
            self.close()

    def _discard(self) -> None:
        """Close; remove the file if this open created it and nothing was ingested into it."""
        unused = False
        if self.created:
            with contextlib.suppress(duckdb.Error):  # when unsure, keep the file
                unused = not self.has_table("ingest_runs") or not self.count("ingest_runs")
        self.close()
        if unused:
            for leftover in (Path(self.path), Path(f"{self.path}.wal")):
                leftover.unlink(missing_ok=True)

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: it commits whole or, on any error, not at all."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def df(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a query and return a DataFrame.

        The rows travel as Arrow: strings stay Arrow-backed in pandas, several times faster and
        smaller than DuckDB's object-column conversion on millions of rows.
        """
        return self.con.sql(sql, params=params or None).to_arrow_table().to_pandas()

    def count(self, table: str) -> int:
        """Number of rows in a canonical table."""
        return int(scalar(self.con, f'SELECT count(*) FROM "{table}"'))

    def has_table(self, table: str) -> bool:
        return bool(
            scalar(
                self.con,
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                [table],
            )
        )

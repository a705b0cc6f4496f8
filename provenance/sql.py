"""Named SQL queries kept in ``.sql`` files beside the code that runs them.

A file holds blocks introduced by ``-- name: <name>``; a block may hold several statements.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import duckdb


@functools.cache
def named_queries(package: str, filename: str) -> dict[str, str]:
    """Return {name: sql} for the blocks of ``package/filename``."""
    text = resources.files(package).joinpath(filename).read_text()
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def statements(block: str) -> list[str]:
    """Split a block into statements (our .sql files put no ';' inside literals)."""
    return [s.strip() for s in block.split(";") if s.strip() and not _only_comments(s)]


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    """The first value of a query's first row (None when there is no row).

    Fetches the whole result: DuckDB refuses further work on a connection while a result is
    only partly read.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple | None:
    """The first row of a query, or None; fetches the whole result (see :func:`scalar`)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None

"""Named SQL queries kept in ``.sql`` files beside the code that runs them, and the one way to
run them.

A file holds blocks introduced by ``-- name: <name>``; a block may hold several statements,
separated by semicolons (those inside comments, string literals and quoted names do not count).
Running a block binds to each statement just the ``$name`` parameters it uses, so one dict of
parameters serves every block of a stage.

Example:
    >>> import duckdb
    >>> block = "CREATE TEMP TABLE t AS SELECT $a AS a; -- a comment; with a semicolon\\n" \\
    ...         "SELECT a + $b FROM t"
    >>> execute(duckdb.connect(), block, {"a": 1, "b": 2, "unused": 3}).fetchall()
    [(3,)]
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from collections.abc import Mapping as MappingABC
from importlib import resources
from typing import Any

import duckdb

#: What a statement holds besides code: literals, quoted names and comments (where neither
#: ';' nor '$' means anything), and the ';' between statements.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|;", re.DOTALL)
_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")


@functools.cache
def named_queries(package: str, filename: str) -> dict[str, str]:
    """Return {name: sql} for the blocks of ``package/filename``."""
    text = resources.files(package).joinpath(filename).read_text()
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


class Queries(MappingABC[str, str]):
    """The named blocks of one or more ``.sql`` files of a package, by name.

    Example:
        >>> sorted(Queries("mlprov.provenance", "canonicalize.sql"))[:2]
        ['affected_executions', 'append_edges']
    """

    def __init__(self, package: str, *filenames: str) -> None:
        self._blocks: dict[str, str] = {}
        for filename in filenames:
            self._blocks.update(named_queries(package, filename))

    def __getitem__(self, name: str) -> str:
        return self._blocks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._blocks)

    def __len__(self) -> int:
        return len(self._blocks)

    def run(
        self,
        con: duckdb.DuckDBPyConnection,
        name: str,
        params: MappingABC[str, Any] | None = None,
    ) -> duckdb.DuckDBPyConnection:
        """:func:`execute` the block ``name``."""
        return execute(con, self._blocks[name], params)


def execute(
    con: duckdb.DuckDBPyConnection, block: str, params: MappingABC[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Run a block's statements in order, each bound to those of ``params`` it uses.

    Returns:
        ``con``, holding the result of the block's last statement.
    """
    for statement in statements(block):
        con.execute(statement, bind(statement, params))
    return con


def bind(statement: str, params: MappingABC[str, Any] | None) -> dict[str, Any]:
    """Those of ``params`` a single statement uses (DuckDB refuses unused named parameters)."""
    used = parameters(statement)
    return {k: v for k, v in (params or {}).items() if k in used}


def statements(block: str) -> list[str]:
    """Split a block into its statements.

    Example:
        >>> statements("SELECT ';' AS semi; -- two; three\\nSELECT 2;")
        ["SELECT ';' AS semi", '-- two; three\\nSELECT 2']
    """
    parts, start = [], 0
    for token in _NOT_CODE.finditer(block):
        if token.group() == ";":
            parts.append(block[start : token.start()])
            start = token.end()
    parts.append(block[start:])
    return [part.strip() for part in parts if _code(part).strip()]


def parameters(statement: str) -> set[str]:
    """The ``$name`` parameters a statement uses (not those named in comments or literals).

    Example:
        >>> sorted(parameters("SELECT $a, '$b' -- $c\\n WHERE x = $d"))
        ['a', 'd']
    """
    return set(_PARAMETER.findall(_code(statement)))


def _code(sql: str) -> str:
    """``sql`` with its literals, quoted names and comments blanked out."""
    return _NOT_CODE.sub(lambda m: ";" if m.group() == ";" else " ", sql)


def literal(text: str) -> str:
    """``text`` as an SQL string literal (for what can't be a bound parameter: a path in
    ``ATTACH`` or ``COPY``, values spliced into generated SQL).

    Example:
        >>> literal("it's")
        "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


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

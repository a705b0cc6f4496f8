"""Staged records that break the provenance model, found set-at-a-time before canonicalizing.

Every reader stages rows in the same shape (provenance/readers.py); these checks find what no
canonical row may hold (an event naming a missing execution, a time in nanoseconds, text that is
not UTF-8, a cost that is not a finite number) and, per ``--strict``, raise, or leave the records
out or repair them and say so in the load report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb

from mlprov.provenance.errors import MalformedRecordError
from mlprov.provenance.readers import NodeKind, Skipped
from mlprov.provenance.sql import execute, parameters

Strictness = Literal["raise", "warn", "skip"]

# Plausible times, in milliseconds since the epoch: 1990-01-01 to 2200-01-01 UTC. Outside it
# a time is 0 (MLMD's column default), negative, or in another unit (s, us, ns).
TIME_RANGE_MS = (631_152_000_000, 7_258_118_400_000)
#: The largest plausible cost: sums over billions of executions stay finite and exact enough.
MAX_COST = 1e15

_EDGE_COLUMNS = {"execution_id": "execution", "artifact_id": "artifact", "context_id": "context"}
_COST = "coalesce(double_value, int_value::DOUBLE)"  # a cost property's value
_LABELS = {  # staged column -> the source's name for it, in messages
    _COST: "value",
    "create_ms": "create_time_since_epoch",
    "update_ms": "last_update_time_since_epoch",
    "ms": "milliseconds_since_epoch",
}


@dataclass(frozen=True)
class _Check:
    """Staged records of one source table that break the provenance model, and what a lenient
    ingest does with them: ``delete`` (skip the record), ``null`` (load it with ``column``
    unset) or ``keep`` (load it as the reader repaired it)."""

    table: str
    staging: str
    keys: tuple[str, ...]  # columns naming a record in messages
    where: str  # SQL condition on the bad rows; $sid and $lo/$hi/$max_cost/$cost are bound
    problem: str
    action: Literal["delete", "null", "keep"]
    column: str | None = None

    @property
    def remedy(self) -> str:
        return {
            "delete": "load the rest and report them",
            "null": "load them with the value unset and report them",
            "keep": "load them with U+FFFD in place of the bad bytes and report them",
        }[self.action]


def _node_of(column: str) -> str:
    return _EDGE_COLUMNS.get(column, "context")  # parent_context_id names a context


def _missing(column: str) -> str:
    """SQL: ``column`` names a node in neither this batch nor the store."""
    node = _node_of(column)
    return (
        f"({column} NOT IN (SELECT id FROM stg_{node}s) AND {column} NOT IN "
        f"(SELECT {node}_id FROM {node}s WHERE source_id = $sid))"
    )


def _edge_checks() -> list[_Check]:
    edges = (
        ("Event", "stg_events", "execution_id", "artifact_id"),
        ("Association", "stg_associations", "context_id", "execution_id"),
        ("Attribution", "stg_attributions", "context_id", "artifact_id"),
        ("ParentContext", "stg_parent_contexts", "context_id", "parent_context_id"),
    )
    return [
        _Check(
            table,
            staging,
            (a, b),
            f"{_missing(a)} OR {_missing(b)}",
            f"name a missing {' or '.join(dict.fromkeys((_node_of(a), _node_of(b))))}",
            "delete",
        )
        for table, staging, a, b in edges
    ]


def _node_checks() -> list[_Check]:
    checks = []
    for kind, table in zip(NodeKind, ("Execution", "Artifact", "Context"), strict=True):
        staging = f"stg_{table.lower()}s"
        checks += [
            _Check(
                table,
                staging,
                ("id",),
                "type_id NOT IN (SELECT id FROM stg_types)",
                "name a type the store does not define",
                "delete",
            ),
            _Check(
                table,
                staging,
                ("id",),
                f"type_id IN (SELECT id FROM stg_types WHERE kind <> '{kind.value}')",
                f"name a type of another kind than {kind.value.lower()}",
                "delete",
            ),
        ]
    return checks


def _time_checks() -> list[_Check]:
    problem = (
        "have a time outside 1990..2200 in milliseconds since the epoch "
        "(0, negative, or in seconds, microseconds or nanoseconds)"
    )
    staged = (
        ("Execution", "stg_executions", ("id",), ("create_ms", "update_ms")),
        ("Artifact", "stg_artifacts", ("id",), ("create_ms", "update_ms")),
        ("Context", "stg_contexts", ("id",), ("create_ms", "update_ms")),
        ("Event", "stg_events", ("execution_id", "artifact_id"), ("ms",)),
    )
    return [
        _Check(
            table,
            staging,
            keys,
            f"coalesce({column}, 0) NOT BETWEEN $lo AND $hi",
            problem,
            "null",
            column,
        )
        for table, staging, keys, columns in staged
        for column in columns
    ]


def _text_checks() -> list[_Check]:
    staged = [
        ("Type", "stg_types", ("id",), ("name",)),
        ("Execution", "stg_executions", ("id",), ("name",)),
        ("Artifact", "stg_artifacts", ("id",), ("uri", "name")),
        ("Context", "stg_contexts", ("id",), ("name",)),
        ("Event", "stg_events", ("execution_id", "artifact_id"), ("key",)),
    ] + [
        (f"{node}Property", f"stg_{node.lower()}_props", ("owner_id",), ("name", "string_value"))
        for node in ("Execution", "Artifact", "Context")
    ]
    return [
        _Check(
            table,
            staging,
            keys,
            f"contains({column}, '\ufffd')",
            "have text that is not valid UTF-8",
            "keep",
            column,
        )
        for table, staging, keys, columns in staged
        for column in columns
    ]


_CHECKS = (
    *_node_checks(),
    *_edge_checks(),
    *_time_checks(),
    *_text_checks(),
    _Check(
        "ExecutionProperty",
        "stg_execution_props",
        ("owner_id", "name"),
        f"name = $cost AND {_COST} IS NOT NULL "
        f"AND NOT (isfinite({_COST}) AND {_COST} BETWEEN 0 AND $max_cost)",
        "hold a cost that is not a finite number in 0..1e15 (the execution keeps no cost)",
        "delete",
        _COST,
    ),
)


def check_records(
    con: duckdb.DuckDBPyConnection,
    sid: int,
    location: str,
    strict: Strictness,
    cost_property: str | None,
) -> tuple[list[Skipped], list[Skipped]]:
    """Find staged records that break the provenance model; raise, or drop or repair them.

    Returns:
        (records left out, records loaded with a value unset or repaired).
    """
    params = {
        "sid": sid,
        "lo": TIME_RANGE_MS[0],
        "hi": TIME_RANGE_MS[1],
        "cost": cost_property,
        "max_cost": MAX_COST,
    }
    skipped: list[Skipped] = []
    repaired: list[Skipped] = []
    for table, problem, count, examples in con.execute(
        "SELECT source_table, problem, count(*), list(record ORDER BY rowid)[:5] "
        "FROM stg_rejects GROUP BY ALL ORDER BY min(rowid)"
    ).fetchall():  # records the reader could not stage (an event that is not JSON, ...)
        if strict == "raise":
            raise MalformedRecordError(location, table, examples, problem, count)
        skipped.append(Skipped(table, problem, count, tuple(examples)))
    for check in _CHECKS:
        if "cost" in parameters(check.where) and cost_property is None:
            continue
        shown = [*check.keys, *([check.column] if check.column else [])]
        rows = execute(
            con,
            f"SELECT {', '.join(shown)}, count(*) OVER () FROM {check.staging} "
            f"WHERE {check.where} ORDER BY ALL LIMIT 5",
            params,
        ).fetchall()
        if not rows:
            continue
        examples = [_example(check, row) for row in rows]
        count = int(rows[0][-1])
        if strict == "raise":
            raise MalformedRecordError(
                location, check.table, examples, check.problem, count, check.remedy
            )
        if check.action == "delete":
            execute(con, f"DELETE FROM {check.staging} WHERE {check.where}", params)
        elif check.action == "null":
            execute(
                con, f"UPDATE {check.staging} SET {check.column} = NULL WHERE {check.where}", params
            )
        found = Skipped(check.table, check.problem, count, tuple(examples))
        (skipped if check.action == "delete" else repaired).append(found)
    return skipped, repaired


def _example(check: _Check, row: tuple) -> str:
    """How a message names one bad record, in the source's column names."""
    owner = check.table.removesuffix("Property").lower() + "_id"
    named = " ".join(
        f"{owner if k == 'owner_id' else k}={v}" for k, v in zip(check.keys, row, strict=False)
    )
    if check.column is None:
        return named
    column = _LABELS.get(check.column, check.column)
    if check.action == "keep":  # the value is the repaired text: name the column only
        return f"{named} {column}"
    return f"{named} {column}={row[len(check.keys)]}"

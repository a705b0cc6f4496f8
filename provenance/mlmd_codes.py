"""ML Metadata's integer codes (mlmd.md, "Enums"), kept in this one module.

MLMD stores node kinds, states and event types as integers. The MLMD readers turn them into the
canonical vocabulary of :mod:`mlprov.provenance.readers` (same member names) as they stage rows, and
the corpus generator (:mod:`mlprov.sample.synth`) writes them; nothing else knows the numbers.

Example:
    >>> ExecutionState.COMPLETE.value, EventType(4).name
    (3, 'OUTPUT')
    >>> decode_sql(TypeKind, "kind").startswith("CASE WHEN kind BETWEEN 0 AND 2")
    True
"""

from __future__ import annotations

from enum import IntEnum


class TypeKind(IntEnum):
    """``Type.type_kind``."""

    EXECUTION = 0
    ARTIFACT = 1
    CONTEXT = 2


class ExecutionState(IntEnum):
    """``Execution.last_known_state``."""

    UNKNOWN = 0
    NEW = 1
    RUNNING = 2
    COMPLETE = 3
    FAILED = 4
    CACHED = 5
    CANCELED = 6


class ArtifactState(IntEnum):
    """``Artifact.state``."""

    UNKNOWN = 0
    PENDING = 1
    LIVE = 2
    MARKED_FOR_DELETION = 3
    DELETED = 4
    ABANDONED = 5
    REFERENCE = 6


class EventType(IntEnum):
    """``Event.type``."""

    UNKNOWN = 0
    DECLARED_OUTPUT = 1
    DECLARED_INPUT = 2
    INPUT = 3
    OUTPUT = 4
    INTERNAL_INPUT = 5
    INTERNAL_OUTPUT = 6
    PENDING_OUTPUT = 7


class PropertyType(IntEnum):
    """``TypeProperty.data_type``."""

    UNKNOWN = 0
    INT = 1
    DOUBLE = 2
    STRING = 3
    STRUCT = 4
    PROTO = 5
    BOOLEAN = 6


def decode_sql(codes: type[IntEnum], column: str) -> str:
    """A DuckDB expression naming the code in ``column`` (``'UNKNOWN'`` for codes MLMD lacks).

    The codes of every enum here run from 0 without gaps, so a list lookup decodes them.
    """
    names = ", ".join(f"'{member.name}'" for member in codes)
    return (
        f"CASE WHEN {column} BETWEEN 0 AND {len(codes) - 1} "
        f"THEN [{names}][{column} + 1] ELSE 'UNKNOWN' END"
    )

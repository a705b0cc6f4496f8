"""Errors raised while opening stores and ingesting provenance.

Every message says what was received, what was expected, and how to fix it; the CLI prints it
on one line and exits with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import duckdb


class MlprovError(Exception):
    """Base class of every error mlprov raises on purpose."""


class SourceNotFoundError(MlprovError):
    """The source path, or the database named in a server URL, does not exist."""


class NotAnMlmdStoreError(MlprovError):
    """The source exists but is not a store of its reader's format (ML Metadata, an MLflow
    tracking database), or not SQLite at all."""


class NotAnEventSourceError(MlprovError):
    """The source holds no OpenLineage events: a directory without event files, or a database
    without Marquez's ``lineage_events`` table."""


class UnsupportedSchemaVersionError(MlprovError):
    """The source's schema version (MLMD's, MLflow's alembic revision) or the canonical
    store's version is not supported."""


class CorruptSourceError(MlprovError):
    """The source is truncated or damaged and cannot be read completely."""


class SourceBusyError(MlprovError):
    """A writer kept the source locked (or kept changing it) for longer than mlprov waits."""


class SourceUnreachableError(MlprovError):
    """The source's server does not answer (wrong host or port, server down, no route)."""


class SourceAccessError(MlprovError):
    """The server refused the user: wrong password, or no SELECT on a table mlprov reads."""


class SourceReadError(MlprovError):
    """The source stopped answering in the middle of a read (server gone, connection lost)."""


class UnknownSourceError(MlprovError):
    """The source string names a kind of source mlprov cannot read."""


class MalformedRecordError(MlprovError):
    """A source record breaks the provenance model (e.g. an event naming a missing execution)."""

    def __init__(
        self,
        source: str,
        table: str,
        record_ids: Iterable[object],
        problem: str,
        count: int,
        remedy: str = "load the rest and report them",
    ) -> None:
        ids = ", ".join(str(i) for i in list(record_ids)[:5])
        super().__init__(
            f"{source}: {count} {table} record(s) {problem} (first: {ids}); "
            f"rerun with --strict warn or --strict skip to {remedy}"
        )
        self.source, self.table, self.problem, self.count = source, table, problem, count


class MappingError(MlprovError):
    """The user's mapping file is unreadable or names something invalid."""


class ClientUnavailableError(MlprovError):
    """The ml-metadata client is needed for this source but is not installed."""


class PayloadOptionError(MlprovError):
    """A payload reading option is invalid (a prefix rewrite without '=', a size limit <= 0)."""


class ProtosUnavailableError(MlprovError):
    """tensorflow-metadata is needed (to write payload files) but is not installed."""


class StoreError(MlprovError):
    """The canonical DuckDB store is missing, locked, of another version, or lacks a stage."""


def did_you_mean(received: str, valid: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest valid value, or '' when none is close."""
    match = difflib.get_close_matches(received, list(valid), n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


def is_interrupt(err: BaseException) -> bool:
    """Whether ``err`` is a Ctrl-C, in any of the shapes DuckDB and ADBC drivers report one.

    A SIGINT during a query surfaces as ``RuntimeError('Query interrupted')``, an interrupted
    connection as ``duckdb.InterruptException``, and one inside a Python stream DuckDB was
    scanning as an ``InvalidInputException`` that quotes the ``KeyboardInterrupt``. An ADBC
    call asks its driver to cancel, and one that can't (SQLite's bulk ingest) raises its
    error from the ``KeyboardInterrupt``.
    """
    if isinstance(err, KeyboardInterrupt | duckdb.InterruptException):
        return True
    if isinstance(err.__cause__, KeyboardInterrupt):
        return True
    if isinstance(err, RuntimeError) and str(err) == "Query interrupted":
        return True
    return isinstance(err, duckdb.Error) and "KeyboardInterrupt" in str(err)


@contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    """Re-raise every shape of Ctrl-C inside the block as ``KeyboardInterrupt``."""
    try:
        yield
    except Exception as err:
        if is_interrupt(err):
            raise KeyboardInterrupt from err
        raise

"""Errors the graphlet stage raises; all are :class:`mlprov.provenance.errors.MlprovError`, so the
CLI prints them on one line and exits with code 2."""

from __future__ import annotations

from mlprov.provenance.errors import MlprovError


class GraphletError(MlprovError):
    """Base class of the graphlet stage's errors."""


class UnknownPipelineError(GraphletError):
    """A pipeline name that no ingested source holds."""


class UnknownGraphletError(GraphletError):
    """A graphlet id that is not in the store (or is ambiguous across sources)."""


class NotBuiltError(GraphletError):
    """Graphlets are asked for but were never built in this store."""


class ConflictingRulesError(GraphletError):
    """The store's sources were ingested with deploy rules one build cannot combine."""


class StaleGraphletsError(GraphletError):
    """Graphlets that do not reflect the store (a later ingest, other rules, an older mlprov)
    where they may not be refreshed (``--no-refresh``, a read-only database)."""


class SparkUnavailableError(GraphletError):
    """``--engine spark`` where pyspark or a Java runtime is missing."""


class SparkJobError(GraphletError):
    """The Spark job of ``--engine spark`` failed (an executor without mlprov, a lost
    executor, an unreadable lake); the store is unchanged."""

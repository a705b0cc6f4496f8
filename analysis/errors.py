"""Errors raised by the analyses, the report and the demo (one line each on the CLI, exit 2)."""

from __future__ import annotations

from mlprov.provenance.errors import MlprovError


class ReportError(MlprovError):
    """A report cannot be built or written: empty scope, unusable output or previous report."""


class SampleDataNotFoundError(MlprovError):
    """The bundled sample store for ``mlprov demo`` is not where a source checkout keeps it."""


class ProjectError(MlprovError):
    """The project file (``mlprov.toml``) is missing, unreadable or names something invalid."""


class NonFiniteCostError(MlprovError):
    """Costs are infinite, or so large that their sums overflow: no total would be a number."""


class PruningError(MlprovError):
    """The simulation cannot run as asked (unknown policy, empty training or test period)."""

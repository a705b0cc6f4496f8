"""The waste report: ``report.html`` (self-contained), ``report.md`` and ``summary.json``,
with drill-down pages for its top pipelines and their graphlets in ``pages/``.

:func:`build_report` runs the analyses over one scope and renders them; :func:`write_report`
puts the files in a directory atomically. The keys of ``summary.json`` are a stable,
documented contract for dashboards (README, "summary.json"); :data:`SUMMARY_FORMAT` changes
when a key changes meaning or goes away.

The parts: :mod:`~mlprov.analysis.report.model` (what the report shows, and summary.json),
:mod:`~mlprov.analysis.report.tables` (its tables and figures),
:mod:`~mlprov.analysis.report.formatting` (words, numbers and templates),
:mod:`~mlprov.analysis.report.sections` (the sections other analyses contribute) and
:mod:`~mlprov.analysis.report.files` (writing and reading report directories).

Example:
    >>> from mlprov.provenance.store import ProvenanceStore
    >>> from mlprov.graphlets import build_graphlets  # doctest: +SKIP
    >>> report = build_report(store, Scope.of(since=datetime(2025, 1, 1)))  # doctest: +SKIP
    >>> write_report(report, "report/")  # doctest: +SKIP
"""

from mlprov.analysis.report.files import FILES, load_summary, write_report
from mlprov.analysis.report.model import SUMMARY_FORMAT, Analyses, Report, analyze, build_report
from mlprov.analysis.report.sections import Section, extra_sections, pruning_section
from mlprov.analysis.report.tables import HEADLINE

__all__ = [
    "FILES",
    "HEADLINE",
    "SUMMARY_FORMAT",
    "Analyses",
    "Report",
    "Section",
    "analyze",
    "build_report",
    "extra_sections",
    "load_summary",
    "pruning_section",
    "write_report",
]

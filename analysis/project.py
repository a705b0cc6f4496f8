"""The scheduled job: a project file (``mlprov.toml``) and :func:`run_project`, which ingests
every source, brings the graphlets up to date and writes the waste report.

Example:
    >>> from importlib import resources
    >>> templates = resources.files("mlprov.analysis").joinpath("templates")
    >>> starter = templates.joinpath("mlprov.toml").read_text()
    >>> parse_project(starter, Path("/srv/mlprov/mlprov.toml")).report.out
    PosixPath('/srv/mlprov/report')
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from mlprov.analysis.errors import ProjectError
from mlprov.analysis.frames import STALE_AFTER, Scope, parse_duration
from mlprov.analysis.report import Report, build_report, load_summary, write_report
from mlprov.graphlets import BuildReport, build_graphlets, current_rules
from mlprov.provenance.conventions import load_mapping
from mlprov.provenance.errors import did_you_mean
from mlprov.provenance.ingest import LoadReport, Strictness, ingest, parse_source
from mlprov.provenance.store import ProvenanceStore

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: The name ``mlprov run`` looks for in the working directory.
PROJECT_FILE = "mlprov.toml"

_KEYS = {
    "": ("database", "memory_limit", "report", "sources"),
    "report": ("out", "window", "fail_above", "stale_after", "top"),
    "sources": ("location", "mapping", "strict", "kind"),
}


@dataclass(frozen=True)
class SourceSpec:
    """One ``[[sources]]`` table: where to read, with which mapping and strictness.

    ``location`` is as written: environment variables are expanded, and a relative path taken
    from the project's folder, only when the job runs (:meth:`Project.locate`), so secrets
    stay out of the parsed project.
    """

    location: str
    mapping: Path | None = None
    strict: Strictness = "raise"
    kind: str | None = None


@dataclass(frozen=True)
class ReportSpec:
    """The ``[report]`` table.

    Attributes:
        out: the report directory.
        window: the span before the run that the report covers; None for the whole history.
        fail_above: the wasted share above which the run exits with code 3; None for never.
        stale_after: see :class:`mlprov.analysis.frames.Liveness`.
        top: pipelines in the "most wasteful" table.
    """

    out: Path
    window: timedelta | None = timedelta(days=30)
    fail_above: float | None = None
    stale_after: timedelta = STALE_AFTER
    top: int = 10


@dataclass(frozen=True)
class Project:
    """A parsed project file; paths are absolute (relative ones are taken from its folder)."""

    path: Path
    database: Path
    sources: tuple[SourceSpec, ...]
    report: ReportSpec
    memory_limit: str | None = None

    def locate(self, source: SourceSpec) -> str:
        """The source's location with ``${NAME}`` expanded (:func:`expand_env`) and a relative
        path taken from the project file's folder."""
        location = expand_env(source.location)
        return location if "://" in location else str(self.path.parent / location)


@dataclass(frozen=True)
class RunResult:
    """What one :func:`run_project` did.

    Attributes:
        loads: the load report of each source, in the project's order.
        build: what the graphlet refresh rebuilt.
        report_dir: the report written.
        summary: its summary.json.
        above_threshold: the wasted share is above ``fail_above``.
    """

    loads: tuple[LoadReport, ...]
    build: BuildReport
    report_dir: Path
    summary: dict[str, Any]
    above_threshold: bool


def starter_text() -> str:
    """The commented starter project file that ``mlprov init`` writes."""
    return resources.files("mlprov.analysis").joinpath("templates", "mlprov.toml").read_text()


def load_project(path: str | Path) -> Project:
    """Read and check a project file.

    Raises:
        ProjectError: the file is missing or unreadable, or names something invalid.
    """
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ProjectError(
            f"no project file at {path}; write a starter one with 'mlprov init'"
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise ProjectError(f"cannot read project file {path}: {err}") from err
    return parse_project(text, path)


def parse_project(text: str, path: Path) -> Project:
    """Parse project-file ``text`` as if read from ``path`` (relative paths start there).

    Raises:
        ProjectError: not TOML, or a key or value that is not valid.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ProjectError(f"{path} is not valid TOML: {err}") from err
    _check_keys(path, "", data)
    here = path.parent
    report = _table(path, data, "report")
    sources = data.get("sources")
    if (
        not isinstance(sources, list)
        or not sources
        or not all(isinstance(s, dict) for s in sources)
    ):
        raise ProjectError(f"{path}: add at least one [[sources]] table with a location")
    window = report.get("window", "30d")
    fail_above = report.get("fail_above")
    if fail_above is not None and not (
        isinstance(fail_above, int | float) and 0 <= fail_above <= 1
    ):
        raise ProjectError(f"{path}: [report] fail_above must be a share from 0 to 1")
    top = report.get("top", 10)
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ProjectError(f"{path}: [report] top must be a whole number of at least 1")
    return Project(
        path=path,
        database=here / _string(path, data, "database", "prov.duckdb"),
        sources=tuple(_source(path, here, s) for s in sources),
        report=ReportSpec(
            out=here / _string(path, report, "out", "report"),
            window=None if window == "all" else _duration(path, "window", window),
            fail_above=None if fail_above is None else float(fail_above),
            stale_after=_duration(path, "stale_after", report.get("stale_after", "24h")),
            top=top,
        ),
        memory_limit=data.get("memory_limit"),
    )


def _source(path: Path, here: Path, table: dict[str, Any]) -> SourceSpec:
    _check_keys(path, "sources", table)
    if not isinstance(table.get("location"), str) or not table["location"]:
        raise ProjectError(f"{path}: every [[sources]] table needs a location (a path or URL)")
    strict = table.get("strict", "raise")
    if strict not in ("raise", "warn", "skip"):
        raise ProjectError(
            f"{path}: strict must be raise, warn or skip, got {strict!r}."
            f"{did_you_mean(str(strict), ('raise', 'warn', 'skip'))}"
        )
    mapping = table.get("mapping")
    return SourceSpec(
        location=table["location"],
        mapping=None if mapping is None else here / _string(path, table, "mapping", ""),
        strict=strict,
        kind=table.get("kind"),
    )


def _check_keys(path: Path, where: str, table: Mapping[str, Any]) -> None:
    for key in table:
        if key not in _KEYS[where]:
            name = f"[{where}] key" if where else "key"
            raise ProjectError(
                f"{path}: unknown {name} {key!r}; valid keys are {', '.join(_KEYS[where])}."
                f"{did_you_mean(key, _KEYS[where])}"
            )


def _table(path: Path, data: Mapping[str, Any], key: str) -> dict[str, Any]:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ProjectError(f"{path}: {key} must be a table ([{key}])")
    _check_keys(path, key, table)
    return table


def _string(path: Path, table: Mapping[str, Any], key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ProjectError(f"{path}: {key} must be a non-empty string, got {value!r}")
    return value


def _duration(path: Path, key: str, value: Any) -> timedelta:
    try:
        return parse_duration(str(value))
    except ValueError as err:
        raise ProjectError(f"{path}: {key}: {err}") from err


def expand_env(location: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace each ``${NAME}`` in ``location`` by the environment variable NAME.

    Raises:
        ProjectError: a variable is not set.

    Example:
        >>> expand_env("mysql://u:${PW}@db/metadb", {"PW": "s3cret"})
        'mysql://u:s3cret@db/metadb'
    """
    env = os.environ if environ is None else environ

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ProjectError(f"a source location uses ${{{name}}}, which is not set; export it")
        return env[name]

    return re.sub(r"\$\{(\w+)\}", value, location)


def run_project(
    project: Project,
    as_of: datetime,
    *,
    progress: Callable[..., None] | None = None,
) -> RunResult:
    """Ingest every source, refresh the graphlets, and write the report over the window.

    The report covers ``[as_of - window, as_of)`` and is compared with the report the last run
    left in the same directory.

    Args:
        project: a :func:`load_project` result.
        as_of: the time of the run (UTC): the window's end and the time RUNNING work is judged
            against.
        progress: called as ingest reads (see :func:`mlprov.provenance.ingest.ingest`).

    Raises:
        MlprovError subclasses from ingest, the graphlet build and the report.
    """
    spec = project.report
    previous_file = spec.out / "summary.json"
    previous = load_summary(previous_file) if previous_file.is_file() else None
    scope = Scope.of(
        None if spec.window is None else as_of - spec.window,
        None if spec.window is None else as_of,
        as_of=as_of,
        stale_after=spec.stale_after,
    )
    # Every source and mapping is checked before the database is opened (or created).
    sources = [
        (parse_source(project.locate(s), s.kind), load_mapping(s.mapping), s.strict)
        for s in project.sources
    ]
    with ProvenanceStore.open(project.database, memory_limit=project.memory_limit) as store:
        loads = [
            ingest(store, source, mapping=mapping, strict=strict, progress=progress)
            for source, mapping, strict in sources
        ]
        build = build_graphlets(store, current_rules(store))
        report: Report = build_report(store, scope, previous=previous, top=spec.top)
    written = write_report(report, spec.out)
    share = report.summary["headline"]["wasted_share"]
    above = spec.fail_above is not None and share is not None and share > spec.fail_above
    return RunResult(tuple(loads), build, written, report.summary, above)

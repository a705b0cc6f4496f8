"""The waste report: ``report.html`` (self-contained), ``report.md`` and ``summary.json``,
with drill-down pages for its top pipelines and their graphlets in ``pages/``.

:func:`build_report` runs the analyses over one scope and renders them; :func:`write_report`
puts the files in a directory atomically. The keys of ``summary.json`` are a stable,
documented contract for dashboards (README, "summary.json"); :data:`SUMMARY_FORMAT` changes
when a key changes meaning or goes away.

Example:
    >>> from provenance.store import ProvenanceStore
    >>> from graphlets import build_graphlets  # doctest: +SKIP
    >>> report = build_report(store, Scope.of(since=datetime(2025, 1, 1)))  # doctest: +SKIP
    >>> write_report(report, "report/")  # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import errno
import glob
import html
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import plots
from analysis.characterize import (
    characterization_summary,
    component_usage,
    execution_states,
    input_windows,
    model_types,
    pipeline_lifespans,
    training_cadence,
    training_gaps,
)
from analysis.drilldown import GRAPHLET_PAGES, PAGES, PipelineHtml, drilldown_pages, pipeline_href
from analysis.errors import ReportError
from analysis.frames import ALL, Scope, graphlet_frame, shared_frames
from analysis.present import EmbeddedFigure, Table
from analysis.present import num as _num
from analysis.present import pct as _pct
from analysis.present import template_env as _env
from analysis.reuse import cache_savings, recomputed_work, reuse_summary
from analysis.waste import waste_by_category, waste_by_pipeline, waste_by_week, waste_summary
from provenance.store import ProvenanceStore
from provenance.summary import no_deploy_signal, no_deploy_signal_note

#: Version of the summary.json layout (README, "summary.json").
SUMMARY_FORMAT = 1
FILES = ("report.html", "report.md", "summary.json")

#: Headline figures: summary.json key under "headline", label, kind (cost, share, count).
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("wasted_share", "Wasted share of total cost", "share"),
    ("wasted_cost", "Wasted cost", "cost"),
    ("total_cost", "Total cost", "cost"),
    ("orphan_cost", "of which orphan computation (in no graphlet)", "cost"),
    ("abandoned_cost", "of which abandoned work (left running, never finished)", "cost"),
    ("in_flight_cost", "In flight (trainer still running; not waste)", "cost"),
    ("unpushed_share", "Graphlets that did not push", "share"),
    ("graphlets", "Graphlets (model trainings)", "count"),
    ("in_flight_graphlets", "Graphlets in flight", "count"),
    ("abandoned_graphlets", "Graphlets abandoned (trainer left running)", "count"),
    ("unpushed_split_cost", "Split cost of unpushed graphlets", "cost"),
    ("recomputed_cost", "Upstream work recomputed over spans already processed", "cost"),
    ("cache_saved_cost", "Cost saved by cache hits", "cost"),
    ("pipelines", "Pipelines", "count"),
    ("executions", "Executions", "count"),
)


@dataclass(frozen=True)
class Section:
    """An extra section of the report, contributed by another analysis (see
    :func:`pruning_section`).

    Attributes:
        key: its key under ``sections`` in summary.json, e.g. ``pruning``.
        title: its heading.
        html: its body as HTML (figures as base64 ``data:`` URLs: the report is self-contained).
        markdown: its body as Markdown.
        summary: JSON-ready figures for summary.json.
        pipeline_html: its part of each pipeline's page, when it has one: (pipeline name,
            the pipeline's graphlets) -> HTML (see :mod:`analysis.drilldown`).
    """

    key: str
    title: str
    html: str
    markdown: str
    summary: Mapping[str, Any] = field(default_factory=dict)
    pipeline_html: PipelineHtml | None = None


@dataclass(frozen=True)
class Report:
    """A built report: the three files' contents, and the drill-down pages (path inside the
    report directory, under :data:`~analysis.drilldown.PAGES`, to HTML)."""

    summary: dict[str, Any]
    html: str
    markdown: str
    pages: Mapping[str, str] = field(default_factory=dict)


def pruning_section(store: ProvenanceStore, scope: Scope) -> Section | None:
    """The pruning simulation's section: what skipping likely non-pushes would have saved.

    The simulation needs the whole history to train on the past and test on the future, so it
    runs over every graphlet whatever the report's ``scope``; the section says so. Where the
    history is too short to split, the section says why instead of showing figures.
    """
    from analysis.errors import NonFiniteCostError
    from analysis.pruning import PruningError, simulate_pruning
    from analysis.pruning_report import headline_text, pipeline_decisions
    from analysis.pruning_report import pruning_section as render

    note = "Simulated over the whole history in the store (not only the report's time range)."
    try:
        result = simulate_pruning(store, seed=0, liveness=scope.liveness)
    except (PruningError, NonFiniteCostError) as err:
        text = f"Not simulated: {err}"
        return Section(
            "pruning",
            "Pruning simulation",
            f"<p>{html.escape(text)}</p>",
            text,
            {"simulated": False, "reason": str(err)},
        )
    headline = result.headline
    summary: dict[str, Any] = {
        "simulated": True,
        "headline": headline_text(result),
        "train_graphlets": result.n_train,
        "test_graphlets": result.n_test,
        "learned_wasted_saved": headline.wasted_saved if headline else None,
        "learned_total_saved": headline.total_saved if headline else None,
        "learned_pushes_kept": headline.pushes_kept if headline else None,
        "learned_threshold": headline.threshold if headline else None,
    }
    return Section(
        "pruning",
        "Pruning simulation",
        f"<p>{html.escape(note)}</p>" + render(result, fmt="html", title=False),
        f"{note}\n\n" + render(result, fmt="markdown", title=False),
        summary,
        pipeline_html=partial(pipeline_decisions, result),
    )


def extra_sections(store: ProvenanceStore, scope: Scope) -> list[Section]:
    """The sections other analyses contribute to the report (pruning; drift, when payloads
    were read)."""
    from analysis.drift_report import drift_section

    return [
        s for s in (pruning_section(store, scope), drift_section(store, scope)) if s is not None
    ]


def build_report(
    store: ProvenanceStore,
    scope: Scope = ALL,
    *,
    unit: str | None = None,
    previous: Mapping[str, Any] | None = None,
    top: int = 10,
    sections: Sequence[Section] | None = None,
    graphlet_pages: int = GRAPHLET_PAGES,
) -> Report:
    """Run every analysis over the scope and render the report.

    Args:
        store: a store with graphlets built.
        scope, unit: the scope and cost unit (see :mod:`analysis.frames`).
        previous: an earlier report's summary.json; each headline figure then shows its change
            (not when it covered another kind of range or other pipelines: see ``changes``).
        top: how many pipelines the "most wasteful" table and figure show; each gets a
            drill-down page.
        sections: extra sections; default :func:`extra_sections`.
        graphlet_pages: how many graphlets of each of those pipelines get a page (the
            latest; 0: none).

    Returns:
        The :class:`Report`; nothing is written (see :func:`write_report`).

    Raises:
        ReportError: no executions in scope.
        StoreError: graphlets have not been built.
    """
    with shared_frames():  # the analyses below read the same few frames
        waste = waste_summary(store, scope, unit=unit)
        if waste.executions == 0:
            raise ReportError(
                f"no executions in {store.path} {_range_text(scope)}"
                f"{_pipelines_text(scope)}; widen --since/--until or check --pipeline"
            )
        unit = waste.cost_unit
        reuse = reuse_summary(store, scope, unit=unit)
        traits = characterization_summary(store, scope)
        by_pipeline = waste_by_pipeline(store, scope, top=top, unit=unit)
        by_category = waste_by_category(store, scope, unit=unit)
        by_component = waste_by_category(store, scope, by="component", unit=unit)
        by_week = waste_by_week(store, scope, unit=unit)
        usage = component_usage(store, scope, unit=unit)
        component_use = component_usage(store, scope, by="component", unit=unit)
        lifespans = pipeline_lifespans(store, scope)
        cadence = training_cadence(store, scope)
        gaps = training_gaps(store, scope)
        windows = input_windows(store, scope)
        models = model_types(store, scope)
        states = execution_states(store, scope, unit=unit)
        recomputed = recomputed_work(store, scope, unit=unit)
        savings = cache_savings(store, scope, unit=unit)
        graphlets = graphlet_frame(store, scope, unit)
    # after the shared frames are released: the pruning simulation loads its own data
    sections = list(extra_sections(store, scope) if sections is None else sections)
    pages = drilldown_pages(
        store,
        unit,
        by_pipeline,
        graphlets,
        [(s.key, s.title, s.pipeline_html) for s in sections if s.pipeline_html is not None],
        graphlet_pages=graphlet_pages,
    )
    pipeline_links = [
        (name if isinstance(name, str) else "(no pipeline)", f"{PAGES}/{pipeline_href(name)}")
        for name in by_pipeline["pipeline"]
    ]

    headline = {
        **{
            k: v
            for k, v in waste.to_dict().items()
            if k not in ("cost_unit", "since", "until", "first_start", "last_end")
        },
        "cached_share": traits.cached_share,
        "failed_share": traits.failed_share,
        "recomputed_cost": reuse.recomputed_cost,
        "recomputed_share": reuse.recomputed_share,
        "cache_hits": reuse.cache_hits,
        "cache_saved_cost": reuse.cache_saved_cost,
    }
    changes, changes_note = _changes(headline, unit, scope, previous)
    notes = source_notes(store, headline)
    summary = _json_ready(
        {
            "format": SUMMARY_FORMAT,
            "database": Path(store.path).name,
            "cost_unit": unit,
            "since": scope.since,
            "until": scope.until,
            "as_of": scope.liveness.as_of,
            "stale_after_hours": scope.liveness.stale_after.total_seconds() / 3600,
            "first_start": waste.first_start,
            "last_end": waste.last_end,
            "pipeline_filter": list(scope.pipelines) if scope.pipelines is not None else None,
            "headline": headline,
            "changes": changes,
            "characterization": traits.to_dict(),
            "top_pipelines": by_pipeline[
                [
                    "pipeline",
                    "total_cost",
                    "wasted_cost",
                    "wasted_share",
                    "graphlets",
                    "unpushed_graphlets",
                ]
            ].to_dict("records"),
            "by_category": by_category[
                ["category", "total_cost", "share_of_total", "wasted_cost", "wasted_share"]
            ].to_dict("records"),
            "by_week": by_week.assign(week=by_week["week"].dt.strftime("%Y-%m-%d"))[
                ["week", "total_cost", "wasted_cost", "in_flight_cost", "wasted_share"]
            ].to_dict("records"),
            "sections": {s.key: dict(s.summary) for s in sections},
            **notes,
        }
    )

    figures = [
        EmbeddedFigure(
            "waste_over_time",
            "Cost per week by outcome",
            f"Weekly cost ({unit}) of executions by the week they started: reached a deployed "
            "model, wasted (in no deployed graphlet), or still in flight.",
            plots.png_base64(plots.waste_over_time(by_week, unit)),
        ),
        EmbeddedFigure(
            "top_wasteful",
            "Most wasteful pipelines",
            f"Wasted cost ({unit}) of the {top} pipelines that waste the most.",
            plots.png_base64(plots.top_wasteful(by_pipeline, unit)),
        ),
        EmbeddedFigure(
            "compute_share",
            "Compute share by category",
            f"Share of total cost ({unit}) per operator category.",
            plots.png_base64(plots.compute_share(usage, unit)),
        ),
        EmbeddedFigure(
            "lifespan_cdf",
            "Pipeline lifespan",
            "CDF over pipelines of the days from first execution start to last execution "
            "end (within the range).",
            plots.png_base64(
                plots.cdf(
                    lifespans["lifespan_days"],
                    xlabel="lifespan (days)",
                    title="Pipeline lifespan (CDF)",
                )
            ),
        ),
        EmbeddedFigure(
            "cadence_cdf",
            "Training cadence",
            "CDF over pipelines of graphlets (model trainings) per day of lifespan.",
            plots.png_base64(
                plots.cdf(
                    cadence["graphlets_per_day"],
                    xlabel="trainings per day (log)",
                    title="Training cadence (CDF)",
                    log=True,
                )
            ),
        ),
        EmbeddedFigure(
            "gap_cdf",
            "Gaps between trainings",
            "CDF over consecutive trainings of a pipeline of the hours between them.",
            plots.png_base64(
                plots.cdf(
                    gaps["gap_hours"],
                    xlabel="hours (log)",
                    title="Time between trainings (CDF)",
                    log=True,
                )
            ),
        ),
        EmbeddedFigure(
            "span_overlap",
            "Input span overlap",
            "Share of each graphlet's input spans that the previous graphlet of its "
            "pipeline also read.",
            plots.png_base64(plots.span_overlap(windows)),
        ),
    ]
    tables = _tables(
        unit,
        top,
        [href for _, href in pipeline_links],
        by_pipeline,
        by_category,
        by_component,
        component_use,
        states,
        models,
        recomputed,
        savings,
    )
    context = {
        "summary": summary,
        "unit": unit,
        "range": _range_text(scope, waste.first_start, waste.last_end),
        "pipelines_text": _pipelines_text(scope),
        "headline": _headline_rows(headline, changes, unit),
        "has_previous": previous is not None,
        "changes_note": changes_note,
        **notes,
        "waste": waste,
        "reuse": reuse,
        "traits": _trait_rows(traits),
        "figures": {f.key: f for f in figures},
        "tables": tables,
        "sections": sections,
        "pipeline_links": pipeline_links,
        "pct": _pct,
        "num": _num,
    }
    html = _env(autoescape=True).get_template("report.html.j2").render(context)
    markdown = _env(autoescape=False).get_template("report.md.j2").render(context)
    return Report(summary=summary, html=html, markdown=markdown, pages=pages)


def write_report(report: Report, out_dir: str | Path) -> Path:
    """Write the report's files and pages into ``out_dir``, replacing an earlier report
    atomically.

    Everything is written into a hidden directory beside ``out_dir`` and swapped in only when
    complete, so a failure never leaves a half-written report in place of a good one. On Linux
    the swap is one ``renameat2(RENAME_EXCHANGE)``: at every instant, even under ``kill -9``,
    ``out_dir`` holds the whole previous or the whole new report. Where the exchange is not
    available (other systems, file systems without it) the swap is two renames, and a run
    killed between them leaves the previous report in ``.<name>.*.old``; every run first puts
    such a leftover back (or removes it, and any ``.<name>.*.partial``) before writing.

    Raises:
        ReportError: ``out_dir`` or a directory above it is a file, or ``out_dir`` holds files
            other than a report's (which a swap would delete).
        OSError: a file cannot be written (its ``filename`` is ``out_dir``).
    """
    out = Path(out_dir).absolute()
    above = next(p for p in out.parents if p.exists())
    if not above.is_dir():
        raise ReportError(f"--out {out_dir}: {above} is a file, not a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with _locked(out.parent):
            _recover(out)
            _check_out(out, out_dir)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=PARTIAL, dir=out.parent))
            try:
                summary = json.dumps(report.summary, indent=2, allow_nan=False) + "\n"
                _write(tmp / "report.html", report.html)
                _write(tmp / "report.md", report.markdown)
                _write(tmp / "summary.json", summary)
                for name, text in report.pages.items():
                    _write(_inside(tmp, name), text)
                tmp.chmod(0o755)
                _swap(tmp, out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)  # after a swap: the previous report
    except OSError as err:
        # the failing file is one of ours, beside or inside out_dir: name what the user gave
        raise OSError(err.errno, err.strerror, str(out_dir)) from err
    return out


#: Suffixes of the hidden directories beside ``--out``: a report being written, and (only
#: where the swap is two renames) the previous report between them.
PARTIAL, OLD = ".partial", ".old"


def _check_out(out: Path, out_dir: str | Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out_dir} is a file; pass a directory for the report")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in (*FILES, PAGES))
        if foreign:
            raise ReportError(
                f"--out {out_dir} holds other files ({', '.join(foreign[:3])}); "
                "the report replaces its directory whole, so pass a new or "
                "report-only directory"
            )


def _inside(directory: Path, name: str) -> Path:
    """``directory / name`` for a page name such as ``pages/x.html``, its folder created;
    a name reaching outside ``directory`` is a bug, not a path to follow."""
    path = (directory / name).resolve()
    if directory.resolve() not in path.parents:
        raise ValueError(f"report page {name!r} is outside the report")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write(path: Path, text: str) -> None:
    """Write ``text`` and flush it to disk, so a swapped-in report is whole after a crash too."""
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _recover(out: Path) -> None:
    """Undo what an interrupted :func:`write_report` into ``out`` left beside it: put the
    previous report back when ``out`` is missing, then remove the hidden leftovers."""
    pattern = f".{glob.escape(out.name)}.*"
    leftovers = sorted(out.parent.glob(pattern), key=lambda p: p.suffix != OLD)  # .old first
    for leftover in leftovers:
        if leftover.suffix == OLD and not out.exists():
            os.rename(leftover, out)
        elif leftover.suffix in (OLD, PARTIAL) and leftover.is_dir():
            shutil.rmtree(leftover)


def _swap(new: Path, out: Path) -> None:
    """Put directory ``new`` at ``out``; an existing ``out`` moves to ``new``'s path."""
    if not out.exists():
        os.rename(new, out)
    elif not _exchange(new, out):
        old = new.with_suffix(OLD)
        os.rename(out, old)
        os.rename(new, out)  # a kill before this line is undone by the next _recover
        os.rename(old, new)


#: renameat2's flag and "relative to the working directory" (linux/fs.h, fcntl.h)
_RENAME_EXCHANGE, _AT_FDCWD = 2, -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step with Linux's ``renameat2(RENAME_EXCHANGE)``.

    Returns:
        True when swapped; False where the system or file system has no such call.
    """
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)  # glibc >= 2.28
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory``: reports written into it take turns, so one
    run's recovery never removes another's report in progress (no lock without ``fcntl``)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_summary(path: str | Path) -> dict[str, Any]:
    """Read an earlier report's summary.json (``path`` is the report directory or the file).

    Raises:
        ReportError: the file is missing, not JSON, or not an mlprov summary.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "summary.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ReportError(
            f"--previous {path}: no summary.json there; pass the directory of an "
            "earlier 'mlprov report'"
        ) from err
    except (OSError, ValueError) as err:
        raise ReportError(f"--previous {path}: cannot read {file} as JSON ({err})") from err
    if not isinstance(data, dict) or "headline" not in data or "format" not in data:
        raise ReportError(
            f"--previous {path}: {file} is not an mlprov report summary "
            "(no 'format' and 'headline' keys)"
        )
    shape = (
        ("headline", dict, "an object"),
        ("format", int, "a number"),
        ("cost_unit", str | None, "a string"),
    )
    for key, kind, what in shape:
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise ReportError(
                f"--previous {path}: {file} is not an mlprov report summary ('{key}' is "
                f"{type(data.get(key)).__name__}, not {what}); pass the directory of an "
                "earlier 'mlprov report'"
            )
    return data


def _changes(
    headline: Mapping[str, Any], unit: str, scope: Scope, previous: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, str]:
    """Per headline key: the previous value and the change.

    Nothing is subtracted across reports of other pipelines or of another kind of range (a
    range of another length, or a bounded range against the whole history), and costs only in
    the same unit; the note says what was left out and why.
    """
    if previous is None:
        return None, ""
    why = _incomparable(scope, previous)
    if why:
        return {}, f"Changes are not shown: {why}."
    before = previous.get("headline") or {}
    same_unit = previous.get("cost_unit") == unit
    changes = {}
    for key, value in headline.items():
        old = before.get(key)
        if key.endswith("_cost") and not same_unit:
            continue
        if _finite(value) and _finite(old):
            changes[key] = {"previous": old, "change": value - old}
    note = (
        ""
        if same_unit
        else (
            f"The previous report counted cost in {previous.get('cost_unit')!r}, this one in "
            f"{unit!r}: cost changes are not shown."
        )
    )
    return changes, note


def _incomparable(scope: Scope, previous: Mapping[str, Any]) -> str:
    """Why a previous summary cannot be compared with a report over ``scope`` ('' if it can)."""
    pipelines = list(scope.pipelines) if scope.pipelines is not None else None
    if previous.get("pipeline_filter") != pipelines:
        return (
            f"the previous report covered pipelines {previous.get('pipeline_filter') or 'all'}, "
            f"this one {pipelines or 'all'}"
        )

    def length(since: Any, until: Any) -> Any:
        if since is None or until is None:
            return (since is None, until is None)
        return pd.Timestamp(until) - pd.Timestamp(since)

    try:
        before = length(previous.get("since"), previous.get("until"))
    except (TypeError, ValueError):
        return "the previous report's since/until are not times"
    if before != length(scope.since, scope.until):
        return (
            f"the previous report covered {previous.get('since') or 'the beginning'} to "
            f"{previous.get('until') or 'the end'}, a range of another length than this one's"
        )
    return ""


def _headline_rows(
    headline: Mapping[str, Any], changes: Mapping[str, Any] | None, unit: str
) -> list[dict[str, str]]:
    rows = []
    for key, label, kind in HEADLINE:
        value = headline[key]
        change = (changes or {}).get(key)
        rows.append(
            {
                "key": key,
                "label": label,
                "value": _fmt(value, kind, unit),
                "change": "" if change is None else _fmt_change(change["change"], kind, unit),
            }
        )
    return rows


def _trait_rows(traits: Any) -> list[tuple[str, str]]:
    return [
        ("Median pipeline lifespan", f"{_num(traits.median_lifespan_days)} days"),
        ("Median trainings per pipeline-day", _num(traits.median_graphlets_per_day)),
        ("Median time between trainings", f"{_num(traits.median_gap_hours)} hours"),
        ("Median executions per graphlet", _num(traits.median_graphlet_executions)),
        ("Median graphlet depth", _num(traits.median_graphlet_depth)),
        ("Median input spans per graphlet", _num(traits.median_window_spans)),
        ("Mean span overlap with the previous graphlet", _pct(traits.mean_span_overlap)),
        ("Cached executions", _pct(traits.cached_share)),
        ("Failed executions", _pct(traits.failed_share)),
    ]


def _tables(
    unit: str,
    top: int,
    pipeline_links: list[str],
    by_pipeline: pd.DataFrame,
    by_category: pd.DataFrame,
    by_component: pd.DataFrame,
    component_use: pd.DataFrame,
    states: pd.DataFrame,
    models: pd.DataFrame,
    recomputed: pd.DataFrame,
    savings: pd.DataFrame,
) -> dict[str, Table]:
    def rows(frame: pd.DataFrame, cells: Any) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(cells(r)) for r in frame.itertuples(index=False))

    reuse_by_component = (
        recomputed.groupby(["category", "component"], as_index=False)
        .agg(
            executions=("execution_id", "size"),
            recomputed_cost=("recomputed_cost", "sum"),
            cost=("cost", "sum"),
        )
        .sort_values("recomputed_cost", ascending=False)
    )
    saved_by_component = (
        savings.groupby(["category", "component"], as_index=False)
        .agg(
            hits=("execution_id", "size"),
            saved_cost=("saved_cost", "sum"),
            unknown=("originals", lambda o: int((o == 0).sum())),
        )
        .sort_values("saved_cost", ascending=False)
    )
    return {
        "pipelines": Table(
            f"Top {top} pipelines by wasted cost",
            (
                "pipeline",
                f"total ({unit})",
                f"wasted ({unit})",
                "wasted share",
                "graphlets",
                "unpushed",
                "unpushed share",
            ),
            rows(
                by_pipeline,
                lambda r: (
                    r.pipeline or "(no pipeline)",
                    _num(r.total_cost),
                    _num(r.wasted_cost),
                    _pct(r.wasted_share),
                    str(r.graphlets),
                    str(r.unpushed_graphlets),
                    _pct(r.unpushed_share),
                ),
            ),
            links=tuple(pipeline_links),
        ),
        "categories": Table(
            "Cost and waste by operator category",
            (
                "category",
                "executions",
                f"cost ({unit})",
                "share of cost",
                f"wasted ({unit})",
                "wasted share",
                "share of waste",
            ),
            rows(
                by_category,
                lambda r: (
                    r.category,
                    f"{r.executions:,}",
                    _num(r.total_cost),
                    _pct(r.share_of_total),
                    _num(r.wasted_cost),
                    _pct(r.wasted_share),
                    _pct(r.share_of_waste),
                ),
            ),
        ),
        "components": Table(
            "Cost and waste by component",
            (
                "category",
                "component",
                "executions",
                f"cost ({unit})",
                "share of cost",
                "wasted share",
            ),
            rows(
                by_component,
                lambda r: (
                    r.category,
                    r.component,
                    f"{r.executions:,}",
                    _num(r.total_cost),
                    _pct(r.share_of_total),
                    _pct(r.wasted_share),
                ),
            ),
            text_columns=2,
        ),
        "usage": Table(
            "Component usage",
            ("category", "component", "pipelines using it", "share of pipelines", "executions"),
            rows(
                component_use.sort_values(
                    ["pipelines", "category", "component"], ascending=[False, True, True]
                ),
                lambda r: (
                    r.category,
                    r.component,
                    str(r.pipelines),
                    _pct(r.pipeline_share),
                    f"{r.executions:,}",
                ),
            ),
            text_columns=2,
        ),
        "states": Table(
            "Executions by state",
            ("state", "executions", "share", f"cost ({unit})"),
            rows(states, lambda r: (r.state, f"{r.executions:,}", _pct(r.share), _num(r.cost))),
        ),
        "models": Table(
            "Model types",
            ("model type", "graphlets", "pipelines", "share of graphlets", "pushed share"),
            rows(
                models,
                lambda r: (
                    r.model_type,
                    str(r.graphlets),
                    str(r.pipelines),
                    _pct(r.graphlet_share),
                    _pct(r.pushed_share),
                ),
            ),
        ),
        "recomputed": Table(
            "Upstream work recomputed over spans already processed",
            ("category", "component", "executions", f"cost ({unit})", f"recomputed ({unit})"),
            rows(
                reuse_by_component,
                lambda r: (
                    r.category,
                    r.component,
                    f"{r.executions:,}",
                    _num(r.cost),
                    _num(r.recomputed_cost),
                ),
            ),
            text_columns=2,
            note="An execution reading n spanned inputs, s of which an earlier run of the same "
            "node already read, is charged s/n of its cost.",
        ),
        "cache": Table(
            "What caching already saves",
            ("category", "component", "cache hits", f"saved ({unit})", "original unknown"),
            rows(
                saved_by_component,
                lambda r: (
                    r.category,
                    r.component,
                    str(r.hits),
                    _num(r.saved_cost),
                    str(r.unknown),
                ),
            ),
            text_columns=2,
            note="A cache hit is costed at what the original run it re-published cost.",
        ),
    }


# Caveats of source kinds, said wherever a report includes such a source.
SOURCE_CAVEATS = {
    "mlflow": "MLflow keeps only the current alias or stage of a model version, not its "
    "history: a version deployed earlier and since replaced counts as not deployed, so the "
    "waste of MLflow sources is an upper bound.",
}


def source_notes(store: ProvenanceStore, headline: dict[str, Any]) -> dict[str, Any]:
    """The report's notes on its sources: caveats of their kinds, and sources whose deploy
    signal cannot be found (every graphlet of theirs counts as not deployed).

    Returns:
        ``source_notes`` (sentences), ``no_deploy_signal`` (the locations of the sources
        without a deploy signal) and ``withhold_share`` (some source has none and nothing was
        deployed: the headline says so instead of a wasted share of 100%).
    """
    kinds = [
        k for (k,) in store.con.execute("SELECT kind FROM sources ORDER BY source_id").fetchall()
    ]
    silent = no_deploy_signal(store)
    return {
        "source_notes": [
            *dict.fromkeys(SOURCE_CAVEATS[k] for k in kinds if k in SOURCE_CAVEATS),
            *map(no_deploy_signal_note, silent),
        ],
        "no_deploy_signal": silent,
        "withhold_share": bool(silent) and not headline.get("pushed_graphlets"),
    }


def _range_text(scope: Scope, first: datetime | None = None, last: datetime | None = None) -> str:
    start = scope.since or first
    end = scope.until or last
    fmt = "%Y-%m-%d %H:%M UTC"
    return (
        f"from {start.strftime(fmt) if start else 'the beginning'} "
        f"to {end.strftime(fmt) if end else 'the end'}"
    )


def _pipelines_text(scope: Scope) -> str:
    return "" if scope.pipelines is None else f", pipelines {', '.join(scope.pipelines)}"


def _finite(value: Any) -> bool:
    """A finite int or float, not a bool (JSON's ``Infinity`` and ``NaN`` parse as floats)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any, kind: str, unit: str) -> str:
    if kind == "share":
        return _pct(value)
    if kind == "cost":
        return f"{_num(value)} {unit}"
    return _num(value)


def _fmt_change(change: float, kind: str, unit: str) -> str:
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    if kind == "share":
        return f"{sign}{abs(100 * change):.1f} pp"
    if kind == "cost":
        return f"{sign}{_num(abs(change))} {unit}"
    return f"{sign}{_num(abs(change))}"


def _json_ready(value: Any) -> Any:
    """Recursively: NaN to None, datetimes to ISO strings, numpy scalars to Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value

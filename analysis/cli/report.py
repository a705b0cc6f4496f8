"""``mlprov report`` and ``mlprov demo``."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from mlprov.analysis.cli.common import (
    DATE,
    Share,
    db_option,
    handle_errors,
    liveness,
    liveness_options,
)
from mlprov.analysis.cli.graphlets import current_store, no_refresh_option

#: Exit code of ``mlprov report --fail-above`` when the wasted share is above the threshold.
EXIT_WASTE_ABOVE = 3


@click.command()
@db_option
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write report.html, report.md, summary.json and pages/ into (replaced "
    "whole).",
)
@click.option("--since", type=DATE, help="First day (UTC) of executions to include.")
@click.option("--until", type=DATE, help="Day (UTC) before which executions are included.")
@click.option(
    "--pipeline", "pipelines", multiple=True, help="Only this pipeline (repeat for several)."
)
@click.option(
    "--previous",
    type=click.Path(exists=True),
    help="An earlier report directory: show each headline figure's change since.",
)
@click.option(
    "--fail-above",
    type=Share(),
    help="Exit with code 3 when the wasted share is above this (0-1).",
)
@click.option(
    "--top",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Pipelines in the 'most wasteful' table and figure; each gets a page.",
)
@click.option(
    "--graphlet-pages",
    default=5,
    show_default=True,
    type=click.IntRange(0),
    help="Latest graphlets of each of those pipelines that get a page of their own.",
)
@liveness_options
@no_refresh_option
@handle_errors
def report(
    db: str,
    out: str,
    since: datetime | None,
    until: datetime | None,
    pipelines: tuple[str, ...],
    previous: str | None,
    fail_above: float | None,
    top: int,
    graphlet_pages: int,
    as_of: datetime | None,
    stale_after: timedelta,
    no_refresh: bool,
) -> None:
    """Write the waste report of the database to OUT: HTML with figures, Markdown, JSON.

    Graphlets are brought up to date first (after a new ingest, only what it changed). The
    report states the cost unit and the time range; with --previous each headline figure
    shows its change since that report. Each of the --top pipelines links to a page of its
    graphlets, and its latest --graphlet-pages graphlets to pages with their lineage.
    """
    from mlprov.analysis.frames import Scope
    from mlprov.analysis.report import build_report, load_summary, write_report

    if since is not None and until is not None and since >= until:
        raise click.BadParameter(
            f"{since:%Y-%m-%d %H:%M:%S} is not before --until {until:%Y-%m-%d %H:%M:%S}; "
            "the range is half-open, so pass an earlier --since or a later --until",
            param_hint="'--since'",
        )
    before = load_summary(previous) if previous else None
    live = liveness(as_of, stale_after)
    scope = Scope.of(
        since, until, pipelines or None, as_of=live.as_of, stale_after=live.stale_after
    )
    with current_store(db, no_refresh) as store:
        built = build_report(store, scope, previous=before, top=top, graphlet_pages=graphlet_pages)
    written = write_report(built, out)
    share = built.summary["headline"]["wasted_share"]
    click.echo(f"{_wasted(built.summary)}; report in {written / 'report.html'}")
    if fail_above is not None and share is not None and share > fail_above:
        click.echo(f"wasted share {share:.1%} is above --fail-above {fail_above:.1%}", err=True)
        sys.exit(EXIT_WASTE_ABOVE)


@click.command()
@click.option(
    "--db",
    default="mlprov-demo.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The database to create for the demo.",
)
@click.option(
    "--out",
    default="mlprov-demo-report",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where to write the report.",
)
@click.option(
    "--sample",
    type=click.Path(exists=True, file_okay=False),
    help="The sample_data directory (default: the one installed with mlprov).",
)
@handle_errors
def demo(db: str, out: str, sample: str | None) -> None:
    """Ingest the bundled sample MLMD store, build graphlets and write the waste report."""
    from mlprov.analysis.demo import run_demo

    result = run_demo(db, out, sample_dir=Path(sample) if sample else None)
    click.echo(f"ingested {result.source} into {result.db}")
    click.echo(f"built {result.graphlets:,} graphlets; {_wasted(result.summary)}")
    click.echo(f"report: {result.report_dir / 'report.html'}")
    click.echo(f"        {result.report_dir / 'report.md'}")
    click.echo(f"        {result.report_dir / 'summary.json'}")
    click.echo(
        "next, on your own MLMD store:\n"
        "  mlprov ingest path/to/metadata.sqlite --db prov.duckdb\n"
        "  mlprov report --db prov.duckdb --out report/\n"
        "or, for a daily job: mlprov init, set its sources, then mlprov run"
    )


def _wasted(summary: dict[str, Any]) -> str:
    """'wasted 36.2% of 1,234.5 seconds' from a summary.json (no share when nothing cost)."""
    headline = summary["headline"]
    share, total = headline["wasted_share"], f"{headline['total_cost']:,.1f} {summary['cost_unit']}"
    if summary.get("withhold_share"):
        return f"no deploy signal found, so no wasted share ({total}; see the report's notes)"
    return f"wasted {share:.1%} of {total}" if share is not None else f"no cost recorded ({total})"

"""``mlprov run`` (the scheduled job of a project file) and ``mlprov init`` (a starter file)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from mlprov.analysis.cli.common import DATE, as_of_or_now, handle_errors, progress_bar
from mlprov.analysis.cli.report import EXIT_WASTE_ABOVE


@click.command()
@click.option(
    "--project",
    "project_file",
    default="mlprov.toml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The project file ('mlprov init' writes a starter one).",
)
@click.option(
    "--as-of",
    type=DATE,
    help="The time of the run (UTC): the report window ends here, and RUNNING work is "
    "judged against it [default: now].",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def run(project_file: str, as_of: datetime | None, quiet: bool) -> None:
    """Run the project's job: ingest every source, refresh graphlets, write the report.

    Reads the project file (sources with their mappings, the database, the report directory
    and window, the alert threshold, the memory limit). Each ingest loads only what is new;
    the report is compared with the one the last run left. Exits with code 3 when the wasted
    share is above the file's fail_above (after writing the report), 2 on bad input.
    """
    from mlprov.analysis.project import load_project, run_project

    project = load_project(project_file)
    now = as_of_or_now(as_of)
    with progress_bar("ingesting", quiet) as progress:
        result = run_project(project, now, progress=progress)
    for load in result.loads:
        new = sum(load.rows_written.values())
        click.echo(f"ingested {load.source}: {new:,} new rows in {load.seconds:.1f} s")
        for warning in load.warnings:
            click.echo(f"warning: {warning}", err=True)
        for skip in load.skipped:
            click.echo(f"warning: skipped {skip.count} {skip.table} rows: {skip.reason}", err=True)
    click.echo(
        f"graphlets: {result.build.pipelines_built:,} pipelines rebuilt, "
        f"{result.build.pipelines_unchanged:,} unchanged"
    )
    headline, unit = result.summary["headline"], result.summary["cost_unit"]
    share = headline["wasted_share"]
    shown = "n/a (no cost in range)" if share is None else f"{share:.1%}"
    click.echo(
        f"wasted {shown} of {headline['total_cost']:,.1f} {unit}; "
        f"report in {result.report_dir / 'report.html'}"
    )
    if result.above_threshold:
        click.echo(
            f"wasted share {share:.1%} is above fail_above {project.report.fail_above:.1%}",
            err=True,
        )
        sys.exit(EXIT_WASTE_ABOVE)


@click.command()
@click.argument("path", default="mlprov.toml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing file.")
@handle_errors
def init(path: str, force: bool) -> None:
    """Write a commented starter project file to PATH for 'mlprov run'."""
    from mlprov.analysis.errors import ProjectError
    from mlprov.analysis.project import starter_text

    target = Path(path)
    if target.exists() and not force:
        raise ProjectError(f"{path} exists; pass --force to replace it")
    tmp = target.with_name(f".{target.name}.partial")
    tmp.write_text(starter_text(), encoding="utf-8")
    tmp.replace(target)
    click.echo(f"wrote {path}: set its sources, then run 'mlprov run --project {path}'")

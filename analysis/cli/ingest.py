"""``mlprov ingest``, ``mlprov info`` and ``mlprov export``."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

from analysis.cli.common import (
    db_option,
    format_option,
    handle_errors,
    liveness,
    liveness_options,
    open_store,
    progress_bar,
    render,
)
from analysis.cli.graphlets import current_store, no_refresh_option
from provenance.readers import REGISTRY

PASSWORD_ENV = "MLPROV_PASSWORD"


@click.command()
@click.argument("source")
@db_option
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False),
    help="TOML file: category rules, cost_property, convention.",
)
@click.option(
    "--strict",
    type=click.Choice(["raise", "warn", "skip"]),
    default="raise",
    show_default=True,
    help="What to do with dirty records (missing nodes, bad times, text or costs).",
)
@click.option(
    "--kind",
    type=click.Choice(list(REGISTRY)),
    help="Force a reader (default: chosen by the URL scheme or the file).",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, exists=True),
    help=f"File holding the server password when the URL has none (else ${PASSWORD_ENV}).",
)
@format_option("table", "json")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def ingest(
    source: str,
    db: str,
    mapping: str | None,
    strict: str,
    kind: str | None,
    password_file: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Load provenance from SOURCE into the database, incrementally and atomically.

    SOURCE is an MLMD SQLite file (read-only, never modified), a mysql://user@host:port/db or
    postgresql://user@host:port/db URL (read in bulk, read-only, e.g. Kubeflow's metadb) or a
    grpc://host:port metadata server (needs the ml-metadata client). Rerunning loads only what
    is new or changed. Passwords are never printed or stored.
    """
    import os
    from pathlib import Path

    from provenance.conventions import load_mapping
    from provenance.ingest import ingest as run_ingest
    from provenance.ingest import parse_source

    if password_file is not None:
        password: str | None = Path(password_file).read_text().rstrip("\r\n")
    else:
        password = os.environ.get(PASSWORD_ENV)
    src = parse_source(source, kind, password=password)
    rules = load_mapping(mapping)
    with open_store(db) as store, progress_bar("reading", quiet) as progress:
        report = run_ingest(
            store,
            src,
            mapping=rules,
            strict=strict,  # type: ignore[arg-type]
            progress=progress,
        )
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if fmt == "json":
        render(report.to_dict(), "json")
        return
    rows = [{"table": t, "rows written": n} for t, n in report.rows_written.items()]
    render(rows, "table", title=f"{report.source} ({report.convention}) -> {db}")
    for verb, notes in (("skipped", report.skipped), ("repaired", report.repaired)):
        for note in notes:
            click.echo(
                f"{verb} {note.count} {note.table} rows: {note.reason} "
                f"(e.g. {', '.join(note.examples)})"
            )
    rate = report.total_read / report.seconds if report.seconds else 0
    if report.empty:
        click.echo("the source store is empty: it holds no executions, artifacts or contexts")
    click.echo(
        f"read {report.total_read:,} rows in {report.seconds:.2f} s "
        f"({rate:,.0f} rows/s){' (incremental)' if report.incremental else ''}"
    )


@click.command()
@db_option
@format_option("table", "json")
@handle_errors
def info(db: str, fmt: str) -> None:
    """Summarize the database: sources and their last ingest, cost unit, counts, graphlets
    (and whether they are current), time range, categories."""
    from graphlets import graphlet_status
    from provenance.summary import store_info

    with open_store(db, read_only=True) as store:
        summary = {**store_info(store), "graphlets": graphlet_status(store)}
    if fmt == "json":
        render(summary, "json")
        return
    graphlets = summary["graphlets"]
    scalars = {k: v for k, v in summary.items() if not isinstance(v, list | dict)}
    scalars["graphlets"] = (
        f"{graphlets['graphlets']:,} ({graphlets['deployed']:,} deployed), "
        + ("current" if graphlets["current"] else "stale: refreshed by the next reader")
        if graphlets["built"]
        else "not built: mlprov graphlets"
    )
    render(scalars, "table", title=db)
    for source in summary["sources"]:  # one block each: locations are long
        render(source, "table", title=f"source {source['source_id']}")
    render(summary["categories"], "table", title="executions by category")


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet"]),
    default="parquet",
    show_default=True,
    help="File format.",
)
@liveness_options
@no_refresh_option
@handle_errors
def export(
    out_dir: str,
    db: str,
    fmt: str,
    as_of: datetime | None,
    stale_after: timedelta,
    no_refresh: bool,
) -> None:
    """Write every canonical table to OUT_DIR as one Parquet file each, with the cost view
    (execution_costs), the graphlets, and each execution's outcome as of --as-of
    (execution_outcomes: status, and wasted / in_flight / abandoned flags)."""
    from analysis.frames import Scope
    from analysis.waste import execution_outcomes
    from provenance.summary import export_parquet

    live = liveness(as_of, stale_after)
    with current_store(db, no_refresh, quiet=True) as store:
        outcomes = execution_outcomes(store, Scope(liveness=live))
        written = export_parquet(store, out_dir, {"execution_outcomes": outcomes})
    for path in written:
        click.echo(str(path))

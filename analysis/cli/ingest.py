"""``mlprov ingest``, ``mlprov info`` and ``mlprov export``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from mlprov.analysis.cli.common import (
    db_option,
    format_option,
    handle_errors,
    liveness,
    liveness_options,
    open_store,
    progress_bar,
    render,
)
from mlprov.analysis.cli.graphlets import current_store, no_refresh_option
from mlprov.provenance.readers import REGISTRY

PASSWORD_ENV = "MLPROV_PASSWORD"
_MIB = 2**20


def payload_options(fn: Any) -> Any:
    """The options of payload reading, shared by ``ingest`` and ``payloads``."""
    fn = click.option(
        "--payload-prefix",
        "payload_prefix",
        multiple=True,
        metavar="OLD=NEW",
        help="Read payloads whose URI starts with OLD under NEW instead (repeatable).",
    )(fn)
    fn = click.option(
        "--payload-max-mb",
        type=click.FloatRange(min=0, min_open=True),
        default=64,
        show_default=True,
        help="Payload files larger than this are counted as oversize, not read.",
    )(fn)
    return fn


def _read_payloads(
    store: Any, source_id: int | None, rewrites: list[tuple[str, str]], max_mb: float, quiet: bool
) -> Any:
    from mlprov.provenance.payloads import read_payloads

    with progress_bar("payloads", quiet) as progress:
        return read_payloads(
            store,
            source_id=source_id,
            prefixes=rewrites,
            max_bytes=int(max_mb * _MIB),
            progress=progress,
        )


def _echo_payloads(report: Any) -> None:
    if report.message:
        click.echo(f"payloads: {report.message}", err=True)
        return
    click.echo(
        f"payloads: read {report.read:,} of {report.looked_at:,} new statistics, schema and "
        f"anomalies artifacts in {report.seconds:.2f} s"
    )
    for note in report.problems:
        click.echo(
            f"payloads: {note.count} {note.table} {note.reason} (e.g. {note.examples[0]})",
            err=True,
        )


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
@click.option(
    "--payloads/--no-payloads",
    default=True,
    show_default=True,
    help="Also read the statistics, schema and anomalies files artifacts point to.",
)
@payload_options
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
    payloads: bool,
    payload_prefix: tuple[str, ...],
    payload_max_mb: float,
    fmt: str,
    quiet: bool,
) -> None:
    """Load provenance from SOURCE into the database, incrementally and atomically.

    SOURCE is an MLMD SQLite file (read-only, never modified), a mysql://user@host:port/db or
    postgresql://user@host:port/db URL (read in bulk, read-only, e.g. Kubeflow's metadb) or a
    grpc://host:port metadata server (needs the ml-metadata client), or OpenLineage events: a
    file or directory of them, or Marquez's database (marquez://user@host:port/marquez).
    Rerunning loads only what is new or changed. Passwords are never printed or stored. Then
    the payload files of new statistics, schema and anomalies artifacts are read (see
    'mlprov payloads').
    """
    import os
    from pathlib import Path

    from mlprov.provenance.conventions import load_mapping
    from mlprov.provenance.ingest import ingest as run_ingest
    from mlprov.provenance.ingest import parse_source
    from mlprov.provenance.payloads import parse_prefix
    from mlprov.provenance.sql import scalar

    rewrites = [parse_prefix(p) for p in payload_prefix]

    if password_file is not None:
        password: str | None = Path(password_file).read_text().rstrip("\r\n")
    else:
        password = os.environ.get(PASSWORD_ENV)
    src = parse_source(source, kind, password=password)
    rules = load_mapping(mapping)
    with open_store(db) as store:
        with progress_bar("reading", quiet) as progress:
            report = run_ingest(
                store,
                src,
                mapping=rules,
                strict=strict,  # type: ignore[arg-type]
                progress=progress,
            )
        loaded = None
        if payloads:
            sid = scalar(
                store.con, "SELECT source_id FROM sources WHERE location = ?", [report.source]
            )
            loaded = _read_payloads(store, sid, rewrites, payload_max_mb, quiet)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if fmt == "json":
        render({**report.to_dict(), "payloads": loaded and loaded.to_dict()}, "json")
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
    if loaded is not None:
        _echo_payloads(loaded)


@click.command()
@db_option
@payload_options
@format_option("table", "json")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def payloads(
    db: str, payload_prefix: tuple[str, ...], payload_max_mb: float, fmt: str, quiet: bool
) -> None:
    """Read the payload files of statistics, schema and anomalies artifacts not read yet.

    StatisticsGen's Split-*/FeatureStats.pb (or older stats_tfrecord), SchemaGen's
    schema.pbtxt and ExampleValidator's Split-*/SchemaDiff.pb, from local paths, file:// or,
    with fsspec installed, gs:// and s3:// URIs; read-only. Missing, unreadable, corrupt or
    oversize payloads are counted and tried again next time. Needs tensorflow-metadata
    (pip install 'mlprov[payloads]').
    """
    from mlprov.provenance.payloads import parse_prefix

    rewrites = [parse_prefix(p) for p in payload_prefix]
    with open_store(db) as store:
        loaded = _read_payloads(store, None, rewrites, payload_max_mb, quiet)
    if fmt == "json":
        render(loaded.to_dict(), "json")
        return
    _echo_payloads(loaded)


@click.command()
@db_option
@format_option("table", "json")
@handle_errors
def info(db: str, fmt: str) -> None:
    """Summarize the database: sources and their last ingest, cost unit, counts, graphlets
    (and whether they are current), time range, categories."""
    from mlprov.graphlets import graphlet_status
    from mlprov.provenance.summary import store_info

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
    from mlprov.analysis.frames import Scope
    from mlprov.analysis.waste import execution_outcomes
    from mlprov.graphlets import EXPORTED_TABLES
    from mlprov.provenance.summary import export_parquet

    live = liveness(as_of, stale_after)
    with current_store(db, no_refresh, quiet=True) as store:
        outcomes = execution_outcomes(store, Scope(liveness=live))
        written = export_parquet(
            store, out_dir, {"execution_outcomes": outcomes}, derived=EXPORTED_TABLES
        )
    for path in written:
        click.echo(str(path))

"""``mlprov graphlets`` (build if needed, list) and ``mlprov graphlet show ID``; the
``--no-refresh`` option and the store opening every graphlet reader shares."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, TypeVar

import click

from mlprov.analysis.cli.common import (
    db_option,
    format_option,
    handle_errors,
    memory_limit,
    open_store,
    progress_bar,
    render,
)

if TYPE_CHECKING:
    from mlprov.provenance.store import ProvenanceStore

F = TypeVar("F", bound=Callable[..., object])


def no_refresh_option(fn: F) -> F:
    """``--no-refresh``: refuse stale graphlets instead of bringing them up to date."""
    return click.option(
        "--no-refresh",
        "no_refresh",
        is_flag=True,
        help="Do not bring graphlets up to date after a new ingest: stop (exit 2) if stale.",
    )(fn)


@contextmanager
def current_store(db: str, no_refresh: bool, quiet: bool = False) -> Iterator[ProvenanceStore]:
    """The store at ``db``, read-only, its graphlets refreshed first (a line on stderr says
    what was redone) or, with ``no_refresh``, refused when stale."""
    from mlprov.graphlets import open_current

    with progress_bar("refreshing graphlets", quiet) as progress:
        store, report = open_current(
            db, refresh=not no_refresh, progress=progress, memory_limit=memory_limit()
        )
    if report is not None and not quiet:
        click.echo(
            f"graphlets refreshed after the latest ingest: {report.graphlets:,} written in "
            f"{report.pipelines_built:,} pipelines",
            err=True,
        )
    with store:
        yield store


LIST_COLUMNS = [
    "graphlet_id",
    "pipeline",
    "trainer_state",
    "model_type",
    "train_time",
    "deployed",
    "in_flight",
    "reason",
    "window_size",
    "n_executions",
    "split_cost",
    "cost_unit",
]

TABLE_HEADERS = {
    "graphlet_id": "id",
    "trainer_state": "trainer",
    "model_type": "model",
    "train_time": "trained",
    "deployed": "pushed",
    "in_flight": "in flight",
    "window_size": "spans",
    "n_executions": "execs",
    "split_cost": "cost",
    "cost_unit": "unit",
}


@click.command()
@db_option
@click.option(
    "--pipeline",
    "pipelines",
    multiple=True,
    help="Only this pipeline (by name); repeat for several.",
)
@format_option("table", "json", "csv")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Rebuild every pipeline in scope, even those unchanged since the last build.",
)
@click.option(
    "--limit",
    type=int,
    default=None,
    help="Show at most N graphlets, the latest (table default 50; 0 shows all).",
)
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Where pipelines rebuilt whole are built: here, or on Spark (pip install "
    "'mlprov[spark]'; see the README's Spark section).",
)
@click.option(
    "--spark-master",
    envvar="SPARK_MASTER",
    help="Spark master URL for --engine spark [default: $SPARK_MASTER, spark-submit's "
    "master, or local[*]].",
)
@click.option(
    "--lake",
    type=click.Path(file_okay=False),
    help="With --engine spark: keep the exported canonical tables and the graphlet tables "
    "as Parquet in this directory (shared by driver and executors).",
)
@no_refresh_option
@handle_errors
def graphlets(
    db: str,
    pipelines: tuple[str, ...],
    fmt: str,
    rebuild: bool,
    limit: int | None,
    quiet: bool,
    engine: str,
    spark_master: str | None,
    lake: str | None,
    no_refresh: bool,
) -> None:
    """Cut the provenance into model graphlets (when new data arrived) and list them.

    A graphlet is the work around one training run: its upstream data and transforms, the
    trainer, and the validation and push that followed it. After an ingest only the
    graphlets new runs can change are redone (with the rules of the last build), unless
    --rebuild; with --no-refresh nothing is built and stale graphlets are refused.
    """
    from mlprov.graphlets import (
        BuildReport,
        build_graphlets,
        current_rules,
        graphlet_summary,
        list_graphlets,
    )

    if engine == "spark" and no_refresh:
        raise click.UsageError("--engine spark builds graphlets; it cannot go with --no-refresh")
    build: Callable[..., BuildReport] = build_graphlets
    if engine == "spark":
        from mlprov.graphlets.spark import build_on_spark, spark_session

        build = functools.partial(build_on_spark, spark=spark_session(spark_master), lake=lake)
    selected = list(pipelines) or None
    with (
        open_store(db, create=False, read_only=no_refresh) as store,
        progress_bar("building graphlets", quiet) as progress,
    ):
        report = (
            None
            if no_refresh
            else build(
                store,
                current_rules(store),
                pipelines=selected if rebuild else None,
                incremental=not rebuild,
                progress=progress,
            )
        )
        frame = list_graphlets(store, selected, refresh=not no_refresh)
        summary = graphlet_summary(store, selected, refresh=not no_refresh)
    if limit is None and fmt == "table":
        limit = 50
    shown = frame if not limit else frame.sort_values(["train_time", "graphlet_id"]).tail(limit)
    share = summary.deployed_share
    line = (
        f"{summary.graphlets:,} graphlets in {summary.pipelines:,} pipelines: "
        f"{summary.deployed:,} deployed"
        f"{f' ({share:.1%} of finished)' if share is not None else ''}, "
        f"{summary.not_deployed:,} not deployed, {summary.in_flight:,} in flight "
        f"(trainer still running; not counted as waste)"
    )
    built = (
        "not refreshed (--no-refresh): the graphlets are current"
        if report is None
        else f"built {report.pipelines_built:,} pipelines, {report.pipelines_unchanged:,} "
        f"unchanged since the last build ({report.graphlets:,} graphlets written)"
    )
    if fmt == "json":
        rows = json.loads(shown.to_json(orient="records", date_format="iso"))
        render(
            {
                "summary": {**asdict(summary), "deployed_share": share},
                "build": None if report is None else asdict(report),
                "graphlets": rows,
            },
            "json",
        )
        return
    if fmt == "csv":
        render(shown[[*LIST_COLUMNS, "source_id", "push_time", "own_cost", "depth"]], "csv")
        return
    title = (
        f"latest {len(shown):,} of {len(frame):,} graphlets"
        if len(shown) < len(frame)
        else f"{len(frame):,} graphlets"
    )
    table = (
        shown[LIST_COLUMNS].sort_values(["pipeline", "train_time"]).rename(columns=TABLE_HEADERS)
    )
    table["trained"] = table["trained"].dt.strftime("%Y-%m-%d %H:%M")
    table = table.drop(columns=["pushed", "in flight"])
    table.insert(4, "outcome", table.pop("reason").str.replace("_", " "))  # why not pushed
    units = sorted(set(table.pop("unit").dropna()))
    if units:
        title += f" (cost in {'/'.join(units)}, shared work split)"
    if table["model"].isna().all():
        table = table.drop(columns="model")
    render(table, "table", title=title)
    click.echo(line)
    click.echo(built)


@click.group()
def graphlet() -> None:
    """Look at one graphlet: 'mlprov graphlet show ID'."""


@graphlet.command()
@click.argument("graphlet_id", type=int)
@db_option
@click.option(
    "--source",
    "source_id",
    type=int,
    help="Source id, when several ingested sources have this graphlet id.",
)
@click.option(
    "--png",
    type=click.Path(dir_okay=False),
    help="Also draw the graphlet as a DAG into this PNG file.",
)
@no_refresh_option
@handle_errors
def show(
    graphlet_id: int, db: str, source_id: int | None, png: str | None, no_refresh: bool
) -> None:
    """Print graphlet GRAPHLET_ID (its training execution's id) as a tree; optionally draw it.

    The tree groups executions by role (upstream, anchor, downstream, side) with their
    category, state and the artifacts they wrote, pushed flags included.
    """
    from mlprov.graphlets import load_graphlet
    from mlprov.graphlets.display import draw_graphlet, graphlet_tree

    with current_store(db, no_refresh) as store:
        view = load_graphlet(store, graphlet_id, source_id)
    click.echo(graphlet_tree(view))
    if png:
        try:
            written = draw_graphlet(view, png)
        except OSError as err:  # it writes a hidden file beside PNG first: name the user's path
            raise OSError(err.errno, err.strerror, png) from err
        click.echo(f"wrote {written}")

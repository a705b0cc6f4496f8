"""What every command shares: error mapping, output formats, progress, the --db option."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2  # bad input, with a one-line message

#: A UTC date or time on the command line.
DATE = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


def handle_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and exit code 2 (tracebacks under --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from provenance.errors import MlprovError

        try:
            return fn(*args, **kwargs)
        except MlprovError as err:
            ctx = click.get_current_context(silent=True)
            if ctx and ctx.find_root().obj and ctx.find_root().obj.get("debug"):
                raise
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_USAGE)

    return wrapper  # type: ignore[return-value]


def open_store(db: str, **options: Any) -> Any:
    """Open the --db store with the root command's --memory-limit (see
    :meth:`provenance.store.ProvenanceStore.open` for ``options``)."""
    from provenance.store import ProvenanceStore

    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx else None
    limit = root.get("memory_limit") if isinstance(root, dict) else None
    return ProvenanceStore.open(db, memory_limit=limit, **options)


def db_option(fn: F) -> F:
    """``--db PATH``: the canonical store."""
    return click.option(
        "--db",
        "db",
        default="prov.duckdb",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The mlprov DuckDB database.",
    )(fn)


class Duration(click.ParamType):
    """A duration such as ``24h``, ``90m`` or ``2d`` (:func:`analysis.frames.parse_duration`)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from datetime import timedelta

        from analysis.frames import parse_duration

        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def liveness_options(fn: F) -> F:
    """``--as-of`` and ``--stale-after``: when RUNNING work counts as abandoned (waste)."""
    fn = click.option(
        "--stale-after",
        type=Duration(),
        default="24h",
        show_default=True,
        help="RUNNING work not updated for this long before --as-of is abandoned: it will "
        "never finish and counts as waste (24h, 90m, 2d).",
    )(fn)
    return click.option(
        "--as-of",
        type=DATE,
        help="The analysis time (UTC) against which RUNNING work is judged [default: now].",
    )(fn)


def liveness(as_of: Any, stale_after: Any) -> Any:
    """The :class:`analysis.frames.Liveness` of ``--as-of`` (default now) and ``--stale-after``."""
    from datetime import datetime, timezone

    from analysis.frames import Liveness

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return Liveness(as_of or now, stale_after)


def format_option(*choices: str) -> Callable[[F], F]:
    """``--format``: how to print results."""

    def decorate(fn: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default=choices[0],
            show_default=True,
            help="Output format.",
        )(fn)

    return decorate


def render(data: Any, fmt: str, title: str | None = None) -> None:
    """Print a DataFrame, a list of dicts or a dict as a table, JSON or CSV."""
    import pandas as pd

    if fmt == "json":
        if isinstance(data, pd.DataFrame):
            data = json.loads(data.to_json(orient="records", date_format="iso"))
        click.echo(json.dumps(data, indent=2, default=str))
        return
    frame = (
        data
        if isinstance(data, pd.DataFrame)
        else (
            pd.DataFrame(data)
            if isinstance(data, list)
            else pd.DataFrame({"field": list(data), "value": [str(v) for v in data.values()]})
        )
    )
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        table.add_column(
            str(column), justify="right" if frame[column].dtype.kind in "iuf" else "left"
        )
    for row in frame.itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value)


@contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[Callable[..., None]]:
    """A progress callback ``(stage, done[, total])`` that draws on a terminal and stays silent
    in a pipe or with --quiet."""
    if quiet or not sys.stderr.isatty():
        yield lambda *args: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task(label)

        def update(stage: str, done: int, total: int | None = None) -> None:
            of = f" of {total:,}" if total else ""
            bar.update(task, description=f"{label}: {stage} {done:,}{of}")

        yield update

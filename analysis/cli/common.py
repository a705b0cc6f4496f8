"""What every command shares: error mapping, output formats, progress, the --db option."""

from __future__ import annotations

import errno
import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2  # bad input or environment, with a one-line message
EXIT_BUG = 1  # an mlprov bug: one line asking for a --debug rerun
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED = "interrupted; nothing was changed"

#: A UTC date or time on the command line.
DATE = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


def handle_errors(fn: F) -> F:
    """Let :func:`fail` turn anything a command raises into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, BrokenPipeError):
            raise  # click's own exits, and its quiet exit when a pipe reader goes away
        except (Exception, KeyboardInterrupt) as err:
            fail(err, debug=_debug(click.get_current_context(silent=True)))

    return wrapper  # type: ignore[return-value]


def memory_limit() -> str | None:
    """The root command's --memory-limit, if given."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx else None
    return root.get("memory_limit") if isinstance(root, dict) else None


def open_store(db: str, **options: Any) -> Any:
    """Open the --db store with the root command's --memory-limit (see
    :meth:`mlprov.provenance.store.ProvenanceStore.open` for ``options``)."""
    from mlprov.provenance.store import ProvenanceStore

    return ProvenanceStore.open(db, memory_limit=memory_limit(), **options)


def fail(err: BaseException, *, debug: bool) -> NoReturn:
    """Print ``err`` as one line on stderr and exit with its code (see :func:`explain`); under
    ``--debug`` raise it instead, so Python prints the traceback."""
    if debug:
        raise err
    message, code = explain(err)
    click.echo(message if code == EXIT_INTERRUPTED else f"error: {message}", err=True)
    sys.exit(code)


def explain(err: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for ``err``.

    Bad input and environment failures (mlprov's own errors, click's usage errors, file system
    errors, and the disk or memory errors of DuckDB, SQLite and ml-metadata) exit with 2 and
    say what happened and what to do; Ctrl-C, also when DuckDB reports it as an interrupted
    query, exits with 130; anything else is an mlprov bug, exit 1.

    Example:
        >>> explain(OSError(28, "No space left on device", "report/summary.json"))
        ('report/summary.json: no space left on device; free some space there and rerun', 2)
        >>> explain(KeyboardInterrupt())
        ('interrupted; nothing was changed', 130)
    """
    from mlprov.provenance.errors import MlprovError

    if isinstance(err, KeyboardInterrupt | click.exceptions.Abort) or _duckdb_interrupt(err):
        return INTERRUPTED, EXIT_INTERRUPTED
    if isinstance(err, MlprovError):
        return one_line(str(err)), EXIT_USAGE
    if isinstance(err, click.ClickException):
        ctx = getattr(err, "ctx", None)
        see = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        return one_line(err.format_message()) + see, EXIT_USAGE
    if isinstance(err, OSError):
        return _os_error(err), EXIT_USAGE
    if isinstance(err, MemoryError):
        return _OUT_OF_MEMORY, EXIT_USAGE
    environment = _driver_environment(err)
    if environment is not None:
        return environment, EXIT_USAGE
    return (
        f"internal error ({type(err).__name__}: {one_line(str(err))}); this is an mlprov bug: "
        "rerun with 'mlprov --debug ...' and report the traceback",
        EXIT_BUG,
    )


def one_line(text: str) -> str:
    """``text`` with every run of whitespace, line breaks included, as one space."""
    return " ".join(text.split())


_OUT_OF_MEMORY = (
    "out of memory; close other programs or narrow the work (--pipeline, --since/--until) and rerun"
)

#: errno -> what happened and what to do, for file system errors.
_OS_HINTS = {
    errno.ENOSPC: "no space left on device; free some space there and rerun",
    errno.EDQUOT: "disk quota exceeded; free some space there and rerun",
    errno.EFBIG: "file too large; free some space or raise the file size limit (ulimit -f)",
    errno.EROFS: "read-only file system; choose a location you can write",
    errno.EACCES: "permission denied; choose a location you can write, or fix its permissions",
    errno.EPERM: "operation not permitted; choose a location you can write",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EISDIR: "is a directory; pass a file",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) and rerun",
    errno.ENOMEM: _OUT_OF_MEMORY,
}


def _os_error(err: OSError) -> str:
    what = _OS_HINTS.get(err.errno or 0) or one_line(err.strerror or str(err)).lower()
    return what if err.filename is None else f"{err.filename}: {what}"


def _duckdb_interrupt(err: BaseException) -> bool:
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and (
        isinstance(err, duckdb.InterruptException)
        or (isinstance(err, RuntimeError) and "query interrupted" in str(err).lower())
    )


#: Words in a database driver's message that mean the disk or the file system failed, not the
#: data, and what to do about it (DuckDB, SQLite and ml-metadata word them their own way).
_DISK_TROUBLE = (
    ("no space left", "free some space on that disk and rerun"),
    ("disk full", "free some space on that disk and rerun"),
    ("quota", "free some space on that disk and rerun"),
    ("file too large", "free some space or raise the file size limit (ulimit -f), and rerun"),
    ("read-only file system", "choose a location you can write"),
    ("permission denied", "check the file's permissions"),
    ("disk i/o error", "check the disk and rerun"),
    ("could not write", "check the free space and the file's permissions, and rerun"),
    ("could not read", "check the disk and the file's permissions, and rerun"),
)


def _driver_environment(err: BaseException) -> str | None:
    """The message for a database driver's environment error (memory, disk), else None."""
    drivers = tuple(
        sys.modules[name].Error
        for name in ("duckdb", "sqlite3", "adbc_driver_manager")
        if name in sys.modules
    )
    if not isinstance(err, drivers) and type(err) is not RuntimeError:  # ml-metadata's
        return None
    text = one_line(str(err))
    lowered = text.lower()
    if "out of memory" in lowered:
        return f"{_OUT_OF_MEMORY} ({text})"
    hint = next((h for marker, h in _DISK_TROUBLE if marker in lowered), None)
    duckdb = sys.modules.get("duckdb")
    if hint is None and duckdb is not None and isinstance(err, duckdb.IOException):
        hint = "check the disk and the file's permissions, and rerun"
    return None if hint is None else f"cannot read or write a file ({text}); {hint}"


def _debug(ctx: click.Context | None) -> bool:
    obj = ctx.find_root().obj if ctx is not None else None
    return bool(isinstance(obj, dict) and obj.get("debug"))


class Share(click.ParamType):
    """A share: a number from 0 to 1 (NaN, which no comparison can cross, is refused)."""

    name = "share"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            share = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number; pass a share from 0 to 1, e.g. 0.35", param, ctx)
        if not 0.0 <= share <= 1.0:  # False for NaN too
            self.fail(f"{value!r} is not a share from 0 to 1, e.g. 0.35", param, ctx)
        return share


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
    """A duration such as ``24h``, ``90m`` or ``2d``
    (:func:`mlprov.analysis.frames.parse_duration`)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from datetime import timedelta

        from mlprov.analysis.frames import parse_duration

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


def as_of_or_now(as_of: Any) -> Any:
    """``--as-of``, or the time the command runs (naive UTC): the one place the CLI reads the
    clock, so the library never does."""
    from datetime import datetime, timezone

    return as_of or datetime.now(timezone.utc).replace(tzinfo=None)


def liveness(as_of: Any, stale_after: Any) -> Any:
    """The :class:`mlprov.analysis.frames.Liveness` of ``--as-of`` (default now) and
    ``--stale-after``."""
    from mlprov.analysis.frames import Liveness

    return Liveness(as_of_or_now(as_of), stale_after)


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

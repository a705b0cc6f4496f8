"""The ``mlprov`` command line: a thin layer over the library.

Each command lives in its own module and is imported only when it runs, so ``--help`` is instant.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
from collections.abc import Sequence
from typing import Any

import click

from mlprov.analysis.cli.common import fail

#: click >= 8.2 raises this for a bare group name; it carries the help text, not an error
_NO_ARGS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())

# command name -> "module:function"
COMMANDS = {
    "demo": "mlprov.analysis.cli.report:demo",
    "init": "mlprov.analysis.cli.run:init",
    "run": "mlprov.analysis.cli.run:run",
    "ingest": "mlprov.analysis.cli.ingest:ingest",
    "payloads": "mlprov.analysis.cli.ingest:payloads",
    "info": "mlprov.analysis.cli.ingest:info",
    "export": "mlprov.analysis.cli.ingest:export",
    "synth": "mlprov.analysis.cli.synth:synth",
    "graphlets": "mlprov.analysis.cli.graphlets:graphlets",
    "graphlet": "mlprov.analysis.cli.graphlets:graphlet",
    "report": "mlprov.analysis.cli.report:report",
    "prune": "mlprov.analysis.cli.prune:prune",
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [
            name
            for name, target in COMMANDS.items()
            if importlib.util.find_spec(target.split(":")[0]) is not None
        ]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.list_commands(ctx):
            return None
        module, attr = COMMANDS[cmd_name].split(":")
        command: Any = getattr(importlib.import_module(module), attr)
        return command

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; whatever escapes a command (a usage error, Ctrl-C while parsing or
        importing) ends as one line too, through the same
        :func:`~mlprov.analysis.cli.common.fail`."""
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, False, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except _NO_ARGS_HELP as err:  # a bare 'mlprov' shows the help, as click does
            err.show()
            sys.exit(err.exit_code)
        except (Exception, KeyboardInterrupt) as err:
            # the group's options come before the command name
            fail(err, debug="--debug" in itertools.takewhile(lambda a: a.startswith("-"), argv))
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option(
    "--memory-limit",
    metavar="SIZE",
    help="Memory DuckDB may use, e.g. 4GB (spills to disk beyond it) [default: half of the "
    "memory this process may use].",
)
@click.version_option(package_name="mlprov")
@click.pass_context
def main(ctx: click.Context, debug: bool, memory_limit: str | None) -> None:
    """mlprov: where your ML pipeline compute goes, and how much never reaches production.

    Ingest MLMD provenance into a DuckDB file, cut it into model graphlets (the work around each
    training run), measure the compute that never led to a deployed model, and simulate
    policies that skip it. Start with 'mlprov demo'; for a scheduled job, 'mlprov init' then
    'mlprov run'.
    """
    from mlprov.provenance.resources import limit_threads

    limit_threads()  # before any command loads a thread pool
    ctx.obj = {"debug": debug, "memory_limit": memory_limit}

"""Property: on any MLMD graph the ml-metadata client can write, every command of the real CLI
(ingest, re-ingest, graphlets, report, prune) exits with 0, 2 or 3, and an exit 2 is one line.

A couple of dozen graphs run in the default suite; ``-m fuzz`` runs a thousand (before each
release). Both are derandomized: the same graphs every run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from mlprov.analysis.cli import main
from tests.conftest import needs_client
from tests.fuzz.graphs import Graph, graphs, write_graph

pytestmark = pytest.mark.client


def run(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), prog_name="mlprov")
    detail = f"mlprov {' '.join(args)} -> {result.exit_code}: {result.stderr!r}"
    if result.exit_code not in (0, 2, 3):
        debug = CliRunner().invoke(main, ["--debug", *args], prog_name="mlprov")
        if debug.exception is not None:
            import traceback

            detail += "\n" + "".join(traceback.format_exception(debug.exception))
    assert result.exit_code in (0, 2, 3), detail
    if result.exit_code == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), detail


def every_command(graph: Graph) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp)
        source, db = here / "metadata.sqlite", str(here / "prov.duckdb")
        write_graph(graph, source)
        mapping = here / "mapping.toml"
        lines = [f'convention = "{graph.convention}"'] if graph.convention else []
        if graph.cost_property:
            lines.append('cost_property = "cpu_hours"')
        mapping.write_text("\n".join(lines) + "\n")
        ingest = ("ingest", str(source), "--db", db, "--mapping", str(mapping))
        run(*ingest, "--strict", graph.strict, "--quiet")
        run(*ingest, "--strict", graph.strict, "--quiet")  # re-ingest: nothing new
        run("graphlets", "--db", db, "--quiet", "--format", "json")
        run("report", "--db", db, "--out", str(here / "report"))
        run("prune", "--db", db, "--format", "json")


FAST = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FAST
@given(graphs())
def test_any_graph_exits_0_2_or_3(graph: Graph) -> None:
    needs_client()
    every_command(graph)


@pytest.mark.fuzz
@settings(FAST, max_examples=1000)
@given(graphs())
def test_a_thousand_graphs(graph: Graph) -> None:
    needs_client()
    every_command(graph)

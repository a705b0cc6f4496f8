"""Odd but legal canonical data never crashes the report or the pruning simulation.

Each case edits a canonical store built from the TFX fixture the way dirty provenance can leave
it (whatever ingest's --strict made of the source), then runs the real CLI: the report and
``prune`` either succeed or end in one sentence with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.graphlets import build_graphlets
from mlprov.provenance.conventions import Mapping
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES

CPU = Mapping(cost_property="cpu_hours")
TRAINERS = "category = 'train'"


def odd_store(tmp_path: Path, *updates: str) -> str:
    """The TFX fixture (cost property cpu_hours) with ``updates`` run on its canonical tables
    before graphlets are built; returns the database path."""
    db = str(tmp_path / "prov.duckdb")
    with ProvenanceStore.open(db) as store:
        ingest(store, str(FIXTURES / "tfx_small.sqlite"), mapping=CPU)
        for sql in updates:
            store.con.execute(sql)
        build_graphlets(store)
    return db


def run(*args: str) -> tuple[int, str, str]:
    """The CLI's exit code, stdout and stderr; an exit 2 must be one line."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code in (0, 2, 3), result.output
    if result.exit_code == 2:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    return result.exit_code, result.stdout, result.stderr


def report(db: str, tmp_path: Path, *args: str) -> tuple[int, str, str, Path]:
    out = tmp_path / "report"
    return (*run("report", "--db", db, "--out", str(out), *args), out)


@pytest.mark.parametrize(
    "update",
    [
        # MLMD's column default 0, and times before it, as they land when ingest keeps them
        "UPDATE executions SET start_time = TIMESTAMP '1970-01-01' WHERE execution_id % 3 = 0",
        f"UPDATE executions SET start_time = TIMESTAMP '1969-12-31 23:59:59' WHERE {TRAINERS}",
        # ... and when ingest reads them as unknown
        "UPDATE executions SET start_time = NULL, duration_s = NULL WHERE execution_id % 2 = 0",
        # microseconds read as milliseconds: year 57148
        "UPDATE executions SET start_time = make_timestamp(57148, 1, 1, 0, 0, 0), "
        "end_time = make_timestamp(57148, 1, 2, 0, 0, 0) WHERE execution_id % 4 = 0",
        # ... everywhere, trainings included
        "UPDATE executions SET start_time = start_time + INTERVAL 55000 YEAR, "
        "end_time = end_time + INTERVAL 55000 YEAR",
        # a store where every trainer is still running: all work in flight
        f"UPDATE executions SET state = 'RUNNING' WHERE {TRAINERS}",
    ],
    ids=["epoch", "negative", "null", "far-future", "all-far-future", "in-flight"],
)
def test_odd_times_and_states_give_a_report(tmp_path: Path, update: str) -> None:
    db = odd_store(tmp_path, update)
    code, stdout, _, out = report(db, tmp_path)
    assert code == 0 and "report in" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["headline"]["executions"] > 0
    run("prune", "--db", db)  # succeeds or explains itself in one line


def test_no_training_time_anywhere(tmp_path: Path) -> None:
    db = odd_store(tmp_path, "UPDATE executions SET start_time = NULL, duration_s = NULL")
    code, _, _, out = report(db, tmp_path)
    assert code == 0
    sections = json.loads((out / "summary.json").read_text())["sections"]
    assert "no graphlet has a training time" in sections["pruning"]["reason"]
    code, _, err = run("prune", "--db", db)
    assert code == 2 and "no graphlet has a training time to decide at" in err


def test_zero_durations(tmp_path: Path) -> None:
    db = odd_store(
        tmp_path, "UPDATE executions SET end_time = start_time, duration_s = 0, cost = NULL"
    )
    code, stdout, _, out = report(db, tmp_path, "--fail-above", "0.1")
    assert code == 0 and "no cost recorded (0.0 seconds); report in" in stdout
    assert json.loads((out / "summary.json").read_text())["headline"]["wasted_share"] is None


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (
            "UPDATE executions SET cost = 'inf'::DOUBLE WHERE cost IS NOT NULL",
            "3 execution(s) have an infinite cost (first: source 1 execution",
        ),
        (
            "UPDATE executions SET cost = '-inf'::DOUBLE WHERE execution_id = 1",
            "1 execution(s) have an infinite cost (first: source 1 execution 1, cost -inf)",
        ),
        (
            "UPDATE executions SET cost = 1.7e308",
            "the costs add up past 1e+300 in magnitude (to inf)",
        ),
    ],
    ids=["inf", "-inf", "finite-overflow"],
)
def test_non_finite_costs_are_one_sentence(tmp_path: Path, update: str, message: str) -> None:
    db = odd_store(tmp_path, update)
    for args in (("report", "--db", db, "--out", str(tmp_path / "r")), ("prune", "--db", db)):
        code, _, err = run(*args)
        assert code == 2 and message in err
    assert not (tmp_path / "r").exists()


def test_ranges_without_trainings(tmp_path: Path) -> None:
    db = odd_store(tmp_path)
    # executions in range, but no graphlet trained in it
    code, _, _, out = report(db, tmp_path, "--until", "2025-01-06T00:05:00")
    assert code == 0
    assert json.loads((out / "summary.json").read_text())["headline"]["graphlets"] == 0
    code, _, err, _ = report(db, tmp_path, "--since", "2030-01-01")
    assert code == 2 and "no executions in" in err

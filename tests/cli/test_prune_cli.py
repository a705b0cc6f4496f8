"""`mlprov prune`: the comparison table in each format, the sweep, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from tests.analysis.test_pruning import build_store


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small generated store: 8 pipelines over 45 days, ingested, graphlets built."""
    return str(build_store(tmp_path_factory.mktemp("prune"), pipelines=8, days=45, seed=4))


def test_table_lists_every_policy_headline_and_limit(db: str) -> None:
    code, stdout, _ = run("prune", "--db", db)
    assert code == 0
    for policy in ("none", "oracle", "random", "k-nonpush", "no-new-span", "learned"):
        assert policy in stdout
    assert "of the avoidable wasted" in stdout
    assert "what drives non-pushes" in stdout
    assert "treats the recorded history as fixed" in stdout


def test_json_is_complete_and_deterministic(db: str) -> None:
    args = ("prune", "--db", db, "--format", "json", "--seed", "3", "--sweep")
    code, stdout, _ = run(*args)
    assert code == 0
    payload = json.loads(stdout)
    assert [p["policy"] for p in payload["policies"]] == [
        "none",
        "oracle",
        "random",
        "k-nonpush",
        "no-new-span",
        "learned",
    ]
    oracle = next(p for p in payload["policies"] if p["policy"] == "oracle")
    assert oracle["wasted_saved"] == pytest.approx(1.0) and oracle["pushes_kept"] == 1.0
    assert payload["cost_unit"] == "cpu_hours" and payload["sweep"]
    assert {row["family"] for row in payload["importance"]} == {
        "data",
        "change",
        "history",
        "model_type",
    }
    assert run(*args)[1] == stdout


def test_one_policy_as_csv_with_options(db: str) -> None:
    code, stdout, _ = run(
        "prune",
        "--db",
        db,
        "--policy",
        "k-nonpush",
        "--k",
        "2",
        "--format",
        "csv",
        "--train-until",
        "2025-01-25",
    )
    assert code == 0
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("policy,param,skipped,skip_rate,wasted_saved")
    assert len(lines) == 2 and lines[1].startswith("k-nonpush,2.0,")


def test_threshold_sweep_as_csv(db: str) -> None:
    code, stdout, _ = run(
        "prune",
        "--db",
        db,
        "--policy",
        "learned",
        "--sweep",
        "--format",
        "csv",
        "--threshold",
        "0.7",
        "--model",
        "logistic",
    )
    assert code == 0
    assert stdout.splitlines()[0].startswith("threshold,skipped,skip_rate,wasted_saved")
    assert len(stdout.splitlines()) > 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--train-until", "2031-01-01"), "no finished graphlet decided on or after"),
        (("--train-until", "soon"), "is not a date; use YYYY-MM-DD"),
        (("--policy", "learned", "--train-until", "2025-01-06"), "pass a later --train-until"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(db: str, args: tuple[str, ...], message: str) -> None:
    code, stdout, stderr = run("prune", "--db", db, *args)
    assert code == 2
    assert message in stderr and stderr.count("\n") == 1 and stdout == ""


def test_missing_database_and_graphlets(tmp_path: Path) -> None:
    code, _, stderr = run("prune", "--db", str(tmp_path / "none.duckdb"))
    assert code == 2 and "no mlprov database" in stderr
    from mlprov.provenance.store import ProvenanceStore

    empty = tmp_path / "empty.duckdb"
    ProvenanceStore.open(empty).close()
    code, _, stderr = run("prune", "--db", str(empty))
    assert code == 2 and "mlprov graphlets --db" in stderr


def test_help_is_fast_and_names_the_options() -> None:
    code, stdout, _ = run("prune", "--help")
    assert code == 0
    for option in ("--policy", "--train-until", "--threshold", "--sweep", "--seed", "--format"):
        assert option in stdout


def test_policy_choices_are_the_registry() -> None:
    from mlprov.analysis.pruning import POLICIES

    code, stdout, _ = run("prune", "--help")
    assert code == 0 and f"[{'|'.join(['all', *POLICIES])}]" in stdout
    code, _, stderr = run("prune", "--policy", "orcale")
    assert code == 2 and "'orcale' is not one of 'all', 'none', 'oracle'" in stderr


def test_listing_commands_does_not_import_the_simulation() -> None:
    """``mlprov --help`` imports every command's module; the --policy choices are read only
    when prune's own options are."""
    code = (
        "import sys\n"
        "from mlprov.analysis.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'mlprov.analysis.cli.prune' in sys.modules\n"
        "assert 'mlprov.analysis.pruning' not in sys.modules and 'pandas' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)

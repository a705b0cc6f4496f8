"""`mlprov graphlets` and `mlprov graphlet show`: listing, building once, trees, PNGs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main

FIXTURES = Path(__file__).parent.parent / "fixtures"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "prov.duckdb")
    code, _, err = run("ingest", str(FIXTURES / "tfx_small.sqlite"), "--db", path, "--quiet")
    assert code == 0, err
    return path


def test_list_builds_once_and_summarizes(db: str) -> None:
    code, out, _ = run("graphlets", "--db", db)
    assert code == 0
    assert (
        "4 graphlets in 2 pipelines: 1 deployed (33.3% of finished), 2 not deployed, 1 in flight"
    ) in out
    assert "built 2 pipelines, 0 unchanged" in out
    assert "in flight" in out and "pushed" in out
    code, out, _ = run("graphlets", "--db", db, "--format", "json")
    data = json.loads(out)
    assert data["build"]["pipelines_built"] == 0 and data["build"]["pipelines_unchanged"] == 2
    assert data["summary"]["graphlets"] == 4 and data["summary"]["in_flight"] == 1
    assert sorted(g["graphlet_id"] for g in data["graphlets"]) == [6, 14, 18, 20]
    code, out, _ = run("graphlets", "--db", db, "--format", "json", "--rebuild")
    assert json.loads(out)["build"]["pipelines_built"] == 2


def test_csv_for_one_pipeline(db: str) -> None:
    code, out, _ = run("graphlets", "--db", db, "--pipeline", "taxi", "--format", "csv")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("graphlet_id,pipeline,trainer_state")
    assert [line.split(",")[0] for line in lines[1:]] == ["6", "14", "18"]
    assert [line.split(",")[5] for line in lines[1:]] == ["True", "False", "False"]


def test_limit_shows_the_latest(db: str) -> None:
    code, out, _ = run("graphlets", "--db", db, "--format", "csv", "--limit", "1")
    assert code == 0
    assert len(out.strip().splitlines()) == 2


def test_show_tree(db: str) -> None:
    run("graphlets", "--db", db)
    code, out, _ = run("graphlet", "show", "14", "--db", db)
    assert code == 0
    assert out.splitlines()[0] == "graphlet 14  pipeline taxi  source 1"
    assert out.splitlines()[1].endswith("not deployed: not blessed: validation rejected the model")
    for text in (
        "upstream",
        "anchor",
        "downstream",
        "side",
        "Trainer #14 [train] COMPLETE",
        "SchemaGen #11 [data_validation] CACHED",
        "← Model #7 (boundary)",
        "→ PushedModel #18 pushed=0",
        "CsvExampleGen #1 [ingest] COMPLETE  cost 600.00  shared by 2",  # seconds
        "deploy decision\n├─ Evaluator #15 COMPLETE: ModelBlessing #17 blessed=0\n"
        "└─ Pusher #16 COMPLETE: PushedModel #18 pushed=0",
    ):
        assert text in out
    code, out, _ = run("graphlet", "show", "6", "--db", db)
    assert "deployed at 2025-01-06 02:17 UTC" in out and "pushed=1" in out


def test_show_png(db: str, tmp_path: Path) -> None:
    run("graphlets", "--db", db)
    png = tmp_path / "pics" / "g6.png"
    code, out, _ = run("graphlet", "show", "6", "--db", db, "--png", str(png))
    assert code == 0 and f"wrote {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in png.parent.iterdir()] == ["g6.png"]  # no temporary file left


def test_errors_are_one_line_with_exit_2(db: str, tmp_path: Path) -> None:
    code, _, err = run("graphlet", "show", "14", "--db", db, "--no-refresh")
    assert code == 2 and "has no graphlets yet; build them with 'mlprov graphlets" in err
    code, _, err = run("graphlets", "--db", db, "--pipeline", "taxo")
    assert code == 2
    assert err.strip() == (
        "error: no pipeline named 'taxo' in this store; pipelines are: "
        "churn, taxi. Did you mean 'taxi'?"
    )
    run("graphlets", "--db", db)
    code, _, err = run("graphlet", "show", "99", "--db", db)
    assert code == 2 and "no graphlet 99" in err and "training execution ids" in err
    code, _, err = run("graphlets", "--db", str(tmp_path / "missing.duckdb"))
    assert code == 2 and "no mlprov database" in err
    assert len(err.strip().splitlines()) == 1


def test_help_names_show() -> None:
    code, out, _ = run("graphlet", "--help")
    assert code == 0 and "show" in out

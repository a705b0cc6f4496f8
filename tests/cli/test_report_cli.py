"""`mlprov report` and `mlprov demo`: files, changes, the --fail-above exit code, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.graphlets import build_graphlets
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    """The TFX fixture ingested (cost in seconds), graphlets built: 8,100 of 15,900 s wasted
    as of now (6,900 s, and the 1,200 s of the churn pipeline's trainer left RUNNING in
    January 2025: abandoned long since)."""
    path = str(tmp_path / "prov.duckdb")
    with ProvenanceStore.open(path) as store:
        ingest(store, str(FIXTURES / "tfx_small.sqlite"))
        build_graphlets(store)
    return path


def test_graphlet_pages_default_is_the_librarys() -> None:
    from mlprov.analysis.cli.report import report
    from mlprov.analysis.drilldown import GRAPHLET_PAGES

    option = next(p for p in report.params if p.name == "graphlet_pages")
    assert option.default == GRAPHLET_PAGES


def test_report_writes_three_files(db: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    code, stdout, _ = run("report", "--db", db, "--out", str(out))
    assert code == 0, stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "pages",
        "report.html",
        "report.md",
        "summary.json",
    ]
    pages = sorted(p.name.split("-")[0] for p in (out / "pages").iterdir())
    assert pages.count("pipeline") == 2 and pages.count("graphlet") == 4  # 3 + 1: all
    code, _, _ = run("report", "--db", db, "--out", str(out), "--top", "1", "--graphlet-pages", "0")
    assert code == 0 and [p.name.split("-")[0] for p in (out / "pages").iterdir()] == ["pipeline"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["headline"]["wasted_share"] == 8_100 / 15_900
    assert summary["headline"]["abandoned_cost"] == 1_200
    assert summary["cost_unit"] == "seconds"
    assert "wasted 50.9% of 15,900.0 seconds" in stdout


def test_report_range_and_previous(db: str, tmp_path: Path) -> None:
    first, second = tmp_path / "r1", tmp_path / "r2"
    code, _, _ = run("report", "--db", db, "--out", str(first), "--until", "2025-01-07")
    assert code == 0
    code, _, _ = run(
        "report",
        "--db",
        db,
        "--out",
        str(second),
        "--until",
        "2025-02-01",
        "--previous",
        str(first),
    )
    assert code == 0
    summary = json.loads((second / "summary.json").read_text())
    # Until day 1 only run 1 ran: 7,800 s, all in the pushed graphlet.
    assert summary["changes"]["total_cost"] == {"previous": 7_800.0, "change": 8_100.0}
    markdown = (second / "report.md").read_text()
    assert "| Total cost | 15,900 seconds | +8,100 seconds |" in markdown
    first_md = (first / "report.md").read_text()
    assert "to 2025-01-07 00:00 UTC" in first_md
    # --previous may be the output directory itself: it is read before being replaced.
    code, _, _ = run(
        "report",
        "--db",
        db,
        "--out",
        str(second),
        "--until",
        "2025-02-01",
        "--previous",
        str(second),
    )
    assert code == 0
    assert json.loads((second / "summary.json").read_text())["changes"]["total_cost"]["change"] == 0
    # Against a report of another kind of range nothing is subtracted, and the report says so.
    code, _, _ = run("report", "--db", db, "--out", str(second), "--previous", str(first))
    assert code == 0
    assert json.loads((second / "summary.json").read_text())["changes"] == {}
    assert (
        "Changes are not shown: the previous report covered" in (second / "report.md").read_text()
    )


def test_fail_above(db: str, tmp_path: Path) -> None:
    code, _, err = run("report", "--db", db, "--out", str(tmp_path / "r"), "--fail-above", "0.4")
    assert code == 3
    assert "wasted share 50.9% is above --fail-above 40.0%" in err
    assert (tmp_path / "r" / "report.html").exists()  # the report is still written
    code, _, _ = run("report", "--db", db, "--out", str(tmp_path / "r"), "--fail-above", "0.6")
    assert code == 0


def test_report_errors(db: str, tmp_path: Path) -> None:
    empty = str(tmp_path / "empty.duckdb")
    with ProvenanceStore.open(empty) as store:
        ingest(store, str(FIXTURES / "tfx_small.sqlite"))
    code, _, err = run("report", "--db", empty, "--out", str(tmp_path / "r"), "--no-refresh")
    assert code == 2 and "has no graphlets yet; build them with" in err
    code, _, err = run("report", "--db", db, "--out", str(tmp_path / "r"), "--pipeline", "nope")
    assert code == 2 and "no executions in" in err and "pipelines nope" in err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, _, err = run("report", "--db", db, "--out", str(tmp_path / "mine"))
    assert code == 2 and "holds other files (notes.txt)" in err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    code, _, err = run(
        "report", "--db", db, "--out", str(tmp_path / "r"), "--previous", str(tmp_path / "mine")
    )
    assert code == 2 and "no summary.json there" in err
    code, _, err = run(
        "report", "--db", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path / "r")
    )
    assert code == 2 and "no mlprov database at" in err


def test_demo(tmp_path: Path) -> None:
    db, out = tmp_path / "demo.duckdb", tmp_path / "demo-report"
    code, stdout, _ = run("demo", "--db", str(db), "--out", str(out))
    assert code == 0, stdout
    assert "built 194 graphlets" in stdout and "cpu_hours" in stdout
    assert f"report: {out / 'report.html'}" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cost_unit"] == "cpu_hours"
    assert summary["headline"]["unpushed_graphlets"] == 64  # sample_data/README.md
    code, stdout2, _ = run("demo", "--db", str(db), "--out", str(out))  # rerun: incremental
    assert code == 0 and stdout2 == stdout


def test_demo_without_sample_data(tmp_path: Path) -> None:
    code, _, err = run(
        "demo",
        "--db",
        str(tmp_path / "d.duckdb"),
        "--out",
        str(tmp_path / "r"),
        "--sample",
        str(tmp_path),
    )
    assert code == 2
    assert "no sample store at" in err and "pass --sample DIR" in err


def test_demo_console_script(tmp_path: Path) -> None:
    """The installed entry point works from any directory (README: pip install -e . && demo)."""
    exe = Path(sys.executable).with_name("mlprov")
    if not exe.exists():
        pytest.skip("the mlprov console script is not installed in this environment")
    result = subprocess.run(
        [str(exe), "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mlprov-demo-report" / "report.html").exists()
    shutil.rmtree(tmp_path / "mlprov-demo-report")


def test_demo_from_a_plain_install(tmp_path: Path) -> None:
    """`pip install .` (a wheel, not the checkout) ships the sample store: the demo runs
    from any directory and names its outputs and the next commands."""
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("mlprov-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = "import mlprov; from mlprov.analysis.cli import main; print(mlprov.__file__); main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "demo"],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(site))  # the installed copy, not the checkout
    assert str(site / "mlprov" / "sample" / "tfx_sample.sqlite") in result.stdout
    for name in ("report.html", "report.md", "summary.json"):
        assert str(work / "mlprov-demo-report" / name) in result.stdout
    assert "mlprov ingest path/to/metadata.sqlite --db prov.duckdb" in result.stdout

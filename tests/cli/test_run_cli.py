"""`mlprov init` and `mlprov run`: the scheduled job of a project file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.analysis.errors import ProjectError
from mlprov.analysis.project import expand_env, load_project, parse_project, starter_text

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A starter project file pointed at a copy of the sample store, through ${SAMPLE_DIR}."""
    shutil.copy(SAMPLE / "tfx_sample.sqlite", tmp_path / "metadata.sqlite")
    shutil.copy(SAMPLE / "mapping.toml", tmp_path / "mapping.toml")
    code, stdout, _ = run("init", str(tmp_path / "mlprov.toml"))
    assert code == 0 and "then run 'mlprov run --project" in stdout
    text = (tmp_path / "mlprov.toml").read_text()
    text = text.replace(
        'location = "metadata.sqlite"', 'location = "${SAMPLE_DIR}/metadata.sqlite"'
    )
    text = text.replace('# mapping = "mapping.toml"', 'mapping = "mapping.toml"')
    text = text.replace("fail_above = 0.5", "fail_above = 0.9")
    (tmp_path / "mlprov.toml").write_text(text)
    return tmp_path / "mlprov.toml"


def test_run_ingests_refreshes_and_reports(project: Path) -> None:
    env = {"SAMPLE_DIR": str(project.parent)}
    # The sample's last execution ends 2025-03-06: its last 30 days.
    args = ("run", "--project", str(project), "--as-of", "2025-03-07")
    code, stdout, err = run(*args, env=env)
    assert code == 0, err
    assert "ingested " in stdout and "new rows" in stdout
    assert "18 pipelines rebuilt" in stdout
    summary = json.loads((project.parent / "report" / "summary.json").read_text())
    assert (summary["since"], summary["until"]) == ("2025-02-05T00:00:00", "2025-03-07T00:00:00")
    assert summary["cost_unit"] == "cpu_hours"
    assert summary["changes"] is None  # the first run has nothing to compare with
    assert (project.parent / "prov.duckdb").is_file()

    # The next day's run: nothing new to read, compared with yesterday's report.
    code, stdout, err = run("run", "--project", str(project), "--as-of", "2025-03-08", env=env)
    assert code == 0, err
    assert ": 0 new rows" in stdout and "0 pipelines rebuilt, 18 unchanged" in stdout
    summary = json.loads((project.parent / "report" / "summary.json").read_text())
    assert summary["changes"]["executions"]["previous"] > summary["headline"]["executions"]


def test_run_exits_3_above_the_threshold(project: Path) -> None:
    text = project.read_text().replace("fail_above = 0.9", "fail_above = 0.1")
    project.write_text(text.replace('window = "30d"', 'window = "all"'))
    code, stdout, err = run(
        "run", "--project", str(project), env={"SAMPLE_DIR": str(project.parent)}
    )
    assert code == 3
    assert "wasted 37.8% of 7,276.5 cpu_hours" in stdout
    assert "wasted share 37.8% is above fail_above 10.0%" in err
    assert (project.parent / "report" / "report.html").is_file()  # written all the same


def test_init_refuses_to_overwrite(project: Path) -> None:
    before = project.read_text()
    code, _, err = run("init", str(project))
    assert code == 2 and err.strip() == f"error: {project} exists; pass --force to replace it"
    assert project.read_text() == before
    assert run("init", str(project), "--force")[0] == 0
    assert project.read_text() == starter_text()


def test_missing_variable_and_project_file(project: Path, tmp_path: Path) -> None:
    code, _, err = run("run", "--project", str(project), env={"SAMPLE_DIR": None})  # type: ignore[dict-item]
    assert code == 2
    assert err == "error: a source location uses ${SAMPLE_DIR}, which is not set; export it\n"
    assert not (tmp_path / "prov.duckdb").exists()
    code, _, err = run("run", "--project", str(tmp_path / "none.toml"))
    assert code == 2 and "no project file at" in err and "'mlprov init'" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("databse = 'x'\n[[sources]]\nlocation = 'a'", "unknown key 'databse'.*'database'"),
        ("[report]\nout = 'r'", r"add at least one \[\[sources\]\] table"),
        ("[[sources]]\nlocaton = 'a'", "unknown \\[sources\\] key 'locaton'"),
        ("[[sources]]\nlocation = 'a'\nstrict = 'rase'", "strict must be raise.*'raise'"),
        ("[report]\nwindow = 'soon'\n[[sources]]\nlocation = 'a'", "window: 'soon' is not a"),
        ("[report]\nfail_above = 2\n[[sources]]\nlocation = 'a'", "fail_above must be a share"),
        ("[report]\ntop = 0\n[[sources]]\nlocation = 'a'", "top must be a whole number"),
        ("report = 3\n[[sources]]\nlocation = 'a'", r"report must be a table"),
        ("[[sources]\n", "is not valid TOML"),
    ],
)
def test_bad_project_files(text: str, message: str) -> None:
    with pytest.raises(ProjectError, match=message):
        parse_project(text, Path("/p/mlprov.toml"))


def test_paths_are_taken_from_the_project_folder(tmp_path: Path) -> None:
    (tmp_path / "mlprov.toml").write_text(starter_text())
    project = load_project(tmp_path / "mlprov.toml")
    assert project.database == tmp_path / "prov.duckdb"
    assert project.report.out == tmp_path / "report"
    assert project.locate(project.sources[0]) == str(tmp_path / "metadata.sqlite")
    assert expand_env("mysql://u@h/db") == "mysql://u@h/db"

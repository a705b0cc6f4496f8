"""Every failure a user can meet ends in one line on stderr and an exit code (analysis.cli.common).

The failures are real ones where this machine can produce them: a file size limit standing in
for a full disk, a read-only directory, DuckDB out of memory, SIGINT delivered to a running
``mlprov``. Commands that need a process of their own (limits, signals) run as subprocesses.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner

from mlprov.analysis.cli import main
from mlprov.analysis.cli.common import EXIT_INTERRUPTED, INTERRUPTED, explain
from mlprov.graphlets import build_graphlets
from mlprov.provenance.errors import MlprovError
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from tests.cli import test_report_cli
from tests.conftest import canonical_rows

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "tfx_sample.sqlite"
#: the CLI as its console script runs it, in a process of its own
MLPROV = [sys.executable, "-c", "from mlprov.analysis.cli import main; main(prog_name='mlprov')"]


db = test_report_cli.db  # the fixture: the TFX fixture ingested, graphlets built


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), prog_name="mlprov")
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    """The one line of an exit-2 failure, without its ``error: `` prefix."""
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    return stderr.removeprefix("error: ").rstrip("\n")


def limited(max_bytes: int, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``mlprov ARGS`` unable to grow any file past ``max_bytes`` (as on a full disk: writes
    fail with EFBIG instead of the process being killed by SIGXFSZ)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return subprocess.run(
        [*MLPROV, *args], cwd=cwd, capture_output=True, text=True, preexec_fn=limit, timeout=300
    )


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nothing can be written into: chmod for a user, a read-only tmpfs for root
    (who ignores permissions); skipped where neither works."""
    path = tmp_path / "read-only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_explain_messages() -> None:
    cases = [
        (MlprovError("two\nlines"), "two lines"),
        (OSError(errno.ENOSPC, "No space left on device", "out"), "out: no space left on device"),
        (OSError(errno.EROFS, "Read-only file system", "x"), "x: read-only file system; choose"),
        (OSError(errno.EACCES, "Permission denied", "x"), "x: permission denied; choose"),
        (OSError(errno.EFBIG, "File too large"), "file too large; free some space or raise"),
        (OSError(errno.EIO, "Input/output error", "x"), "x: input/output error"),
        (MemoryError(), "out of memory; close other programs"),
        (click.BadParameter("nope"), "Invalid value: nope"),
    ]
    for err, start in cases:
        message, code = explain(err)
        assert code == 2 and message.startswith(start), message
    assert explain(KeyboardInterrupt()) == (INTERRUPTED, EXIT_INTERRUPTED)
    assert explain(click.exceptions.Abort()) == (INTERRUPTED, EXIT_INTERRUPTED)
    message, code = explain(ValueError("unexpected"))
    assert code == 1
    assert message == (
        "internal error (ValueError: unexpected); this is an mlprov bug: rerun with "
        "'mlprov --debug ...' and report the traceback"
    )


def test_duckdb_out_of_memory_is_one_line() -> None:
    con = duckdb.connect()
    con.execute("SET memory_limit = '2MB'")
    con.execute("SET temp_directory = ''")  # nowhere to spill
    with pytest.raises(duckdb.OutOfMemoryException) as caught:
        con.execute("SELECT list(i) FROM range(10000000) t(i)").fetchall()
    assert "\n" in str(caught.value)  # DuckDB's own message has several lines
    message, code = explain(caught.value)
    assert code == 2 and "\n" not in message
    assert message.startswith("out of memory; close other programs or narrow the work")
    assert "(Out of Memory Error: failed to allocate" in message


def test_usage_errors_are_one_line(db: str, tmp_path: Path) -> None:
    out = tmp_path / "r"
    cases = [
        (
            ("report", "--db", db, "--out", str(out), "--fail-above", "nan"),
            "Invalid value for '--fail-above': 'nan' is not a share from 0 to 1, e.g. 0.35 "
            "(see 'mlprov report --help')",
        ),
        (
            ("report", "--db", db, "--out", str(out), "--fail-above", "1.5"),
            "Invalid value for '--fail-above': '1.5' is not a share from 0 to 1",
        ),
        (
            ("report", "--db", db, "--out", str(out), "--fail-above", "lots"),
            "Invalid value for '--fail-above': 'lots' is not a number; pass a share",
        ),
        (
            (
                "report",
                "--db",
                db,
                "--out",
                str(out),
                "--since",
                "2025-01-07",
                "--until",
                "2025-01-07",
            ),
            "Invalid value for '--since': 2025-01-07 00:00:00 is not before --until "
            "2025-01-07 00:00:00; the range is half-open",
        ),
        (
            ("prune", "--db", db, "--threshold", "nan"),
            "Invalid value for '--threshold': 'nan' is not a share from 0 to 1",
        ),
        (("report", "--db", db), "Missing option '--out'. (see 'mlprov report --help')"),
        (("repot",), "No such command 'repot'."),
    ]
    for args, expected in cases:
        code, _, err = run(*args)
        assert code == 2 and one_error_line(err).startswith(expected), (args, err)
    assert not out.exists()
    code, _, err = run()
    assert code == 2 and err.startswith("Usage: mlprov")  # a bare 'mlprov': the help, as click


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"format": 1, "headline": [1, 2]}, "('headline' is list, not an object)"),
        ({"format": "one", "headline": {}}, "('format' is str, not a number)"),
        ({"format": 1, "headline": {}, "cost_unit": 7}, "('cost_unit' is int, not a string)"),
        ([1, 2], "(no 'format' and 'headline' keys)"),
    ],
)
def test_previous_of_the_wrong_shape(
    db: str, tmp_path: Path, summary: object, expected: str
) -> None:
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "r"
    code, _, err = run("report", "--db", db, "--out", str(out), "--previous", str(previous))
    assert code == 2 and expected in one_error_line(err)
    assert not out.exists()


def test_previous_with_infinite_figures_is_ignored_not_fatal(db: str, tmp_path: Path) -> None:
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "summary.json").write_text(
        '{"format": 1, "cost_unit": "seconds", "headline": {"total_cost": Infinity, '
        '"wasted_cost": true, "executions": 3}}'
    )
    out = tmp_path / "r"
    code, _, _ = run("report", "--db", db, "--out", str(out), "--previous", str(previous))
    assert code == 0
    changes = json.loads((out / "summary.json").read_text())["changes"]
    assert set(changes) == {"executions"}


def test_full_disk_keeps_the_previous_state(db: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert run("report", "--db", db, "--out", str(out))[0] == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}  # pages/ too
    result = limited(50_000, "report", "--db", db, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert one_error_line(result.stderr) == (
        f"{out}: file too large; free some space or raise the file size limit (ulimit -f)"
    )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    with ProvenanceStore.open(db, read_only=True) as store:
        rows = canonical_rows(store)
    for args in (("ingest", str(SAMPLE), "--db", db), ("graphlets", "--db", db, "--rebuild")):
        result = limited(1, *args, "--quiet", cwd=tmp_path)  # not even the WAL can grow
        assert result.returncode == 2, result.stderr
        line = one_error_line(result.stderr)
        assert line.startswith("cannot read or write a file (") and "File too large" in line
        assert line.endswith(
            "; free some space or raise the file size limit (ulimit -f), and rerun"
        )
    with ProvenanceStore.open(db, read_only=True) as store:
        assert canonical_rows(store) == rows


def test_unwritable_targets(db: str, tmp_path: Path, read_only_dir: Path) -> None:
    code, _, err = run("report", "--db", db, "--out", str(read_only_dir / "report"))
    assert code == 2
    assert one_error_line(err).startswith(f"{read_only_dir / 'report'}: ")
    assert ("read-only file system" in err) or ("permission denied" in err)
    graphlet = run("graphlets", "--db", db, "--format", "csv")[1].splitlines()[1].split(",")[0]
    png = read_only_dir / "g.png"
    code, _, err = run("graphlet", "show", graphlet, "--db", db, "--png", str(png))
    assert code == 2 and one_error_line(err).startswith(f"{png}: ")
    assert not png.exists()
    (tmp_path / "a-file").write_text("")
    code, _, err = run("report", "--db", db, "--out", str(tmp_path / "a-file" / "report"))
    assert code == 2
    assert one_error_line(err) == (
        f"--out {tmp_path / 'a-file' / 'report'}: {tmp_path / 'a-file'} is a file, not a directory"
    )


INTERRUPTING = """
import os, signal, threading
from contextlib import contextmanager
import mlprov.analysis.cli.common as common

@contextmanager
def progress_bar(label, quiet):
    fired = []

    def update(*args):  # Ctrl-C while the ingest reads: now, or a moment later (DuckDB at work)
        if not fired:
            fired.append(True)
            if {delay} == 0:
                signal.raise_signal(signal.SIGINT)
            else:
                threading.Timer({delay}, os.kill, (os.getpid(), signal.SIGINT)).start()

    yield update

common.progress_bar = progress_bar
from mlprov.analysis.cli import main
main(prog_name="mlprov")
"""


@pytest.mark.parametrize("delay", [0, 0.02, 0.15])
def test_ctrl_c_during_ingest(db: str, tmp_path: Path, delay: float) -> None:
    with ProvenanceStore.open(db, read_only=True) as store:
        rows = canonical_rows(store)
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTING.format(delay=delay), "ingest", str(SAMPLE), "--db", db],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode == 0:
        pytest.skip(f"the ingest finished within {delay} s, before the interrupt")
    assert (result.returncode, result.stderr) == (EXIT_INTERRUPTED, INTERRUPTED + "\n")
    with ProvenanceStore.open(db, read_only=True) as store:
        assert canonical_rows(store) == rows


DUCKDB_INTERRUPTED = """
import os, signal, threading, time
import duckdb
from mlprov.analysis.cli.common import explain

con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
done = threading.Event()


def interrupt(signum, frame):  # Python's own handler, until the query has ended
    if not done.is_set():
        raise KeyboardInterrupt


signal.signal(signal.SIGINT, interrupt)

def ctrl_c():  # until one lands inside the query (one may land where nothing acts on it)
    while not done.wait(0.3):
        os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=ctrl_c, daemon=True).start()
try:
    try:
        con.execute(
            "SELECT count(*) FROM range(4000000000) t(i) WHERE i % 7 = 3"
        ).fetchall()
    finally:
        done.set()
    print("not interrupted")
except BaseException as err:
    print(type(err).__name__, *explain(err), sep="|")
"""


def test_ctrl_c_inside_a_duckdb_query() -> None:
    result = subprocess.run(
        [sys.executable, "-c", DUCKDB_INTERRUPTED], capture_output=True, text=True, timeout=120
    )
    name, message, code = result.stdout.strip().split("|")  # "not interrupted" fails here
    assert (message, int(code)) == (INTERRUPTED, EXIT_INTERRUPTED), name


def test_debug_shows_tracebacks_for_usage_and_environment_errors(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    out = str(tmp_path / "a-file" / "r")
    result = subprocess.run(
        [*MLPROV, "--debug", "report", "--db", str(tmp_path / "none.duckdb"), "--out", out],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
    # the same command without --debug: one line
    result = subprocess.run(
        [*MLPROV, "report", "--db", str(tmp_path / "none.duckdb"), "--out", out],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and one_error_line(result.stderr).startswith("no mlprov database")


GROUP_INTERRUPTED = """
import os, signal, threading
import {module} as patched

original = patched.{owner}.{method}
fired = []


def interrupted(*args, **kwargs):  # Ctrl-C at a terminal: every process of the group gets it
    if not fired:
        fired.append(True)
        threading.Timer({delay}, os.killpg, (os.getpgid(0), signal.SIGINT)).start()
    return original(*args, **kwargs)


patched.{owner}.{method} = interrupted
from mlprov.analysis.cli import main
main(prog_name="mlprov")
"""


def run_interrupted(target: str, delay: float, *args: str) -> subprocess.CompletedProcess[str]:
    """``mlprov *args`` as a terminal's job (a process group of its own), the group sent a
    SIGINT ``delay`` s after the command first calls ``target`` (``module:Class.method``)."""
    module, _, qualname = target.partition(":")
    owner, method = qualname.split(".")
    script = GROUP_INTERRUPTED.format(module=module, owner=owner, method=method, delay=delay)
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bundled sample ingested, graphlets built: enough pages for the drawing workers."""
    db = str(tmp_path_factory.mktemp("sample") / "prov.duckdb")
    with ProvenanceStore.open(db) as store:
        ingest(store, str(SAMPLE))
        build_graphlets(store)
    return db


@pytest.mark.parametrize("delay", [0.05, 1.5])
def test_ctrl_c_while_workers_draw(sample_db: str, tmp_path: Path, delay: float) -> None:
    """The report's drawing workers leave Ctrl-C to the command: one line, no report."""
    out = tmp_path / "report"
    args = ["report", "--db", sample_db, "--out", str(out)]
    result = run_interrupted("mlprov.analysis.drawings:Drawings.draw", delay, *args)
    if result.returncode == 0:
        pytest.skip(f"the report finished within {delay} s, before the interrupt")
    assert (result.returncode, result.stderr) == (EXIT_INTERRUPTED, INTERRUPTED + "\n")
    assert not out.exists()


@pytest.mark.parametrize("delay", [0.05, 0.8])
def test_ctrl_c_while_synth_writes(tmp_path: Path, delay: float) -> None:
    """Ctrl-C while the store is written, as a second process loads its share of the tables
    (still starting, or at work): one line, no store, nothing left beside it."""
    out = tmp_path / "out"
    out.mkdir()
    args = ["synth", "--out", str(out / "s.sqlite"), "--pipelines", "60", "--days", "60"]
    args += ["--writer", "bulk"]  # the generator that writes with two processes
    result = run_interrupted("mlprov.sample.synth.chunks:Spill._append", delay, *args)
    if result.returncode == 0:
        pytest.skip(f"the store was written within {delay} s, before the interrupt")
    assert (result.returncode, result.stderr) == (EXIT_INTERRUPTED, INTERRUPTED + "\n")
    assert list(out.iterdir()) == []

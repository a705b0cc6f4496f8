"""``write_report`` swaps a report in atomically: ``kill -9`` at any point leaves ``--out`` whole.

Writers are forked children killed with SIGKILL at the critical points of the swap (reached by
wrapping the swap's own steps in the child) and in the middle of a loop of reports, while a
separate process watches ``--out``. The next write restores or removes what a killed one left
beside it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlprov.analysis.report import FILES, Report, write_report
from mlprov.analysis.report import files as report_module

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")


def write(out: Path, run: int) -> None:
    write_report(Report({"run": run}, f"<p>run {run}</p>" * 500, f"run {run}\n" * 500), out)


def run_of(out: Path) -> int:
    """The run number of the complete report in ``out`` (fails on anything else)."""
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    run = json.loads((out / "summary.json").read_text())["run"]
    assert (out / "report.md").read_text() == f"run {run}\n" * 500
    assert (out / "report.html").read_text() == f"<p>run {run}</p>" * 500
    return int(run)


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_before_swap(out: Path) -> None:  # every file written, nothing swapped yet
    report_module._swap = lambda new, out: die()


def kill_after_exchange(out: Path) -> None:  # swapped in, the previous report not yet removed
    exchange = report_module._exchange
    report_module._exchange = lambda a, b: (exchange(a, b), die())[0]


def kill_between_renames(out: Path) -> None:  # without renameat2: the two-rename swap
    report_module._exchange = lambda a, b: False
    rename = os.rename

    def rename_then_die(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        rename(src, dst)
        if Path(src) == out:  # the previous report moved aside, the new one not yet in place
            die()

    os.rename = rename_then_die  # type: ignore[assignment]


def fork_writer(
    out: Path, first: int, count: int = 1, patch: Callable[[Path], None] | None = None
) -> tuple[int, int]:
    """A child writing reports ``first``, ``first + 1``, ... into ``out``; returns its pid and
    a pipe end that reads one byte when the child starts writing."""
    started, tell = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            if patch is not None:
                patch(out)
            os.write(tell, b"w")
            for run in range(first, first + count):
                write(out, run)
        finally:
            os._exit(0)
    os.close(tell)
    return pid, started


def killed(pid: int) -> bool:
    return os.waitpid(pid, 0)[1] == signal.SIGKILL


@pytest.mark.parametrize(
    ("patch", "survivor"),
    [(kill_before_swap, 1), (kill_after_exchange, 2)],
    ids=["before", "after"],
)
def test_kill_9_during_the_exchange(
    tmp_path: Path, patch: Callable[[Path], None], survivor: int
) -> None:
    out = tmp_path / "reports" / "out"
    write(out, 1)
    assert killed(fork_writer(out, 2, patch=patch)[0])
    assert run_of(out) == survivor  # the previous report or the new one, whole
    assert [name.endswith(".partial") for name in leftovers(out)] == [True]
    write(out, 3)
    assert run_of(out) == 3 and leftovers(out) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RENAME_EXCHANGE is Linux's")
def test_the_exchange_is_used_on_linux(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    assert report_module._exchange(a, b)
    assert (b / "x").read_text() == "a" and not (a / "x").exists()


def test_kill_9_between_the_fallback_renames_is_undone(tmp_path: Path) -> None:
    # Without renameat2 the swap is two renames; a kill between them is the one moment --out
    # is missing (the documented limit of the fallback), and the next run puts it back.
    out = tmp_path / "reports" / "out"
    write(out, 1)
    assert killed(fork_writer(out, 2, patch=kill_between_renames)[0])
    assert not out.exists()
    assert sorted(name.rsplit(".", 1)[-1] for name in leftovers(out)) == ["old", "partial"]
    with pytest.raises(ValueError):  # a run that fails (NaN is no JSON) still recovers first
        write_report(Report({"bad": float("nan")}, "", ""), out)
    assert run_of(out) == 1 and leftovers(out) == []


WATCHER = """
import os, sys
out, stop = sys.argv[1], sys.argv[2]
looks = missing = 0
while not os.path.exists(stop):
    looks += 1
    missing += not os.path.isdir(out)
print(looks, missing)
"""


def test_out_is_never_missing_under_kill_9_in_a_loop(tmp_path: Path) -> None:
    out, stop = tmp_path / "reports" / "out", tmp_path / "stop"
    write(out, 0)
    watcher = subprocess.Popen(
        [sys.executable, "-S", "-c", WATCHER, str(out), str(stop)], stdout=subprocess.PIPE
    )
    runs = []
    for round_, delay in enumerate((0.05, 0.15, 0.3, 0.5), start=1):
        pid, started = fork_writer(out, 1000 * round_, count=100_000)
        assert os.read(started, 1) == b"w"
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        assert killed(pid)
        runs.append(run_of(out))
    stop.touch()
    looks, missing = map(int, watcher.communicate(timeout=60)[0].split())
    assert looks > 1000 and missing == 0
    assert runs[-1] > 4000  # the last writer had swapped reports in before its kill
    write(out, 1)
    assert run_of(out) == 1 and sorted(leftovers(out)) == []

"""The report's files: written into a directory atomically, and an earlier report's
summary.json read back (see :func:`write_report`, :func:`load_summary`)."""

from __future__ import annotations

import ctypes
import errno
import glob
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlprov.analysis.drilldown import PAGES
from mlprov.analysis.errors import ReportError
from mlprov.analysis.report.model import Report

FILES = ("report.html", "report.md", "summary.json")


def write_report(report: Report, out_dir: str | Path) -> Path:
    """Write the report's files and pages into ``out_dir``, replacing an earlier report
    atomically.

    Everything is written into a hidden directory beside ``out_dir`` and swapped in only when
    complete, so a failure never leaves a half-written report in place of a good one. On Linux
    the swap is one ``renameat2(RENAME_EXCHANGE)``: at every instant, even under ``kill -9``,
    ``out_dir`` holds the whole previous or the whole new report. Where the exchange is not
    available (other systems, file systems without it) the swap is two renames, and a run
    killed between them leaves the previous report in ``.<name>.*.old``; every run first puts
    such a leftover back (or removes it, and any ``.<name>.*.partial``) before writing.

    Raises:
        ReportError: ``out_dir`` or a directory above it is a file, or ``out_dir`` holds files
            other than a report's (which a swap would delete).
        OSError: a file cannot be written (its ``filename`` is ``out_dir``).
    """
    out = Path(out_dir).absolute()
    above = next(p for p in out.parents if p.exists())
    if not above.is_dir():
        raise ReportError(f"--out {out_dir}: {above} is a file, not a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with _locked(out.parent):
            _recover(out)
            _check_out(out, out_dir)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=PARTIAL, dir=out.parent))
            try:
                summary = json.dumps(report.summary, indent=2, allow_nan=False) + "\n"
                _write(tmp / "report.html", report.html)
                _write(tmp / "report.md", report.markdown)
                _write(tmp / "summary.json", summary)
                for name, text in report.pages.items():
                    _write(_inside(tmp, name), text)
                tmp.chmod(0o755)
                _swap(tmp, out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)  # after a swap: the previous report
    except OSError as err:
        # the failing file is one of ours, beside or inside out_dir: name what the user gave
        raise OSError(err.errno, err.strerror, str(out_dir)) from err
    return out


#: Suffixes of the hidden directories beside ``--out``: a report being written, and (only
#: where the swap is two renames) the previous report between them.
PARTIAL, OLD = ".partial", ".old"


def _check_out(out: Path, out_dir: str | Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out_dir} is a file; pass a directory for the report")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in (*FILES, PAGES))
        if foreign:
            raise ReportError(
                f"--out {out_dir} holds other files ({', '.join(foreign[:3])}); "
                "the report replaces its directory whole, so pass a new or "
                "report-only directory"
            )


def _inside(directory: Path, name: str) -> Path:
    """``directory / name`` for a page name such as ``pages/x.html``, its folder created;
    a name reaching outside ``directory`` is a bug, not a path to follow."""
    path = (directory / name).resolve()
    if directory.resolve() not in path.parents:
        raise ValueError(f"report page {name!r} is outside the report")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write(path: Path, text: str) -> None:
    """Write ``text`` and flush it to disk, so a swapped-in report is whole after a crash too."""
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _recover(out: Path) -> None:
    """Undo what an interrupted :func:`write_report` into ``out`` left beside it: put the
    previous report back when ``out`` is missing, then remove the hidden leftovers."""
    pattern = f".{glob.escape(out.name)}.*"
    leftovers = sorted(out.parent.glob(pattern), key=lambda p: p.suffix != OLD)  # .old first
    for leftover in leftovers:
        if leftover.suffix == OLD and not out.exists():
            os.rename(leftover, out)
        elif leftover.suffix in (OLD, PARTIAL) and leftover.is_dir():
            shutil.rmtree(leftover)


def _swap(new: Path, out: Path) -> None:
    """Put directory ``new`` at ``out``; an existing ``out`` moves to ``new``'s path."""
    if not out.exists():
        os.rename(new, out)
    elif not _exchange(new, out):
        old = new.with_suffix(OLD)
        os.rename(out, old)
        os.rename(new, out)  # a kill before this line is undone by the next _recover
        os.rename(old, new)


#: renameat2's flag and "relative to the working directory" (linux/fs.h, fcntl.h)
_RENAME_EXCHANGE, _AT_FDCWD = 2, -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step with Linux's ``renameat2(RENAME_EXCHANGE)``.

    Returns:
        True when swapped; False where the system or file system has no such call.
    """
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)  # glibc >= 2.28
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory``: reports written into it take turns, so one
    run's recovery never removes another's report in progress (no lock without ``fcntl``)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_summary(path: str | Path) -> dict[str, Any]:
    """Read an earlier report's summary.json (``path`` is the report directory or the file).

    Raises:
        ReportError: the file is missing, not JSON, or not an mlprov summary.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "summary.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ReportError(
            f"--previous {path}: no summary.json there; pass the directory of an "
            "earlier 'mlprov report'"
        ) from err
    except (OSError, ValueError) as err:
        raise ReportError(f"--previous {path}: cannot read {file} as JSON ({err})") from err
    if not isinstance(data, dict) or "headline" not in data or "format" not in data:
        raise ReportError(
            f"--previous {path}: {file} is not an mlprov report summary "
            "(no 'format' and 'headline' keys)"
        )
    shape = (
        ("headline", dict, "an object"),
        ("format", int, "a number"),
        ("cost_unit", str | None, "a string"),
    )
    for key, kind, what in shape:
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise ReportError(
                f"--previous {path}: {file} is not an mlprov report summary ('{key}' is "
                f"{type(data.get(key)).__name__}, not {what}); pass the directory of an "
                "earlier 'mlprov report'"
            )
    return data

"""OpenLineage events in files: which files, which of their bytes are new, and their lines.

The file transport appends one event a line (its ``append`` mode), writes one file per event
(its default), or pretty-prints one (its ``debug_mode``); an array of events is one JSON
document. Whole NDJSON files go to DuckDB's JSON reader; Python splits lines only for appended
tails, JSON documents, and files DuckDB cannot read or holding a rejected event (for its line
number). A file's watermark is its size (the offset read to) and mtime.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlprov.provenance.errors import NotAnEventSourceError, SourceNotFoundError
from mlprov.provenance.openlineage_check import TABLE, check_batch, check_files
from mlprov.provenance.readers import Mark, ReadResult, Skipped, Stage

#: File names read in a directory.
EVENT_SUFFIXES = (".json", ".ndjson", ".jsonl")


def event_files(path: Path) -> list[Path]:
    return sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in EVENT_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def read_files(path: Path, stage: Stage, result: ReadResult) -> None:
    if not path.exists():
        raise SourceNotFoundError(
            f"{path} does not exist; pass a file of OpenLineage events (as the file transport "
            "writes them), a directory of such files, or a marquez:// URL"
        )
    if path.is_dir():
        files = event_files(path)
        if not files:
            raise NotAnEventSourceError(
                f"{path} holds no {', '.join('*' + s for s in EVENT_SUFFIXES)} files; point "
                "mlprov at the directory the OpenLineage file transport writes to"
            )
        names = [str(f.relative_to(path)) for f in files]
    else:
        files, names = [path], [path.name]
    events = 0
    whole: list[tuple[Path, str]] = []  # read by DuckDB, after the others
    for file, name in zip(files, names, strict=True):
        events += _read_file(file, name, stage, result, whole)
        stage.progress(TABLE, events)
    if whole:
        checked, again = check_files(stage, whole)
        events += checked
        for file, name in whole:
            if name in again:
                source, _, _ = lines(file.read_bytes(), name)
                check_batch(stage, source)
                events += source.num_rows
        stage.progress(TABLE, events)
    result.rows_read[TABLE] = events


def _read_file(
    path: Path, name: str, stage: Stage, result: ReadResult, whole: list[tuple[Path, str]]
) -> int:
    """Check the events of one file that are new since its watermark; return how many (a
    whole file of complete lines is added to ``whole`` instead, to be read by DuckDB)."""
    stat = path.stat()
    mtime_ms = stat.st_mtime_ns // 1_000_000
    lines_key, document_key = f"file:{name}", f"document:{name}"
    mark = stage.marks.get(lines_key) or stage.marks.get(document_key)
    if mark is not None and (mark.max_id, mark.max_update_ms) == (stat.st_size, mtime_ms):
        return 0
    start = 0
    if lines_key in stage.marks and mark is not None and (mark.max_id or 0) < stat.st_size:
        start = int(mark.max_id or 0)  # appended to: read the new lines only
    if start == 0 and _whole_lines(path, stat.st_size):
        whole.append((path, name))
        result.marks[lines_key] = Mark(stat.st_size, mtime_ms)
        return 0
    with path.open("rb") as f:
        f.seek(start)
        data = f.read()
    if start and not _ends_line(path, start):
        start, data = 0, path.read_bytes()  # rewritten, not appended to
    if start == 0 and _is_document(data):
        source, end = _document(data, name), len(data)
        result.marks[document_key] = Mark(end, mtime_ms)
    else:
        source, end, unfinished = lines(data, name)
        if unfinished:
            result.skipped.append(
                Skipped(
                    TABLE,
                    "are unfinished last lines (no newline yet), read by a later ingest",
                    1,
                    (f"{name}:{_line_count(path, start + end) + 1}",),
                )
            )
        result.marks[lines_key] = Mark(start + end, mtime_ms)
    if source.num_rows:
        check_batch(stage, source)
        if start:
            _renumber(stage, name, _line_count(path, start))
    return source.num_rows


def _whole_lines(path: Path, size: int) -> bool:
    """One event a line, the last line finished (judged from the first line and last byte)."""
    with path.open("rb") as f:
        head = f.read(1 << 20)
        f.seek(max(size - 1, 0))
        last = f.read(1)
    return last == b"\n" and not _is_document(head)


def _ends_line(path: Path, offset: int) -> bool:
    with path.open("rb") as f:
        f.seek(offset - 1)
        return f.read(1) == b"\n"


def _line_count(path: Path, offset: int) -> int:
    with path.open("rb") as f:
        return f.read(offset).count(b"\n")


def _renumber(stage: Stage, name: str, before: int) -> None:
    """Line numbers of an appended tail count from the start of the file (only where a
    record was rejected: only messages show them)."""
    stage.con.execute(
        "UPDATE mlprov_stage.ol_checked SET pos = pos + ? WHERE src = ? AND problem IS NOT NULL",
        [before, name],
    )


def _is_document(data: bytes) -> bool:
    """A JSON array, or one event spread over several lines (the transport's debug mode)."""
    start = re.search(rb"\S", data)  # no copies: a file may be large
    if start is None:
        return False
    i = start.start()
    end = data.find(b"\n", i)
    first = data[i : end if end >= 0 else len(data)].rstrip()
    return first[:1] == b"[" or (first[:1] == b"{" and not first.endswith(b"}"))


def lines(data: bytes, name: str) -> tuple[pa.Table, int, bool]:
    """The complete lines of ``data`` as a batch (line i at 1-based ``pos``), the bytes they
    span, and whether an unfinished last line was left for later."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    end = int(ends[-1]) + 1 if len(ends) else 0
    tail = data[end:]
    unfinished = False
    if tail.strip():
        try:
            json.loads(tail)
        except ValueError:
            unfinished = True  # a writer is still writing it
        else:
            ends, end = np.append(ends, len(data) - 1), len(data)
    offsets = np.concatenate([[0], ends + 1]).astype(np.int64)
    docs = pa.LargeStringArray.from_buffers(
        len(ends), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)
    )
    return _batch(name, np.arange(1, len(ends) + 1), docs), end, unfinished


def _document(data: bytes, name: str) -> pa.Table:
    """The events of a file holding JSON documents (an array, or pretty-printed events), each
    at the line it starts on; one that is not JSON is kept as is, to be rejected."""
    text = data.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    docs: list[str] = []
    lines: list[int] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            break
        line = text.count("\n", 0, i) + 1
        try:
            value, i = decoder.raw_decode(text, i)
        except ValueError:
            docs.append(text[i:])
            lines.append(line)
            break
        for item in value if isinstance(value, list) else [value]:
            docs.append(json.dumps(item))
            lines.append(line)
    return _batch(name, np.array(lines, dtype=np.int64), pa.array(docs, pa.large_string()))


def _batch(src: str, pos: Any, docs: pa.Array) -> pa.Table:
    return pa.table(
        {
            "src": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(len(docs), dtype=np.int32)), pa.array([src])
            ),
            "pos": pa.array(pos, pa.int64()),
            "doc": docs,
        }
    )

"""Read the files statistics, schema and anomalies artifacts point to into the canonical store.

MLMD rows only say where TFX put its data validation results; the results themselves are
payload files under each artifact's URI, read here with tensorflow-metadata's protos:

* ``ExampleStatistics``: ``Split-<name>/FeatureStats.pb`` (a binary
  ``DatasetFeatureStatisticsList``); older TFX wrote ``Split-<name>/stats_tfrecord`` or
  ``<name>/stats_tfrecord`` (a TFRecord file of them).
* ``Schema``: ``schema.pbtxt`` (a ``Schema`` in protobuf text form).
* ``ExampleAnomalies``: ``Split-<name>/SchemaDiff.pb`` (a binary ``Anomalies``); older TFX
  wrote ``<name>/anomalies.pbtxt``.

Reading is read-only, bounded in size per file, parallel (a thread pool), and incremental: an
artifact whose files were read from the same URI is not read again. A payload that is missing,
unreadable, corrupt, too large or behind an unsupported URL scheme is counted in the
:class:`PayloadReport` and recorded in ``payload_reads`` (and looked at again next time); it
never stops the read of the others. Without tensorflow-metadata installed nothing is read and
the report says so.

Local paths and ``file://`` URIs are read directly, ``gs://``, ``s3://`` and other URLs
through fsspec when it (and the scheme's filesystem, e.g. gcsfs or s3fs) is installed.
``prefixes`` rewrites URIs that point at a mount which lives elsewhere on this machine.

Example:
    >>> rewrite_uri("/mnt/tfx/p/StatisticsGen", (("/mnt/tfx", "/data/tfx"),))
    '/data/tfx/p/StatisticsGen'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from mlprov.provenance.errors import PayloadOptionError
from mlprov.provenance.payload_files import PAYLOAD_TABLES, Payload, load_protos, read_artifact
from mlprov.provenance.readers import Skipped
from mlprov.provenance.sql import named_queries
from mlprov.provenance.store import ProvenanceStore

#: Artifact type -> the kind of payload it holds.
PAYLOAD_TYPES = {
    "ExampleStatistics": "statistics",
    "Schema": "schema",
    "ExampleAnomalies": "anomalies",
}
#: Largest payload file read, in bytes (a FeatureStats.pb of a few thousand features is ~10 MB).
DEFAULT_MAX_BYTES = 64 * 2**20
DEFAULT_WORKERS = 8
INSTALL_HINT = "pip install 'mlprov[payloads]'"

_SQL = named_queries("mlprov.provenance", "payloads.sql")


@dataclass(frozen=True)
class PayloadReport:
    """What one payload read looked at, read, and left unread and why.

    Attributes:
        looked_at: payload artifacts not read before (or whose URI changed).
        read: artifacts whose files were all read.
        problems: artifacts left unread, by kind (``table``) and status (``reason``), with
            example URIs.
        rows_written: canonical rows written per payload table.
        seconds: wall time.
        message: set when nothing could be read at all (tensorflow-metadata is missing).
    """

    looked_at: int
    read: int
    problems: tuple[Skipped, ...]
    rows_written: dict[str, int]
    seconds: float
    message: str | None = None

    @property
    def unread(self) -> int:
        return sum(p.count for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "unread": self.unread}


def rewrite_uri(uri: str, prefixes: Iterable[tuple[str, str]]) -> str:
    """``uri`` with its first matching ``OLD`` prefix replaced by ``NEW``."""
    for old, new in prefixes:
        if uri.startswith(old):
            return new + uri[len(old) :]
    return uri


def parse_prefix(text: str) -> tuple[str, str]:
    """Parse ``OLD=NEW`` (a ``--payload-prefix`` option).

    Raises:
        PayloadOptionError: no ``=``, or an empty OLD.
    """
    old, sep, new = text.partition("=")
    if not sep or not old:
        raise PayloadOptionError(
            f"payload prefix {text!r} is not OLD=NEW; give e.g. "
            "--payload-prefix gs://bucket/tfx=/mnt/tfx"
        )
    return old, new


def read_payloads(
    store: ProvenanceStore,
    *,
    source_id: int | None = None,
    prefixes: Iterable[tuple[str, str]] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[str, int], None] | None = None,
) -> PayloadReport:
    """Read the payloads of statistics, schema and anomalies artifacts not read yet.

    Args:
        store: the canonical store (written in one transaction at the end).
        source_id: only this source's artifacts; default every source.
        prefixes: ``(OLD, NEW)`` URI prefix rewrites, the first match wins.
        max_bytes: larger payload files are counted as ``oversize`` and not read.
        workers: threads reading files at once.
        progress: called with ("payloads", artifacts done so far).

    Returns:
        The report; per-artifact outcomes are also in ``payload_reads``.

    Raises:
        PayloadOptionError: ``max_bytes`` or ``workers`` is not positive.
    """
    if max_bytes <= 0 or workers <= 0:
        raise PayloadOptionError(
            f"payload size limit ({max_bytes}) and workers ({workers}) must be positive"
        )
    started = time.perf_counter()
    prefixes = tuple(prefixes)
    rows = store.con.execute(_SQL["pending"], [list(PAYLOAD_TYPES), source_id]).fetchall()
    pending = [
        (sid, aid, PAYLOAD_TYPES[type_name], uri, rewrite_uri(uri, prefixes))
        for sid, aid, type_name, uri, read_uri in rows
        if read_uri != rewrite_uri(uri, prefixes)
    ]
    protos = load_protos()
    if protos is None:
        problems = _group(
            (kind, "not read: tensorflow-metadata is not installed", uri)
            for _, _, kind, _, uri in pending
        )
        message = (
            f"tensorflow-metadata is not installed: {len(pending)} payload artifacts were "
            f"counted, not read; {INSTALL_HINT}"
        )
        return PayloadReport(len(pending), 0, problems, {}, _since(started), message)

    def job(item: tuple[int, int, str, str, str]) -> Payload:
        return read_artifact(protos, item[2], item[4], max_bytes)

    results: list[Payload] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, result in enumerate(pool.map(job, pending), 1):
            results.append(result)
            if progress is not None:
                progress("payloads", done)
    written = _write(store, pending, results)
    problems = _group(
        (item[2], result.status, f"{item[4]}: {result.detail}")
        for item, result in zip(pending, results, strict=True)
        if result.status != "read"
    )
    read = sum(r.status == "read" for r in results)
    return PayloadReport(len(pending), read, problems, written, _since(started))


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _group(items: Iterable[tuple[str, str, str]]) -> tuple[Skipped, ...]:
    """(kind, status, example) triples -> one Skipped per (kind, status), 3 examples each."""
    groups: dict[tuple[str, str], list[str]] = {}
    for kind, status, example in items:
        groups.setdefault((kind, status), []).append(example)
    return tuple(
        Skipped(kind, status, len(examples), tuple(examples[:3]))
        for (kind, status), examples in sorted(groups.items())
    )


# -- writing ---------------------------------------------------------------------------------------


def _write(
    store: ProvenanceStore,
    pending: list[tuple[int, int, str, str, str]],
    results: list[Payload],
) -> dict[str, int]:
    """Replace the payload rows and read outcomes of the artifacts looked at, in one go."""
    con = store.con
    if not pending:
        return dict.fromkeys(PAYLOAD_TABLES, 0)
    columns = {t: _table_columns(store, t) for t in (*PAYLOAD_TABLES, "payload_reads")}
    outcome = [
        (sid, aid, kind, uri, r.status, r.detail, r.files, r.bytes)
        for (sid, aid, kind, _, uri), r in zip(pending, results, strict=True)
    ]
    written = {}
    with store.transaction():
        keys = pa.table(
            {"source_id": [p[0] for p in pending], "artifact_id": [p[1] for p in pending]}
        )
        con.register("payload_keys", keys)
        for table in (*PAYLOAD_TABLES, "payload_reads"):
            con.execute(
                f"DELETE FROM {table} t USING payload_keys k "
                "WHERE t.source_id = k.source_id AND t.artifact_id = k.artifact_id"
            )
        con.unregister("payload_keys")
        tables = {
            t: [
                (sid, aid, *row)
                for (sid, aid, *_), r in zip(pending, results, strict=True)
                for row in r.rows[t]
            ]
            for t in PAYLOAD_TABLES
        }
        tables["payload_reads"] = outcome
        for table, data in tables.items():
            if data:
                _insert(con, table, columns[table], data)
            written[table] = len(data)
    return {t: n for t, n in written.items() if t != "payload_reads"}


def _table_columns(store: ProvenanceStore, table: str) -> list[tuple[str, str]]:
    sql = (
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position"
    )
    return [(r[0], r[1]) for r in store.con.execute(sql, [table]).fetchall()]


def _insert(con: Any, table: str, columns: list[tuple[str, str]], data: list[tuple]) -> None:
    """Insert row tuples through Arrow, cast to the table's column types by DuckDB."""
    names = [c for c, _ in columns]
    arrow = pa.table({n: [row[i] for row in data] for i, n in enumerate(names)})
    con.register("payload_rows", arrow)
    casts = ", ".join(f'CAST("{n}" AS {t})' for n, t in columns)
    con.execute(f"INSERT INTO {table} SELECT {casts} FROM payload_rows")
    con.unregister("payload_rows")

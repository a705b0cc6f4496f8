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

import hashlib
import json
import os
import struct
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from provenance.errors import PayloadOptionError
from provenance.readers import Skipped
from provenance.sql import named_queries
from provenance.store import ProvenanceStore

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
#: The canonical tables payload rows go to, in the order :class:`_Payload` holds them.
PAYLOAD_TABLES = (
    "feature_stats",
    "feature_buckets",
    "schemas",
    "schema_features",
    "data_anomalies",
)

_SQL = named_queries("provenance", "payloads.sql")


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
    protos = _protos()
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

    def job(item: tuple[int, int, str, str, str]) -> _Payload:
        return _read_artifact(protos, item[2], item[4], max_bytes)

    results: list[_Payload] = []
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


# -- reading one artifact ------------------------------------------------------------------------


@dataclass
class _Payload:
    """What one artifact's files gave: canonical rows (without source and artifact id) per
    table of :data:`PAYLOAD_TABLES`, or the status of the first problem."""

    status: str = "read"
    detail: str | None = None
    files: int = 0
    bytes: int = 0
    rows: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {t: [] for t in PAYLOAD_TABLES}
    )


class _Problem(Exception):
    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class _Files(Protocol):
    def ls(self, path: str) -> list[str]: ...
    def size(self, path: str) -> int: ...
    def read(self, path: str, limit: int) -> bytes: ...


class _LocalFiles:
    def ls(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def read(self, path: str, limit: int) -> bytes:
        with open(path, "rb") as f:
            return f.read(limit + 1)


class _RemoteFiles:
    """An fsspec filesystem seen through the three calls payload reading makes."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs

    def ls(self, path: str) -> list[str]:
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(path, detail=False))

    def size(self, path: str) -> int:
        return int(self.fs.size(path))

    def read(self, path: str, limit: int) -> bytes:
        with self.fs.open(path, "rb") as f:
            return bytes(f.read(limit + 1))


def _files_for(uri: str) -> tuple[_Files, str]:
    """The filesystem holding ``uri`` and the path to use on it."""
    if uri.startswith("file://"):
        return _LocalFiles(), uri[len("file://") :]
    scheme, sep, _ = uri.partition("://")
    if not sep:
        return _LocalFiles(), uri
    try:
        import fsspec
    except ImportError:
        raise _Problem(
            "unsupported", f"{scheme}:// payloads need fsspec and its {scheme} filesystem"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as err:
        raise _Problem("unsupported", f"fsspec cannot open {scheme}:// URIs: {err}") from None
    return _RemoteFiles(fs), path


def _read_artifact(protos: Any, kind: str, uri: str, max_bytes: int) -> _Payload:
    out = _Payload()
    try:
        files, root = _files_for(uri)
        for split, name, data in _payload_files(files, root, kind, max_bytes):
            out.files += 1
            out.bytes += len(data)
            _PARSERS[kind](protos, out.rows, split, name, data)
    except _Problem as problem:
        return _Payload(problem.status, str(problem))
    except (FileNotFoundError, NotADirectoryError) as err:
        return _Payload("missing", f"{err.strerror or err}: {err.filename or uri}")
    except OSError as err:
        return _Payload("unreadable", f"{err.strerror or err}: {err.filename or uri}")
    except protos.damaged as err:
        return _Payload("corrupt", f"cannot parse: {err}")
    except Exception as err:  # a remote filesystem's own errors (auth, network, ...)
        return _Payload("unreadable", f"{type(err).__name__}: {err}")
    return out


#: (kind) -> [(directory pattern, file name)], newest layout first.
_SPLIT_FILES = {
    "statistics": ("FeatureStats.pb", "stats_tfrecord"),
    "anomalies": ("SchemaDiff.pb", "anomalies.pbtxt"),
}


def _payload_files(
    files: _Files, root: str, kind: str, max_bytes: int
) -> Iterable[tuple[str, str, bytes]]:
    """(split, file name, content) of each payload file of an artifact."""
    root = root.rstrip("/")
    if kind == "schema":
        found = [("", "schema.pbtxt")]
    else:
        found = []
        for entry in files.ls(root):
            split = entry.removeprefix("Split-")
            try:
                inside = set(files.ls(f"{root}/{entry}"))
            except (FileNotFoundError, NotADirectoryError):
                continue  # a file beside the split directories
            name = next((n for n in _SPLIT_FILES[kind] if n in inside), None)
            if name is not None:
                found.append((split, f"{entry}/{name}"))
        if not found:
            wanted = " or ".join(f"Split-*/{n}" for n in _SPLIT_FILES[kind])
            raise _Problem("missing", f"no {wanted} under {root}")
    for split, name in found:
        path = f"{root}/{name}"
        size = files.size(path)
        if size > max_bytes:
            raise _Problem("oversize", f"{path} has {size:,} bytes, over the {max_bytes:,} limit")
        data = files.read(path, max_bytes)
        if len(data) > max_bytes:  # grew while being read
            raise _Problem("oversize", f"{path} is over the {max_bytes:,} bytes limit")
        yield split, name.rsplit("/", 1)[-1], data


def _protos() -> Any:
    """tensorflow-metadata's proto modules, or None when it is not installed."""
    try:
        from google.protobuf import message, text_format
        from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
    except ImportError:
        return None
    damaged = (message.DecodeError, text_format.ParseError)
    return _Protos(statistics_pb2, schema_pb2, anomalies_pb2, text_format, damaged)


@dataclass(frozen=True)
class _Protos:
    statistics: Any
    schema: Any
    anomalies: Any
    text_format: Any
    damaged: tuple[type[Exception], ...]  # what parsing a damaged file raises


def tfrecords(data: bytes) -> Iterable[bytes]:
    """The records of a TFRecord file (CRCs are not checked; framing is).

    >>> list(tfrecords(struct.pack("<Q", 2) + b"crc!" + b"hi" + b"crc!"))
    [b'hi']
    """
    at = 0
    while at < len(data):
        if at + 12 > len(data):
            raise _TruncatedError("truncated TFRecord header")
        (length,) = struct.unpack_from("<Q", data, at)
        start, at = at + 12, at + 12 + length + 4
        if at > len(data):
            raise _TruncatedError("truncated TFRecord record")
        yield data[start : start + length]


class _TruncatedError(Exception):
    """A TFRecord file cut short (counted as a corrupt payload)."""


# -- turning protos into rows ----------------------------------------------------------------------


def _statistics_rows(
    protos: _Protos, rows: dict[str, list[tuple[Any, ...]]], split: str, name: str, data: bytes
) -> None:
    lists = []
    try:
        chunks = list(tfrecords(data)) if name == "stats_tfrecord" else [data]
    except _TruncatedError as err:
        raise _Problem("corrupt", f"{name}: {err}") from None
    for chunk in chunks:
        stats = protos.statistics.DatasetFeatureStatisticsList()
        stats.ParseFromString(chunk)
        lists.append(stats)
    datasets = [d for stats in lists for d in stats.datasets]
    type_name = protos.statistics.FeatureNameStatistics.Type.Name
    standard = protos.statistics.Histogram.STANDARD
    for dataset in datasets:
        where = split if len(datasets) == 1 or not dataset.name else f"{split}/{dataset.name}"
        for f in dataset.features:
            feature = f.name or ".".join(f.path.step)
            kind = f.WhichOneof("stats")
            common = getattr(f, kind).common_stats if kind else None
            row: dict[str, Any] = dict.fromkeys(_STAT_COLUMNS)
            row.update(split=where, feature=feature, type=type_name(f.type))
            row["num_examples"] = dataset.num_examples
            if common is not None:
                row.update(num_present=common.num_non_missing, num_missing=common.num_missing)
            if kind == "num_stats":
                n = f.num_stats
                row.update(
                    mean=n.mean, std=n.std_dev, min=n.min, max=n.max, median=n.median,
                    num_zeros=n.num_zeros,
                )  # fmt: skip
                for h in n.histograms:
                    histogram = "standard" if h.type == standard else "quantiles"
                    if histogram == "standard":
                        row["num_nan"] = h.num_nan
                    elif h.buckets:
                        row["quantiles"] = [h.buckets[0].low_value] + [
                            b.high_value for b in h.buckets
                        ]
                    rows["feature_buckets"] += [
                        (where, feature, histogram, i, b.low_value, b.high_value, None,
                         b.sample_count)
                        for i, b in enumerate(h.buckets)
                    ]  # fmt: skip
            elif kind == "string_stats":
                s = f.string_stats
                row["unique_values"] = s.unique
                row["top_values"] = [{"value": v.value, "count": v.frequency} for v in s.top_values]
                rows["feature_buckets"] += [
                    (where, feature, "rank", i, None, None, b.label, b.sample_count)
                    for i, b in enumerate(s.rank_histogram.buckets)
                ]
            rows["feature_stats"].append(tuple(row[c] for c in _STAT_COLUMNS))


_STAT_COLUMNS = (
    "split", "feature", "type", "num_examples", "num_present", "num_missing", "mean", "std",
    "min", "max", "median", "num_zeros", "num_nan", "quantiles", "unique_values", "top_values",
)  # fmt: skip


def _schema_rows(
    protos: _Protos, rows: dict[str, list[tuple[Any, ...]]], split: str, name: str, data: bytes
) -> None:
    schema = protos.schema.Schema()
    protos.text_format.Parse(data.decode("utf-8", errors="replace"), schema)
    type_name = protos.schema.FeatureType.Name

    def text(message: Any) -> str:
        return str(protos.text_format.MessageToString(message, as_one_line=True))

    domains = {d.name: text(d) for d in schema.string_domain}
    features = []
    for f in schema.feature:
        which = f.WhichOneof("domain_info")
        if which is None:
            domain = None
        elif which == "domain":
            domain = domains.get(f.domain, f"domain: {f.domain!r}")
        else:
            domain = f"{which} {{{text(getattr(f, which))}}}"
        fraction = f.presence.min_fraction if f.HasField("presence") else None
        features.append((f.name, type_name(f.type), fraction, domain))
    features.sort(key=lambda r: r[0])
    digest = hashlib.sha256(json.dumps(features).encode()).hexdigest()[:16]
    rows["schema_features"] += features
    rows["schemas"].append((digest, len(features)))


def _anomalies_rows(
    protos: _Protos, rows: dict[str, list[tuple[Any, ...]]], split: str, name: str, data: bytes
) -> None:
    anomalies = protos.anomalies.Anomalies()
    if name.endswith(".pbtxt"):
        protos.text_format.Parse(data.decode("utf-8", errors="replace"), anomalies)
    else:
        anomalies.ParseFromString(data)
    severity = protos.anomalies.AnomalyInfo.Severity.Name
    reason_type = protos.anomalies.AnomalyInfo.Type.Name
    infos = [(feature, info) for feature, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
        infos.append((None, anomalies.dataset_anomaly_info))
    for feature, info in infos:
        reasons = [(reason_type(r.type), r.short_description, r.description) for r in info.reason]
        for reason in reasons or [("UNKNOWN_TYPE", info.short_description, info.description)]:
            rows["data_anomalies"].append((split, feature, severity(info.severity), *reason))


_PARSERS = {"statistics": _statistics_rows, "schema": _schema_rows, "anomalies": _anomalies_rows}


# -- writing ---------------------------------------------------------------------------------------


def _write(
    store: ProvenanceStore,
    pending: list[tuple[int, int, str, str, str]],
    results: list[_Payload],
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

"""Find and read the payload files of one statistics, schema or anomalies artifact, and turn
their protos into canonical rows (provenance/payloads.py reads many at once and writes them).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

#: The canonical tables payload rows go to, in the order :class:`_Payload` holds them.
PAYLOAD_TABLES = (
    "feature_stats",
    "feature_buckets",
    "schemas",
    "schema_features",
    "data_anomalies",
)


# -- reading one artifact ------------------------------------------------------------------------


@dataclass
class Payload:
    """What one artifact's files gave: canonical rows (without source and artifact id) per
    table of :data:`PAYLOAD_TABLES`, or the status of the first problem."""

    status: str = "read"
    detail: str | None = None
    files: int = 0
    bytes: int = 0
    rows: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {t: [] for t in PAYLOAD_TABLES}
    )


class Problem(Exception):
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
        raise Problem(
            "unsupported", f"{scheme}:// payloads need fsspec and its {scheme} filesystem"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as err:
        raise Problem("unsupported", f"fsspec cannot open {scheme}:// URIs: {err}") from None
    return _RemoteFiles(fs), path


def read_artifact(protos: Any, kind: str, uri: str, max_bytes: int) -> Payload:
    out = Payload()
    try:
        files, root = _files_for(uri)
        for split, name, data in _payload_files(files, root, kind, max_bytes):
            out.files += 1
            out.bytes += len(data)
            PARSERS[kind](protos, out.rows, split, name, data)
    except Problem as problem:
        return Payload(problem.status, str(problem))
    except (FileNotFoundError, NotADirectoryError) as err:
        return Payload("missing", f"{err.strerror or err}: {err.filename or uri}")
    except OSError as err:
        return Payload("unreadable", f"{err.strerror or err}: {err.filename or uri}")
    except protos.damaged as err:
        return Payload("corrupt", f"cannot parse: {err}")
    except Exception as err:  # a remote filesystem's own errors (auth, network, ...)
        return Payload("unreadable", f"{type(err).__name__}: {err}")
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
            raise Problem("missing", f"no {wanted} under {root}")
    for split, name in found:
        path = f"{root}/{name}"
        size = files.size(path)
        if size > max_bytes:
            raise Problem("oversize", f"{path} has {size:,} bytes, over the {max_bytes:,} limit")
        data = files.read(path, max_bytes)
        if len(data) > max_bytes:  # grew while being read
            raise Problem("oversize", f"{path} is over the {max_bytes:,} bytes limit")
        yield split, name.rsplit("/", 1)[-1], data


def load_protos() -> Any:
    """tensorflow-metadata's proto modules, or None when it is not installed."""
    try:
        from google.protobuf import message, text_format
        from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
    except ImportError:
        return None
    damaged = (message.DecodeError, text_format.ParseError)
    return Protos(statistics_pb2, schema_pb2, anomalies_pb2, text_format, damaged)


@dataclass(frozen=True)
class Protos:
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
            raise TruncatedError("truncated TFRecord header")
        (length,) = struct.unpack_from("<Q", data, at)
        start, at = at + 12, at + 12 + length + 4
        if at > len(data):
            raise TruncatedError("truncated TFRecord record")
        yield data[start : start + length]


class TruncatedError(Exception):
    """A TFRecord file cut short (counted as a corrupt payload)."""


# -- turning protos into rows ----------------------------------------------------------------------


def _statistics_rows(
    protos: Protos, rows: dict[str, list[tuple[Any, ...]]], split: str, name: str, data: bytes
) -> None:
    lists = []
    try:
        chunks = list(tfrecords(data)) if name == "stats_tfrecord" else [data]
    except TruncatedError as err:
        raise Problem("corrupt", f"{name}: {err}") from None
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
    protos: Protos, rows: dict[str, list[tuple[Any, ...]]], split: str, name: str, data: bytes
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
    protos: Protos, rows: dict[str, list[tuple[Any, ...]]], split: str, name: str, data: bytes
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


PARSERS = {"statistics": _statistics_rows, "schema": _schema_rows, "anomalies": _anomalies_rows}

"""Payload files for a generated store: what StatisticsGen, SchemaGen and ExampleValidator
would have written under their artifacts' URIs, through tensorflow-metadata's protos.

Everything is derived from the store's own rows, so the files agree with them:

* statistics (``Split-train/FeatureStats.pb``, ``Split-eval/FeatureStats.pb``; two thirds and
  one third of ``num_examples``): numeric ``feature_0`` and ``feature_1`` shaped as a normal
  distribution with the artifact's ``feature_<i>_mean`` and ``feature_<i>_std`` (a 10-bucket
  standard histogram over mean +/- 4 std, and 10 quantile buckets), and a categorical
  ``segment`` whose value shares follow the means (softmax of 0, 2 x mean 0, 2 x mean 1; a
  fourth value ``d`` appears while |mean 0| > 0.5);
* schema (``schema.pbtxt``): the three features, ``segment`` with a string domain of the
  values the input statistics hold (so a new value changes the schema, as SchemaGen's
  inference does);
* anomalies (``Split-eval/SchemaDiff.pb``): ExampleValidator as if configured with TFDV's drift
  comparator (L-infinity threshold 0.1 on ``segment``) against the previous span's statistics,
  plus an unexpected-value anomaly when ``segment`` holds a value the previous schema lacked.

The tree mirrors the URIs: a URI ``<pipeline_root>/<rest>`` is written to ``<root>/<rest>``;
read it back with the prefix rewrite ``<pipeline_root>=<root>``.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

from mlprov.provenance.errors import ProtosUnavailableError

SEGMENTS = ("a", "b", "c", "d")
SPLIT_SHARES = (("train", 2 / 3), ("eval", 1 / 3))
LINF_THRESHOLD = 0.1
_TYPES = ("ExampleStatistics", "Schema", "ExampleAnomalies")


@dataclass(frozen=True)
class PayloadTree:
    """What :func:`write_payloads` wrote: the root, its files and their bytes."""

    root: Path
    files: int
    bytes: int


@dataclass(frozen=True)
class _Stats:
    artifact_id: int
    uri: str
    pipeline: str
    span: int
    n: int
    means: tuple[float, float]
    stds: tuple[float, float]

    def segments(self) -> dict[str, float]:
        """Value shares of ``segment``."""
        m0, m1 = self.means
        logits = {"a": 0.0, "b": 2 * m0, "c": 2 * m1}
        if abs(m0) > 0.5:
            logits["d"] = 2 * (abs(m0) - 0.5) - 1
        top = max(logits.values())
        weights = {k: math.exp(v - top) for k, v in logits.items()}
        total = sum(weights.values())
        return {k: w / total for k, w in weights.items()}


def write_payloads(
    store: str | Path, root: str | Path, pipeline_root: str = "/pipelines", overwrite: bool = False
) -> PayloadTree:
    """Write the payload tree of a generated store under ``root``, whole or not at all.

    Args:
        store: the generated MLMD SQLite store (read-only).
        root: the directory to create; it holds ``<rest>`` for each URI ``<pipeline_root>/<rest>``.
        pipeline_root: the URI prefix the store was generated with.
        overwrite: replace an existing ``root``.

    Raises:
        FileExistsError: ``root`` exists and ``overwrite`` is false.
        ProtosUnavailableError: tensorflow-metadata is not installed.
    """
    try:
        from tensorflow_metadata.proto.v0 import schema_pb2
    except ImportError as err:
        raise ProtosUnavailableError(
            "writing payload files needs tensorflow-metadata; pip install 'mlprov[payloads]'"
        ) from err

    target = Path(root)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True (CLI: --overwrite)")
    stats, inputs = _read_store(Path(store))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    files = size = 0

    def put(uri: str, name: str, data: bytes) -> None:
        nonlocal files, size
        rest = uri[len(pipeline_root) :].lstrip("/") if uri.startswith(pipeline_root) else uri
        path = tmp / rest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files, size = files + 1, size + len(data)

    try:
        by_span = {(s.pipeline, s.span): s for s in stats.values()}
        for s in stats.values():
            for split, share in SPLIT_SHARES:
                put(s.uri, f"Split-{split}/FeatureStats.pb", _statistics(s, share))
        for type_name, uri, stats_id in inputs.values():
            read = stats.get(stats_id)
            if read is None:
                continue
            if type_name == "Schema":
                put(uri, "schema.pbtxt", _schema(read, schema_pb2).encode())
            else:
                previous = by_span.get((read.pipeline, read.span - 1))
                put(uri, "Split-eval/SchemaDiff.pb", _anomalies(read, previous))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return PayloadTree(target, files, size)


def archive_tree(root: str | Path, out: str | Path) -> Path:
    """Pack a payload tree into a reproducible ``.tar.gz`` (sorted, no times or owners)."""
    import gzip
    import tarfile

    root, out = Path(root), Path(out)
    with (
        open(out, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with open(path, "rb") as f:
                tar.addfile(info, f)
    return out


def extract_tree(archive: str | Path, target: str | Path) -> Path:
    """Unpack an :func:`archive_tree` archive to ``target`` (whole or not at all), unless
    ``target`` already exists."""
    import tarfile

    target = Path(target)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _read_store(path: Path) -> tuple[dict[int, _Stats], dict[int, tuple[str, str, int]]]:
    """Statistics artifacts with their summaries; schema and anomalies artifacts with the
    statistics artifact their execution read."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(_TYPES))
        arts = con.execute(
            f"SELECT a.id, t.name, a.uri FROM Artifact a JOIN Type t ON t.id = a.type_id "
            f"WHERE t.name IN ({marks})",
            _TYPES,
        ).fetchall()
        props: dict[int, dict[str, float]] = {}
        for aid, name, value in con.execute(
            "SELECT artifact_id, name, coalesce(double_value, int_value) FROM ArtifactProperty "
            "WHERE name IN ('span', 'num_examples', 'feature_0_mean', 'feature_0_std', "
            "'feature_1_mean', 'feature_1_std')"
        ):
            props.setdefault(aid, {})[name] = value
        read = dict(
            con.execute(
                "SELECT o.artifact_id, min(i.artifact_id) FROM Event o "
                "JOIN Event i ON i.execution_id = o.execution_id AND i.type = 3 "
                "JOIN Artifact a ON a.id = i.artifact_id JOIN Type t ON t.id = a.type_id "
                "WHERE o.type = 4 AND t.name = 'ExampleStatistics' GROUP BY o.artifact_id"
            ).fetchall()
        )
    finally:
        con.close()
    stats, inputs = {}, {}
    for aid, type_name, uri in arts:
        p = props.get(aid, {})
        if type_name == "ExampleStatistics" and "feature_1_std" in p and "span" in p:
            stats[aid] = _Stats(
                aid,
                uri,
                uri.rstrip("/").split("/")[-4],  # <root>/<pipeline>/<node>/<key>/<execution>
                int(p["span"]),
                int(p.get("num_examples", 1000)),
                (float(p["feature_0_mean"]), float(p["feature_1_mean"])),
                (float(p["feature_0_std"]), float(p["feature_1_std"])),
            )
        elif type_name != "ExampleStatistics" and aid in read:
            inputs[aid] = (type_name, uri, read[aid])
    return stats, inputs


def _statistics(s: _Stats, share: float) -> bytes:
    from tensorflow_metadata.proto.v0 import statistics_pb2 as pb

    n = max(1, round(s.n * share))
    lst = pb.DatasetFeatureStatisticsList()
    ds = lst.datasets.add(num_examples=n)
    for i, (mean, std) in enumerate(zip(s.means, s.stds, strict=True)):
        dist = NormalDist(mean, std)
        f = ds.features.add(name=f"feature_{i}", type=pb.FeatureNameStatistics.FLOAT)
        num = f.num_stats
        num.common_stats.num_non_missing = n
        num.common_stats.min_num_values = num.common_stats.max_num_values = 1
        num.mean, num.std_dev, num.median = mean, std, mean
        num.min, num.max = mean - 4 * std, mean + 4 * std
        standard = num.histograms.add(type=pb.Histogram.STANDARD)
        edges = [num.min + k * (num.max - num.min) / 10 for k in range(11)]
        for lo, hi in itertools.pairwise(edges):
            standard.buckets.add(
                low_value=lo, high_value=hi, sample_count=n * (dist.cdf(hi) - dist.cdf(lo))
            )
        quantiles = num.histograms.add(type=pb.Histogram.QUANTILES)
        cuts = [num.min] + [dist.inv_cdf(k / 10) for k in range(1, 10)] + [num.max]
        for lo, hi in itertools.pairwise(cuts):
            quantiles.buckets.add(low_value=lo, high_value=hi, sample_count=n / 10)
    seg = ds.features.add(name="segment", type=pb.FeatureNameStatistics.STRING)
    seg.string_stats.common_stats.num_non_missing = n
    shares = sorted(s.segments().items(), key=lambda kv: -kv[1])
    seg.string_stats.unique = len(shares)
    for rank, (label, p) in enumerate(shares):
        count = round(n * p)
        seg.string_stats.top_values.add(value=label, frequency=count)
        seg.string_stats.rank_histogram.buckets.add(
            low_rank=rank, high_rank=rank, label=label, sample_count=count
        )
    return bytes(lst.SerializeToString())


def _schema(s: _Stats, schema_pb2: Any) -> str:
    from google.protobuf import text_format

    schema = schema_pb2.Schema()
    for i in range(2):
        f = schema.feature.add(name=f"feature_{i}", type=schema_pb2.FLOAT)
        f.presence.min_fraction = 1.0
        f.shape.dim.add(size=1)
    seg = schema.feature.add(name="segment", type=schema_pb2.BYTES, domain="segment")
    seg.presence.min_fraction = 1.0
    schema.string_domain.add(name="segment", value=sorted(s.segments()))
    return str(text_format.MessageToString(schema))


def _anomalies(s: _Stats, previous: _Stats | None) -> bytes:
    from tensorflow_metadata.proto.v0 import anomalies_pb2 as pb

    out = pb.Anomalies()
    out.anomaly_name_format = pb.Anomalies.SERIALIZED_PATH
    if previous is None:
        return bytes(out.SerializeToString())
    now, before = s.segments(), previous.segments()
    reasons = []
    linf = max(abs(now.get(k, 0.0) - before.get(k, 0.0)) for k in SEGMENTS)
    if linf > LINF_THRESHOLD:
        reasons.append(
            (
                pb.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
                "High Linfty distance between current and previous",
                f"The Linfty distance between current and previous is {linf:.5f} (up to six "
                f"significant digits), above the threshold {LINF_THRESHOLD}.",
            )
        )
    unseen = sorted(now.keys() - before.keys())
    if unseen:
        reasons.append(
            (
                pb.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES,
                "Unexpected string values",
                f"Examples contain values missing from the schema: {', '.join(unseen)}.",
            )
        )
    if reasons:
        info = out.anomaly_info["segment"]
        info.severity = pb.AnomalyInfo.ERROR
        info.short_description = reasons[0][1] if len(reasons) == 1 else "Multiple errors"
        info.description = " ".join(r[2] for r in reasons)
        for kind, short, long in reasons:
            info.reason.add(type=kind, short_description=short, description=long)
    return bytes(out.SerializeToString())

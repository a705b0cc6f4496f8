"""Payload reading: TFX's files, written with tensorflow-metadata's own protos, into the store.

The MLMD side is the committed TFX fixture (statistics at /d/st/1 and /d/st/2, schema at
/d/schema/1, anomalies at /d/an/1); its payloads are written under a temporary directory and
found through a prefix rewrite, as a user whose store points at another machine's mount would.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlprov.provenance.errors import PayloadOptionError
from mlprov.provenance.ingest import ingest
from mlprov.provenance.payloads import DEFAULT_MAX_BYTES, parse_prefix, read_payloads
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES

statistics_pb2 = pytest.importorskip("tensorflow_metadata.proto.v0.statistics_pb2")
from google.protobuf import text_format  # noqa: E402  (after the skip above)
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2  # noqa: E402


def feature_stats(mean: float, colors: dict[str, int], n: int = 100) -> bytes:
    """A DatasetFeatureStatisticsList as StatisticsGen writes it for one split."""
    lst = statistics_pb2.DatasetFeatureStatisticsList()
    ds = lst.datasets.add(num_examples=n)
    x = ds.features.add(name="x", type=statistics_pb2.FeatureNameStatistics.FLOAT)
    x.num_stats.common_stats.num_non_missing = n - 2
    x.num_stats.common_stats.num_missing = 2
    x.num_stats.mean, x.num_stats.std_dev = mean, 1.0
    x.num_stats.min, x.num_stats.max = mean - 2, mean + 2
    std = x.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD, num_nan=1)
    std.buckets.add(low_value=mean - 2, high_value=mean, sample_count=(n - 2) / 2)
    std.buckets.add(low_value=mean, high_value=mean + 2, sample_count=(n - 2) / 2)
    q = x.num_stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
    for lo, hi in ((mean - 2, mean), (mean, mean + 2)):
        q.buckets.add(low_value=lo, high_value=hi, sample_count=(n - 2) / 2)
    c = ds.features.add(name="color", type=statistics_pb2.FeatureNameStatistics.STRING)
    c.string_stats.common_stats.num_non_missing = n
    c.string_stats.unique = len(colors)
    for label, count in colors.items():
        c.string_stats.top_values.add(value=label, frequency=count)
        c.string_stats.rank_histogram.buckets.add(label=label, sample_count=count)
    return lst.SerializeToString()


def schema_text(*features: tuple[str, int]) -> str:
    schema = schema_pb2.Schema()
    for name, kind in features:
        f = schema.feature.add(name=name, type=kind)
        f.presence.min_fraction = 1.0
    return text_format.MessageToString(schema)


def schema_diff(feature: str) -> bytes:
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info[feature]
    info.severity = anomalies_pb2.AnomalyInfo.ERROR
    info.reason.add(
        type=anomalies_pb2.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES,
        short_description="Unexpected string values",
        description="Examples contain values missing from the schema: purple.",
    )
    return anomalies.SerializeToString()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def tfrecord(*records: bytes) -> bytes:
    """TFRecord framing: length, its CRC, the data, its CRC (readers here skip the CRCs)."""
    return b"".join(struct.pack("<Q", len(r)) + b"\0" * 4 + r + b"\0" * 4 for r in records)


@pytest.fixture
def store() -> Iterator[ProvenanceStore]:
    with ProvenanceStore.open(":memory:") as s:
        ingest(s, str(FIXTURES / "tfx_small.sqlite"))
        yield s


@pytest.fixture
def payloads(tmp_path: Path) -> Path:
    """The fixture store's payload tree, in TFX's layout."""
    root = tmp_path / "d"
    for split in ("train", "eval"):
        write(
            root / f"st/1/Split-{split}/FeatureStats.pb",
            feature_stats(0.0, {"red": 60, "blue": 40}),
        )
    # span 2's statistics in the older TFRecord layout
    write(root / "st/2/train/stats_tfrecord", tfrecord(feature_stats(1.0, {"red": 30, "blue": 70})))
    write(
        root / "schema/1/schema.pbtxt",
        schema_text(("x", schema_pb2.FLOAT), ("color", schema_pb2.BYTES)),
    )
    write(root / "an/1/Split-eval/SchemaDiff.pb", schema_diff("color"))
    return root


def prefix(root: Path) -> tuple[tuple[str, str], ...]:
    return (("/d", str(root)),)


def test_reads_tfx_layouts_into_canonical_tables(store: ProvenanceStore, payloads: Path) -> None:
    report = read_payloads(store, prefixes=prefix(payloads))
    assert (report.looked_at, report.read, report.problems) == (4, 4, ())
    stats = store.df(
        "SELECT artifact_id, split, feature, type, num_examples, num_present, num_missing, mean, "
        "num_nan, quantiles, unique_values, top_values FROM feature_stats "
        "ORDER BY artifact_id, split, feature"
    )
    assert list(zip(stats["artifact_id"], stats["split"], stats["feature"], strict=True)) == [
        (2, "eval", "color"), (2, "eval", "x"), (2, "train", "color"), (2, "train", "x"),
        (13, "train", "color"), (13, "train", "x"),
    ]  # fmt: skip
    x = stats.iloc[5]
    assert (x["type"], x["num_examples"], x["num_present"], x["num_missing"]) == (
        "FLOAT",
        100,
        98,
        2,
    )
    assert (x["mean"], x["num_nan"], list(x["quantiles"])) == (1.0, 1.0, [-1.0, 1.0, 3.0])
    color = stats.iloc[4]
    assert color["unique_values"] == 2
    assert [(v["value"], v["count"]) for v in color["top_values"]] == [
        ("red", 30.0),
        ("blue", 70.0),
    ]
    buckets = store.con.execute(
        "SELECT histogram, count(*) FROM feature_buckets WHERE artifact_id = 13 GROUP BY 1 "
        "ORDER BY 1"
    ).fetchall()
    assert buckets == [("quantiles", 2), ("rank", 2), ("standard", 2)]
    assert store.con.execute(
        "SELECT feature, type, min_fraction FROM schema_features ORDER BY feature"
    ).fetchall() == [("color", "BYTES", 1.0), ("x", "FLOAT", 1.0)]
    assert store.con.execute("SELECT features, length(fingerprint) FROM schemas").fetchall() == [
        (2, 16)
    ]
    assert store.con.execute(
        "SELECT artifact_id, split, feature, severity, reason FROM data_anomalies"
    ).fetchall() == [(4, "eval", "color", "ERROR", "ENUM_TYPE_UNEXPECTED_STRING_VALUES")]
    assert report.rows_written["feature_stats"] == 6


def test_file_uris_and_incremental_reads(store: ProvenanceStore, payloads: Path) -> None:
    first = read_payloads(store, prefixes=(("/d", f"file://{payloads}"),))
    assert first.read == 4
    again = read_payloads(store, prefixes=(("/d", f"file://{payloads}"),))
    assert (again.looked_at, again.read, sum(again.rows_written.values())) == (0, 0, 0)
    # a rewrite to another place is another URI: read again, rows replaced, not doubled
    moved = read_payloads(store, prefixes=prefix(payloads))
    assert moved.read == 4
    assert store.count("feature_stats") == 6
    assert store.count("payload_reads") == 4


def test_schema_fingerprint_follows_features(store: ProvenanceStore, payloads: Path) -> None:
    read_payloads(store, prefixes=prefix(payloads))
    before = store.con.execute("SELECT fingerprint FROM schemas").fetchall()
    write(
        payloads / "schema/1/schema.pbtxt",
        schema_text(("x", schema_pb2.INT), ("color", schema_pb2.BYTES)),
    )
    read_payloads(store, prefixes=(("/d", f"file://{payloads}"),))
    assert store.con.execute("SELECT fingerprint FROM schemas").fetchall() != before


def problems(report: object) -> dict[tuple[str, str], int]:
    return {(p.table, p.reason): p.count for p in report.problems}  # type: ignore[attr-defined]


def test_bad_payloads_are_counted_never_fatal(store: ProvenanceStore, payloads: Path) -> None:
    write(payloads / "st/1/Split-train/FeatureStats.pb", b"\x0a\xff\xff\xff\x0fnot a proto")
    (payloads / "st/2/train/stats_tfrecord").write_bytes(b"\x05\x00\x00")  # cut short
    (payloads / "schema/1/schema.pbtxt").unlink()
    write(payloads / "an/1/Split-eval/SchemaDiff.pb", b"x" * 2048)
    report = read_payloads(store, prefixes=prefix(payloads), max_bytes=1024)
    assert problems(report) == {
        ("anomalies", "oversize"): 1,
        ("schema", "missing"): 1,
        ("statistics", "corrupt"): 2,
    }
    assert report.read == 0 and report.unread == 4
    assert "over the 1,024 limit" in report.problems[0].examples[0]
    statuses = store.con.execute(
        "SELECT artifact_id, status FROM payload_reads ORDER BY artifact_id"
    ).fetchall()
    assert statuses == [(2, "corrupt"), (3, "missing"), (4, "oversize"), (13, "corrupt")]
    assert store.count("feature_stats") == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_payload(store: ProvenanceStore, payloads: Path) -> None:
    (payloads / "schema/1/schema.pbtxt").chmod(0)
    report = read_payloads(store, prefixes=prefix(payloads))
    assert problems(report) == {("schema", "unreadable"): 1}


def test_payload_that_cannot_be_read_as_a_file(store: ProvenanceStore, payloads: Path) -> None:
    (payloads / "schema/1/schema.pbtxt").unlink()
    (payloads / "schema/1/schema.pbtxt").mkdir()
    report = read_payloads(store, prefixes=prefix(payloads))
    assert problems(report) == {("schema", "unreadable"): 1}
    assert "Is a directory" in report.problems[0].examples[0]


def test_unreadable_payload_directory(store: ProvenanceStore, payloads: Path) -> None:
    # a file where the artifact's directory should be: listing it fails (for root too)
    target = payloads / "st/1"
    for f in sorted(target.rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    target.rmdir()
    target.write_text("not a directory")
    report = read_payloads(store, prefixes=prefix(payloads))
    assert problems(report) == {("statistics", "missing"): 1}
    assert report.read == 3


def test_remote_uris_without_fsspec_are_counted(store: ProvenanceStore, payloads: Path) -> None:
    report = read_payloads(store, prefixes=(("/d", "gs://bucket/tfx"),))
    assert set(problems(report)) == {
        (k, "unsupported") for k in ("statistics", "schema", "anomalies")
    }
    assert "gs://" in report.problems[0].examples[0]


def test_without_tensorflow_metadata_nothing_is_read(
    store: ProvenanceStore, payloads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a None entry makes Python's import system raise ImportError, as on an install without it
    monkeypatch.setitem(__import__("sys").modules, "tensorflow_metadata.proto.v0", None)
    report = read_payloads(store, prefixes=prefix(payloads))
    assert report.message is not None and "pip install 'mlprov[payloads]'" in report.message
    assert report.unread == 4 and store.count("payload_reads") == 0


def test_option_errors() -> None:
    assert parse_prefix("gs://b/tfx=/mnt/tfx") == ("gs://b/tfx", "/mnt/tfx")
    with pytest.raises(PayloadOptionError, match="is not OLD=NEW"):
        parse_prefix("/mnt/tfx")
    with (
        ProvenanceStore.open(":memory:") as store,
        pytest.raises(PayloadOptionError, match="must be positive"),
    ):
        read_payloads(store, max_bytes=0)
    assert DEFAULT_MAX_BYTES > 2**20


# -- the generator's payloads, the CLI, and stores of the previous schema version ----------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from mlprov.sample.synth.generator import SynthConfig, generate

    where = tmp_path_factory.mktemp("gen")
    result = generate(
        SynthConfig(pipelines=2, days=14, seed=5),
        where / "g.sqlite",
        writer="bulk",
        payloads=where / "payloads",
    )
    assert result.payloads is not None and result.payloads.files > 0
    return result.path, result.payloads.root


def test_generated_payloads_read_back_whole(generated: tuple[Path, Path]) -> None:
    from mlprov.analysis.pruning.features import decision_features
    from mlprov.graphlets import build_graphlets

    mlmd, root = generated
    layout = {p.relative_to(root).parts[-2:] for p in root.rglob("*") if p.is_file()}
    assert {n for _, n in layout} == {"FeatureStats.pb", "schema.pbtxt", "SchemaDiff.pb"}
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(mlmd))
        report = read_payloads(store, prefixes=[("/pipelines", str(root))])
        assert report.problems == () and report.read == report.looked_at > 0
        kinds = store.con.execute("SELECT DISTINCT kind FROM payload_reads").fetchall()
        assert sorted(k for (k,) in kinds) == ["anomalies", "schema", "statistics"]
        # the payload summaries agree with the rows they were derived from
        agree = store.con.execute(
            "SELECT max(abs(s.mean - p.double_value)) FROM feature_stats s "
            "JOIN artifact_properties p ON p.source_id = s.source_id "
            "AND p.artifact_id = s.artifact_id AND p.name = s.feature || '_mean'"
        ).fetchone()[0]
        assert agree < 1e-9
        build_graphlets(store)
        features = decision_features(store)
    later = features.groupby("pipeline_id").cumcount() > 0
    assert features.loc[later, "tfdv_drift_window"].notna().mean() > 0.9
    assert features["tfdv_drift_window"].max() <= 1.0
    assert features["anomalous_features"].notna().all()


def test_generator_payload_tree_refuses_to_overwrite(generated: tuple[Path, Path]) -> None:
    from mlprov.sample.synth.payloads import write_payloads

    mlmd, root = generated
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        write_payloads(mlmd, root)


def test_writing_payloads_needs_tensorflow_metadata(
    generated: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlprov.provenance.errors import ProtosUnavailableError
    from mlprov.sample.synth.payloads import write_payloads

    monkeypatch.setitem(__import__("sys").modules, "tensorflow_metadata.proto.v0", None)
    with pytest.raises(ProtosUnavailableError, match=r"pip install 'mlprov\[payloads\]'"):
        write_payloads(generated[0], tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_cli_reads_payloads_and_rejects_bad_prefixes(tmp_path: Path, payloads: Path) -> None:
    import json

    from click.testing import CliRunner

    from mlprov.analysis.cli import main

    db = str(tmp_path / "prov.duckdb")
    fixture = str(FIXTURES / "tfx_small.sqlite")
    bad = CliRunner().invoke(main, ["ingest", fixture, "--db", db, "--payload-prefix", "/d"])
    assert bad.exit_code == 2 and "is not OLD=NEW" in bad.stderr
    assert not Path(db).exists()  # rejected before anything was read
    ok = CliRunner().invoke(
        main, ["ingest", fixture, "--db", db, "--payload-prefix", "/d=/nowhere"]
    )
    assert ok.exit_code == 0, ok.output
    assert "payloads: read 0 of 4" in ok.stdout and "2 statistics missing" in ok.stderr
    again = CliRunner().invoke(
        main, ["payloads", "--db", db, "--payload-prefix", f"/d={payloads}", "--format", "json"]
    )
    assert again.exit_code == 0 and json.loads(again.stdout)["read"] == 4
    none = CliRunner().invoke(main, ["ingest", fixture, "--db", db, "--no-payloads"])
    assert none.exit_code == 0 and "payloads:" not in none.output


def test_store_of_the_previous_version_gains_the_payload_tables(tmp_path: Path) -> None:
    from mlprov.provenance.errors import StoreError

    db = tmp_path / "old.duckdb"
    with ProvenanceStore.open(db) as store:
        ingest(store, str(FIXTURES / "tfx_small.sqlite"))
        for table in ("payload_reads", "feature_stats", "feature_buckets", "schemas"):
            store.con.execute(f"DROP TABLE {table}")
        store.con.execute("DROP TABLE schema_features; DROP TABLE data_anomalies")
        store.con.execute("UPDATE mlprov_meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="Upgrade it in place with 'mlprov payloads --db"):
        ProvenanceStore.open(db, read_only=True)
    with ProvenanceStore.open(db) as store:
        assert store.count("feature_stats") == 0 and store.count("executions") == 20
    with ProvenanceStore.open(db, read_only=True) as store:
        assert store.count("payload_reads") == 0


def test_payloads_through_an_fsspec_filesystem(store: ProvenanceStore, payloads: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    for path in payloads.rglob("*"):
        if path.is_file():
            fs.pipe(f"/bucket/tfx/{path.relative_to(payloads)}", path.read_bytes())
    try:
        report = read_payloads(store, prefixes=(("/d", "memory://bucket/tfx"),))
    finally:
        fs.rm("/bucket", recursive=True)
    assert (report.read, report.problems) == (4, ())
    assert store.count("feature_stats") == 6

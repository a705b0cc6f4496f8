"""``--engine spark`` writes the graphlet tables the DuckDB build writes, row for row.

Spark runs in local mode (one session for the whole test run, two cores); the tests skip
only where pyspark or a Java runtime is missing (.ci/run installs both).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.corpus import append_last_day, split_at
from mlprov.analysis.cli import main
from mlprov.graphlets import GraphletRules, build_graphlets
from mlprov.graphlets.errors import SparkJobError, SparkUnavailableError
from mlprov.graphlets.state import is_current
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.generator import SynthConfig, generate
from tests.graphlets.scenarios import write
from tests.graphlets.test_reference import rule_sets, runs, write_random

SAMPLE = Path(__file__).parent.parent.parent / "sample_data" / "tfx_sample.sqlite"
OUTPUT = ("graphlets", "graphlet_members", "graphlet_seen", "graphlet_builds", "graphlet_state")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (.ci/run installs openjdk-17-jre-headless)")
    from mlprov.graphlets.spark import spark_session

    session = spark_session(
        "local[2]",
        app_name="mlprov-tests",
        **{"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def tables(store: ProvenanceStore) -> dict[str, pd.DataFrame]:
    """Every graphlet table, all columns, sorted; sums of costs to 9 digits (the engines add
    them in different orders)."""
    replaced = {
        "graphlets": " REPLACE (input_spans::VARCHAR AS input_spans, round(own_cost, 9) AS "
        "own_cost, round(split_cost, 9) AS split_cost, round(span_overlap, 12) AS span_overlap)",
    }
    return {
        t: store.df(f"SELECT *{replaced.get(t, '')} FROM {t} ORDER BY ALL").reset_index(drop=True)
        for t in OUTPUT
    }


def assert_same(spark_store: ProvenanceStore, duckdb_store: ProvenanceStore) -> None:
    ours, theirs = tables(spark_store), tables(duckdb_store)
    for table in OUTPUT:
        pd.testing.assert_frame_equal(ours[table], theirs[table], obj=table)


def both_engines(
    source: Path, spark: Any, rules: GraphletRules | None = None, **options: Any
) -> tuple[ProvenanceStore, ProvenanceStore]:
    """``source`` ingested twice and built by each engine; the reports must agree too."""
    from mlprov.graphlets.spark import build_on_spark

    stores = ProvenanceStore.open(":memory:"), ProvenanceStore.open(":memory:")
    for store in stores:
        ingest(store, str(source))
    on_spark = build_on_spark(stores[0], rules, spark=spark, **options)
    assert on_spark == build_graphlets(stores[1], rules)
    assert is_current(stores[0], rules or GraphletRules.for_store(stores[0]))
    return stores


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every missing value as None (Parquet gives nullable columns <NA>)."""
    return frame.astype(object).where(frame.notna(), None)


def test_sample_store(spark: Any, tmp_path: Path) -> None:
    on_spark, on_duckdb = both_engines(SAMPLE, spark, lake=tmp_path / "lake", buckets=3)
    assert_same(on_spark, on_duckdb)
    assert on_spark.count("graphlets") > 0
    # current: a refresh on either engine has nothing to do
    assert build_graphlets(on_spark).pipelines_built == 0
    lake = tmp_path / "lake"
    kept = on_spark.con.execute(
        f"SELECT * FROM read_parquet('{lake}/graphlets/*/*.parquet', hive_partitioning = true) "
        "ORDER BY ALL"
    ).df()
    pd.testing.assert_frame_equal(
        _plain(kept[list(tables(on_spark)["graphlets"].columns)]),
        _plain(on_spark.df("SELECT * FROM graphlets ORDER BY ALL")),
        check_dtype=False,
    )
    assert sorted(p.name for p in (lake / "canonical").iterdir()) == sorted(
        [
            "artifact_properties",
            "artifacts",
            "events",
            "execution_properties",
            "executions",
            "sources",
        ]
    )


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pipelines=st.integers(1, 4),
    days=st.integers(2, 8),
    seed=st.integers(0, 1_000),
    rules=rule_sets,
    buckets=st.integers(1, 5),
)
def test_generated_corpora(
    spark: Any, pipelines: int, days: int, seed: int, rules: GraphletRules, buckets: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tfx.sqlite"
        generate(SynthConfig(pipelines=pipelines, days=days, seed=seed), path, writer="bulk")
        assert_same(*both_engines(path, spark, rules, buckets=buckets))


@pytest.mark.client
@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(specs=st.lists(runs, min_size=1, max_size=4), rules=rule_sets)
def test_random_pipelines_under_random_rules(spark: Any, specs: list, rules: GraphletRules) -> None:
    """The boundary rules' corner cases (warm starts, Tuners, cache hits, keyless reads)."""
    pytest.importorskip("ml_metadata")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.sqlite"
        write(path, lambda s: write_random(s, specs))
        assert_same(*both_engines(path, spark, rules))


def test_refresh_equals_duckdb_refresh(spark: Any, tmp_path: Path) -> None:
    """A Spark build, then new provenance: the refresh (pipelines rebuilt whole on Spark, the
    others refreshed in part here) writes what the DuckDB refresh writes."""
    from mlprov.graphlets.spark import build_on_spark

    source = tmp_path / "tfx.sqlite"
    generate(SynthConfig(pipelines=3, days=10, seed=11), source, writer="bulk")
    split = split_at(source, tmp_path / "work", last_execution=60)
    with ProvenanceStore.open(":memory:") as ours, ProvenanceStore.open(":memory:") as theirs:
        for grown in (False, True):
            if grown:
                append_last_day(split)
            ingest(ours, str(split.prefix))
            ingest(theirs, str(split.prefix))
            assert build_on_spark(ours, spark=spark, buckets=2) == build_graphlets(theirs)
            assert_same(ours, theirs)


def test_cli_engine_spark(spark: Any, tmp_path: Path) -> None:
    db = tmp_path / "prov.duckdb"
    with ProvenanceStore.open(db) as store:
        ingest(store, str(SAMPLE))
    args = ["graphlets", "--db", str(db), "--engine", "spark", "--format", "json", "--quiet"]
    result = CliRunner().invoke(main, [*args, "--spark-master", "local[2]"])
    assert result.exit_code == 0, result.output
    with ProvenanceStore.open(db, read_only=True) as store:
        assert is_current(store, GraphletRules.for_store(store))
        built = tables(store)
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(SAMPLE))
        build_graphlets(store)
        expected = tables(store)
    for table in ("graphlets", "graphlet_members", "graphlet_seen"):
        pd.testing.assert_frame_equal(built[table], expected[table], obj=table)


def test_no_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from mlprov.graphlets.spark import spark_session

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SparkUnavailableError, match=r"needs a Java runtime .* openjdk-17"):
        spark_session("local[1]")


def test_no_pyspark(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlprov.graphlets.spark import spark_session

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # import fails as if not installed
    with pytest.raises(SparkUnavailableError, match=r"needs pyspark; .*mlprov\[spark\]"):
        spark_session()


def test_cli_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = tmp_path / "prov.duckdb"
    with ProvenanceStore.open(db):
        pass
    runner = CliRunner()
    both = runner.invoke(main, ["graphlets", "--db", str(db), "--engine", "spark", "--no-refresh"])
    assert both.exit_code == 2
    assert "--engine spark builds graphlets; it cannot go with --no-refresh" in both.output
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    missing = runner.invoke(main, ["graphlets", "--db", str(db), "--engine", "spark"])
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines() == [
        "error: --engine spark needs pyspark; install it with: pip install 'mlprov[spark]'"
    ]


def test_failing_executors(spark: Any) -> None:
    """Executors whose Python lacks mlprov's dependencies: one line, the store unchanged."""
    from mlprov.graphlets.spark import build_on_spark

    bare = getattr(sys, "_base_executable", sys.executable)
    if subprocess.run([bare, "-c", "import duckdb"], capture_output=True).returncode == 0:
        pytest.skip("the base interpreter has duckdb: no Python without mlprov's dependencies")
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(SAMPLE))
        spark.sparkContext.pythonExec = bare
        try:
            with pytest.raises(SparkJobError) as raised:
                build_on_spark(store, spark=spark, buckets=1)
        finally:
            spark.sparkContext.pythonExec = sys.executable
        assert not store.has_table("graphlets")
    # which missing module the executor meets first depends on how cloudpickle orders them
    assert re.match(
        r"the Spark build failed \(ModuleNotFoundError: No module named '(duckdb|mlprov)'\); "
        r"nothing was changed\. The executors need mlprov installed",
        str(raised.value),
    )

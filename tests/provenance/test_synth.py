"""The TFX-shaped corpus generator: determinism, TFX shape, calibration, backend equivalence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mlprov.sample.synth.bulk import create_store, write_bulk
from mlprov.sample.synth.generator import PRESETS, SynthConfig, generate, simulate, truth_path
from mlprov.sample.synth.tfx import TYPES

TABLES = (
    "Type",
    "TypeProperty",
    "ParentType",
    "Context",
    "ParentContext",
    "Execution",
    "ExecutionProperty",
    "Artifact",
    "ArtifactProperty",
    "Event",
    "EventPath",
    "Association",
    "Attribution",
    "MLMDEnv",
    "sqlite_sequence",
)
TINY = SynthConfig(pipelines=4, days=9, seed=3)
MID = SynthConfig(pipelines=150, days=60, seed=0)


def _rows(path: Path, table: str, drop_id: bool = False) -> list[tuple[object, ...]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cols = [r[1] for r in con.execute(f"PRAGMA table_info(`{table}`)")]
        if drop_id:
            cols = [c for c in cols if c != "id"]
        select = ", ".join(f"`{c}`" for c in cols)
        return sorted(con.execute(f"SELECT {select} FROM `{table}`").fetchall(), key=repr)
    finally:
        con.close()


def _sql(path: Path, query: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def mid_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mid") / "mid.sqlite"
    generate(MID, path, writer="bulk")
    return path


def _client():
    return pytest.importorskip(
        "ml_metadata", reason="the ml-metadata client has no wheels for this Python"
    )


def _open(path: Path):  # type: ignore[no-untyped-def]
    _client()
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


# -- determinism, files ---------------------------------------------------------------------
def test_same_seed_gives_identical_store(tmp_path: Path) -> None:
    a = generate(TINY, tmp_path / "a.sqlite", writer="bulk")
    b = generate(TINY, tmp_path / "b.sqlite", writer="bulk")
    for table in TABLES:
        assert _rows(a.path, table) == _rows(b.path, table), table
    assert pq.read_table(a.truth_path).equals(pq.read_table(b.truth_path))
    c = generate(SynthConfig(pipelines=5, days=12, seed=4), tmp_path / "c.sqlite", writer="bulk")
    assert _rows(a.path, "Execution") != _rows(c.path, "Execution")


def test_chunked_generation_writes_the_single_pass_store(tmp_path: Path) -> None:
    """Chunks of pipelines spilled and merged on id give the ids of one in-memory merge; with
    two workers, the tables loaded by the second and copied in are the same rows, under
    the same indexes."""
    config = SynthConfig(pipelines=7, days=20, seed=8)
    log, truth = simulate(config)
    write_bulk(log, tmp_path / "one.sqlite")
    chunked = generate(
        config, tmp_path / "chunked.sqlite", writer="bulk", chunk_pipelines=3, workers=2
    )
    for table in TABLES:
        assert _rows(chunked.path, table) == _rows(tmp_path / "one.sqlite", table), table
    schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
    assert _sql(chunked.path, schema) == _sql(tmp_path / "one.sqlite", schema)
    assert _sql(chunked.path, "PRAGMA integrity_check") == [("ok",)]
    assert pq.read_table(chunked.truth_path).equals(truth)
    assert chunked.rows == log.row_counts()
    assert chunked.pipelines == len(np.unique(log.ex_pipeline))


def test_refuses_to_overwrite_and_leaves_no_temp_files(tmp_path: Path) -> None:
    out = tmp_path / "s.sqlite"
    generate(TINY, out, writer="bulk")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        generate(TINY, out, writer="bulk")
    generate(TINY, out, writer="bulk", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite", "s.sqlite.truth.parquet"]
    assert truth_path(out).exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pipelines": 0}, "at least 1"),
        ({"cadence_hours": (1.0,), "cadence_weights": (0.5, 0.5)}, "same length"),
        ({"full_life_share": 2.0}, r"\[0, 1\]"),
        ({"start": "2025-13-01"}, "month"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SynthConfig(**kwargs)  # type: ignore[arg-type]


def test_unknown_writer_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'auto', 'client' or 'bulk'"):
        generate(TINY, tmp_path / "x.sqlite", writer="fast")  # type: ignore[arg-type]


def test_sample_preset_is_small() -> None:
    sample = PRESETS["sample"]
    assert 20 <= sample.pipelines <= 30 and sample.days == 60
    assert PRESETS["paper"].pipelines == 3000 and PRESETS["paper"].days == 120


# -- calibration ------------------------------------------------------------------------------
def test_calibration_unpushed_share_and_causes(mid_store: Path) -> None:
    truth = pq.read_table(truth_path(mid_store)).to_pandas()
    unpushed = 1 - truth["pushed"].mean()
    assert 0.30 <= unpushed <= 0.40
    per_pipeline = 1 - truth.groupby("pipeline")["pushed"].mean()
    assert per_pipeline.std() > 0.1  # varies by pipeline
    causes = truth.loc[~truth["pushed"], "cause"].value_counts()
    assert set(causes.index) <= {
        "drift",
        "structure_change",
        "config_change",
        "failure",
        "other",
        "in_flight",
    }
    assert causes.index[0] == "drift"  # data drift is the main cause, as in the study
    assert causes["structure_change"] > 0 and causes["config_change"] > 0
    assert truth["cause"][truth["pushed"]].isna().all()


def test_truth_matches_store(mid_store: Path) -> None:
    truth = pq.read_table(truth_path(mid_store)).to_pandas()
    trainers = _sql(
        mid_store,
        """
        SELECT e.id FROM Execution e JOIN Type t ON t.id = e.type_id
        WHERE t.name = 'tfx.components.trainer.component.Trainer' AND e.last_known_state != 5
        ORDER BY e.id""",
    )
    assert truth["trainer_execution_id"].tolist() == [r[0] for r in trainers]
    # a trainer pushed iff some Pusher consumed its model and wrote pushed = 1
    pushed = {
        r[0]
        for r in _sql(
            mid_store,
            """
        SELECT DISTINCT tr.execution_id
        FROM Event tr
        JOIN Event pin ON pin.artifact_id = tr.artifact_id AND pin.type = 3
        JOIN Execution px ON px.id = pin.execution_id
        JOIN Type pt ON pt.id = px.type_id AND pt.name LIKE '%.Pusher'
        JOIN Event pout ON pout.execution_id = px.id AND pout.type = 4
        JOIN ArtifactProperty ap ON ap.artifact_id = pout.artifact_id
             AND ap.name = 'pushed' AND ap.int_value = 1
        JOIN Execution te ON te.id = tr.execution_id AND te.last_known_state = 3
        JOIN Type tt ON tt.id = te.type_id AND tt.name LIKE '%.Trainer'
        WHERE tr.type = 4""",
        )
    }
    assert pushed == set(truth.loc[truth["pushed"], "trainer_execution_id"])


def test_rolling_windows_share_upstream_artifacts(mid_store: Path) -> None:
    # the same Examples artifact is read by several Transform (or Trainer) executions
    shared = _sql(
        mid_store,
        """
        SELECT COUNT(*) FROM (
          SELECT ev.artifact_id FROM Event ev
          JOIN Execution e ON e.id = ev.execution_id JOIN Type t ON t.id = e.type_id
          JOIN Artifact a ON a.id = ev.artifact_id JOIN Type at ON at.id = a.type_id
          WHERE ev.type = 3 AND at.name = 'Examples'
            AND (t.name LIKE '%.Transform' OR t.name LIKE '%.Trainer')
            AND e.last_known_state = 3
          GROUP BY ev.artifact_id HAVING COUNT(DISTINCT ev.execution_id) > 1)""",
    )
    assert shared[0][0] > 100


def test_failed_cached_running_and_resolver_edges(mid_store: Path) -> None:
    states = dict(_sql(mid_store, "SELECT last_known_state, COUNT(*) FROM Execution GROUP BY 1"))
    assert states[3] > 0 and states[4] > 0 and states[5] > 0 and states[2] > 0
    # failed executions have no outputs
    assert (
        _sql(
            mid_store,
            """SELECT COUNT(*) FROM Event ev JOIN Execution e
        ON e.id = ev.execution_id WHERE e.last_known_state IN (2, 4) AND ev.type != 3""",
        )[0][0]
        == 0
    )
    # cached executions re-publish artifacts another execution created
    assert (
        _sql(
            mid_store,
            """SELECT COUNT(*) FROM Event ev JOIN Execution e
        ON e.id = ev.execution_id WHERE e.last_known_state = 5 AND ev.type = 4
        AND EXISTS (SELECT 1 FROM Event o WHERE o.artifact_id = ev.artifact_id AND o.type = 4
                    AND o.execution_id < ev.execution_id)""",
        )[0][0]
        > 0
    )
    keys = dict(
        _sql(
            mid_store,
            """SELECT p.step_key, COUNT(*) FROM EventPath p
        JOIN Event ev ON ev.id = p.event_id WHERE p.is_index_step = 0 GROUP BY 1""",
        )
    )
    for key in (
        "base_model",
        "baseline_model",
        "transform_graph",
        "best_hyperparameters",
        "hyperparameters",
        "infra_blessing",
        "pushed_model",
        "anomalies",
    ):
        assert keys.get(key, 0) > 0, key
    internal = _sql(
        mid_store,
        """SELECT COUNT(*) FROM Event ev JOIN Execution e
        ON e.id = ev.execution_id JOIN Type t ON t.id = e.type_id
        WHERE ev.type = 6 AND t.name = 'tfx.dsl.components.common.resolver.Resolver'""",
    )
    assert internal[0][0] > 0


def test_timestamps_are_causal(mid_store: Path) -> None:
    # every input was produced (first OUTPUT event) before its consumer started
    bad = _sql(
        mid_store,
        """
        WITH producer AS (SELECT artifact_id, MIN(execution_id) AS execution_id FROM Event
                          WHERE type = 4 GROUP BY artifact_id)
        SELECT COUNT(*) FROM Event ev JOIN producer p ON p.artifact_id = ev.artifact_id
        JOIN Execution up ON up.id = p.execution_id JOIN Execution down ON down.id = ev.execution_id
        WHERE ev.type IN (3, 6) AND up.last_update_time_since_epoch
              >= down.create_time_since_epoch""",
    )
    assert bad[0][0] == 0
    assert (
        _sql(
            mid_store,
            """SELECT COUNT(*) FROM Execution
        WHERE last_update_time_since_epoch < create_time_since_epoch""",
        )[0][0]
        == 0
    )
    lo, hi = _sql(
        mid_store,
        "SELECT MIN(create_time_since_epoch), MAX(last_update_time_since_epoch) FROM Execution",
    )[0]
    assert MID.start_ms <= lo and hi <= MID.end_ms  # type: ignore[operator]


def test_costs_and_statistics_properties(mid_store: Path) -> None:
    cost = dict(
        _sql(
            mid_store,
            """SELECT t.name, SUM(p.double_value) FROM ExecutionProperty p
        JOIN Execution e ON e.id = p.execution_id JOIN Type t ON t.id = e.type_id
        WHERE p.name = 'cpu_hours' GROUP BY 1""",
        )
    )
    short = {k.rsplit(".", 1)[-1]: v for k, v in cost.items()}
    assert max(short, key=lambda k: short[k]) == "Trainer"
    assert short["Resolver"] < 0.01 * short["Trainer"]
    assert (
        _sql(
            mid_store,
            """SELECT COUNT(*) FROM ExecutionProperty p JOIN Execution e
        ON e.id = p.execution_id WHERE e.last_known_state = 5 AND p.name = 'cpu_hours'
        AND p.double_value != 0""",
        )[0][0]
        == 0
    )
    stats = _sql(
        mid_store,
        """SELECT COUNT(DISTINCT p.artifact_id) FROM ArtifactProperty p
        WHERE p.name = 'feature_0_mean' AND p.is_custom_property = 1""",
    )[0][0]
    n_stats = _sql(
        mid_store,
        """SELECT COUNT(*) FROM Artifact a JOIN Type t ON t.id = a.type_id
        WHERE t.name = 'ExampleStatistics'""",
    )[0][0]
    assert stats == n_stats > 0
    model_types = {
        r[0]
        for r in _sql(
            mid_store,
            """SELECT DISTINCT string_value
        FROM ExecutionProperty WHERE name = 'model_type'""",
        )
    }
    assert model_types == {"dnn", "linear", "boosted_trees"}
    # config changes show as several module_path values within a pipeline's trainers
    assert (
        _sql(
            mid_store,
            """SELECT MAX(n) FROM (SELECT c.name, COUNT(DISTINCT p.string_value)
        AS n FROM ExecutionProperty p JOIN Association a ON a.execution_id = p.execution_id
        JOIN Context c ON c.id = a.context_id JOIN Type ct ON ct.id = c.type_id
        WHERE ct.name = 'pipeline' AND p.name = 'module_path' GROUP BY c.name)""",
        )[0][0]
        > 1
    )


# -- the client's view ------------------------------------------------------------------------
def test_schema_without_client_matches_client(tmp_path: Path) -> None:
    _client()
    create_store(tmp_path / "client.sqlite", use_client=True)
    create_store(tmp_path / "sql.sqlite", use_client=False)
    for table in ("Type", "TypeProperty", "ParentType", "MLMDEnv"):
        assert _rows(tmp_path / "client.sqlite", table) == _rows(tmp_path / "sql.sqlite", table)
    ddl = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    assert _sql(tmp_path / "client.sqlite", ddl) == _sql(tmp_path / "sql.sqlite", ddl)


def test_client_reads_exact_tfx_types_and_properties(tmp_path: Path) -> None:
    _client()
    result = generate(TINY, tmp_path / "c.sqlite", writer="client")
    store = _open(result.path)
    names = {t.name for t in store.get_execution_types()}
    assert {t.name for t in TYPES if t.kind == 0} <= names
    assert "tfx.components.trainer.component.Trainer" in names
    assert "tfx.dsl.components.common.resolver.Resolver" in names
    examples = store.get_artifact_type("Examples")
    assert set(examples.properties) == {"span", "version", "split_names"}
    assert set(store.get_artifact_type("ExampleStatistics").properties) == {"span", "split_names"}
    trainers = store.get_executions_by_type("tfx.components.trainer.component.Trainer")
    assert trainers and all(t.custom_properties["cpu_hours"].double_value >= 0 for t in trainers)
    assert {"train_args", "module_path", "model_type", "custom_config"} <= set(
        trainers[0].custom_properties
    )
    pushed = store.get_artifacts_by_type("PushedModel")
    assert {"pushed", "tfx_version"} <= set(pushed[0].custom_properties)
    blessings = store.get_artifacts_by_type("ModelBlessing")
    assert all("current_model_id" in b.custom_properties for b in blessings)
    pipeline = store.get_contexts_by_type("pipeline")[0]
    children = store.get_children_contexts_by_context(pipeline.id)
    assert {store.get_context_types_by_id([c.type_id])[0].name for c in children} == {
        "pipeline_run",
        "node",
    }
    node_names = {c.name for c in store.get_contexts_by_type("node")}
    assert f"{pipeline.name}.Trainer" in node_names
    # every input and output artifact is attributed to each context of the execution
    t = trainers[0]
    ctx_ids = {c.id for c in store.get_contexts_by_execution(t.id)}
    for ev in store.get_events_by_execution_ids([t.id]):
        assert ctx_ids <= {c.id for c in store.get_contexts_by_artifact(ev.artifact_id)}


def test_bulk_store_reads_back_like_client_store(tmp_path: Path) -> None:
    _client()
    a = generate(TINY, tmp_path / "client.sqlite", writer="client")
    b = generate(TINY, tmp_path / "bulk.sqlite", writer="bulk")
    assert (a.writer, b.writer) == ("client", "bulk")
    sa, sb = _open(a.path), _open(b.path)

    def same(fa, fb) -> None:  # type: ignore[no-untyped-def]
        assert [m.SerializeToString(deterministic=True) for m in fa] == [
            m.SerializeToString(deterministic=True) for m in fb
        ]

    same(sa.get_execution_types(), sb.get_execution_types())
    same(sa.get_artifact_types(), sb.get_artifact_types())
    same(sa.get_context_types(), sb.get_context_types())
    same(sa.get_executions(), sb.get_executions())
    same(sa.get_artifacts(), sb.get_artifacts())
    same(sa.get_contexts(), sb.get_contexts())
    ids = [e.id for e in sa.get_executions()]
    same(sa.get_events_by_execution_ids(ids), sb.get_events_by_execution_ids(ids))
    for ctx in sa.get_contexts():
        same(sa.get_executions_by_context(ctx.id), sb.get_executions_by_context(ctx.id))
        same(sa.get_artifacts_by_context(ctx.id), sb.get_artifacts_by_context(ctx.id))
        same(sa.get_parent_contexts_by_context(ctx.id), sb.get_parent_contexts_by_context(ctx.id))
    # row for row, except the Attribution ids (the client numbers them in hash order)
    for table in TABLES:
        assert _rows(a.path, table, drop_id=table == "Attribution") == _rows(
            b.path, table, drop_id=table == "Attribution"
        ), table
    assert pq.read_table(a.truth_path).equals(pq.read_table(b.truth_path))


def test_sample_preset_regenerates_committed_sample(tmp_path: Path) -> None:
    committed = Path(__file__).parents[2] / "sample_data" / "tfx_sample.sqlite"
    if not committed.exists():
        pytest.skip("sample_data/tfx_sample.sqlite not present")
    fresh = generate(PRESETS["sample"], tmp_path / "s.sqlite", writer="bulk")
    for table in TABLES:
        assert _rows(fresh.path, table, drop_id=table == "Attribution") == _rows(
            committed, table, drop_id=table == "Attribution"
        ), table


def test_truth_window_spans_are_recent(mid_store: Path) -> None:
    truth = pq.read_table(truth_path(mid_store)).to_pandas()
    lengths = truth["window_spans"].map(len)
    assert lengths.min() >= 1 and lengths.max() <= 14
    contiguous = truth["window_spans"].map(lambda s: s[-1] - s[0] + 1 >= len(s))
    assert contiguous.all()
    assert np.all(np.diff(truth["trainer_execution_id"].to_numpy()) > 0)


def test_paper_benchmark_prints_wall_peak_memory_and_load(tmp_path: Path) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "bench.sqlite"
    args = [sys.executable, "benchmarks/synth_paper.py", str(out), "--pipelines", "3"]
    done = subprocess.run(args, cwd=repo, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = next(line for line in done.stdout.splitlines() if line.startswith("seconds "))
    fields = summary.split()
    assert float(fields[fields.index("peak_rss") + 1]) > 0
    assert "load" in fields and fields[fields.index("pipelines") + 1] == "3"
    assert out.exists()

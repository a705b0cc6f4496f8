"""The OpenLineage reader on events written by the real openlineage-python client.

The DAG ``ml`` (Airflow-shaped: a DAG run and its tasks, jobType DAG/TASK, ParentRunFacet)
runs extract -> validate -> train -> evaluate -> deploy three times. Times are minutes after
Monday 2025-03-03 00:00 UTC; costs are durations in seconds.

- DAG run 1: extract x1 (1-3), validate x2 (4-5), train x3 FAILS (6-10, errorMessage), its
  retry x4 (11-20, model version "1"), evaluate x5 (21-25), deploy x6 (26-27). x1's COMPLETE
  is emitted twice.
- DAG run 2, the next day (+1440): extract x7 (1441-1443), validate x8 (1444-1445), train x9
  (1446-1456, model "2"), evaluate x10 FAILS (1457-1460): nothing is deployed.
- DAG run 3 (+2880): extract x11 (2881-2882), train x12 starts (2883) and reports RUNNING
  (2884). Appended later: x12 COMPLETE (2890, model "3"), evaluate x13 (2891-2893), deploy x14
  (2894-2895).
- A job without a parent, ``adhoc.backfill``, ABORTED (100-105): its own pipeline, an orphan.

By hand (study.md's graphlet rules): graphlets anchor on the train runs x3, x4, x9, x12.
g(x3) = {x3, x1 upstream, x2 side}; g(x4) = {x4, x1, x2, x5, x6}: deployed (x6 COMPLETE, the
convention's deploy glob), push at minute 27; g(x9) = {x9, x7, x8, x10}; g(x12) = {x12, x11}
in flight, then {x12, x11, x13, x14}, deployed at minute 2895. Costs: x1 120, x2 60, x3 240,
x4 540, x5 240, x6 60, x7 120, x8 60, x9 600, x10 180, x11 60, x12 420, x13 120, x14 60,
backfill 300: total 3180; in no deployed graphlet: x3, x7, x8, x9, x10, backfill = 1500.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    parent_run,
    processing_engine_run,
)
from openlineage.client.transport.file import FileConfig, FileTransport

from mlprov.analysis.cli import main
from mlprov.analysis.waste import waste_summary
from mlprov.graphlets import build_graphlets
from mlprov.provenance.errors import UnknownSourceError
from mlprov.provenance.ingest import ingest, parse_source
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import canonical_rows
from tests.fixtures.servers import Server, create_reader, run_sql

T0 = datetime(2025, 3, 3, tzinfo=timezone.utc)
NS, DAG, LAKE = "airflow", "ml", "s3://lake"


def at(minute: int) -> datetime:
    return (T0 + timedelta(minutes=minute)).replace(tzinfo=None)


@dataclass
class Emitter:
    """Writes a DAG's events through the client's file transport."""

    path: Path
    append: bool = True
    runs: dict[str, str] = field(default_factory=dict)  # our name (x1, D1) -> run UUID

    def client(self) -> OpenLineageClient:
        config = FileConfig(log_file_path=str(self.path), append=self.append)
        return OpenLineageClient(transport=FileTransport(config))

    def run_id(self, name: str) -> str:
        return self.runs.setdefault(name, str(uuid.UUID(int=len(self.runs) + 1)))

    def dag(self, run: str, state: RunState, minute: int) -> None:
        self._emit(state, DAG, run, minute, job_type="DAG")

    def task(
        self,
        task: str,
        run: str,
        dag_run: str | None,
        state: RunState,
        minute: int,
        inputs: tuple[tuple[str, str | None], ...] = (),
        outputs: tuple[tuple[str, str | None], ...] = (),
        error: str | None = None,
    ) -> None:
        facets: dict = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version="2.10.5", name="Airflow"
            ),
            "nominalTime": nominal_time_run.NominalTimeRunFacet(nominalStartTime=T0.isoformat()),
        }
        if dag_run is not None:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.run_id(dag_run)),
                job=parent_run.Job(namespace=NS, name=DAG),
            )
        if error:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="python"
            )
        name = f"{DAG}.{task}" if dag_run else task
        self._emit(state, name, run, minute, "TASK", facets, inputs, outputs)

    def step(
        self,
        task: str,
        run: str,
        dag_run: str,
        start: int,
        end: int,
        state: RunState = RunState.COMPLETE,
        inputs: tuple[tuple[str, str | None], ...] = (),
        outputs: tuple[tuple[str, str | None], ...] = (),
        error: str | None = None,
    ) -> None:
        """A task run: its START, then its ``state`` event with its outputs."""
        self.task(task, run, dag_run, RunState.START, start, inputs)
        self.task(task, run, dag_run, state, end, inputs, outputs, error)

    def _emit(
        self,
        state: RunState,
        job: str,
        run: str,
        minute: int,
        job_type: str,
        run_facets: dict | None = None,
        inputs: tuple[tuple[str, str | None], ...] = (),
        outputs: tuple[tuple[str, str | None], ...] = (),
    ) -> None:
        job_facets = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="AIRFLOW", jobType=job_type
            )
        }
        self.client().emit(
            RunEvent(
                eventType=state,
                eventTime=(T0 + timedelta(minutes=minute)).isoformat(),
                run=Run(runId=self.run_id(run), facets=run_facets or {}),
                job=Job(namespace=NS, name=job, facets=job_facets),
                inputs=[InputDataset(LAKE, n, facets=_version(v)) for n, v in inputs],
                outputs=[OutputDataset(LAKE, n, facets=_version(v)) for n, v in outputs],
                producer="https://github.com/apache/airflow/tree/providers-openlineage/2.1.0",
            )
        )


def _version(version: str | None) -> dict:
    if version is None:
        return {}
    return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version)}


RAW, S, C, F = (("raw", None),), RunState.START, RunState.COMPLETE, RunState.FAIL


def model(version: str) -> tuple[tuple[str, str | None], ...]:
    return (("model", version),)


def first_part(e: Emitter) -> None:
    """DAG runs 1 and 2, the ad-hoc backfill, and the start of DAG run 3."""
    e.dag("D1", S, 0)
    e.step("extract", "x1", "D1", 1, 3, outputs=RAW)
    e.task("extract", "x1", "D1", C, 3, outputs=RAW)  # the same event twice
    e.step("validate", "x2", "D1", 4, 5, inputs=RAW)
    e.step("train", "x3", "D1", 6, 10, F, inputs=RAW, error="CUDA out of memory")
    e.step("train", "x4", "D1", 11, 20, inputs=RAW, outputs=model("1"))  # the retry: a new run
    e.step("evaluate", "x5", "D1", 21, 25, inputs=model("1"))
    e.step("deploy", "x6", "D1", 26, 27, inputs=model("1"))
    e.dag("D1", C, 30)
    e.task("adhoc.backfill", "b", None, S, 100)
    e.task("adhoc.backfill", "b", None, RunState.ABORT, 105)
    e.dag("D2", S, 1440)
    e.step("extract", "x7", "D2", 1441, 1443, outputs=RAW)
    e.step("validate", "x8", "D2", 1444, 1445, inputs=RAW)
    e.step("train", "x9", "D2", 1446, 1456, inputs=RAW, outputs=model("2"))
    e.step("evaluate", "x10", "D2", 1457, 1460, F, inputs=model("2"), error="auc 0.61 < 0.7")
    e.dag("D2", F, 1461)
    e.dag("D3", S, 2880)
    e.step("extract", "x11", "D3", 2881, 2882, outputs=RAW)
    e.step("train", "x12", "D3", 2883, 2884, RunState.RUNNING, inputs=RAW)


def second_part(e: Emitter) -> None:
    """The rest of DAG run 3, appended after a first ingest."""
    e.task("train", "x12", "D3", C, 2890, inputs=RAW, outputs=model("3"))
    e.step("evaluate", "x13", "D3", 2891, 2893, inputs=model("3"))
    e.step("deploy", "x14", "D3", 2894, 2895, inputs=model("3"))
    e.dag("D3", C, 2896)


@pytest.fixture
def events(tmp_path: Path) -> Emitter:
    emitter = Emitter(tmp_path / "events.ndjson")
    first_part(emitter)
    return emitter


@pytest.fixture
def store() -> Iterator[ProvenanceStore]:
    with ProvenanceStore.open(":memory:") as s:
        yield s


def executions(store: ProvenanceStore, e: Emitter) -> dict[str, tuple]:
    """Our name -> (task, node, category, state, start, end, duration, pipeline, run)."""
    names = {v: k for k, v in e.runs.items()}
    rows = store.con.execute(
        "SELECT x.name, x.component, x.node, x.category, x.state, x.start_time, x.end_time, "
        "x.duration_s, p.name, r.name FROM executions x "
        "LEFT JOIN pipelines p USING (source_id, pipeline_id) "
        "LEFT JOIN pipeline_runs r USING (source_id, run_id)"
    ).fetchall()
    return {names[r[0]]: (*r[1:8], r[8], names.get(r[9], r[9])) for r in rows}


def row(task: str, category: str, state: str, start: int, end: int, run: str) -> tuple:
    """An expected execution: node and component are the task; pipeline the DAG."""
    pipeline = DAG if run.startswith("D") else task
    return (task, task, category, state, at(start), at(end), 60.0 * (end - start), pipeline, run)


EXPECTED_FIRST = {
    "x1": row("extract", "ingest", "COMPLETE", 1, 3, "D1"),
    "x2": row("validate", "data_validation", "COMPLETE", 4, 5, "D1"),
    "x3": row("train", "train", "FAILED", 6, 10, "D1"),
    "x4": row("train", "train", "COMPLETE", 11, 20, "D1"),
    "x5": row("evaluate", "model_validation", "COMPLETE", 21, 25, "D1"),
    "x6": row("deploy", "deploy", "COMPLETE", 26, 27, "D1"),
    "b": row("adhoc.backfill", "other", "CANCELED", 100, 105, "b"),
    "x7": row("extract", "ingest", "COMPLETE", 1441, 1443, "D2"),
    "x8": row("validate", "data_validation", "COMPLETE", 1444, 1445, "D2"),
    "x9": row("train", "train", "COMPLETE", 1446, 1456, "D2"),
    "x10": row("evaluate", "model_validation", "FAILED", 1457, 1460, "D2"),
    "x11": row("extract", "ingest", "COMPLETE", 2881, 2882, "D3"),
    "x12": row("train", "train", "RUNNING", 2883, 2884, "D3"),
}
EXPECTED_SECOND = {
    **EXPECTED_FIRST,
    "x12": row("train", "train", "COMPLETE", 2883, 2890, "D3"),
    "x13": row("evaluate", "model_validation", "COMPLETE", 2891, 2893, "D3"),
    "x14": row("deploy", "deploy", "COMPLETE", 2894, 2895, "D3"),
}


def lineage(store: ProvenanceStore, e: Emitter) -> set[tuple[str, str, str]]:
    """(execution, direction, artifact): artifacts as name@version, or @producer for versions
    a run wrote without a DatasetVersion facet."""
    names = {v: k for k, v in e.runs.items()}
    rows = store.con.execute(
        "SELECT x.name, ev.direction, a.name, a.state, v.string_value, "
        "(SELECT px.name FROM events pe JOIN executions px USING (source_id, execution_id) "
        " WHERE pe.source_id = a.source_id AND pe.artifact_id = a.artifact_id "
        " AND pe.direction = 'output') "
        "FROM events ev JOIN executions x USING (source_id, execution_id) "
        "JOIN artifacts a USING (source_id, artifact_id) "
        "LEFT JOIN artifact_properties v ON v.source_id = a.source_id "
        " AND v.artifact_id = a.artifact_id AND v.name = 'version'"
    ).fetchall()
    return {
        (names[x], d, f"{a}@{v or names[p]}" if state == "LIVE" else a)
        for x, d, a, state, v, p in rows
    }


LINEAGE_FIRST = {
    ("x1", "output", "raw@x1"),
    ("x2", "input", "raw@x1"),
    ("x3", "input", "raw@x1"),
    ("x4", "input", "raw@x1"),
    ("x4", "output", "model@1"),
    ("x5", "input", "model@1"),
    ("x6", "input", "model@1"),
    ("x7", "output", "raw@x7"),
    ("x8", "input", "raw@x7"),
    ("x9", "input", "raw@x7"),
    ("x9", "output", "model@2"),
    ("x10", "input", "model@2"),
    ("x11", "output", "raw@x11"),
    ("x12", "input", "raw@x11"),
}
LINEAGE_SECOND = LINEAGE_FIRST | {
    ("x12", "output", "model@3"),
    ("x13", "input", "model@3"),
    ("x14", "input", "model@3"),
}


def graphlets(store: ProvenanceStore, e: Emitter) -> dict[str, tuple]:
    """Trainer -> (members, deployed, in flight, push time)."""
    names = {v: k for k, v in e.runs.items()}
    build_graphlets(store)
    rows = store.con.execute(
        "SELECT t.name, list(m.name ORDER BY m.name), any_value(g.deployed), "
        "any_value(g.in_flight), any_value(g.push_time) FROM graphlets g "
        "JOIN executions t ON t.source_id = g.source_id AND t.execution_id = g.graphlet_id "
        "JOIN graphlet_members gm ON gm.source_id = g.source_id "
        " AND gm.graphlet_id = g.graphlet_id AND gm.node_kind = 'execution' "
        "JOIN executions m ON m.source_id = gm.source_id AND m.execution_id = gm.node_id "
        "GROUP BY t.name"
    ).fetchall()
    return {
        names[t]: (sorted(names[m] for m in members), deployed, flight, push)
        for t, members, deployed, flight, push in rows
    }


def test_dag_maps_to_executions_artifacts_and_graphlets(
    events: Emitter, store: ProvenanceStore
) -> None:
    report = ingest(store, str(events.path))
    assert report.kind == "openlineage" and report.convention == "openlineage"
    assert report.rows_read == {"OpenLineage event": 32} and not report.skipped
    assert executions(store, events) == EXPECTED_FIRST
    assert lineage(store, events) == LINEAGE_FIRST
    assert store.df("SELECT name FROM pipelines ORDER BY name")["name"].tolist() == [
        "adhoc.backfill",
        DAG,
    ]
    assert store.count("pipeline_runs") == 4
    props = dict(
        store.con.execute(
            "SELECT p.name, p.string_value FROM execution_properties p JOIN executions x "
            "USING (source_id, execution_id) WHERE x.name = ?",
            [events.runs["x3"]],
        ).fetchall()
    )
    assert props == {
        "task": "train",
        "nominal_start_time": T0.isoformat(),
        "error_message": "CUDA out of memory",
        "processing_engine": "Airflow",
        "processing_engine_version": "2.10.5",
        "processing_type": "BATCH",
        "integration": "AIRFLOW",
        "job_type": "TASK",
    }
    assert graphlets(store, events) == {
        "x3": (["x1", "x2", "x3"], False, False, None),
        "x4": (["x1", "x2", "x4", "x5", "x6"], True, False, at(27)),
        "x9": (["x10", "x7", "x8", "x9"], False, False, None),
        "x12": (["x11", "x12"], False, True, None),
    }


def test_incremental_ingest_reads_the_appended_events(
    events: Emitter, store: ProvenanceStore
) -> None:
    ingest(store, str(events.path))
    size = events.path.stat().st_size
    second_part(events)
    report = ingest(store, str(events.path))
    assert report.incremental and report.rows_read == {"OpenLineage event": 6}
    assert events.path.stat().st_size > size
    assert executions(store, events) == EXPECTED_SECOND
    assert lineage(store, events) == LINEAGE_SECOND
    assert graphlets(store, events)["x12"] == (["x11", "x12", "x13", "x14"], True, False, at(2895))
    waste = waste_summary(store)
    assert (waste.executions, waste.total_cost, waste.wasted_cost) == (15, 3180.0, 1500.0)
    assert (waste.deployed_cost, waste.orphan_executions, waste.orphan_cost) == (1680.0, 1, 300.0)
    assert (waste.graphlets, waste.pushed_graphlets, waste.unpushed_graphlets) == (4, 2, 2)
    # once more: nothing new
    again = ingest(store, str(events.path))
    assert again.rows_read == {"OpenLineage event": 0}
    assert sum(again.rows_written.values()) == 0


def test_the_same_events_again_change_nothing(events: Emitter, store: ProvenanceStore) -> None:
    second_part(events)
    ingest(store, str(events.path))
    before = canonical_rows(store)
    stat = events.path.stat()
    os.utime(events.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # rewritten?
    report = ingest(store, str(events.path))
    assert report.rows_read == {"OpenLineage event": 38}  # read again, from the start
    assert canonical_rows(store) == before
    # all the events a second time, in another file of a directory source
    folder = events.path.parent / "dir"
    folder.mkdir()
    shutil.copy(events.path, folder / "a.ndjson")
    shutil.copy(events.path, folder / "b.json")
    with ProvenanceStore.open(":memory:") as other:
        ingest(other, str(folder))
        assert {k: v for k, v in canonical_rows(other).items() if k != "sources"} == {
            k: v for k, v in before.items() if k != "sources"
        }


def test_a_directory_of_one_event_per_file(tmp_path: Path, store: ProvenanceStore) -> None:
    emitter = Emitter(tmp_path / "ol" / "events", append=False)  # the transport's default
    emitter.path.parent.mkdir()
    first_part(emitter)
    files = list(emitter.path.parent.iterdir())
    assert len(files) == 32 and all(f.suffix == ".json" for f in files)
    assert parse_source(str(emitter.path.parent)).kind == "openlineage"
    report = ingest(store, str(emitter.path.parent))
    assert report.rows_read == {"OpenLineage event": 32}
    assert executions(store, emitter) == EXPECTED_FIRST
    assert ingest(store, str(emitter.path.parent)).rows_read == {"OpenLineage event": 0}


def test_a_facet_of_another_shape_is_read_line_by_line(
    events: Emitter, store: ProvenanceStore
) -> None:
    """DuckDB's JSON reader refuses a file whose facet has another shape than the fields read
    (a string errorMessage): the file is read line by line, and that facet left out."""
    lines = events.path.read_text().splitlines()
    event = json.loads(lines[0])
    event["run"].setdefault("facets", {})["errorMessage"] = "boom"
    events.path.write_text("\n".join([json.dumps(event), *lines[1:]]) + "\n")
    report = ingest(store, str(events.path))
    assert report.rows_read == {"OpenLineage event": 32} and not report.skipped
    assert executions(store, events) == EXPECTED_FIRST


def test_json_array_and_pretty_printed_files(events: Emitter, tmp_path: Path) -> None:
    lines = events.path.read_text().splitlines()
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "array.json").write_text(json.dumps([json.loads(x) for x in lines[:20]]))
    for i, line in enumerate(lines[20:]):
        (folder / f"pretty-{i:02}.json").write_text(json.dumps(json.loads(line), indent=2))
    with ProvenanceStore.open(":memory:") as a, ProvenanceStore.open(":memory:") as b:
        ingest(a, str(folder))
        ingest(b, str(events.path))
        assert executions(a, events) == executions(b, events) == EXPECTED_FIRST


def test_deploy_rule_from_the_mapping(events: Emitter, tmp_path: Path) -> None:
    """[deploy] tasks replace the convention's globs: evaluate now deploys, deploy does not."""
    mapping = tmp_path / "m.toml"
    mapping.write_text('[deploy]\ntasks = ["evaluate"]\n')
    db = tmp_path / "p.duckdb"
    code, _, err = _cli("ingest", str(events.path), "--db", str(db), "--mapping", str(mapping))
    assert code == 0, err
    with ProvenanceStore.open(db) as store:
        cats = dict(store.con.execute("SELECT component, category FROM executions").fetchall())
        assert (cats["evaluate"], cats["deploy"]) == ("deploy", "other")
        assert {k: v[1:3] for k, v in graphlets(store, events).items()} == {
            "x3": (False, False),
            "x4": (True, False),  # x5 evaluate COMPLETE
            "x9": (False, False),  # x10 evaluate FAILED
            "x12": (False, True),
        }


def test_no_deploy_signal_is_reported(tmp_path: Path) -> None:
    emitter = Emitter(tmp_path / "events.ndjson")
    emitter.step("prepare", "p", "D", 1, 2, outputs=RAW)
    emitter.step("train_model", "f", "D", 3, 5, inputs=RAW, outputs=model("1"))
    db = tmp_path / "p.duckdb"
    assert _cli("ingest", str(emitter.path), "--db", str(db))[0] == 0
    assert _cli("graphlets", "--db", str(db))[0] == 0
    code, _, err = _cli("report", "--db", str(db), "--out", str(tmp_path / "r"))
    assert code == 0, err
    text = (tmp_path / "r" / "report.md").read_text()
    assert f"No deploy signal found for source {emitter.path}" in text
    assert "of compute was wasted" not in text
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["no_deploy_signal"] == [str(emitter.path)]


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# ---- bad input ---------------------------------------------------------------------------


def _good_line(events: Emitter) -> str:
    return events.path.read_text().splitlines()[1]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            lambda good: good[:-40],
            "1 OpenLineage event record(s) are not valid JSON (one event per line, or one JSON "
            "document per file) (first: events.ndjson:33); rerun with --strict warn or --strict "
            "skip to load the rest and report them",
        ),
        (
            lambda good: good.replace("spec/2-0-2/", "spec/9-0-0/"),
            "1 OpenLineage event record(s) declare a schemaURL of no OpenLineage spec mlprov knows "
            "(known: https://openlineage.io/spec/{1-x-x, 2-x-x}/OpenLineage.json); check the "
            "producer (first: events.ndjson:33)",
        ),
        (
            lambda good: json.dumps(
                {**json.loads(good), "run": {"facets": json.loads(good)["run"]["facets"]}}
            ),
            "1 OpenLineage event record(s) lack run.runId, which OpenLineage spec 2 requires of "
            "a RunEvent (first: events.ndjson:33)",
        ),
    ],
    ids=["malformed-json", "unknown-schema-url", "no-run-id"],
)
def test_bad_events_are_one_line_exit_2_and_leave_db_unchanged(
    events: Emitter, tmp_path: Path, bad, message: str
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "prov.duckdb"
    first = tmp_path / "first.ndjson"
    shutil.copy(events.path, first)
    assert _cli("ingest", str(first), "--db", str(db))[0] == 0
    with ProvenanceStore.open(db) as store:
        before = canonical_rows(store)
    with events.path.open("a") as f:
        f.write(bad(_good_line(events)) + "\n")
    code, out, err = _cli("ingest", str(events.path), "--db", str(db))
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    with ProvenanceStore.open(db) as store:
        assert canonical_rows(store) == before
    code, out, err = _cli("ingest", str(events.path), "--db", str(db), "--strict", "skip")
    assert code == 0 and "skipped 1 OpenLineage event rows" in out and "events.ndjson:33" in out
    with ProvenanceStore.open(db) as store:
        assert executions(store, events) == EXPECTED_FIRST


def test_bad_line_numbers_count_from_the_start_of_an_appended_file(
    events: Emitter, store: ProvenanceStore
) -> None:
    ingest(store, str(events.path))
    with events.path.open("a") as f:
        f.write("\n{not json\n")
    report = ingest(store, str(events.path), strict="skip")
    assert [(s.table, s.count, s.examples) for s in report.skipped] == [
        ("OpenLineage event", 1, ("events.ndjson:34",))
    ]


def test_unfinished_last_line_waits_for_the_next_ingest(
    events: Emitter, store: ProvenanceStore
) -> None:
    line = _good_line(events)
    with events.path.open("a") as f:
        f.write(line[:100])  # a writer in the middle of an event
    report = ingest(store, str(events.path))
    assert report.rows_read == {"OpenLineage event": 32}
    assert [s.examples for s in report.skipped] == [("events.ndjson:33",)]
    with events.path.open("a") as f:
        f.write(line[100:] + "\n")
    assert ingest(store, str(events.path)).rows_read == {"OpenLineage event": 1}


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    db = str(tmp_path / "p.duckdb")
    (tmp_path / "empty").mkdir()
    code, _, err = _cli("ingest", str(tmp_path / "empty"), "--db", db, "--kind", "openlineage")
    assert code == 2 and "holds no *.json, *.ndjson, *.jsonl files" in err, err
    code, _, err = _cli(
        "ingest", str(tmp_path / "nope.ndjson"), "--db", db, "--kind", "openlineage"
    )
    assert code == 2 and "does not exist; pass a file of OpenLineage events" in err, err


# ---- Marquez -------------------------------------------------------------------------------

# Marquez's migrations that shape lineage_events (api/src/main/resources/marquez/db/migration):
# V17.2 creates it, V20 drops its key, V33 adds run_uuid, V36 drops run_id, V47 and V54 index
# event_time and add created_at, V66.2 adds _event_type.
MARQUEZ_MIGRATIONS = """
CREATE TABLE lineage_events (
  event_time timestamp with time zone, event jsonb, event_type text, run_id text,
  job_name text, job_namespace text, producer text,
  CONSTRAINT lineage_event_pk PRIMARY KEY(event_time, event));
ALTER TABLE lineage_events DROP CONSTRAINT lineage_event_pk;
ALTER TABLE lineage_events ADD run_uuid uuid;
CREATE INDEX lineage_events_run_id_index on lineage_events(run_uuid);
CREATE INDEX lineage_events_job_name_index on lineage_events(job_name, job_namespace);
ALTER TABLE lineage_events DROP COLUMN run_id;
CREATE INDEX lineage_events_event_time on lineage_events(event_time DESC);
ALTER TABLE lineage_events ADD created_at TIMESTAMP WITH TIME ZONE;
CREATE INDEX lineage_events_created_at_index on lineage_events (created_at desc NULLS LAST);
ALTER TABLE lineage_events ALTER COLUMN created_at
  SET DEFAULT (now() AT TIME ZONE 'UTC')::timestamptz;
ALTER TABLE lineage_events ADD COLUMN _event_type VARCHAR(64);
ALTER TABLE lineage_events ALTER COLUMN _event_type SET DEFAULT 'RUN_EVENT';
"""


def marquez_insert(server: Server, database: str, lines: list[str]) -> None:
    """Insert events as Marquez's OpenLineageDao.createLineageEvent does."""
    values = ",\n".join(f"($ol${line}$ol$::jsonb)" for line in lines)
    run_sql(
        server,
        database,
        "INSERT INTO lineage_events (event_type, event_time, run_uuid, job_name, "
        "job_namespace, event, producer, _event_type) "
        "SELECT e->>'eventType', (e->>'eventTime')::timestamptz, (e->'run'->>'runId')::uuid, "
        "e->'job'->>'name', e->'job'->>'namespace', e, e->>'producer', 'RUN_EVENT' "
        f"FROM (VALUES {values}) t(e);",
    )


@pytest.mark.parametrize("server", ["postgresql"], indirect=True)
def test_marquez_lineage_events(server: Server, tmp_path: Path) -> None:
    database = f"marquez_{uuid.uuid4().hex[:8]}"
    run_sql(server, "postgres", f"CREATE DATABASE {database}")
    run_sql(server, database, MARQUEZ_MIGRATIONS)
    create_reader(server, database, "ol_reader", "ol-pw")
    emitter = Emitter(tmp_path / "events.ndjson")
    first_part(emitter)
    marquez_insert(server, database, emitter.path.read_text().splitlines())
    url = f"marquez://ol_reader:ol-pw@127.0.0.1:{server.port}/{database}"
    with ProvenanceStore.open(":memory:") as store:
        report = ingest(store, url)
        assert report.kind == "openlineage" and report.source.startswith("postgresql://ol_reader@")
        assert report.rows_read == {"OpenLineage event": 32}
        assert executions(store, emitter) == EXPECTED_FIRST
        size = emitter.path.stat().st_size
        second_part(emitter)
        new = emitter.path.read_bytes()[size:].decode().splitlines()
        marquez_insert(server, database, new)
        again = ingest(store, url)
        assert again.incremental
        assert executions(store, emitter) == EXPECTED_SECOND
        assert lineage(store, emitter) == LINEAGE_SECOND
    # a database that is not Marquez's
    code, _, err = _cli(
        "ingest", server.admin_url("postgres"), "--kind", "openlineage", "--db", str(tmp_path / "x")
    )
    assert code == 2 and "has no lineage_events table: it is not Marquez's database" in err, err


def test_sample_events(store: ProvenanceStore) -> None:
    """The bundled sample (sample_data/README.md) loads cleanly and reads as documented."""
    report = ingest(store, str(Path(__file__).parents[2] / "sample_data/openlineage/events.ndjson"))
    assert report.rows_read == {"OpenLineage event": 284} and not report.skipped
    assert (store.count("executions"), store.count("pipeline_runs")) == (122, 20)
    build_graphlets(store)
    waste = waste_summary(store)
    assert (waste.graphlets, waste.pushed_graphlets) == (21, 16)
    assert (waste.total_cost, round(waste.wasted_share, 3)) == (236279.0, 0.177)


def _edit(event: dict, path: str, value: object) -> dict:
    """``event`` with the field at ``path`` (dots) set to ``value``, or removed for None."""
    *parents, leaf = path.split(".")
    node = event
    for key in parents:
        node = node[key]
    if value is None:
        del node[leaf]
    else:
        node[leaf] = value
    return event


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("schemaURL", None, "lack schemaURL, so their OpenLineage spec version is unknown"),
        ("schemaURL", "https://example.com/OpenLineage.json", "declare a schemaURL of no Open"),
        ("eventTime", None, "lack eventTime, which OpenLineage spec 2 requires of a RunEvent"),
        ("producer", None, "lack producer, which OpenLineage spec 2 requires of a RunEvent"),
        ("job.name", None, "lack job.name, which OpenLineage spec 2 requires of a RunEvent"),
        ("job.namespace", None, "lack job.namespace, which OpenLineage spec 2 requires"),
        ("run.runId", "run-1", "have a run.runId that is not a UUID"),
        ("eventTime", "yesterday", "have an eventTime that is not an ISO 8601 date-time"),
        ("eventType", "DONE", "have an eventType other than START, RUNNING, COMPLETE, ABORT"),
        ("outputs", [{"namespace": "s3://lake"}], "have an input or output dataset without"),
    ],
)
def test_every_rule_of_the_spec_names_its_records(
    events: Emitter, store: ProvenanceStore, path: str, value: object, reason: str
) -> None:
    event = _edit(json.loads(_good_line(events)), path, value)
    with events.path.open("a") as f:
        f.write(json.dumps(event) + "\n")
    report = ingest(store, str(events.path), strict="skip")
    assert [(s.count, s.examples) for s in report.skipped] == [(1, ("events.ndjson:33",))]
    assert report.skipped[0].reason.startswith(reason)
    assert executions(store, events) == EXPECTED_FIRST


def test_spec_1_events_and_events_without_a_run(events: Emitter, store: ProvenanceStore) -> None:
    """A spec 1 RunEvent (``#/definitions/``) is read; DatasetEvents and JobEvents are left out
    and counted."""
    old = _edit(json.loads(_good_line(events)), "schemaURL", None)
    old["schemaURL"] = "https://openlineage.io/spec/1-0-0/OpenLineage.json#/definitions/RunEvent"
    old["eventTime"] = (T0 + timedelta(minutes=2)).isoformat()
    with events.path.open("a") as f:
        f.write(json.dumps(old) + "\n")
    client = events.client()
    when = (T0 + timedelta(minutes=5)).isoformat()
    client.emit(DatasetEvent(eventTime=when, producer="p", dataset=StaticDataset(LAKE, "raw")))
    client.emit(JobEvent(eventTime=when, producer="p", job=Job(namespace=NS, name="ml.extract")))
    report = ingest(store, str(events.path))
    assert [(s.reason, s.count) for s in report.skipped] == [
        ("are DatasetEvents or JobEvents, which record no run", 2)
    ]
    assert executions(store, events) == EXPECTED_FIRST  # x1 START again, at minute 2
    with pytest.raises(UnknownSourceError, match="marquez:// or postgresql:// URLs of Marquez"):
        parse_source("mysql://me@db/marquez", "openlineage")


def test_a_later_event_without_job_type_keeps_the_type_and_facets(
    events: Emitter, store: ProvenanceStore
) -> None:
    """An event of a run read before, appended without the jobType facet: the execution keeps
    the type and the properties its earlier events gave it."""
    ingest(store, str(events.path))
    event = json.loads(_good_line(events))
    query = (
        "SELECT type_name, (SELECT list(name || '=' || string_value ORDER BY name) FROM "
        "execution_properties p WHERE p.execution_id = x.execution_id) FROM executions x "
        "WHERE name = ?"
    )
    before = store.con.execute(query, [event["run"]["runId"]]).fetchall()
    assert before[0][0].startswith("openlineage.airflow.") and "integration=AIRFLOW" in before[0][1]
    event = _edit(event, "job.facets", None)
    event["eventType"] = "OTHER"
    with events.path.open("a") as f:
        f.write(json.dumps(event) + "\n")
    assert ingest(store, str(events.path)).rows_read == {"OpenLineage event": 1}
    assert store.con.execute(query, [event["run"]["runId"]]).fetchall() == before

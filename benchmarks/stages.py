"""One benchmark stage per process: ``python -m benchmarks.stages STAGE '<json args>'``.

:mod:`benchmarks.run` starts each stage in a fresh interpreter so that its peak RSS is its own
(read with ``os.wait4``). A stage prints one JSON line: ``seconds`` spent in the stage itself
(after imports and opening the store), its peak RSS (``VmHWM``) and what it produced.

Stages: ``floor`` (the source read alone, see :func:`floor_stage`); ``ingest``, ``graphlets``,
``waste``, ``pruning``, ``report`` (the mlprov pipeline); ``client`` and ``networkx`` (the
per-model lineage baselines); ``split`` and ``append`` (the incremental-ingest setup, see
:mod:`benchmarks.corpus`).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlprov.provenance.store import ProvenanceStore

Result = dict[str, Any]


def open_store(
    db: str, *, read_only: bool = False, memory_limit: str | None = None
) -> ProvenanceStore:
    """Open ``db``; ``memory_limit`` (e.g. ``"3GB"``) caps DuckDB's buffer manager for the run.

    DuckDB's default limit is 80% of the machine's RAM, whoever else is using it.
    """
    store = ProvenanceStore.open(db, read_only=read_only)
    if memory_limit:
        store.con.execute(f"SET memory_limit = '{memory_limit}'")
    return store


def floor_stage(source: str) -> Result:
    """The reading floor: every source row a first ingest reads, streamed once through the
    SQLite reader's own queries, driver and threads into Arrow batches, and discarded.

    No DuckDB, no staging, no canonical rows: what ingest, graphlets and report cost beyond it
    is mlprov's own work (``end_to_end_s / floor_s`` in :mod:`benchmarks.run`).
    """
    from concurrent.futures import ThreadPoolExecutor

    from mlprov.provenance import mlmd_queries as q
    from mlprov.provenance.mlmd_sql import READ_THREADS, source_batches

    path = Path(source)

    def drain(sql: str) -> int:
        with source_batches(path, sql) as batches:
            return sum(batch.num_rows for batch in batches)

    started = time.perf_counter()
    with source_batches(path, q.BOUNDS_SQL) as batches:
        new = q.marks_from_bounds(list(batches.read_all().to_pylist()[0].values()))
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        rows = sum(pool.map(drain, [r.query(q.SQLITE, {}, new) for r in q.READS]))
    return {"seconds": time.perf_counter() - started, "rows_read": rows}


def ingest_stage(db: str, source: str, memory_limit: str | None = None) -> Result:
    """Ingest ``source`` into ``db`` (incremental when ``db`` already holds it)."""
    from mlprov.provenance.ingest import ingest

    with open_store(db, memory_limit=memory_limit) as store:
        started = time.perf_counter()
        report = ingest(store, source)
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "rows_read": report.total_read,
            "incremental": report.incremental,
            "executions": store.count("executions"),
            "events": store.count("events"),
        }


def graphlets_stage(db: str, memory_limit: str | None = None) -> Result:
    """Build the model graphlets of ``db``, or refresh them: after an ingest, only the
    graphlets its new provenance can change are redone (``graphlets`` written of
    ``total_graphlets``)."""
    from mlprov.graphlets import build_graphlets

    with open_store(db, memory_limit=memory_limit) as store:
        started = time.perf_counter()
        report = build_graphlets(store)
        return {
            "seconds": time.perf_counter() - started,
            "graphlets": report.graphlets,
            "pipelines_built": report.pipelines_built,
            "pipelines_whole": report.pipelines_whole,
            "changed_executions": report.changed_executions,
            "members": report.members,
            "total_graphlets": store.count("graphlets"),
        }


def waste_stage(db: str, memory_limit: str | None = None) -> Result:
    """The waste analyses: headline, by pipeline, by category, by week."""
    from mlprov.analysis.waste import (
        waste_by_category,
        waste_by_pipeline,
        waste_by_week,
        waste_summary,
    )

    with open_store(db, read_only=True, memory_limit=memory_limit) as store:
        started = time.perf_counter()
        summary = waste_summary(store)
        waste_by_pipeline(store, unit=summary.cost_unit)
        waste_by_category(store, unit=summary.cost_unit)
        waste_by_week(store, unit=summary.cost_unit)
        return {
            "seconds": time.perf_counter() - started,
            "wasted_share": summary.wasted_share,
            "unpushed_share": summary.unpushed_share,
            "graphlets": summary.graphlets,
        }


def pruning_stage(db: str, memory_limit: str | None = None) -> Result:
    """The pruning simulation with every policy, seed 0."""
    from mlprov.analysis.pruning import simulate_pruning

    with open_store(db, read_only=True, memory_limit=memory_limit) as store:
        started = time.perf_counter()
        result = simulate_pruning(store, seed=0)
        headline = result.headline
        return {
            "seconds": time.perf_counter() - started,
            "n_train": result.n_train,
            "n_test": result.n_test,
            "wasted_saved": None if headline is None else headline.wasted_saved,
        }


def report_stage(db: str, memory_limit: str | None = None) -> Result:
    """Build the report and write its files into a temporary directory."""
    from mlprov.analysis.report import build_report, write_report

    with (
        open_store(db, read_only=True, memory_limit=memory_limit) as store,
        tempfile.TemporaryDirectory() as tmp,
    ):
        started = time.perf_counter()
        out = write_report(build_report(store), Path(tmp) / "report")
        size = sum(f.stat().st_size for f in out.iterdir())
        return {"seconds": time.perf_counter() - started, "bytes": size}


def sample_trainers(db: str, n: int, seed: int) -> tuple[np.ndarray, int]:
    """A seeded sample of ``n`` graphlet trainers (MLMD execution ids) and the graphlet count."""
    with ProvenanceStore.open(db, read_only=True) as store:
        ids = store.con.execute(
            "SELECT trainer_execution_id FROM graphlets ORDER BY trainer_execution_id"
        ).fetchnumpy()["trainer_execution_id"]
    ids = np.asarray(ids, dtype=np.int64)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ids), size=min(n, len(ids)), replace=False)
    return np.sort(ids[pick]), len(ids)


def client_stage(db: str, source: str, sample: int, seed: int, hops: int) -> Result:
    """Baseline (a): per-trainer lineage through the ml-metadata client.

    For each sampled trainer, two ``get_lineage_subgraph`` calls as the client's documentation
    shows them: starting from the trainer (``filter_query: "id = <id>"``), ``max_num_hops``
    hops, UPSTREAM then DOWNSTREAM, every field of the lineage graph returned. The store is
    opened read-only.
    """
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    trainers, total = sample_trainers(db, sample, seed)
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = source
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    started = time.perf_counter()
    client = metadata_store.MetadataStore(config)
    open_s = time.perf_counter() - started
    directions = {
        "up": pb.LineageSubgraphQueryOptions.UPSTREAM,
        "down": pb.LineageSubgraphQueryOptions.DOWNSTREAM,
    }
    per_trainer = []
    nodes = 0
    started = time.perf_counter()
    for trainer in trainers:
        one = time.perf_counter()
        for direction in directions.values():
            options = pb.LineageSubgraphQueryOptions(
                starting_executions=pb.LineageSubgraphQueryOptions.StartingNodes(
                    filter_query=f"id = {int(trainer)}"
                ),
                max_num_hops=hops,
                direction=direction,
            )
            graph = client.get_lineage_subgraph(options)
            nodes += len(graph.executions) + len(graph.artifacts)
        per_trainer.append(time.perf_counter() - one)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "open_s": open_s,
        "sampled": len(trainers),
        "graphlets": total,
        "hops": hops,
        "per_graphlet_s": float(np.mean(per_trainer)) if per_trainer else float("nan"),
        "p95_graphlet_s": float(np.percentile(per_trainer, 95)) if per_trainer else float("nan"),
        "mean_nodes": nodes / max(len(trainers), 1),
        "extrapolated_all_s": float(np.mean(per_trainer)) * total if per_trainer else None,
    }


def networkx_stage(db: str, sample: int, seed: int) -> Result:
    """Baseline (b): per-trainer ancestors and descendants in a networkx DiGraph.

    The events of the sampled trainers' pipelines are loaded into one DiGraph (artifact ids
    negated so they do not collide with execution ids); then, per trainer, ``nx.ancestors`` and
    ``nx.descendants``. Loading the whole store at once would not fit in memory at scale 1.0, so
    the load is timed on the pipelines loaded and extrapolated to all events by event count.
    """
    import networkx as nx

    trainers, total = sample_trainers(db, sample, seed)
    with ProvenanceStore.open(db, read_only=True) as store:
        con = store.con
        all_events = store.count("events")
        con.execute(
            "CREATE TEMP TABLE picked AS SELECT DISTINCT pipeline_id FROM executions "
            "WHERE execution_id IN (SELECT unnest(?::BIGINT[]))",
            [trainers.tolist()],
        )
        started = time.perf_counter()
        edges = con.execute(
            "SELECT e.execution_id, e.artifact_id, e.direction = 'output' AS out "
            "FROM events e JOIN executions x USING (source_id, execution_id) "
            "WHERE x.pipeline_id IN (SELECT pipeline_id FROM picked)"
        ).fetchnumpy()
        ex = np.asarray(edges["execution_id"], dtype=np.int64)
        art = -np.asarray(edges["artifact_id"], dtype=np.int64)
        out = np.asarray(edges["out"], dtype=bool)
        graph: nx.DiGraph = nx.DiGraph()
        graph.add_edges_from(
            zip(np.where(out, ex, art).tolist(), np.where(out, art, ex).tolist(), strict=True)
        )
        load_s = time.perf_counter() - started
    per_trainer = []
    nodes = 0
    started = time.perf_counter()
    for trainer in trainers.tolist():
        one = time.perf_counter()
        nodes += len(nx.ancestors(graph, trainer)) + len(nx.descendants(graph, trainer))
        per_trainer.append(time.perf_counter() - one)
    loaded = len(ex)
    load_all_s = load_s * all_events / max(loaded, 1)
    mean = float(np.mean(per_trainer)) if per_trainer else float("nan")
    return {
        "seconds": time.perf_counter() - started + load_s,
        "load_s": load_s,
        "loaded_events": loaded,
        "all_events": all_events,
        "load_all_s": load_all_s,
        "sampled": len(trainers),
        "graphlets": total,
        "traverse_per_graphlet_s": mean,
        "per_graphlet_s": mean + load_all_s / max(total, 1),
        "mean_nodes": nodes / max(len(trainers), 1),
        "extrapolated_all_s": mean * total + load_all_s,
    }


def split_stage(source: str, pipelines: int, days: int, seed: int, work: str) -> Result:
    """Cut the last day off a copy of ``source`` (see :func:`benchmarks.corpus.split_last_day`)."""
    from benchmarks.corpus import split_last_day
    from mlprov.sample.synth.generator import SynthConfig

    started = time.perf_counter()
    split = split_last_day(
        Path(source), SynthConfig(pipelines=pipelines, days=days, seed=seed), Path(work)
    )
    return {
        "seconds": time.perf_counter() - started,
        "prefix": str(split.prefix),
        "day": str(split.day),
        "cuts": split.cuts,
        "day_rows": split.day_rows,
    }


def append_stage(prefix: str, day: str) -> Result:
    """Append the cut day back to the prefix store (what MLMD writes during that day)."""
    from benchmarks.corpus import Split, append_last_day

    started = time.perf_counter()
    rows = append_last_day(Split(Path(prefix), Path(day), 0, {}, {}))
    return {"seconds": time.perf_counter() - started, "rows": rows}


STAGES: dict[str, Callable[..., Result]] = {
    "floor": floor_stage,
    "ingest": ingest_stage,
    "graphlets": graphlets_stage,
    "waste": waste_stage,
    "pruning": pruning_stage,
    "report": report_stage,
    "client": client_stage,
    "networkx": networkx_stage,
    "split": split_stage,
    "append": append_stage,
}


def peak_rss_mb() -> float:
    """This process's peak resident set size since exec (``VmHWM``), in MiB.

    Not ``ru_maxrss``: Linux carries the parent's high-water mark over fork and exec into the
    child's, so every stage would report at least the driver's own size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    """Run ``argv[0]`` with the keyword arguments in the JSON object ``argv[1]``."""
    from mlprov.provenance.resources import limit_threads

    limit_threads()  # as the command line does, before any thread pool loads
    stage, kwargs = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = STAGES[stage](**kwargs)
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

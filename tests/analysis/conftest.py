"""Stores for the analysis tests: genuine MLMD stores, ingested, with graphlets built."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlprov.graphlets import build_graphlets
from mlprov.provenance.conventions import Mapping
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from tests.conftest import FIXTURES, needs_client

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "tfx_sample.sqlite"
CPU = Mapping(cost_property="cpu_hours")


def built(
    path: Path | str, mapping: Mapping | None = None, db: str = ":memory:"
) -> ProvenanceStore:
    """A store with ``path`` ingested and its graphlets built (the caller closes it)."""
    store = ProvenanceStore.open(db)
    ingest(store, str(path), mapping=mapping)
    build_graphlets(store)
    return store


@pytest.fixture
def tfx() -> Iterator[ProvenanceStore]:
    """The committed TFX fixture (tests/fixtures/stores.py), cost in seconds."""
    with built(FIXTURES / "tfx_small.sqlite") as store:
        yield store


@pytest.fixture
def tfx_cpu() -> Iterator[ProvenanceStore]:
    """The committed TFX fixture with cost_property cpu_hours (three executions have it)."""
    with built(FIXTURES / "tfx_small.sqlite", CPU) as store:
        yield store


@pytest.fixture(scope="session")
def two_pipelines_mlmd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genuine MLMD store written with the client; every execution has cpu_hours.

    Pipeline ``a``, week of 2025-01-06: run 1 (day 0) ExampleGen 2 -> Trainer 10 -> Pusher 1,
    pushed; run 2 (day 1) ExampleGen 3, Trainer 12 over spans 1-2, Pusher 1, not pushed; run 3
    (day 2) ExampleGen 4 whose span no trainer reads (an orphan). Pipeline ``b``, day 8 (the
    next week): ExampleGen 5 -> Trainer 6, FAILED.
    """
    needs_client()
    from mlprov.sample.synth.writer import MlmdWriter
    from tests.fixtures.stores import EXAMPLE_GEN, PUSHER, TRAINER, TfxPipeline

    path = tmp_path_factory.mktemp("mlmd") / "two_pipelines.sqlite"
    with MlmdWriter(path) as w:
        a = TfxPipeline(w, "a")
        r = a.run("a-r1", 0)
        _, g1 = r.node(
            EXAMPLE_GEN,
            custom={"cpu_hours": 2.0},
            outputs={"examples": [w.new_artifact("Examples", "/a/ex/1", span=1, version=0)]},
        )
        _, t1 = r.node(
            TRAINER,
            custom={"cpu_hours": 10.0},
            inputs={"examples": g1["examples"]},
            outputs={"model": [w.new_artifact("Model", "/a/m/1")]},
        )
        r.node(
            PUSHER,
            custom={"cpu_hours": 1.0},
            inputs={"model": t1["model"]},
            outputs={
                "pushed_model": [w.new_artifact("PushedModel", "/a/p/1", custom={"pushed": 1})]
            },
        )
        r = a.run("a-r2", 1)
        _, g2 = r.node(
            EXAMPLE_GEN,
            custom={"cpu_hours": 3.0},
            outputs={"examples": [w.new_artifact("Examples", "/a/ex/2", span=2, version=0)]},
        )
        _, t2 = r.node(
            TRAINER,
            custom={"cpu_hours": 12.0},
            inputs={"examples": g1["examples"] + g2["examples"]},
            outputs={"model": [w.new_artifact("Model", "/a/m/2")]},
        )
        r.node(
            PUSHER,
            custom={"cpu_hours": 1.0},
            inputs={"model": t2["model"]},
            outputs={
                "pushed_model": [w.new_artifact("PushedModel", "/a/p/2", custom={"pushed": 0})]
            },
        )
        r = a.run("a-r3", 2)
        r.node(
            EXAMPLE_GEN,
            custom={"cpu_hours": 4.0},
            outputs={"examples": [w.new_artifact("Examples", "/a/ex/3", span=3, version=0)]},
        )
        b = TfxPipeline(w, "b")
        r = b.run("b-r1", 8)
        _, gb = r.node(
            EXAMPLE_GEN,
            custom={"cpu_hours": 5.0},
            outputs={"examples": [w.new_artifact("Examples", "/b/ex/1", span=1, version=0)]},
        )
        r.node(
            TRAINER, state="FAILED", custom={"cpu_hours": 6.0}, inputs={"examples": gb["examples"]}
        )
    return path


@pytest.fixture
def two_pipelines(two_pipelines_mlmd: Path) -> Iterator[ProvenanceStore]:
    with built(two_pipelines_mlmd, CPU) as store:
        yield store


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample store ingested (cpu_hours) into a DuckDB file, graphlets built."""
    if not SAMPLE.is_file():
        pytest.fail(f"the bundled sample store {SAMPLE} is missing")
    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    built(SAMPLE, CPU, db=str(db)).close()
    return db


@pytest.fixture
def sample(sample_db: Path) -> Iterator[ProvenanceStore]:
    with ProvenanceStore.open(sample_db, read_only=True) as store:
        yield store

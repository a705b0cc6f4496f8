"""Fixtures: scenario stores written once per session, opened as fresh canonical stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlprov.graphlets import GraphletRules, build_graphlets
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from tests.graphlets.scenarios import Ids

FIXTURES = Path(__file__).parent.parent / "fixtures"
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Scale tests here are opt-in: they run only when ``-m`` names ``slow``."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="scale test: run with -m slow")
    for item in items:
        if item.get_closest_marker("slow") and HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


class Built:
    """A canonical store holding one source, with helpers to read its graphlets."""

    def __init__(self, store: ProvenanceStore, ids: Ids | None = None) -> None:
        self.store = store
        self.ids = ids or Ids()

    def build(self, rules: GraphletRules | None = None) -> Built:
        build_graphlets(self.store, rules, incremental=False)
        return self

    def executions(self, graphlet: str | int) -> set[str]:
        """Names of a graphlet's member executions (graphlet named by its trainer)."""
        return self.ids.names(set(self.members(graphlet, "execution")))

    def members(self, graphlet: str | int, kind: str) -> dict[int, str]:
        """{node id: role} of one graphlet's members of a kind."""
        gid = self.ids.x[graphlet] if isinstance(graphlet, str) else graphlet
        rows = self.store.con.execute(
            "SELECT node_id, role FROM graphlet_members WHERE graphlet_id = ? AND node_kind = ?",
            [gid, kind],
        ).fetchall()
        return {int(i): r for i, r in rows}

    def row(self, graphlet: str | int) -> dict[str, object]:
        gid = self.ids.x[graphlet] if isinstance(graphlet, str) else graphlet
        df = self.store.df("SELECT * FROM graphlets WHERE graphlet_id = ?", [gid])
        assert len(df) == 1, f"graphlet {graphlet} has {len(df)} rows"
        return df.iloc[0].to_dict()

    def graphlet_names(self) -> set[str]:
        ids = {
            int(r[0])
            for r in self.store.con.execute("SELECT graphlet_id FROM graphlets").fetchall()
        }
        return self.ids.names(ids)


@pytest.fixture(scope="session")
def scenario_path(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, Ids]]:
    """Write a named scenario of tests/graphlets/scenarios.py once; return its path and ids."""
    pytest.importorskip("ml_metadata")
    from tests.graphlets import scenarios

    cache: dict[str, tuple[Path, Ids]] = {}

    def get(name: str) -> tuple[Path, Ids]:
        if name not in cache:
            path = tmp_path_factory.mktemp("scenarios") / f"{name}.sqlite"
            cache[name] = (path, scenarios.write(path, getattr(scenarios, name)))
        return cache[name]

    return get


@pytest.fixture
def open_built() -> Iterator[Callable[..., Built]]:
    """Ingest an MLMD store into a fresh in-memory canonical store."""
    stores: list[ProvenanceStore] = []

    def make(path: Path, ids: Ids | None = None) -> Built:
        store = ProvenanceStore.open(":memory:")
        stores.append(store)
        ingest(store, str(path))
        return Built(store, ids)

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def scenario(
    scenario_path: Callable[[str], tuple[Path, Ids]], open_built: Callable[..., Built]
) -> Callable[[str], Built]:
    """A scenario store, ingested and ready to build."""

    def make(name: str) -> Built:
        path, ids = scenario_path(name)
        return open_built(path, ids)

    return make

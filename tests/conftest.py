"""Fixtures shared by every test package: stores built from the committed MLMD fixtures."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlprov.provenance.ingest import SOURCE_TABLES, ingest
from mlprov.provenance.store import ProvenanceStore

FIXTURES = Path(__file__).parent / "fixtures"

# A pytest-xdist worker (the README's `-n auto`) ignores SIGINT, Ctrl-C being the controller's,
# and the scripts it starts would inherit that: the interrupt tests need Python's own handler.
signal.signal(signal.SIGINT, signal.default_int_handler)


def needs_client() -> None:
    """Skip the calling test where the ml-metadata client cannot be installed (Python >= 3.12)."""
    pytest.importorskip("ml_metadata", reason="ml-metadata has no wheels for this Python")


def canonical_rows(store: ProvenanceStore) -> dict[str, list[tuple]]:
    """Every canonical table's rows, sorted, for exact comparisons."""
    return {
        t: sorted(store.con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
        for t in SOURCE_TABLES
    }


@pytest.fixture
def tfx_copy(tmp_path: Path) -> Path:
    """A private copy of the committed TFX-shaped MLMD store."""
    target = tmp_path / "metadata.sqlite"
    shutil.copy(FIXTURES / "tfx_small.sqlite", target)
    return target


@pytest.fixture
def tfx_store() -> Iterator[ProvenanceStore]:
    """An in-memory canonical store holding the committed TFX fixture."""
    with ProvenanceStore.open(":memory:") as store:
        ingest(store, str(FIXTURES / "tfx_small.sqlite"))
        yield store


from tests.fixtures.servers import server  # noqa: E402, F401  (a fixture: live MLMD servers)

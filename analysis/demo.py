"""``mlprov demo``: the bundled sample store, from MLMD to a waste report in one call.

The sample store ships as the ``mlprov.sample`` package (``sample_data/`` of a source checkout),
so the demo runs from any directory whether mlprov was installed from a checkout or a wheel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprov.analysis.errors import SampleDataNotFoundError
from mlprov.analysis.report import build_report, write_report
from mlprov.graphlets import build_graphlets
from mlprov.provenance.conventions import load_mapping
from mlprov.provenance.ingest import ingest
from mlprov.provenance.payloads import read_payloads
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.payloads import extract_tree

SAMPLE_STORE = "tfx_sample.sqlite"
SAMPLE_MAPPING = "mapping.toml"
#: The sample store's payload tree (mlprov.sample.synth.payloads), and the URI prefix it stands for.
SAMPLE_PAYLOADS = ("payloads.tar.gz", "/pipelines")


@dataclass(frozen=True)
class DemoResult:
    """What the demo did.

    Attributes:
        source: the sample MLMD store ingested.
        db: the mlprov database written.
        graphlets: graphlets in the database.
        report_dir: the report directory.
        summary: the report's summary.json content.
    """

    source: Path
    db: Path
    graphlets: int
    report_dir: Path
    summary: dict[str, Any]


def find_sample_data(sample_dir: str | Path | None = None) -> Path:
    """The sample_data directory: ``sample_dir`` when given, else the installed package's.

    Raises:
        SampleDataNotFoundError: the directory has no sample store.
    """
    where = Path(sample_dir) if sample_dir is not None else _installed_sample()
    if not (where / SAMPLE_STORE).is_file():
        raise SampleDataNotFoundError(
            f"no sample store at {where / SAMPLE_STORE}; reinstall mlprov (its mlprov.sample "
            f"package holds it), or pass --sample DIR with the directory holding {SAMPLE_STORE}"
        )
    return where


def _installed_sample() -> Path:
    try:
        import mlprov.sample
    except ImportError:  # not installed: a bare source tree
        return Path(__file__).resolve().parent.parent / "sample_data"
    return Path(mlprov.sample.__file__).resolve().parent


def _read_sample_payloads(store: ProvenanceStore, sample: Path, db: Path) -> None:
    """Unpack the sample's payload tree beside ``db`` and read it (when it ships)."""
    archive, prefix = sample / SAMPLE_PAYLOADS[0], SAMPLE_PAYLOADS[1]
    if archive.is_file():
        tree = extract_tree(archive, db.with_name(db.name + ".payloads"))
        read_payloads(store, prefixes=[(prefix, str(tree))])


def run_demo(
    db: str | Path, out_dir: str | Path, sample_dir: str | Path | None = None
) -> DemoResult:
    """Ingest the sample store into ``db``, build its graphlets and write the report.

    Rerunning is cheap: ingest and the graphlet build are incremental.

    Args:
        db: the mlprov database to create or update.
        out_dir: the report directory (see :func:`mlprov.analysis.report.write_report`).
        sample_dir: the sample_data directory; default: :func:`find_sample_data`.

    Raises:
        SampleDataNotFoundError: no sample store.
        MlprovError subclasses from ingest, the graphlet build and the report.
    """
    sample = find_sample_data(sample_dir)
    mapping_file = sample / SAMPLE_MAPPING
    mapping = load_mapping(mapping_file if mapping_file.is_file() else None)
    source = sample / SAMPLE_STORE
    with ProvenanceStore.open(db) as store:
        ingest(store, str(source), mapping=mapping)
        _read_sample_payloads(store, sample, Path(db))
        build_graphlets(store)
        graphlets = store.count("graphlets")
        report = build_report(store)
    written = write_report(report, out_dir)
    return DemoResult(
        source=source, db=Path(db), graphlets=graphlets, report_dir=written, summary=report.summary
    )

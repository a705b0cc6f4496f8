"""Read-side helpers over the canonical store: a summary and a Parquet export."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from provenance.ingest import SOURCE_TABLES
from provenance.sql import first_row
from provenance.store import ProvenanceStore

# Every table an ingest maintains: the source bookkeeping, then the source's rows.
CANONICAL_TABLES = ("sources", "ingest_runs", *SOURCE_TABLES)


def store_info(store: ProvenanceStore) -> dict[str, Any]:
    """Counts, sources, time range, and executions and cost per category.

    Costs are those of the ``execution_costs`` view, in their unit (the mapping's cost
    property, else seconds of duration), as every analysis counts them: one row per category
    and unit.

    Example:
        >>> with ProvenanceStore.open(":memory:") as s:
        ...     store_info(s)["executions"]
        0
    """
    counts = {
        t: store.count(t)
        for t in ("pipelines", "pipeline_runs", "executions", "artifacts", "events", "contexts")
    }
    first, last = first_row(store.con, "SELECT min(start_time), max(end_time) FROM executions") or (
        None,
        None,
    )
    sources = store.df("SELECT source_id, kind, location, convention FROM sources")
    categories = store.df(
        "SELECT x.category, c.cost_unit, count(*) AS executions, sum(c.cost) AS cost "
        "FROM executions x JOIN execution_costs c USING (source_id, execution_id) "
        "GROUP BY ALL ORDER BY executions DESC, x.category, c.cost_unit"
    )
    return {
        "database": store.path,
        "sources": sources.to_dict("records"),
        **counts,
        "first_execution": str(first) if first else None,
        "last_execution": str(last) if last else None,
        "categories": categories.to_dict("records"),
    }


def export_parquet(store: ProvenanceStore, out_dir: str | Path) -> list[Path]:
    """Write each canonical table (and any derived table present) to ``out_dir/<table>.parquet``.

    Files are written into a temporary folder beside ``out_dir`` and moved in place, so a failed
    export never leaves a half-written file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = [t for t in (*CANONICAL_TABLES, "graphlets", "graphlet_members") if store.has_table(t)]
    tmp = Path(tempfile.mkdtemp(prefix=".mlprov-export-", dir=out))
    try:
        for table in tables:
            store.con.execute(f"COPY {table} TO '{tmp / table}.parquet' (FORMAT parquet)")
        written = []
        for table in tables:
            target = out / f"{table}.parquet"
            os.replace(tmp / f"{table}.parquet", target)
            written.append(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written

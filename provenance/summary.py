"""Read-side helpers over the canonical store: a summary and a Parquet export."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mlprov.provenance.ingest import SOURCE_TABLES
from mlprov.provenance.sql import first_row
from mlprov.provenance.store import ProvenanceStore

# Every table an ingest maintains: the source bookkeeping, then the source's rows.
CANONICAL_TABLES = ("sources", "ingest_runs", *SOURCE_TABLES)


def store_info(store: ProvenanceStore) -> dict[str, Any]:
    """Counts, sources (with their last ingest), the cost unit, time range, and executions
    and cost per category.

    Costs are those of the ``execution_costs`` view, in their unit (the mapping's cost
    property, else seconds of duration), as every analysis counts them: one row per category
    and unit. ``cost_unit`` is the one analyses report in by default (the cost property's when
    any execution has it, else seconds); ``cost_units`` counts the executions of each.

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
    sources = store.df(
        "SELECT s.source_id, s.kind, s.location, s.convention, s.cost_property, "
        "r.finished_at AS last_ingest, r.rows_read AS last_ingest_rows, "
        "count(r.ingest_id) OVER (PARTITION BY s.source_id) AS ingests "
        "FROM sources s LEFT JOIN ingest_runs r USING (source_id) "
        "QUALIFY row_number() OVER (PARTITION BY s.source_id ORDER BY r.ingest_id DESC) = 1 "
        "ORDER BY s.source_id"
    )
    sources["last_ingest"] = sources["last_ingest"].dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    units = store.df(
        "SELECT cost_unit, count(*) AS executions FROM execution_costs WHERE cost <> 0 "
        "GROUP BY cost_unit ORDER BY cost_unit = 'seconds', executions DESC, cost_unit"
    )
    categories = store.df(
        "SELECT x.category, c.cost_unit, count(*) AS executions, sum(c.cost) AS cost "
        "FROM executions x JOIN execution_costs c USING (source_id, execution_id) "
        "GROUP BY ALL ORDER BY executions DESC, x.category, c.cost_unit"
    )
    return {
        "database": store.path,
        "sources": sources.to_dict("records"),
        "cost_unit": units["cost_unit"].iloc[0] if len(units) else "seconds",
        "cost_units": units.to_dict("records"),
        **counts,
        "first_execution": str(first) if first else None,
        "last_execution": str(last) if last else None,
        "categories": categories.to_dict("records"),
    }


def no_deploy_signal(store: ProvenanceStore) -> list[str]:
    """Sources with executions of which none can count as a deploy: no execution of the
    ``deploy`` category, or only ones that neither a deploy rule's tasks name nor leave a push
    property on an artifact (OpenLineage and Kubeflow record no deploy of their own; MLflow
    sets ``pushed`` on every registered version, to 1 only where a deploy alias or stage
    holds it). Their waste would read 100%: a report says so instead.

    Example:
        >>> with ProvenanceStore.open(":memory:") as s:
        ...     no_deploy_signal(s)
        []
    """
    rows = store.con.execute(
        """SELECT s.location FROM sources s
        WHERE EXISTS (SELECT 1 FROM executions x WHERE x.source_id = s.source_id)
          AND NOT EXISTS (
              SELECT 1 FROM executions x WHERE x.source_id = s.source_id AND x.category = 'deploy'
              AND (json_array_length(json_extract(s.deploy_rule, '$.tasks')) > 0
                   OR EXISTS (SELECT 1 FROM artifact_properties p
                              WHERE p.source_id = s.source_id AND p.name = coalesce(
                                  json_extract_string(s.deploy_rule, '$.pushed_property'),
                                  'pushed') AND (s.kind <> 'mlflow' OR p.int_value = 1))))
        ORDER BY s.source_id"""
    ).fetchall()
    return [r[0] for r in rows]


def no_deploy_signal_note(location: str) -> str:
    """The report's sentence for a source :func:`no_deploy_signal` names."""
    return (
        f"No deploy signal found for source {location}: none of its executions deploys a model "
        "(no task matches a deploy rule, no artifact carries a push property), so all of its "
        "compute would count as wasted. Name the deploy task in a mapping file "
        '([deploy] tasks = ["deploy-model"]; for MLflow, the aliases that deploy: [deploy] '
        'aliases = ["live"]) and ingest again.'
    )


def export_parquet(
    store: ProvenanceStore,
    out_dir: str | Path,
    frames: Mapping[str, pd.DataFrame] | None = None,
    derived: Iterable[str] = (),
) -> list[Path]:
    """Write each canonical table, the ``execution_costs`` view and those of the ``derived``
    tables the store holds (the graphlets, say) to ``out_dir/<table>.parquet``, and each of
    ``frames`` (name -> frame, e.g. an analysis's per-execution outcome) to
    ``out_dir/<name>.parquet``.

    Files are written into a temporary folder beside ``out_dir`` and moved in place, so a failed
    export never leaves a half-written file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = [t for t in (*CANONICAL_TABLES, "execution_costs", *derived) if store.has_table(t)]
    tmp = Path(tempfile.mkdtemp(prefix=".mlprov-export-", dir=out))
    try:
        for table in tables:
            store.con.execute(f"COPY {table} TO '{tmp / table}.parquet' (FORMAT parquet)")
        for name, frame in (frames or {}).items():
            store.con.register("export_frame", frame)
            try:
                store.con.execute(f"COPY export_frame TO '{tmp / name}.parquet' (FORMAT parquet)")
            finally:
                store.con.unregister("export_frame")
            tables.append(name)
        written = []
        for table in tables:
            target = out / f"{table}.parquet"
            os.replace(tmp / f"{table}.parquet", target)
            written.append(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written

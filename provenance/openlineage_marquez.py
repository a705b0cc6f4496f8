"""OpenLineage events in Marquez's PostgreSQL database: its ``lineage_events`` table.

Read in bulk, read-only, in one ``REPEATABLE READ`` snapshot through ADBC (as
:mod:`mlprov.provenance.mlmd_server` reads MLMD), oldest first; incrementally from the last
``created_at`` read on (a little before it: events committed late, see
:data:`MARQUEZ_OVERLAP_MS`).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute

from mlprov.provenance import connect
from mlprov.provenance.errors import MlprovError, NotAnEventSourceError
from mlprov.provenance.openlineage_check import TABLE, check_batch
from mlprov.provenance.readers import Mark, ReadResult, Stage

#: Each incremental Marquez read starts this long before the last ``created_at`` read: a row's
#: ``created_at`` is its transaction's start, so a slow insert commits after later ones.
MARQUEZ_OVERLAP_MS = 5 * 60 * 1000

_MARQUEZ_COLUMNS = """SELECT column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'lineage_events'"""


def read_marquez(server: connect.Config, stage: Stage, result: ReadResult) -> None:
    """Check the run events of ``lineage_events`` new since the stage's watermark."""
    try:
        connect.check_reachable(server)
        conn = connect.pg_connect(server)
        try:
            cur = conn.cursor()
            cur.execute(connect.PG_BEGIN)
            table = _marquez_events(server, cur, stage.marks.get("lineage_events"))
            cur.execute("ROLLBACK")
        finally:
            conn.close()
    except MlprovError:
        raise
    except Exception as err:  # driver errors
        raise connect.failure(server, err) from err
    if table.num_rows:
        check_batch(stage, table.drop_columns(["created_ms"]))
        last = pa.compute.max(table["created_ms"]).as_py()
        previous = stage.marks.get("lineage_events", Mark()).max_update_ms
        marks = [m for m in (last, previous) if m is not None]
        result.marks["lineage_events"] = Mark(None, max(marks) if marks else None)
    result.rows_read[TABLE] = table.num_rows
    stage.progress(TABLE, table.num_rows)


def _marquez_events(server: connect.Config, cur: Any, mark: Mark | None) -> pa.Table:
    """The run events of ``lineage_events`` past ``mark``, oldest first, each with where it is
    (its run and time) and its ``created_at`` in ms (NULL before Marquez recorded it)."""
    cur.execute(_MARQUEZ_COLUMNS)
    columns = {r[0] for r in cur.fetchall()}
    if "event" not in columns:
        raise NotAnEventSourceError(
            f"{server.location} has no lineage_events table: it is not Marquez's database; "
            "name the database Marquez writes (by default: marquez)"
        )
    created = "created_at" in columns
    # _event_type came with migration V66.2: rows from before hold NULL, and are run events
    where = ["coalesce(_event_type, 'RUN_EVENT') = 'RUN_EVENT'"] if "_event_type" in columns else []
    if created and mark is not None and mark.max_update_ms is not None:
        since = int(mark.max_update_ms) - MARQUEZ_OVERLAP_MS
        where.append(f"created_at >= to_timestamp({since} / 1000.0)")
    cur.execute(
        "SELECT 'lineage_events run ' || coalesce(event->'run'->>'runId', '?') || ' at ' || "
        "coalesce(event->>'eventTime', '?') AS src, NULL::BIGINT AS pos, event::text AS doc, "
        + ("(extract(epoch FROM created_at) * 1000)::BIGINT" if created else "NULL::BIGINT")
        + " AS created_ms FROM lineage_events"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + (" ORDER BY created_at, event_time" if created else " ORDER BY event_time")
    )
    return cur.fetch_arrow_table()

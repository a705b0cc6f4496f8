"""Benchmark corpora: the cached MLMD store of a scale, and its "one day short" prefix.

The generator is not prefix-stable (a pipeline's start is drawn over the whole window, so more
days change every pipeline's history and all ids). But within one store ids are assigned in put
order (executions by start time, each execution's events, artifacts by first event, contexts
before first use), so the rows a store held when its last day began are an id prefix of every
table. :func:`split_last_day` cuts the store there, keeps the cut rows aside, and
:func:`append_last_day` appends them again: the store then grows by one day of runs exactly as
MLMD would have written them, and an incremental ingest sees only that day.

Approximation, stated in the report: executions that started before the cut but ended after it
are already in their final state in the prefix (MLMD would have held them RUNNING and updated
them later); and the few Attribution rows a post-cut execution adds to pre-cut artifacts and
contexts before it creates anything new stay in the prefix.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprov.sample.synth.generator import PRESETS, SynthConfig, generate

PAPER = PRESETS["paper"]
DAY_MS = 86_400_000


def config_for(scale: float) -> SynthConfig:
    """The corpus of a scale: ``round(3000 * scale)`` pipelines over the paper's days and seed."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return SynthConfig(
        pipelines=max(1, round(PAPER.pipelines * scale)), days=PAPER.days, seed=PAPER.seed
    )


def store_name(config: SynthConfig) -> str:
    """Cache file name of a corpus (the same naming as benchmarks/ingest_speed.py)."""
    return f"tfx_{config.pipelines}p_{config.days}d_s{config.seed}.sqlite"


def ensure_corpus(config: SynthConfig, cache: Path) -> tuple[Path, float | None]:
    """The cached store of ``config``, generated (bulk writer) when missing.

    Returns:
        The store path and the generation seconds (None when it was cached).
    """
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / store_name(config)
    if path.exists():
        return path, None
    return path, generate(config, path, writer="bulk").seconds


# (table, id column or owner column, which cut applies). Order matters for deletion: children
# first is not required (no foreign keys in MLMD's SQLite schema), but keeps the file tidy.
_CUTS = (
    ("EventPath", "event_id", "event"),
    ("Event", "id", "event"),
    ("ExecutionProperty", "execution_id", "execution"),
    ("Association", "execution_id", "execution"),
    ("Execution", "id", "execution"),
    ("ArtifactProperty", "artifact_id", "artifact"),
    ("Artifact", "id", "artifact"),
    ("Attribution", "id", "attribution"),
    ("ContextProperty", "context_id", "context"),
    ("ParentContext", "context_id", "context"),
    ("Context", "id", "context"),
)


@dataclass(frozen=True)
class Split:
    """Where :func:`split_last_day` cut a store.

    Attributes:
        prefix: the store holding every row written before the last day began.
        day: a side SQLite file holding the cut rows, table by table.
        cut_ms: the cut time (window end minus one day).
        cuts: the largest id kept per cut kind (execution, event, artifact, context,
            attribution).
        day_rows: rows cut per table.
    """

    prefix: Path
    day: Path
    cut_ms: int
    cuts: dict[str, int]
    day_rows: dict[str, int]


def split_last_day(source: Path, config: SynthConfig, work: Path) -> Split:
    """Copy ``source`` to ``work`` and move its last day's rows into a side file.

    Args:
        source: a store generated from ``config`` (ids in put order).
        config: its configuration (for the window end).
        work: a directory for the prefix store and the side file (replaced if present).

    Returns:
        The :class:`Split`.
    """
    cut_ms = config.end_ms - DAY_MS
    con = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        (ex,) = con.execute(
            "SELECT coalesce(max(id), 0) FROM Execution WHERE create_time_since_epoch < ?",
            (cut_ms,),
        ).fetchone()
    finally:
        con.close()
    return split_at(source, work, ex, cut_ms)


def split_at(source: Path, work: Path, last_execution: int, cut_ms: int = 0) -> Split:
    """Copy ``source`` to ``work`` keeping the rows written up to execution ``last_execution``
    (in put order), and move the rest into a side file for :func:`append_last_day`.

    Args:
        source: an MLMD SQLite store whose ids are in put order.
        work: a directory for the prefix store and the side file (replaced if present).
        last_execution: the last execution id kept.
        cut_ms: the cut time, recorded in the :class:`Split` only.

    Returns:
        The :class:`Split`.
    """
    work.mkdir(parents=True, exist_ok=True)
    prefix, day = work / "prefix.sqlite", work / "day.sqlite"
    for old in (prefix, day):
        old.unlink(missing_ok=True)
    shutil.copyfile(source, prefix)
    con = sqlite3.connect(prefix, isolation_level=None)
    try:

        def one(sql: str, *args: object) -> Any:
            return con.execute(sql, args).fetchone()[0]

        ex = last_execution
        ev = one("SELECT coalesce(max(id), 0) FROM Event WHERE execution_id <= ?", ex)
        art = one("SELECT coalesce(max(artifact_id), 0) FROM Event WHERE id <= ?", ev)
        ctx = one(
            "SELECT coalesce(max(context_id), 0) FROM Association WHERE execution_id <= ?", ex
        )
        # The first Attribution row naming a post-cut artifact or context was written by a
        # post-cut execution; everything before it is kept (see the module docstring).
        first_new = one(
            "SELECT min(id) FROM Attribution WHERE artifact_id > ? OR context_id > ?", art, ctx
        )
        attr = (
            (first_new - 1)
            if first_new is not None
            else one("SELECT coalesce(max(id), 0) FROM Attribution")
        )
        cuts = {"execution": ex, "event": ev, "artifact": art, "context": ctx, "attribution": attr}
        con.execute("ATTACH ? AS day", (str(day),))
        con.execute("BEGIN")
        day_rows = {}
        for table, column, kind in _CUTS:
            where = f"WHERE {column} > {cuts[kind]}"
            con.execute(f"CREATE TABLE day.{table} AS SELECT * FROM main.{table} {where}")
            day_rows[table] = one(f"SELECT count(*) FROM day.{table}")
            con.execute(f"DELETE FROM main.{table} {where}")
        con.execute("COMMIT")
    finally:
        con.close()
    return Split(prefix, day, cut_ms, cuts, day_rows)


def append_last_day(split: Split) -> int:
    """Append the cut rows back to the prefix store, in one transaction, as MLMD would.

    Returns:
        Rows appended.
    """
    con = sqlite3.connect(split.prefix, isolation_level=None)
    try:
        con.execute("ATTACH ? AS day", (str(split.day),))
        con.execute("BEGIN")
        before = con.total_changes
        for table, _, _ in reversed(_CUTS):
            con.execute(f"INSERT INTO main.{table} SELECT * FROM day.{table}")
        con.execute("COMMIT")
        return con.total_changes - before
    finally:
        con.close()

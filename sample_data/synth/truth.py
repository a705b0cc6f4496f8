"""The ground truth of a generated store: one row per training execution, as an Arrow table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from mlprov.sample.synth.log import PutLog


@dataclass
class TruthRow:
    """Ground truth for one training execution (see :mod:`mlprov.sample.synth.generator`)."""

    local_exec: int
    pipeline: str
    train_start_ms: int
    window_spans: list[int]
    model_type: str
    pushed: bool = False
    cause: str = "in_flight"
    blessed: bool | None = None


def truth_path(store: str | Path) -> Path:
    """Where the ground truth of ``store`` lives: ``<store>.truth.parquet``."""
    store = Path(store)
    return store.with_name(store.name + ".truth.parquet")


def truth_table(truth: list[list[TruthRow]], log: PutLog) -> pa.Table:
    """The truth rows of the pipelines merged into ``log`` (in their order), by execution id."""
    ids, rows = [], []
    for pipeline_rows, exec_ids in zip(truth, log.local_exec_ids, strict=True):
        for r in pipeline_rows:
            ids.append(int(exec_ids[r.local_exec]))
            rows.append(r)
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    rows = [rows[i] for i in order]
    return pa.table(
        {
            "trainer_execution_id": pa.array(np.asarray(ids, dtype=np.int64)[order]),
            "pipeline": pa.array([r.pipeline for r in rows], pa.string()),
            "pushed": pa.array([r.pushed for r in rows], pa.bool_()),
            "cause": pa.array([r.cause or None for r in rows], pa.string()),
            "blessed": pa.array([r.blessed for r in rows], pa.bool_()),
            "window_spans": pa.array([r.window_spans for r in rows], pa.list_(pa.int64())),
            "model_type": pa.array([r.model_type for r in rows], pa.string()),
            "train_time": pa.array([r.train_start_ms for r in rows], pa.timestamp("ms", tz="UTC")),
        }
    )

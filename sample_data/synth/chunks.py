"""Generate a corpus chunk by chunk, in bounded memory, with the ids of a single pass.

A store's ids follow the put order of the whole corpus: executions by start time across every
pipeline (see :mod:`mlprov.sample.synth.log`). Memory must not grow with the corpus, so
:func:`spill` simulates a chunk of pipelines at a time, merges it alone (ids local to the
chunk), and spills its MLMD tables to Arrow files, keeping per execution only its start, its
pipeline and how many rows of each table its put creates. Those are enough to place every
local id in the corpus' numbering: an execution's global id is its rank by (start, pipeline,
local order), and the events, artifacts, contexts, associations and attributions an execution
creates take consecutive ids after those of all earlier executions. :meth:`Spill.write` then
reads the chunks back table by table, renumbers them and merges them on id (each chunk is
already sorted), appending to the store front to back. The store is row for row the one a
single in-memory pass writes (a test compares both).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlprov.provenance.resources import usable_cpus
from mlprov.provenance.workers import Workers
from mlprov.sample.synth.bulk import BulkLoad, tables
from mlprov.sample.synth.config import SynthConfig
from mlprov.sample.synth.log import PutLog, merge, uris
from mlprov.sample.synth.simulate import PipelineSim
from mlprov.sample.synth.tfx import TYPES
from mlprov.sample.synth.truth import truth_table

I64 = npt.NDArray[np.int64]
Progress = Callable[[str, int, int], None]
#: Pipelines simulated and merged together; bounds the generator's memory (~4 MB each).
CHUNK_PIPELINES = 150
#: Tables a second process loads while the first loads the others (see :meth:`Spill.write`):
#: artifact properties and the links of contexts, which take about half the time to load and
#: index, and of such halves the least to copy (measured at the paper preset).
PART_TABLES = ("ArtifactProperty", "Association", "Attribution")
#: Rows per batch of a spilled table (and so per chunk in each merged batch).
SPILL_ROWS = 100_000

# Which id space each id column of a table is numbered in; the first column is the sort key.
ID_COLUMNS: dict[str, dict[str, str]] = {
    "Context": {"id": "ctx"},
    "ParentContext": {"context_id": "ctx", "parent_context_id": "ctx"},
    "Execution": {"id": "ex"},
    "ExecutionProperty": {"execution_id": "ex"},
    "Artifact": {"id": "art", "_exec": "ex"},
    "ArtifactProperty": {"artifact_id": "art"},
    "Event": {"id": "ev", "artifact_id": "art", "execution_id": "ex"},
    "EventPath": {"event_id": "ev"},
    "Association": {"id": "assoc", "context_id": "ctx", "execution_id": "ex"},
    "Attribution": {"id": "attr", "context_id": "ctx", "artifact_id": "art"},
}


def _owners(log: PutLog) -> dict[str, I64]:
    """Per id space, the (local) execution whose put creates each row, in id order."""
    return {
        "ctx": log.ctx_exec,
        "art": log.art_exec,
        "ev": log.ev_exec,
        "assoc": log.assoc_exec,
        "attr": log.attr_exec,
    }


@dataclass
class _Chunk:
    """What stays in memory of one spilled chunk."""

    folder: Path
    start: I64  # per local execution, in local id order
    pipeline: I64
    counts: dict[str, I64]  # per id space: rows each local execution creates
    truth: pa.Table  # trainer_execution_id still local
    global_ex: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _ids: dict[str, I64] = field(default_factory=dict)

    def ids(self, space: str, base: dict[str, I64]) -> I64:
        """Global id of each local id (index: local id - 1) in ``space``."""
        if space == "ex":
            return self.global_ex
        if space not in self._ids:
            counts = self.counts[space]
            owner = np.repeat(np.arange(len(counts)), counts)
            rank = np.arange(len(owner)) - (np.cumsum(counts) - counts)[owner]
            ids = base[space][self.global_ex[owner] - 1] + rank + 1
            if space not in ("ctx", "art", "ev"):  # not referenced by other tables
                return ids
            self._ids[space] = ids
        return self._ids[space]


@dataclass
class Spill:
    """A corpus simulated into spilled chunks (see the module docstring)."""

    folder: Path  # the chunks' folder, the caller's to remove
    chunks: list[_Chunk]
    rows: dict[str, int]
    pipelines: int

    @property
    def executions(self) -> int:
        """Executions in the corpus."""
        return self.rows["Execution"]

    def write(
        self, path: str | Path, progress: Progress | None = None, *, workers: int | None = 1
    ) -> pa.Table:
        """Write the store at ``path`` (must not exist); returns the ground-truth table.

        With more than one worker (None: one per CPU), a second process loads some tables
        (:data:`PART_TABLES`, about half the work) into a store of their own in the chunks'
        folder meanwhile, and this one then copies them in (:meth:`BulkLoad.copy`).
        """
        base = self._number()
        aside = PART_TABLES if (workers or usable_cpus()) > 1 else ()
        part = self.folder / "part.sqlite"
        with contextlib.ExitStack() as stack:
            load = BulkLoad(path)
            stack.callback(load.close)
            if aside:
                pool = stack.enter_context(Workers(1))
                loaded = pool.submit(_load_part, self._detached(), base, load.type_ids, part, aside)
            for name in ID_COLUMNS:
                if name not in aside:
                    self._append(load, name, base, progress)
            load.commit(progress)
            if aside:
                loaded.result()
                load.copy(part, aside)
                if progress is not None:
                    for name in aside:
                        progress(name, self.rows[name], self.rows[name])
        truth = pa.concat_tables(
            _replace(c.truth, "trainer_execution_id", pa.array(c.global_ex[_col(c.truth, 0) - 1]))
            for c in self.chunks
        )
        return truth.take(pa.array(np.argsort(_col(truth, 0), kind="stable")))

    def _detached(self) -> Spill:
        """This corpus for another process: the chunks' arrays, which numbering set and nothing
        changes after, without the id caches this process fills as it writes (the copy is
        pickled in a thread of its own, meanwhile) or the truth tables."""
        chunks = [
            dataclasses.replace(c, truth=c.truth.schema.empty_table(), _ids={}) for c in self.chunks
        ]
        return Spill(self.folder, chunks, self.rows, self.pipelines)

    def _append(
        self, load: BulkLoad, name: str, base: dict[str, I64], progress: Progress | None = None
    ) -> None:
        """Append the corpus' rows of table ``name`` to ``load``, merged on id."""
        done = 0
        streams = [self._read(c, name, base, load.type_ids) for c in self.chunks]
        for batch in _merged(streams):
            load.append(name, batch)
            done += batch.num_rows
            if progress is not None:
                progress(name, done, self.rows[name])

    def _number(self) -> dict[str, I64]:
        """Give every execution its global id; returns, per id space, each global execution's
        first id minus one."""
        start = np.concatenate([c.start for c in self.chunks])
        pipeline = np.concatenate([c.pipeline for c in self.chunks])
        local = np.concatenate([np.arange(len(c.start)) for c in self.chunks])
        order = np.lexsort((local, pipeline, start))
        global_ex = np.empty(len(order), dtype=np.int64)
        global_ex[order] = np.arange(1, len(order) + 1)
        offset = 0
        for c in self.chunks:
            c.global_ex = global_ex[offset : offset + len(c.start)]
            offset += len(c.start)
        base = {}
        for space in self.chunks[0].counts:
            counts = np.zeros(len(order), dtype=np.int64)
            for c in self.chunks:
                counts[c.global_ex - 1] = c.counts[space]
            base[space] = np.cumsum(counts) - counts
        return base

    def _read(
        self, chunk: _Chunk, name: str, base: dict[str, I64], type_ids: dict[int, int]
    ) -> Iterator[pa.Table]:
        """The chunk's rows of table ``name``, renumbered, in batches sorted on the first column."""
        store_type = np.asarray([type_ids[i] for i in range(len(type_ids))], dtype=np.int64)
        renumber = {column: chunk.ids(space, base) for column, space in ID_COLUMNS[name].items()}
        with pa.OSFile(str(chunk.folder / f"{name}.arrow")) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                table = pa.Table.from_batches([reader.get_batch(i)])
                if "type_id" in table.column_names:
                    table = _replace(table, "type_id", pa.array(store_type[_col(table, "type_id")]))
                for column, ids in renumber.items():
                    table = _replace(table, column, pa.array(ids[_col(table, column) - 1]))
                if "_ref" in table.column_names:
                    table = _renumber_refs(table, chunk.ids("art", base))
                if name == "Artifact":
                    table = _replace(table, "uri", uris(table["_dir"], _col(table, "_exec")))
                    table = table.drop_columns(["_dir", "_exec"])
                yield table


def _load_part(
    corpus: Spill,
    base: dict[str, I64],
    type_ids: dict[int, int],
    path: Path,
    names: tuple[str, ...],
) -> None:
    """Load tables ``names`` of ``corpus`` into a new store at ``path`` (a worker's share of
    :meth:`Spill.write`), numbering types as the store being written does."""
    load = BulkLoad(path)
    try:
        load.type_ids = type_ids
        for name in names:
            corpus._append(load, name, base)
        load.commit()
    finally:
        load.close()


def spill(
    config: SynthConfig,
    folder: Path,
    *,
    chunk_pipelines: int = CHUNK_PIPELINES,
    workers: int | None = 1,
    progress: Progress | None = None,
) -> Spill:
    """Simulate ``config`` a chunk of pipelines at a time into Arrow files under ``folder``.

    Args:
        config: what to simulate.
        folder: an empty directory for the spilled tables (the caller removes it).
        chunk_pipelines: pipelines per chunk.
        workers: processes simulating chunks side by side (None: one per CPU; never more than
            there are chunks). Chunks are independent, so the result does not depend on it.
            More than one starts fresh interpreters, which import the caller's main module:
            a script must guard its entry point with ``if __name__ == "__main__"``.
        progress: called with ("simulate", pipelines done, pipelines).

    Returns:
        The :class:`Spill`, ready to :meth:`~Spill.write`.
    """
    jobs = [
        (config, range(first, min(first + chunk_pipelines, config.pipelines)), folder / f"c{i:05d}")
        for i, first in enumerate(range(0, config.pipelines, chunk_pipelines))
    ]
    workers = min(workers or usable_cpus(), len(jobs))
    chunks: list[_Chunk] = []
    rows: dict[str, int] = {}
    pipelines = 0
    with contextlib.ExitStack() as stack:
        results: Iterator[tuple[_Chunk, dict[str, int], int]] = map(_spill_chunk, jobs)
        if workers > 1:
            pool = stack.enter_context(Workers(workers))
            results = (f.result() for f in [pool.submit(_spill_chunk, job) for job in jobs])
        for (_, indexes, _), (chunk, chunk_rows, ran) in zip(jobs, results, strict=True):
            chunks.append(chunk)
            for name, n in chunk_rows.items():
                rows[name] = rows.get(name, 0) + n
            pipelines += ran
            if progress is not None:
                progress("simulate", indexes.stop, config.pipelines)
    return Spill(folder, chunks, rows, pipelines)


def _spill_chunk(job: tuple[SynthConfig, range, Path]) -> tuple[_Chunk, dict[str, int], int]:
    """Simulate and merge one chunk, spill its tables; returns what stays in memory of it, its
    row counts and how many of its pipelines ran."""
    config, indexes, chunk_folder = job
    sims = [PipelineSim(config, i).run() for i in indexes]
    log = merge([s.rec for s in sims], config.pipeline_root)
    truth = truth_table([s.truth for s in sims], log)
    del sims
    chunk_folder.mkdir()
    _write_tables(log, chunk_folder)
    n_ex = len(log.ex_type)
    chunk = _Chunk(
        folder=chunk_folder,
        start=log.ex_start,
        pipeline=log.ex_pipeline,
        counts={
            space: np.bincount(owner - 1, minlength=n_ex).astype(np.int64)
            for space, owner in _owners(log).items()
        },
        truth=truth,
    )
    return chunk, log.row_counts(), len(np.unique(log.ex_pipeline))


def _write_tables(log: PutLog, folder: Path) -> None:
    """Spill the chunk's tables (local ids; type ids are the store's) with what renumbering
    needs: each artifact's directory and creating execution, which property values are ids."""
    type_codes = {i: i for i in range(len(TYPES))}  # the store's type ids come at writing
    for name, table in tables(log, type_codes):
        if name == "Artifact":
            table = table.append_column("_dir", log.art_dir).append_column(
                "_exec", pa.array(log.art_exec)
            )
        elif name == "ExecutionProperty":
            table = table.append_column("_ref", pa.array(log.exec_props.is_ref))
        elif name == "ArtifactProperty":
            table = table.append_column("_ref", pa.array(log.art_props.is_ref))
        with (
            pa.OSFile(str(folder / f"{name}.arrow"), "wb") as sink,
            pa.ipc.new_file(sink, table.schema) as out,
        ):
            for batch in table.to_batches(max_chunksize=SPILL_ROWS):
                out.write_batch(batch)


def _merged(streams: list[Iterator[pa.Table]]) -> Iterator[pa.Table]:
    """Merge streams of tables, each sorted on its first column, into one sorted stream.

    Equal keys come from one stream only (a chunk's own rows) and keep their order.
    """
    heads: dict[int, pa.Table] = {}

    def refill(i: int, table: pa.Table | None) -> None:
        while table is not None and table.num_rows == 0:
            table = next(streams[i], None)
        if table is None:
            heads.pop(i, None)
        else:
            heads[i] = table

    for i, stream in enumerate(streams):
        refill(i, next(stream, None))
    while heads:
        bound = min(int(_col(t, 0)[-1]) for t in heads.values())
        parts = []
        for i, table in sorted(heads.items()):
            cut = int(np.searchsorted(_col(table, 0), bound, side="right"))
            parts.append(table.slice(0, cut))
            refill(i, table.slice(cut))
        merged = pa.concat_tables(parts)
        yield merged.take(pa.array(np.argsort(_col(merged, 0), kind="stable")))


def _col(table: pa.Table, column: str | int) -> I64:
    return np.asarray(table.column(column).to_numpy(), dtype=np.int64)


def _replace(table: pa.Table, column: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, values)


def _renumber_refs(table: pa.Table, art_ids: I64) -> pa.Table:
    """Property values that hold an artifact id, renumbered; the ``_ref`` flag dropped."""
    ref = table["_ref"].to_numpy()
    if ref.any():
        values = table["int_value"]
        ints = np.array(pc.fill_null(values, 0).to_numpy(), dtype=np.int64)
        ints[ref] = art_ids[ints[ref] - 1]
        table = _replace(table, "int_value", pa.array(ints, mask=pc.is_null(values).to_numpy()))
    return table.drop_columns(["_ref"])

"""The backend-independent log of MLMD puts that the corpus simulation produces.

The simulation records each pipeline's history in a
:class:`~mlprov.sample.synth.recorder.PipelineRecorder` (local ids, plain Python lists).
:func:`merge` then orders every pipeline's executions by start time, the way a shared metadata
store sees them arrive, and assigns the ids the store will give them: MLMD numbers each table
independently, in the order rows are put, so the ids follow from the put order alone. The
result, a :class:`PutLog` of numpy columns, is what both store backends consume: the
ml-metadata client replays it put by put (:meth:`MlmdWriter.replay
<mlprov.sample.synth.writer.MlmdWriter.replay>`), the bulk writer (:mod:`mlprov.sample.synth.bulk`)
writes its columns directly. Both therefore produce the same store.

Put order, as the client performs it:

- execution ``i`` (id ``i + 1``) is one ``put_execution`` call; before it, the contexts it is
  the first to use are created (pipeline, then pipeline_run, then node), each followed by its
  ParentContext link to the pipeline;
- its events, in the order inputs, outputs, internal outputs, get consecutive event ids; an
  artifact that first appears as an output of the call is created by it, so artifacts are
  numbered in the order of their creating events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlprov.provenance.mlmd_codes import EventType
from mlprov.sample.synth.recorder import ARTIFACT_REF, INT, PipelineRecorder
from mlprov.sample.synth.tfx import KEYS, NODES

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Properties:
    """Property rows of one MLMD property table, in insertion order."""

    owner: I64
    name: I64  # code into tfx.PROPERTY_NAMES
    is_custom: I64
    kind: I64  # INT, DOUBLE or STRING
    int_value: I64
    double_value: F64
    string_value: pa.Array  # strings, null where kind is not STRING
    is_ref: npt.NDArray[np.bool_]  # int_value holds an artifact id


@dataclass(frozen=True)
class PutLog:
    """Every row of the store to write, with final ids, in put order (see module docstring).

    Row ``i`` of each entity table has id ``i + 1``. Type codes index :data:`tfx.TYPES`, key
    codes :data:`tfx.KEYS`.
    """

    ctx_type: I64
    ctx_name: pa.Array
    ctx_parent: I64  # parent context id, 0 for none
    ctx_time: I64
    ex_type: I64
    ex_state: I64
    ex_start: I64
    ex_end: I64
    ex_pipeline: I64  # pipeline index
    ex_node: I64
    assoc_exec: I64  # Association rows, grouped by execution, contexts ascending
    assoc_ctx: I64
    ev_exec: I64
    ev_art: I64
    ev_type: I64
    ev_time: I64
    ev_key: I64
    ev_index: I64
    art_type: I64
    art_uri: pa.Array
    art_dir: pa.Array  # art_uri without its last part, the creating execution's id
    art_time: I64
    attr_ctx: I64  # Attribution rows in insertion order
    attr_art: I64
    ctx_exec: I64  # the execution whose put creates each context, artifact, attribution
    art_exec: I64
    attr_exec: I64
    exec_props: Properties
    art_props: Properties
    pipeline_names: tuple[str, ...]
    local_exec_ids: list[I64] = field(repr=False)  # per pipeline: local exec id -> store id
    local_art_ids: list[I64] = field(repr=False)

    def row_counts(self) -> dict[str, int]:
        """Rows per MLMD table (Type and MLMDEnv excluded)."""
        return {
            "Context": len(self.ctx_type),
            "ParentContext": int(np.count_nonzero(self.ctx_parent)),
            "Execution": len(self.ex_type),
            "ExecutionProperty": len(self.exec_props.owner),
            "Artifact": len(self.art_type),
            "ArtifactProperty": len(self.art_props.owner),
            "Event": len(self.ev_exec),
            "EventPath": 2 * len(self.ev_exec),
            "Association": len(self.assoc_exec),
            "Attribution": len(self.attr_ctx),
        }


def uris(art_dir: pa.Array, exec_ids: I64) -> pa.Array:
    """Artifact URIs: each artifact's directory followed by its creating execution's id."""
    return pc.binary_join_element_wise(art_dir, pc.cast(pa.array(exec_ids), pa.string()), "")


def _cat(parts: list[list[int]] | list[list[float]], dtype: type = np.int64) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate([np.asarray(p, dtype=dtype) for p in parts])


def _properties(
    recs: list[PipelineRecorder], which: str, owner_ids: list[I64], art_ids: list[I64]
) -> Properties:
    """Concatenate the recorders' property rows, mapping local owners and strings."""
    owners, names, custom, kinds, ints, dbls, strs = [], [], [], [], [], [], []
    all_strings: list[str] = []
    for rec, own_map, art_map in zip(recs, owner_ids, art_ids, strict=True):
        rows, doubles = getattr(rec, which).columns()
        owner = rows[:, 0]
        kind = rows[:, 3]
        ivals = rows[:, 4].copy()
        ref = kind == ARTIFACT_REF
        ivals[ref] = art_map[ivals[ref]]
        scode = rows[:, 5].copy()
        scode[scode >= 0] += len(all_strings)
        all_strings.extend(rec.strings)
        owners.append(own_map[owner])
        names.append(rows[:, 1])
        custom.append(rows[:, 2])
        kinds.append(kind)
        ints.append(ivals)
        dbls.append(doubles)
        strs.append(scode)
    owner_all = np.concatenate(owners)
    order = np.argsort(owner_all, kind="stable")
    scode_all = np.concatenate(strs)[order]
    string_table = pa.array(all_strings, pa.string())
    string_values = string_table.take(
        pa.array(np.where(scode_all >= 0, scode_all, 0), mask=scode_all < 0)
    )
    kind_all = np.concatenate(kinds)[order]
    return Properties(
        owner=owner_all[order],
        name=np.concatenate(names)[order],
        is_custom=np.concatenate(custom)[order],
        kind=np.where(kind_all == ARTIFACT_REF, INT, kind_all),
        int_value=np.concatenate(ints)[order],
        double_value=np.concatenate(dbls)[order],
        string_value=string_values,
        is_ref=kind_all == ARTIFACT_REF,
    )


def merge(recs: list[PipelineRecorder], pipeline_root: str = "/pipelines") -> PutLog:
    """Interleave the pipelines' histories by time and assign the store's ids.

    Args:
        recs: one recorder per pipeline, in pipeline index order.
        pipeline_root: prefix of artifact URIs (``<root>/<pipeline>/<node>/<key>/<exec id>``).

    Returns:
        The complete put log.
    """
    n_ex = [len(r.ex_node) for r in recs]
    ex_off = np.concatenate([[0], np.cumsum(n_ex)]).astype(np.int64)
    pipe = np.repeat(np.arange(len(recs), dtype=np.int64), n_ex)
    start = _cat([r.ex_start for r in recs])
    end = _cat([r.ex_end for r in recs])
    node = _cat([r.ex_node for r in recs])
    state = _cat([r.ex_state for r in recs])
    local_seq = np.arange(len(start), dtype=np.int64)  # already pipeline-major
    # Put order: start time, ties by pipeline then local order (which is topological).
    order = np.lexsort((local_seq, pipe, start))
    ex_id = np.empty(len(order), dtype=np.int64)
    ex_id[order] = np.arange(1, len(order) + 1)

    # Events: grouped by execution in put order, keeping each execution's pair order.
    n_ev = [len(r.ev_exec) for r in recs]
    ev_pipe = np.repeat(np.arange(len(recs), dtype=np.int64), n_ev)
    ev_exec_global = _cat([r.ev_exec for r in recs]) + ex_off[ev_pipe]
    ev_exec = ex_id[ev_exec_global]
    ev_order = np.argsort(ev_exec, kind="stable")
    ev_exec = ev_exec[ev_order]
    ev_type = _cat([r.ev_type for r in recs])[ev_order]
    ev_key = _cat([r.ev_key for r in recs])[ev_order]
    ev_index = _cat([r.ev_index for r in recs])[ev_order]
    n_art = [len(r.art_type) for r in recs]
    art_off = np.concatenate([[0], np.cumsum(n_art)]).astype(np.int64)
    ev_art_global = (_cat([r.ev_art for r in recs]) + art_off[ev_pipe])[ev_order]
    # An artifact is created by its first event in put order.
    total_art = int(art_off[-1])
    _, first = np.unique(ev_art_global, return_index=True)
    if len(first) != total_art:
        raise ValueError("every recorded artifact must appear in at least one event")
    creating = np.sort(first)
    if np.any(ev_type[creating] == EventType.INPUT):
        raise ValueError("an artifact is consumed before the execution that creates it")
    art_id = np.empty(total_art, dtype=np.int64)
    art_id[ev_art_global[creating]] = np.arange(1, total_art + 1)
    ev_art = art_id[ev_art_global]
    ex_start_sorted = start[order]
    ex_end_sorted = end[order]
    ev_time = np.where(
        ev_type == EventType.INPUT, ex_start_sorted[ev_exec - 1], ex_end_sorted[ev_exec - 1]
    )

    # Artifacts in id order.
    art_global_by_id = ev_art_global[creating]
    art_type = _cat([r.art_type for r in recs])[art_global_by_id]
    art_node = _cat([r.art_node for r in recs])[art_global_by_id]
    art_key = _cat([r.art_key for r in recs])[art_global_by_id]
    art_pipe = np.repeat(np.arange(len(recs), dtype=np.int64), n_art)[art_global_by_id]
    art_exec = ev_exec[creating]
    art_time = ex_end_sorted[art_exec - 1]
    node_names = pa.array([n for n, _ in NODES])
    key_names = pa.array(list(KEYS))
    pipe_names = pa.array([r.name for r in recs], pa.string())
    art_dir = pc.binary_join_element_wise(
        pa.scalar(pipeline_root),
        pipe_names.take(pa.array(art_pipe)),
        node_names.take(pa.array(art_node)),
        key_names.take(pa.array(art_key)),
        "",
        "/",
    )

    # Contexts: global keys (pipeline, kind, local index), created at first use.
    n_runs = [len(r.run_start) for r in recs]
    run_off = np.concatenate([[0], np.cumsum(n_runs)]).astype(np.int64)
    n_pipes = len(recs)
    n_nodes = len(NODES)
    # context key space: [pipelines][runs][pipeline x node]
    ex_run_local = _cat([r.ex_run for r in recs])
    k_pipe = pipe
    k_run = np.where(ex_run_local >= 0, n_pipes + run_off[pipe] + ex_run_local, -1)
    k_node = n_pipes + int(run_off[-1]) + pipe * n_nodes + node
    slots = np.stack([k_pipe[order], k_run[order], k_node[order]], axis=1).reshape(-1)
    slot_exec = np.repeat(np.arange(1, len(order) + 1, dtype=np.int64), 3)
    valid = slots >= 0
    slots, slot_exec = slots[valid], slot_exec[valid]
    keys_used, first_slot = np.unique(slots, return_index=True)
    ctx_order = np.argsort(first_slot, kind="stable")
    ctx_keys = keys_used[ctx_order]
    ctx_id_of_key = np.zeros(n_pipes + int(run_off[-1]) + n_pipes * n_nodes, dtype=np.int64)
    ctx_id_of_key[ctx_keys] = np.arange(1, len(ctx_keys) + 1)
    ctx_exec = slot_exec[first_slot[ctx_order]]
    ctx_time = ex_start_sorted[ctx_exec - 1]
    is_pipe = ctx_keys < n_pipes
    is_run = (ctx_keys >= n_pipes) & (ctx_keys < n_pipes + run_off[-1])
    is_node = ~is_pipe & ~is_run
    ctx_type = np.where(is_pipe, 0, np.where(is_run, 1, 2)).astype(np.int64)
    run_pipe = np.repeat(np.arange(n_pipes, dtype=np.int64), n_runs)
    node_key = ctx_keys - n_pipes - int(run_off[-1])
    ctx_pipe = np.where(
        is_pipe,
        ctx_keys,
        np.where(
            is_run,
            run_pipe[np.clip(ctx_keys - n_pipes, 0, max(len(run_pipe) - 1, 0))]
            if len(run_pipe)
            else 0,
            node_key // n_nodes,
        ),
    )
    ctx_parent = np.where(is_pipe, 0, ctx_id_of_key[ctx_pipe])
    all_run_names = pa.array([n for r in recs for n in r.run_name], pa.string())
    pipe_str = pipe_names.take(pa.array(ctx_pipe))
    node_str = pc.binary_join_element_wise(
        pipe_str, node_names.take(pa.array(np.where(is_node, node_key % n_nodes, 0))), "."
    )
    run_str = (
        all_run_names.take(pa.array(np.where(is_run, ctx_keys - n_pipes, 0)))
        if len(all_run_names)
        else pa.nulls(len(ctx_keys), pa.string())
    )
    ctx_name = pc.if_else(
        pa.array(is_pipe), pipe_str, pc.if_else(pa.array(is_run), run_str, node_str)
    )

    # Associations: each execution with its contexts, ascending context id.
    slot_ctx = ctx_id_of_key[slots]
    a_order = np.lexsort((slot_ctx, slot_exec))
    assoc_exec, assoc_ctx = slot_exec[a_order], slot_ctx[a_order]
    # Attributions: for each execution, each context (ascending), each artifact in pair order;
    # a (context, artifact) pair already attributed is skipped.
    ev_start_of_exec = np.searchsorted(ev_exec, np.arange(1, len(order) + 2))
    n_ev_per_exec = np.diff(ev_start_of_exec)
    # rows = for each association row, all events of its execution
    reps = n_ev_per_exec[assoc_exec - 1]
    row_ctx = np.repeat(assoc_ctx, reps)
    row_assoc_exec = np.repeat(assoc_exec, reps)
    within = np.arange(len(row_ctx), dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
    row_ev = ev_start_of_exec[row_assoc_exec - 1] + within
    row_art = ev_art[row_ev]
    pair_key = row_ctx * (total_art + 1) + row_art
    _, first_row = np.unique(pair_key, return_index=True)
    first_row.sort()
    attr_ctx, attr_art = row_ctx[first_row], row_art[first_row]

    local_exec_ids = [ex_id[ex_off[i] : ex_off[i + 1]] for i in range(n_pipes)]
    local_art_ids = [art_id[art_off[i] : art_off[i + 1]] for i in range(n_pipes)]
    exec_props = _properties(recs, "ep", local_exec_ids, local_art_ids)
    art_props = _properties(recs, "ap", local_art_ids, local_art_ids)
    return PutLog(
        ctx_type=ctx_type,
        ctx_name=ctx_name,
        ctx_parent=ctx_parent,
        ctx_time=ctx_time,
        ex_type=np.asarray([t for _, t in NODES], dtype=np.int64)[node[order]],
        ex_state=state[order],
        ex_start=ex_start_sorted,
        ex_end=ex_end_sorted,
        ex_pipeline=np.asarray([r.index for r in recs], dtype=np.int64)[pipe[order]],
        ex_node=node[order],
        assoc_exec=assoc_exec,
        assoc_ctx=assoc_ctx,
        ev_exec=ev_exec,
        ev_art=ev_art,
        ev_type=ev_type,
        ev_time=ev_time,
        ev_key=ev_key,
        ev_index=ev_index,
        art_type=art_type,
        art_uri=uris(art_dir, art_exec),
        art_dir=art_dir,
        art_time=art_time,
        attr_ctx=attr_ctx,
        attr_art=attr_art,
        ctx_exec=ctx_exec,
        art_exec=art_exec,
        attr_exec=row_assoc_exec[first_row],
        exec_props=exec_props,
        art_props=art_props,
        pipeline_names=tuple(r.name for r in recs),
        local_exec_ids=local_exec_ids,
        local_art_ids=local_art_ids,
    )

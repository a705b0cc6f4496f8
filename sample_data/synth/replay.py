"""Write a put log through the ml-metadata client, one ``put_execution`` per execution.

The client backend of the corpus generator: slow (one call per execution) but written by the
official client, so small stores are exactly what TFX would leave; the bulk writer
(:mod:`mlprov.sample.synth.bulk`) writes the same rows for large ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlprov.provenance.mlmd_codes import ArtifactState
from mlprov.sample.synth.log import Properties, PutLog
from mlprov.sample.synth.recorder import DOUBLE, INT
from mlprov.sample.synth.tfx import KEYS, PROPERTY_NAMES, TYPES
from mlprov.sample.synth.writer import MlmdWriter


def replay(w: MlmdWriter, log: PutLog, progress: Callable[[int, int], None] | None = None) -> None:
    """Write a put log through the client, one ``put_execution`` per execution.

    Contexts are created just before the first execution that uses them; each call's
    artifacts and events follow the log's order, so the client assigns the log's ids
    (checked: a mismatch raises, since the bulk writer relies on the same numbering).

    Args:
        w: the writer of the store, which must hold no executions, artifacts or contexts yet.
        log: the log (see :mod:`mlprov.sample.synth.log`).
        progress: called with (executions written, total) every 1,000 executions.

    Raises:
        RuntimeError: if the client assigned an id other than the log's.
    """
    pb = w.pb
    type_ids = w.register_types(TYPES)
    n = len(log.ex_type)
    ev_at = np.searchsorted(log.ev_exec, np.arange(1, n + 2))
    as_at = np.searchsorted(log.assoc_exec, np.arange(1, n + 2))
    ep, ap = log.exec_props, log.art_props
    ep_at = np.searchsorted(ep.owner, np.arange(1, n + 2))
    ap_at = np.searchsorted(ap.owner, np.arange(1, len(log.art_type) + 2))
    ep_str, ap_str = ep.string_value.to_pylist(), ap.string_value.to_pylist()
    ctx_names = log.ctx_name.to_pylist()
    uris = log.art_uri.to_pylist()
    ctx_protos: dict[int, Any] = {}
    created_ctx = created_art = 0
    for i in range(n):
        ctx_ids = [int(c) for c in log.assoc_ctx[as_at[i] : as_at[i + 1]]]
        while created_ctx < max(ctx_ids):
            j = created_ctx
            parent = int(log.ctx_parent[j])
            cid = w.context(
                TYPES[int(log.ctx_type[j])].name,
                ctx_names[j],
                create_ms=int(log.ctx_time[j]),
                parent=parent or None,
            )
            created_ctx += 1
            if cid != created_ctx:
                raise RuntimeError(f"client gave context id {cid}, log has {created_ctx}")
        missing = [c for c in ctx_ids if c not in ctx_protos]
        if missing:
            ctx_protos.update({c.id: c for c in w.store.get_contexts_by_id(missing)})
        execution = pb.Execution(
            type_id=type_ids[int(log.ex_type[i])], last_known_state=int(log.ex_state[i])
        )
        _set_properties(execution, ep, range(ep_at[i], ep_at[i + 1]), ep_str)
        events = range(ev_at[i], ev_at[i + 1])
        existing = w.artifacts_by_id(
            [int(log.ev_art[e]) for e in events if log.ev_art[e] <= created_art]
        )
        pairs = []
        for e in events:
            aid = int(log.ev_art[e])
            if aid <= created_art:
                artifact = existing[aid]
            else:
                created_art += 1
                if aid != created_art:
                    raise RuntimeError(f"log creates artifact {aid} out of order")
                k = aid - 1
                artifact = pb.Artifact(
                    type_id=type_ids[int(log.art_type[k])],
                    uri=uris[k],
                    state=ArtifactState.LIVE.value,
                )
                _set_properties(artifact, ap, range(ap_at[k], ap_at[k + 1]), ap_str)
            event = pb.Event(type=int(log.ev_type[e]), milliseconds_since_epoch=int(log.ev_time[e]))
            event.path.steps.add().key = KEYS[log.ev_key[e]]
            event.path.steps.add().index = int(log.ev_index[e])
            pairs.append((artifact, event))
        eid, aids, _ = w.store.put_execution(execution, pairs, [ctx_protos[c] for c in ctx_ids])
        if eid != i + 1 or list(aids) != [int(log.ev_art[e]) for e in events]:
            raise RuntimeError(f"client ids diverge from the log at execution {i + 1}")
        w.stamp("Execution", [(eid, int(log.ex_start[i]), int(log.ex_end[i]))])
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, n)
    # put_execution touches the update time of every artifact it is given: restamp all.
    w.stamp("Artifact", ((k + 1, int(t), int(t)) for k, t in enumerate(log.art_time)))
    if progress is not None:
        progress(n, n)


def _set_properties(node: Any, props: Properties, rows: range, strings: list[str | None]) -> None:
    """Set rows ``rows`` of a put log's property table on an execution or artifact proto."""
    for r in rows:
        target = node.custom_properties if props.is_custom[r] else node.properties
        value = target[PROPERTY_NAMES[props.name[r]]]
        kind = int(props.kind[r])
        if kind == INT:
            value.int_value = int(props.int_value[r])
        elif kind == DOUBLE:
            value.double_value = float(props.double_value[r])
        else:
            value.string_value = strings[r] or ""

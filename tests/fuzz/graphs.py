"""A hypothesis strategy for arbitrary MLMD graphs, and a writer putting one into a genuine
MLMD SQLite store through the ml-metadata client.

Graphs follow any convention or none: type names are drawn from TFX, legacy TFX and Kubeflow
names or are arbitrary unicode; every event type, execution and artifact state occurs; events
may form cycles and several executions may output the same artifact (re-publishing, as cache
hits do); contexts may nest. The client stamps times from the clock and takes only valid text,
so times (0, negative, milliseconds, microseconds) and, behind a switch, invalid UTF-8 are
written with sqlite3 after the client closed the store.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

#: Value classes the ingest side (issue 18, dirty records at ingest) turns into a --strict
#: decision; off until that lands. Flip to True to include them.
DIRTY_TIMES = True  # nanoseconds and the int64 limits as times
INVALID_UTF8 = True  # bytes that are not UTF-8 in names, URIs, type names and event keys

T0 = 1_736_121_600_000  # 2025-01-06 00:00 UTC, in ms
DAY = 86_400_000

EXECUTION_TYPES = (
    "tfx.components.example_gen.csv_example_gen.component.CsvExampleGen",
    "tfx.components.statistics_gen.component.StatisticsGen",
    "tfx.components.transform.component.Transform",
    "tfx.components.trainer.component.Trainer",
    "tfx.components.evaluator.component.Evaluator",
    "tfx.components.pusher.component.Pusher",
    "tfx.dsl.components.common.resolver.Resolver",
    "system.ContainerExecution",
    "system.DAGExecution",
    "Trainer",
)
ARTIFACT_TYPES = (
    "Examples",
    "ExampleStatistics",
    "Schema",
    "TransformGraph",
    "Model",
    "ModelBlessing",
    "PushedModel",
    "system.Model",
    "system.Artifact",
)
CONTEXT_TYPES = (
    "pipeline",
    "pipeline_run",
    "node",
    "run",
    "component_run",
    "system.Pipeline",
    "system.PipelineRun",
)
#: Execution custom properties conventions read: cost, KFP task name, legacy TFX state, model.
EXECUTION_KEYS = ("cpu_hours", "task_name", "state", "model_type", "component_id")
ARTIFACT_KEYS = ("pushed", "blessed", "span", "version", "pushed_version")


def _text(max_size: int = 12) -> st.SearchStrategy[str]:
    """Unusual unicode: emoji, combining marks, right-to-left, zero-width and control
    characters, NUL included (lone surrogates are not text the client can take)."""
    return st.text(
        st.characters(blacklist_categories=("Cs",))
        | st.sampled_from("🚀é\u0301\u200f\u200b\x00ß中"),
        min_size=0,
        max_size=max_size,
    )


def _names(known: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(known) | _text().filter(bool)


_MS = st.integers(T0 - 30 * DAY, T0 + 120 * DAY)
TIMES = st.one_of(
    _MS,
    st.just(0),  # MLMD's column default
    st.integers(-(10**13), -1),
    _MS.map(lambda t: t * 1000),  # microseconds
    *(
        [_MS.map(lambda t: t * 1_000_000), st.sampled_from([2**63 - 1, -(2**63)])]
        if DIRTY_TIMES
        else []
    ),
)
COSTS = st.one_of(
    st.floats(0, 100),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.inf, -math.inf, -1.0, 0.0, 1.7e308]),
)
VALUES = st.one_of(st.integers(-(2**63), 2**63 - 1), COSTS, _text(), st.sampled_from([0, 1]))


@dataclass(frozen=True)
class Node:
    type: int  # index into the graph's types of its kind
    state: int
    name: str | None
    properties: dict[str, Any]
    times: tuple[int, int]  # create, last update (ms, or not)
    uri: str = ""


@dataclass(frozen=True)
class Graph:
    execution_types: list[str]
    artifact_types: list[str]
    context_types: list[str]
    executions: list[Node]
    artifacts: list[Node]
    contexts: list[Node]
    events: list[tuple[int, int, int, str | None, int | None, int]]  # exec, art, type, key, idx, ms
    associations: list[tuple[int, int]]  # context, execution
    attributions: list[tuple[int, int]]  # context, artifact
    parents: list[tuple[int, int]]  # child context, parent context
    invalid_text: list[tuple[str, str, int]]  # table, column, row index (INVALID_UTF8)
    cost_property: bool  # ingest with a mapping naming cpu_hours
    convention: str | None  # a convention forced by the mapping, or detection
    strict: str


def _nodes(
    draw: Any, n_types: int, states: int, keys: tuple[str, ...], max_size: int, named: bool
) -> list[Node]:
    props = st.dictionaries(
        (st.sampled_from(keys) if keys else st.nothing()) | _text(6).filter(bool),
        st.one_of(VALUES, COSTS) if "cpu_hours" in keys else VALUES,
        max_size=3,
    )
    nodes = draw(
        st.lists(
            st.builds(
                Node,
                st.integers(0, n_types - 1),
                st.integers(0, states - 1),
                _text().filter(bool) if named else st.none() | _text(),
                props,
                st.tuples(TIMES, TIMES),
                _text(20),
            ),
            max_size=max_size,
            # MLMD keeps (type, name) unique; unnamed nodes are all distinct
            unique_by=lambda n: (n.type, n.name) if n.name is not None else object(),
        )
    )
    return list(nodes)


@st.composite
def graphs(draw: Any) -> Graph:
    """An arbitrary MLMD graph (see the module docstring)."""
    kinds = [
        draw(st.lists(_names(known), min_size=1, max_size=4, unique=True))
        for known in (EXECUTION_TYPES, ARTIFACT_TYPES, CONTEXT_TYPES)
    ]
    executions = _nodes(draw, len(kinds[0]), 7, EXECUTION_KEYS, 10, named=False)
    artifacts = _nodes(draw, len(kinds[1]), 7, ARTIFACT_KEYS, 10, named=False)
    contexts = _nodes(draw, len(kinds[2]), 1, (), 5, named=True)

    def pairs(left: int, right: int, size: int) -> list[tuple[int, int]]:
        if not left or not right:
            return []
        pair = st.tuples(st.integers(0, left - 1), st.integers(0, right - 1))
        return list(draw(st.lists(pair, max_size=size, unique=True)))

    events = []
    if executions and artifacts:
        event = st.tuples(
            st.integers(0, len(executions) - 1),
            st.integers(0, len(artifacts) - 1),
            st.integers(0, 7),
            st.none() | st.sampled_from(["examples", "model", "baseline_model"]) | _text(8),
            st.none() | st.integers(0, 3),
            TIMES,
        )
        events = draw(st.lists(event, max_size=25, unique_by=lambda e: e[:3]))
        # An UNKNOWN event is written as a type its pair lacks, then set to 0 (see write_graph):
        # a pair holding all eight types keeps no UNKNOWN one.
        types = Counter(e[:2] for e in events)  # events are unique by (exec, art, type)
        events = [e for e in events if e[2] != 0 or types[e[:2]] < 8]
    parents = [(c, p) for c, p in pairs(len(contexts), len(contexts), 4) if p < c]  # no cycles
    invalid: list[tuple[str, str, int]] = []
    if INVALID_UTF8:
        cell = st.tuples(
            st.sampled_from(
                [
                    ("Execution", "name"),
                    ("Artifact", "uri"),
                    ("Type", "name"),
                    ("Event", "key"),  # a path step's key lives in EventPath
                    ("Context", "name"),
                ]
            ),
            st.integers(0, 9),
        )
        invalid = [(t, c, row) for (t, c), row in draw(st.lists(cell, max_size=3))]
    return Graph(
        *kinds,
        executions,
        artifacts,
        contexts,
        events,
        pairs(len(contexts), len(executions), 15),
        pairs(len(contexts), len(artifacts), 15),
        parents,
        invalid,
        draw(st.booleans()),
        draw(st.none() | st.sampled_from(["tfx", "tfx_legacy", "kfp"])),
        draw(st.sampled_from(["raise", "warn", "skip"])),
    )


def write_graph(graph: Graph, path: Path) -> None:
    """Write ``graph`` into a new MLMD SQLite store at ``path`` through the client, then set its
    times (and invalid text) with sqlite3."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = 3  # READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    type_ids = [
        [store.put_execution_type(pb.ExecutionType(name=n)) for n in graph.execution_types],
        [store.put_artifact_type(pb.ArtifactType(name=n)) for n in graph.artifact_types],
        [store.put_context_type(pb.ContextType(name=n)) for n in graph.context_types],
    ]

    def proto(kind: Any, node: Node, types: list[int], **fields: Any) -> Any:
        message = kind(type_id=types[node.type], **fields)
        if node.name is not None:
            message.name = node.name
        for key, value in node.properties.items():
            target = message.custom_properties[key]
            if isinstance(value, str):
                target.string_value = value
            elif isinstance(value, float):
                # the client writes inf and nan as SQL it cannot run: set them afterwards
                target.double_value = value if math.isfinite(value) else 0.0
            else:
                target.int_value = value
        return message

    execution_ids = store.put_executions(
        [proto(pb.Execution, n, type_ids[0], last_known_state=n.state) for n in graph.executions]
    )
    artifact_ids = store.put_artifacts(
        [proto(pb.Artifact, n, type_ids[1], uri=n.uri, state=n.state) for n in graph.artifacts]
    )
    context_ids = store.put_contexts([proto(pb.Context, n, type_ids[2]) for n in graph.contexts])
    events = []
    for e, a, kind, key, index, _ in graph.events:
        # the client refuses UNKNOWN (0): write a type the pair has not, set 0 afterwards
        used = {t for x, y, t, *_ in graph.events if (x, y) == (e, a)}
        written = kind or min(set(range(1, 8)) - used)
        event = pb.Event(execution_id=execution_ids[e], artifact_id=artifact_ids[a], type=written)
        if key is not None:
            event.path.steps.add().key = key
        if index is not None:
            event.path.steps.add().index = index
        events.append(event)
    store.put_events(events)
    store.put_attributions_and_associations(
        [
            pb.Attribution(context_id=context_ids[c], artifact_id=artifact_ids[a])
            for c, a in graph.attributions
        ],
        [
            pb.Association(context_id=context_ids[c], execution_id=execution_ids[x])
            for c, x in graph.associations
        ],
    )
    store.put_parent_contexts(
        [
            pb.ParentContext(child_id=context_ids[c], parent_id=context_ids[p])
            for c, p in graph.parents
        ]
    )
    del store
    _rewrite(graph, path, execution_ids, artifact_ids, context_ids)


def _rewrite(
    graph: Graph, path: Path, executions: list[int], artifacts: list[int], contexts: list[int]
) -> None:
    con = sqlite3.connect(path)
    with con:
        for table, ids, nodes in (
            ("Execution", executions, graph.executions),
            ("Artifact", artifacts, graph.artifacts),
            ("Context", contexts, graph.contexts),
        ):
            con.executemany(
                f"UPDATE {table} SET create_time_since_epoch = ?, "
                "last_update_time_since_epoch = ? WHERE id = ?",
                [(*n.times, i) for n, i in zip(nodes, ids, strict=True)],
            )
        for e, a, kind, *_ in graph.events:
            if kind == 0:
                used = {t for x, y, t, *_ in graph.events if (x, y) == (e, a)}
                con.execute(
                    "UPDATE Event SET type = 0 WHERE execution_id = ? AND artifact_id = ? "
                    "AND type = ?",
                    (executions[e], artifacts[a], min(set(range(1, 8)) - used)),
                )
        con.executemany(
            "UPDATE Event SET milliseconds_since_epoch = ? "
            "WHERE execution_id = ? AND artifact_id = ? AND type = ?",
            [(ms, executions[e], artifacts[a], kind) for e, a, kind, _, _, ms in graph.events],
        )
        for table, ids, nodes in (
            ("Execution", executions, graph.executions),
            ("Artifact", artifacts, graph.artifacts),
        ):
            con.executemany(
                f"UPDATE {table}Property SET double_value = ? WHERE {table.lower()}_id = ? "
                "AND name = ? AND is_custom_property = 1",
                [
                    (value, i, key)  # sqlite3 stores inf as REAL and nan as NULL
                    for n, i in zip(nodes, ids, strict=True)
                    for key, value in n.properties.items()
                    if isinstance(value, float) and not math.isfinite(value)
                ],
            )
        for n, (table, column, row) in enumerate(graph.invalid_text):
            if (table, column) == ("Event", "key"):
                table, column = "EventPath", "step_key"
            con.execute(  # a suffix of its own: names are unique per type
                f"UPDATE {table} SET {column} = CAST(x'ff28c3' AS TEXT) || ? "
                f"WHERE rowid = (SELECT rowid FROM {table} ORDER BY rowid LIMIT 1 OFFSET ?)",
                (str(n), row),
            )
    con.close()

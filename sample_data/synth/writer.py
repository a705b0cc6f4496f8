"""Write genuine MLMD stores through the official ml-metadata client.

Used by the corpus generator and by the tests' hand-built stores, so that what mlprov reads is
exactly what TFX and Kubeflow write. The client stamps create/update times from the wall clock
and offers no way to set them; :meth:`MlmdWriter.close` therefore rewrites those two columns with
one SQL pass after the client is done, so stores can hold a realistic history.

Example:
    >>> import tempfile, os
    >>> from mlprov.sample.synth.writer import MlmdWriter, client_available
    >>> if client_available():
    ...     path = os.path.join(tempfile.mkdtemp(), "store.sqlite")
    ...     with MlmdWriter(path) as w:
    ...         p = w.context("pipeline", "taxi")
    ...         gen = w.execution("tfx.components.example_gen.csv_example_gen.component."
    ...                           "CsvExampleGen", contexts=[p],
    ...                           outputs={"examples": [w.new_artifact("Examples", span=1)]},
    ...                           start_ms=1_000, end_ms=61_000)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprov.provenance.mlmd_codes import ArtifactState, EventType, ExecutionState
from mlprov.sample.synth.tfx import Kind, TypeSpec

if TYPE_CHECKING:
    from mlprov.sample.synth.log import PutLog

PropertyValue = int | float | str | bool

# Properties TFX declares on its artifact types; everything else is a custom property.
DECLARED_ARTIFACT_PROPERTIES = {"span": int, "version": int, "split_names": str}


def client_available() -> bool:
    """Whether the ml-metadata client can be imported here (it has no wheels past Python 3.11)."""
    try:
        import ml_metadata  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class NewArtifact:
    """An output artifact to create with the execution that produces it."""

    type_name: str
    uri: str = ""
    properties: dict[str, PropertyValue] = field(default_factory=dict)
    custom: dict[str, PropertyValue] = field(default_factory=dict)
    state: int = ArtifactState.LIVE.value


class MlmdWriter:
    """Append TFX- or KFP-shaped provenance to an MLMD SQLite store through the client."""

    def __init__(self, path: str | Path, run_sql: Callable[[str], None] | None = None) -> None:
        """Open (or create) the store at ``path``: a SQLite file, or a ``mysql://`` or
        ``postgresql://`` URL, whose database the client creates when missing; for a URL,
        ``run_sql`` runs the SQL script that stamps the times (as an administrator)."""
        from ml_metadata.metadata_store import metadata_store
        from ml_metadata.proto import metadata_store_pb2

        pb: Any = metadata_store_pb2  # generated protobuf module, no type stubs
        self.pb = pb
        self.path = str(path)
        self._run_sql = run_sql
        if "://" in self.path:
            from mlprov.provenance.mlmd_client import connection_config

            if run_sql is None:
                raise ValueError("writing a store on a server needs run_sql, to stamp times")
            config = connection_config(self.path, create_db=True)
        else:
            config = pb.ConnectionConfig()
            config.sqlite.filename_uri = self.path
            config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store: Any = metadata_store.MetadataStore(config)
        self._types: dict[tuple[str, str], int] = {}
        self._contexts: dict[tuple[str, str], int] = {}
        self._times: dict[str, list[tuple[int, int, int]]] = {
            "Execution": [],
            "Artifact": [],
            "Context": [],
        }
        self._pending_artifacts: list[tuple[int, int]] = []  # (artifact id, create ms)

    def __enter__(self) -> MlmdWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- types ------------------------------------------------------------------------------
    def _type_id(self, kind: str, name: str, properties: Mapping[str, type] | None = None) -> int:
        key = (kind, name)
        if key not in self._types:
            pb = self.pb
            cls = {
                "execution": pb.ExecutionType,
                "artifact": pb.ArtifactType,
                "context": pb.ContextType,
            }[kind]
            t = cls(name=name)
            for prop, py_type in dict(properties or {}).items():
                t.properties[prop] = {int: pb.INT, float: pb.DOUBLE, str: pb.STRING}[py_type]
            put = getattr(self.store, f"put_{kind}_type")
            self._types[key] = put(t, can_add_fields=True, can_omit_fields=True)
        return self._types[key]

    def _set(self, target: Any, props: Mapping[str, PropertyValue]) -> None:
        for name, value in props.items():
            v = target[name]
            if isinstance(value, bool):
                v.bool_value = value
            elif isinstance(value, int):
                v.int_value = value
            elif isinstance(value, float):
                v.double_value = value
            else:
                v.string_value = str(value)

    # -- nodes ------------------------------------------------------------------------------
    def context(
        self,
        type_name: str,
        name: str,
        *,
        create_ms: int = 0,
        custom: Mapping[str, PropertyValue] | None = None,
        parent: int | None = None,
    ) -> int:
        """Return the id of context (type_name, name), creating it on first use."""
        key = (type_name, name)
        if key not in self._contexts:
            found = self.store.get_context_by_type_and_name(type_name, name)
            if found is not None:
                self._contexts[key] = found.id
                return found.id
            ctx = self.pb.Context(type_id=self._type_id("context", type_name), name=name)
            self._set(ctx.custom_properties, custom or {})
            [cid] = self.store.put_contexts([ctx])
            self._contexts[key] = cid
            self._times["Context"].append((cid, create_ms, create_ms))
            if parent is not None:
                self.store.put_parent_contexts(
                    [self.pb.ParentContext(child_id=cid, parent_id=parent)]
                )
        return self._contexts[key]

    def new_artifact(
        self,
        type_name: str,
        uri: str = "",
        custom: Mapping[str, PropertyValue] | None = None,
        **properties: PropertyValue,
    ) -> NewArtifact:
        """Describe an output artifact; TFX's declared properties go in ``properties``."""
        return NewArtifact(type_name, uri, dict(properties), dict(custom or {}))

    def execution(
        self,
        type_name: str,
        *,
        contexts: Sequence[int],
        inputs: Mapping[str, Sequence[int]] | None = None,
        outputs: Mapping[str, Sequence[int | NewArtifact]] | None = None,
        internal_outputs: Mapping[str, Sequence[int]] | None = None,
        state: str = "COMPLETE",
        start_ms: int = 0,
        end_ms: int = 0,
        properties: Mapping[str, PropertyValue] | None = None,
        custom: Mapping[str, PropertyValue] | None = None,
    ) -> tuple[int, dict[str, list[int]]]:
        """Record one execution with its events, the way a TFX launcher publishes it.

        ``outputs`` may name existing artifact ids (a cache hit re-publishing the original run's
        artifacts) or :class:`NewArtifact` specs created now. Every artifact is attributed to
        each of ``contexts``. Returns the execution id and the output artifact ids by key.
        """
        pb = self.pb
        execution = pb.Execution(
            type_id=self._type_id(
                "execution", type_name, {p: type(v) for p, v in (properties or {}).items()}
            ),
            last_known_state=ExecutionState[state].value,
        )
        self._set(execution.properties, properties or {})
        self._set(execution.custom_properties, custom or {})
        pairs: list[tuple[Any, Any]] = []
        out_keys: list[str] = []
        existing = self.artifacts_by_id(
            [
                a
                for group in (inputs, outputs, internal_outputs)
                for ids in (group or {}).values()
                for a in ids
                if isinstance(a, int)
            ]
        )
        for event_type, group in (
            (EventType.INPUT, inputs),
            (EventType.OUTPUT, outputs),
            (EventType.INTERNAL_OUTPUT, internal_outputs),
        ):
            for key, items in (group or {}).items():
                for index, item in enumerate(items):
                    if isinstance(item, NewArtifact):
                        artifact = self._make_artifact(item)
                    else:
                        artifact = existing[item]
                    at = start_ms if event_type == EventType.INPUT else end_ms
                    event = pb.Event(type=event_type.value, milliseconds_since_epoch=at)
                    event.path.steps.add().key = key
                    event.path.steps.add().index = index
                    pairs.append((artifact, event))
                    if event_type != EventType.INPUT:
                        out_keys.append(key)
        ctx_protos = self.store.get_contexts_by_id(list(contexts)) if contexts else []
        eid, artifact_ids, _ = self.store.put_execution(execution, pairs, ctx_protos)
        self._times["Execution"].append((eid, start_ms, end_ms))
        produced: dict[str, list[int]] = {}
        for (artifact, event), aid in zip(pairs, artifact_ids, strict=True):
            if not artifact.HasField("id"):
                self._times["Artifact"].append((aid, end_ms, end_ms))
            if event.type != EventType.INPUT:
                produced.setdefault(event.path.steps[0].key, []).append(aid)
        return eid, produced

    def artifacts_by_id(self, ids: list[int]) -> dict[int, Any]:
        """The client's artifact protos of ``ids``, by id."""
        if not ids:
            return {}
        return {a.id: a for a in self.store.get_artifacts_by_id(sorted(set(ids)))}

    def _make_artifact(self, spec: NewArtifact) -> Any:
        declared = {
            k: DECLARED_ARTIFACT_PROPERTIES[k]
            for k in spec.properties
            if k in DECLARED_ARTIFACT_PROPERTIES
        }
        artifact = self.pb.Artifact(
            type_id=self._type_id("artifact", spec.type_name, declared),
            uri=spec.uri,
            state=spec.state,
        )
        self._set(artifact.properties, {k: v for k, v in spec.properties.items() if k in declared})
        self._set(
            artifact.custom_properties,
            {**{k: v for k, v in spec.properties.items() if k not in declared}, **spec.custom},
        )
        return artifact

    def set_artifact_state(self, artifact_id: int, state: int) -> None:
        """Change an artifact's state (e.g. 4 DELETED after garbage collection)."""
        [artifact] = self.store.get_artifacts_by_id([artifact_id])
        artifact.state = state
        self.store.put_artifacts([artifact])

    def set_execution_state(self, execution_id: int, state: str, end_ms: int) -> None:
        """Move an execution to a new state (a RUNNING trainer that finished or failed)."""
        [execution] = self.store.get_executions_by_id([execution_id])
        execution.last_known_state = ExecutionState[state].value
        self.store.put_executions([execution])
        start_ms = next((s for e, s, _ in self._times["Execution"] if e == execution_id), None)
        if start_ms is None:
            start_ms = execution.create_time_since_epoch
        self._times["Execution"].append((execution_id, start_ms, end_ms))

    def register_types(self, types: Sequence[TypeSpec]) -> list[int]:
        """Register MLMD types in the given order (declared properties, base types).

        Args:
            types: the types, e.g. :data:`mlprov.sample.synth.tfx.TYPES`.

        Returns:
            The type ids, in the same order.
        """
        pb = self.pb
        kinds = {
            Kind.EXECUTION: ("execution", pb.ExecutionType),
            Kind.ARTIFACT: ("artifact", pb.ArtifactType),
            Kind.CONTEXT: ("context", pb.ContextType),
        }
        ids = []
        for spec in types:
            kind, cls = kinds[spec.kind]
            t = cls(name=spec.name)
            for prop, data_type in spec.properties:
                t.properties[prop] = int(data_type)
            if spec.base_type:
                t.base_type = getattr(cls, spec.base_type.removeprefix("mlmd.").upper())
            type_id = getattr(self.store, f"put_{kind}_type")(
                t, can_add_fields=True, can_omit_fields=True
            )
            self._types[(kind, spec.name)] = type_id
            ids.append(type_id)
        return ids

    def replay(self, log: PutLog, progress: Callable[[int, int], None] | None = None) -> None:
        """Write a put log through the client (see :func:`mlprov.sample.synth.replay.replay`)."""
        from mlprov.sample.synth.replay import replay

        replay(self, log, progress)

    def stamp(self, table: str, rows: Iterable[tuple[int, int, int]]) -> None:
        """Record (id, create ms, update ms) of rows of ``table`` for :meth:`close` to write."""
        self._times[table].extend(rows)

    def close(self) -> None:
        """Release the client and stamp the recorded create/update times into the store."""
        self.store = None  # the client closes its connection when released
        update = "UPDATE {} SET create_time_since_epoch = {}, last_update_time_since_epoch = {} "
        if self._run_sql is not None:
            self._run_sql(
                "".join(
                    (update + "WHERE id = {};\n").format(table, int(start), int(end), int(node))
                    for table, rows in self._times.items()
                    for node, start, end in rows
                )
            )
        else:
            with sqlite3.connect(self.path) as con:
                for table, rows in self._times.items():
                    con.executemany(
                        update.format(table, "?", "?") + "WHERE id = ?",
                        [(start, end, node_id) for node_id, start, end in rows],
                    )
            con.close()
        for rows in self._times.values():
            rows.clear()

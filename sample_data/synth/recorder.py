"""Where the simulation records one pipeline's history: plain Python lists with local ids.

Appends are cheap; :func:`mlprov.sample.synth.log.merge` later turns many recorders into one put
log with the store's ids. States and event types are :mod:`mlprov.provenance.mlmd_codes` values.
"""

from __future__ import annotations

import numpy as np

# Value kinds of a property row.
INT, DOUBLE, STRING, ARTIFACT_REF = 0, 1, 2, 3


class PropertyRows:
    """Property rows, flat (two appends a row, not seven): per row, six ints in :attr:`ints`
    (owner, name code, custom flag, kind, int value, string code or -1) and one float in
    :attr:`doubles`."""

    def __init__(self) -> None:
        self.ints: list[int] = []
        self.doubles: list[float] = []

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows as an (n, 6) int64 array and an (n,) float64 array."""
        ints = np.asarray(self.ints, dtype=np.int64).reshape(-1, 6)
        return ints, np.asarray(self.doubles, dtype=np.float64)


class PipelineRecorder:
    """Collects one pipeline's executions, artifacts, events and properties with local ids.

    Local ids are positions in this recorder's lists. Property values of kind ``ARTIFACT_REF``
    hold a local artifact id that :func:`~mlprov.sample.synth.log.merge` turns into the store's
    artifact id.
    """

    def __init__(self, index: int, name: str) -> None:
        self.index = index
        self.name = name
        self.ex_node: list[int] = []
        self.ex_state: list[int] = []
        self.ex_start: list[int] = []
        self.ex_end: list[int] = []
        self.ex_run: list[int] = []
        self.ev_exec: list[int] = []
        self.ev_art: list[int] = []
        self.ev_type: list[int] = []
        self.ev_key: list[int] = []
        self.ev_index: list[int] = []
        self.art_type: list[int] = []
        self.art_node: list[int] = []
        self.art_key: list[int] = []
        self.run_start: list[int] = []
        self.run_name: list[str] = []
        self.strings: list[str] = []
        self._string_codes: dict[str, int] = {}
        self.ep = PropertyRows()
        self.ap = PropertyRows()

    def string(self, value: str) -> int:
        """Intern a string property value and return its local code."""
        code = self._string_codes.get(value)
        if code is None:
            code = self._string_codes[value] = len(self.strings)
            self.strings.append(value)
        return code

    def run(self, start_ms: int, name: str) -> int:
        """Start a pipeline run (a ``pipeline_run`` context); returns its local id."""
        self.run_start.append(start_ms)
        self.run_name.append(name)
        return len(self.run_start) - 1

    def artifact(self, type_code: int, node: int, key: int) -> int:
        """Declare an artifact that the next execution of ``node`` outputs under ``key``."""
        self.art_type.append(type_code)
        self.art_node.append(node)
        self.art_key.append(key)
        return len(self.art_type) - 1

    def execution(self, node: int, state: int, start_ms: int, end_ms: int, run: int) -> int:
        """Record an execution; add its events right after with :meth:`event`."""
        self.ex_node.append(node)
        self.ex_state.append(state)
        self.ex_start.append(start_ms)
        self.ex_end.append(end_ms)
        self.ex_run.append(run)
        return len(self.ex_node) - 1

    def event(self, execution: int, artifact: int, event_type: int, key: int, index: int) -> None:
        """Record an event of the last recorded execution (events keep their put order)."""
        self.ev_exec.append(execution)
        self.ev_art.append(artifact)
        self.ev_type.append(event_type)
        self.ev_key.append(key)
        self.ev_index.append(index)

    def _prop(
        self,
        rows: PropertyRows,
        owner: int,
        name: int,
        custom: int,
        value: int | float | str,
        ref: bool,
    ) -> None:
        if ref:
            kind, i, d, s = ARTIFACT_REF, int(value), 0.0, -1
        elif isinstance(value, str):
            kind, i, d, s = STRING, 0, 0.0, self.string(value)
        elif isinstance(value, float):
            kind, i, d, s = DOUBLE, 0, value, -1
        else:
            kind, i, d, s = INT, value, 0.0, -1
        rows.ints.extend((owner, name, custom, kind, i, s))
        rows.doubles.append(d)

    def exec_prop(self, execution: int, name: int, value: int | float | str) -> None:
        """Add a custom property to an execution (TFX records exec properties as custom)."""
        self._prop(self.ep, execution, name, 1, value, False)

    def art_prop(
        self,
        artifact: int,
        name: int,
        value: int | float | str,
        *,
        custom: bool = True,
        ref: bool = False,
    ) -> None:
        """Add a property to an artifact; ``ref`` marks an int holding a local artifact id."""
        self._prop(self.ap, artifact, name, int(custom), value, ref)

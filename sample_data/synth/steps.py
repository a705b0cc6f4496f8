"""One component execution of a pipeline run, as a TFX launcher would publish it.

:class:`Steps` holds what an execution needs of its pipeline (the recorder, the draws, the
current code and hyperparameter versions) and runs one node at a time: its start delay,
duration and CPU cost, a failure, a cache hit on a retry, or a cut at the window end; then
its input and output events and its execution properties.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from mlprov.provenance.mlmd_codes import EventType, ExecutionState
from mlprov.sample.synth.config import SynthConfig
from mlprov.sample.synth.parameters import (
    ARTIFACT_CODES,
    COST,
    DURATION_SIGMA,
    FAILURE,
    HOUR_MS,
    MINUTE_MS,
    WINDOW_SCALED,
    Draws,
    draw_pipeline,
)
from mlprov.sample.synth.quality import Model
from mlprov.sample.synth.recorder import PipelineRecorder
from mlprov.sample.synth.tfx import KEY, PROP, TFX_VERSION, Node
from mlprov.sample.synth.truth import TruthRow


@dataclass
class Attempt:
    """One pipeline run (a pipeline_run context); a retry attempt can reuse cached outputs."""

    run: int
    prev: Attempt | None
    done: dict[int, tuple[tuple[int, ...], dict[int, list[int]]]] = field(default_factory=dict)
    end: int = 0
    stopped: bool = False
    failed_node: int = -1
    cut: bool = False


class Steps:
    """A pipeline's parameters, recorder and draws, and how one of its nodes executes.

    Args:
        config: the generator configuration.
        index: pipeline index (seeds its random stream).
    """

    def __init__(self, config: SynthConfig, index: int) -> None:
        self.config = config
        self.index = index
        self.rng = np.random.default_rng(np.random.SeedSequence([config.seed, index]))
        self.d = Draws(self.rng)
        self.window_end = config.end_ms
        self.p = draw_pipeline(config, index, self.d)
        self.rec = PipelineRecorder(index, self.p.name)
        self.truth: list[TruthRow] = []
        # latent data per span: feature means, stds
        self.mean: list[tuple[float, float]] = []
        self.std: list[tuple[float, float]] = []
        self.code_version = 0
        self.transform_version = 0
        self.train_steps = 1000 * (1 + int(self.d.u() * 10))
        self.window_spans: list[int] = []

    def _step(
        self,
        att: Attempt,
        node: Node,
        ready: int,
        inputs: list[tuple[str, list[int]]],
        outputs: list[tuple[str, str]],
        sig: tuple[int, ...] = (),
        cacheable: bool = True,
        window: int = 1,
    ) -> tuple[int, dict[int, list[int]]] | None:
        """Run ``node`` once; returns (execution id, outputs by key code) or None if it stopped.

        A retry attempt whose previous attempt completed ``node`` with the same signature
        publishes a CACHED execution pointing at the earlier outputs.
        """
        if att.stopped:
            return None
        d, rec = self.d, self.rec
        start = ready + int(1_000 + d.u() * 20_000)
        if start >= self.window_end:
            att.stopped = att.cut = True
            return None
        sig = (*sig, *(a for _, arts in inputs for a in arts))
        prev = att.prev.done.get(node) if att.prev is not None and cacheable else None
        if prev is not None and prev[0] == sig:
            end = start + int(2_000 + d.u() * 8_000)
            ex = rec.execution(node, ExecutionState.CACHED, start, end, att.run)
            self._events(ex, inputs, EventType.INPUT)
            for key, arts in prev[1].items():
                for i, a in enumerate(arts):
                    rec.event(ex, a, EventType.OUTPUT, key, i)
            self._exec_props(ex, node, 0.0)
            att.done[node] = prev
            att.end = max(att.end, end)
            return ex, prev[1]
        median, cores = COST[node]
        scale = self.p.size * window ** WINDOW_SCALED.get(node, 0.0)
        dur = d.lognormal(median * scale, DURATION_SIGMA) * MINUTE_MS
        if node in (Node.LATEST_MODEL_RESOLVER, Node.LATEST_BLESSED_MODEL_RESOLVER):
            dur = d.lognormal(1_500, 0.3)  # a metadata query: about a second
        end = start + max(int(dur), 500)
        if end > self.window_end:
            ex = rec.execution(node, ExecutionState.RUNNING, start, start, att.run)
            self._events(ex, inputs, EventType.INPUT)
            self._exec_props(ex, node, 0.0)
            att.stopped = att.cut = True
            att.end = max(att.end, start)
            if node == Node.TRAINER:
                self.truth.append(self._truth_row(ex, start))
            return None
        if d.u() < FAILURE[node]:
            end = start + int((end - start) * (0.05 + 0.85 * d.u()))
            ex = rec.execution(node, ExecutionState.FAILED, start, end, att.run)
            self._events(ex, inputs, EventType.INPUT)
            self._exec_props(ex, node, cores * (end - start) / HOUR_MS)
            att.stopped = True
            att.failed_node = node
            att.end = max(att.end, end)
            if node == Node.TRAINER:
                row = self._truth_row(ex, start)
                row.cause = "failure"
                self.truth.append(row)
            return None
        ex = rec.execution(node, ExecutionState.COMPLETE, start, end, att.run)
        self._events(ex, inputs, EventType.INPUT)
        produced: dict[int, list[int]] = {}
        for out_key, type_name in outputs:
            k = KEY[out_key]
            a = rec.artifact(ARTIFACT_CODES[type_name], node, k)
            rec.event(ex, a, EventType.OUTPUT, k, 0)
            rec.art_prop(a, PROP["tfx_version"], TFX_VERSION)
            produced[k] = [a]
        self._exec_props(ex, node, cores * (end - start) / HOUR_MS * d.lognormal(1.0, 0.1))
        att.done[node] = (sig, produced)
        att.end = max(att.end, end)
        return ex, produced

    def _events(self, ex: int, groups: list[tuple[str, list[int]]], event_type: int) -> None:
        for key, arts in groups:
            k = KEY[key]
            for i, a in enumerate(arts):
                self.rec.event(ex, a, event_type, k, i)

    def _resolver(self, att: Attempt, node: Node, ready: int, model: Model | None) -> int:
        """A Resolver execution re-emitting ``model`` (if any) as INTERNAL_OUTPUT."""
        if att.stopped:
            return ready
        start = ready + int(1_000 + self.d.u() * 20_000)
        if start >= self.window_end:
            att.stopped = att.cut = True
            return ready
        end = start + max(int(self.d.lognormal(1_500, 0.3)), 200)
        ex = self.rec.execution(node, ExecutionState.COMPLETE, start, end, att.run)
        if model is not None:
            self.rec.event(ex, model.art, EventType.INTERNAL_OUTPUT, KEY["model"], 0)
        self._exec_props(ex, node, 0.0)
        return end

    def _exec_props(self, ex: int, node: Node, cpu_hours: float) -> None:
        rec, p = self.rec, self.p
        rec.exec_prop(ex, PROP["cpu_hours"], round(cpu_hours, 6))
        if node == Node.EXAMPLE_GEN:
            rec.exec_prop(ex, PROP["input_base"], f"gs://data/{p.name}")
            rec.exec_prop(
                ex,
                PROP["input_config"],
                '{"splits": [{"name": "single_split", "pattern": "span-{SPAN}/*"}]}',
            )
            rec.exec_prop(ex, PROP["span"], len(self.mean) - 1)
        elif node in (Node.STATISTICS_GEN, Node.SCHEMA_GEN, Node.EXAMPLE_VALIDATOR):
            rec.exec_prop(ex, PROP["exclude_splits"], "[]")
        elif node == Node.TRANSFORM:
            rec.exec_prop(
                ex,
                PROP["module_path"],
                f"preprocessing@{_digest(p.name, 't', self.transform_version)}",
            )
        elif node == Node.TUNER:
            rec.exec_prop(ex, PROP["module_path"], self._trainer_module())
            rec.exec_prop(ex, PROP["tune_args"], '{"num_parallel_trials": 4}')
        elif node == Node.TRAINER:
            rec.exec_prop(ex, PROP["module_path"], self._trainer_module())
            rec.exec_prop(ex, PROP["train_args"], f'{{"num_steps": {self.train_steps}}}')
            rec.exec_prop(ex, PROP["eval_args"], '{"num_steps": 100}')
            rec.exec_prop(
                ex,
                PROP["custom_config"],
                json.dumps({"model_type": p.model_type, "window_spans": p.window}),
            )
            rec.exec_prop(ex, PROP["model_type"], p.model_type)
        elif node == Node.EVALUATOR:
            rec.exec_prop(
                ex,
                PROP["eval_config"],
                json.dumps({"metric": "auc", "change_threshold": round(p.threshold, 4)}),
            )
        elif node == Node.INFRA_VALIDATOR:
            rec.exec_prop(ex, PROP["serving_spec"], '{"tensorflow_serving": {"tags": ["latest"]}}')
        elif node == Node.PUSHER:
            rec.exec_prop(ex, PROP["push_destination"], f"/serving/{p.name}")

    def _trainer_module(self) -> str:
        return f"trainer@{_digest(self.p.name, 'm', self.code_version)}"

    def _truth_row(self, ex: int, start: int) -> TruthRow:
        return TruthRow(ex, self.p.name, start, list(self.window_spans), self.p.model_type)


def _digest(*parts: object) -> str:
    """A short stable hash (module file fingerprints)."""
    h = 1469598103934665603
    for ch in "/".join(str(p) for p in parts):
        h = ((h ^ ord(ch)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"[:12]

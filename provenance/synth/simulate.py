"""Simulate TFX pipelines over a time window and record what they would write to MLMD.

One :class:`PipelineSim` per pipeline walks through its runs in time order and records every
execution, artifact, event and property into a :class:`~provenance.synth.log.PipelineRecorder`,
plus one ground-truth row per training execution. Pipelines are independent (each has its own
random stream, ``SeedSequence([seed, index])``), so they can be simulated in any order or in
parallel. The distributions and their parameters are documented in
:mod:`provenance.synth.generator`; the constants below are those parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from provenance.synth.config import SynthConfig
from provenance.synth.log import (
    CACHED,
    COMPLETE,
    FAILED,
    INPUT,
    INTERNAL_OUTPUT,
    OUTPUT,
    RUNNING,
    PipelineRecorder,
)
from provenance.synth.tfx import KEY, PROP, TFX_VERSION, Kind, Node, type_code

T = TypeVar("T")

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MINUTE_MS = 60_000

# -- lifespans --------------------------------------------------------------------------------
LIFE_MEDIAN_DAYS = 20.0  # lognormal lifespan of pipelines that do not span the window
LIFE_SIGMA = 1.0
# -- structure ---------------------------------------------------------------------------------
TRAIN_EVERY = (1, 1, 1, 1, 2, 3)  # spans ingested per training run (uniform choice)
WINDOW_SPANS = (1, 2, 3, 5, 7, 10, 14)  # rolling window length in spans
WINDOW_WEIGHTS = (0.1, 0.15, 0.2, 0.2, 0.15, 0.1, 0.1)
P_TRANSFORM, P_TUNER, P_INFRA, P_WARM, P_BASELINE = 0.75, 0.15, 0.3, 0.35, 0.85
P_STRUCTURE_CHANGE = 0.3
TUNE_EVERY = 20  # trainings between Tuner runs (also after each config change)
MODEL_TYPES = ("dnn", "linear", "boosted_trees")
MODEL_TYPE_WEIGHTS = (0.5, 0.3, 0.2)
# -- data --------------------------------------------------------------------------------------
WALK_SIGMA_PER_DAY = 0.05  # latent feature means: Gaussian random walk, per sqrt(day)
SHOCK_PER_SPAN = 0.2  # probability that a span brings an abrupt shift
SHOCK_SIGMA = 0.5
# -- model quality ------------------------------------------------------------------------------
BASE_QUALITY = {"dnn": 0.80, "linear": 0.76, "boosted_trees": 0.78}
SKILL_NOISE = {"dnn": 0.0015, "linear": 0.0008, "boosted_trees": 0.0012}
EVAL_NOISE = 0.002  # sd of the metric measured on one evaluation span
DRIFT_WEIGHT = 0.1  # alpha: metric lost per unit of latent distance
HETEROGENEITY_WEIGHT = 2.5  # gamma: weight of excess within-window spread
EXPECTED_SPREAD = 0.6  # spread up to this x walk sd x sqrt(window) is normal
WARM_START_BONUS = 0.002
CONFIG_CHANGES_PER_DAY = 1 / 21
CODE_EFFECT = (-0.004, 0.008)  # mean, sd of a code / hyperparameter change's effect
STRUCTURE_PENALTY = (0.03, 0.08)  # uniform range of the penalty right after a change
STRUCTURE_DECAY = 2.0  # trainings
THRESHOLD_RANGE = (-0.008, -0.001)  # Evaluator change threshold delta per pipeline
FLOOR_BELOW_BASE = 0.2
P_INFRA_REJECT = 0.03
# -- failures, retries ----------------------------------------------------------------------
FAILURE = {
    Node.EXAMPLE_GEN: 0.01,
    Node.STATISTICS_GEN: 0.005,
    Node.SCHEMA_GEN: 0.002,
    Node.EXAMPLE_VALIDATOR: 0.003,
    Node.TRANSFORM: 0.015,
    Node.TUNER: 0.02,
    Node.LATEST_MODEL_RESOLVER: 0.0,
    Node.TRAINER: 0.03,
    Node.LATEST_BLESSED_MODEL_RESOLVER: 0.0,
    Node.EVALUATOR: 0.01,
    Node.INFRA_VALIDATOR: 0.01,
    Node.PUSHER: 0.005,
}
P_RETRY = 0.6
RETRY_DELAY_MEDIAN_MIN = 45.0
# -- cost: (median minutes for a unit-size span, cores) ------------------------------------------
COST = {
    Node.EXAMPLE_GEN: (10.0, 4.0),
    Node.STATISTICS_GEN: (6.0, 4.0),
    Node.SCHEMA_GEN: (0.5, 1.0),
    Node.EXAMPLE_VALIDATOR: (1.5, 2.0),
    Node.TRANSFORM: (4.0, 8.0),
    Node.TUNER: (60.0, 16.0),
    Node.LATEST_MODEL_RESOLVER: (0.02, 0.1),
    Node.TRAINER: (20.0, 16.0),
    Node.LATEST_BLESSED_MODEL_RESOLVER: (0.02, 0.1),
    Node.EVALUATOR: (8.0, 4.0),
    Node.INFRA_VALIDATOR: (5.0, 2.0),
    Node.PUSHER: (0.5, 1.0),
}
WINDOW_SCALED = {Node.TRANSFORM: 0.8, Node.TUNER: 0.7, Node.TRAINER: 0.7}  # x window^exponent
DURATION_SIGMA = 0.35
SIZE_SIGMA = 0.6

SPLITS = '["train", "eval"]'
_T = {
    name: type_code(Kind.ARTIFACT, name)
    for name in (
        "Examples",
        "ExampleStatistics",
        "Schema",
        "ExampleAnomalies",
        "TransformGraph",
        "HyperParameters",
        "Model",
        "ModelRun",
        "ModelEvaluation",
        "ModelBlessing",
        "InfraBlessing",
        "PushedModel",
    )
}
_DOMAINS = (
    "ads-ctr",
    "search-rank",
    "fraud",
    "churn",
    "recs",
    "eta",
    "spam",
    "pricing",
    "forecast",
    "vision-tag",
    "nlp-intent",
    "anomaly",
)


class Draws:
    """Buffered scalar draws from a numpy Generator (one-by-one draws are slow in Python)."""

    def __init__(self, rng: np.random.Generator, size: int = 4096) -> None:
        self._rng = rng
        self._size = size
        self._u: list[float] = []
        self._z: list[float] = []

    def u(self) -> float:
        """A uniform draw in [0, 1)."""
        if not self._u:
            self._u = self._rng.random(self._size).tolist()
        return self._u.pop()

    def z(self) -> float:
        """A standard normal draw."""
        if not self._z:
            self._z = self._rng.standard_normal(self._size).tolist()
        return self._z.pop()

    def choice(self, values: Sequence[T], weights: Sequence[float] | None = None) -> T:
        """Pick one of ``values`` (uniformly unless ``weights`` are given)."""
        if weights is None:
            return values[min(int(self.u() * len(values)), len(values) - 1)]
        total = sum(weights)
        r, acc = self.u() * total, 0.0
        for v, w in zip(values, weights, strict=True):
            acc += w
            if r < acc:
                return v
        return values[-1]

    def lognormal(self, median: float, sigma: float) -> float:
        """A lognormal draw with the given median and log-sd."""
        return median * math.exp(sigma * self.z())


@dataclass
class TruthRow:
    """Ground truth for one training execution (see :mod:`provenance.synth.generator`)."""

    local_exec: int
    pipeline: str
    train_start_ms: int
    window_spans: list[int]
    model_type: str
    pushed: bool = False
    cause: str = "in_flight"
    blessed: bool | None = None


@dataclass
class _Model:
    art: int
    trainer_truth: TruthRow
    skill: float
    mean: tuple[float, float]
    het: float
    code_effect: float
    structure_penalty: float


@dataclass
class _Attempt:
    """One pipeline run (a pipeline_run context); a retry attempt can reuse cached outputs."""

    run: int
    prev: _Attempt | None
    done: dict[int, tuple[tuple[int, ...], dict[int, list[int]]]] = field(default_factory=dict)
    end: int = 0
    stopped: bool = False
    failed_node: int = -1
    cut: bool = False


@dataclass
class _Pipeline:
    """Per-pipeline parameters, drawn once."""

    name: str
    life_start: int
    life_end: int
    period_ms: int
    train_every: int
    window: int
    size: float
    transform: bool
    tuner: bool
    infra: bool
    warm: bool
    baseline: bool
    model_type: str
    threshold: float
    structure_change_ms: int
    structure_toggle: str
    config_changes: list[int]


class PipelineSim:
    """Simulate one pipeline over the window into a recorder.

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
        self.p = self._draw_pipeline()
        self.rec = PipelineRecorder(index, self.p.name)
        self.truth: list[TruthRow] = []
        # latent data per span: feature means, stds
        self.mean: list[tuple[float, float]] = []
        self.std: list[tuple[float, float]] = []
        self.examples: dict[int, int] = {}  # span -> Examples artifact
        self.last_model: _Model | None = None
        self.last_blessed: _Model | None = None
        self.models: dict[int, _Model] = {}
        self.hyperparameters: int | None = None
        self.trainings = 0
        self.trainings_since_tune = 0
        self.tune_due = True
        self.code_version = 0
        self.transform_version = 0
        self.code_effect = 0.0
        self.train_steps = 1000 * (1 + int(self.d.u() * 10))
        self.structure_applied = False
        self.trainings_since_structure = -1
        self.structure_penalty_scale = 0.0
        self.config_cursor = 0
        self.window_spans: list[int] = []
        self.walk = 0.0

    # -- parameters ------------------------------------------------------------------------
    def _draw_pipeline(self) -> _Pipeline:
        d, c = self.d, self.config
        w0, w1 = c.start_ms, c.end_ms
        period_h = d.choice(c.cadence_hours, c.cadence_weights)
        period = int(period_h * HOUR_MS)
        jitter = int(d.u() * min(period, DAY_MS))
        if d.u() < c.full_life_share:
            start, end = w0 + jitter, w1
        else:
            start = w0 + jitter + int(d.u() * (w1 - w0))
            life = d.lognormal(LIFE_MEDIAN_DAYS, LIFE_SIGMA) * DAY_MS
            if d.u() < 0.3:  # already running when the store was created
                start = w0 + jitter
            end = min(w1, int(start + life))
        train_every = d.choice(TRAIN_EVERY)
        window = max(train_every, d.choice(WINDOW_SPANS, WINDOW_WEIGHTS))
        # fast cadences have small spans; slow ones big
        size = d.lognormal(1.0, SIZE_SIGMA) * (period_h / 24.0) ** 0.5
        structure_change_ms = -1
        toggle = ""
        if d.u() < P_STRUCTURE_CHANGE:
            structure_change_ms = int(start + (0.2 + 0.6 * d.u()) * max(end - start, 0))
            toggle = str(d.choice(("transform", "infra", "warm", "tuner")))
        changes = []
        t = float(start)
        while True:
            t += -math.log(1.0 - d.u()) / CONFIG_CHANGES_PER_DAY * DAY_MS
            if t >= end:
                break
            changes.append(int(t))
        domain = str(d.choice(_DOMAINS))
        return _Pipeline(
            name=f"{domain}-{self.index:04d}",
            life_start=start,
            life_end=end,
            period_ms=period,
            train_every=train_every,
            window=window,
            size=size,
            transform=d.u() < P_TRANSFORM,
            tuner=d.u() < P_TUNER,
            infra=d.u() < P_INFRA,
            warm=d.u() < P_WARM,
            baseline=d.u() < P_BASELINE,
            model_type=str(d.choice(MODEL_TYPES, MODEL_TYPE_WEIGHTS)),
            threshold=THRESHOLD_RANGE[0] + d.u() * (THRESHOLD_RANGE[1] - THRESHOLD_RANGE[0]),
            structure_change_ms=structure_change_ms,
            structure_toggle=toggle,
            config_changes=changes,
        )

    # -- main loop ---------------------------------------------------------------------------
    def run(self) -> PipelineSim:
        """Simulate every run of the pipeline; returns self (recorder and truth filled)."""
        p, d = self.p, self.d
        prev_end = p.life_start
        span = 0
        m0, m1, s0, s1 = d.z(), d.z(), 0.0, 0.0
        walk = self.walk = WALK_SIGMA_PER_DAY * math.sqrt(p.period_ms / DAY_MS)
        while True:
            scheduled = p.life_start + (span + 1) * p.period_ms
            if scheduled >= p.life_end:
                break
            t0 = max(scheduled, prev_end + int(30_000 + d.u() * 300_000))
            if t0 >= self.window_end:
                break
            m0 += walk * d.z()
            m1 += walk * d.z()
            s0 += 0.3 * walk * d.z()
            s1 += 0.3 * walk * d.z()
            if d.u() < SHOCK_PER_SPAN:
                m0 += SHOCK_SIGMA * d.z()
                m1 += SHOCK_SIGMA * d.z()
                s0 += 0.3 * SHOCK_SIGMA * d.z()
            self.mean.append((m0, m1))
            self.std.append((math.exp(s0), math.exp(s1)))
            train = (span + 1) % p.train_every == 0
            if train:
                self._apply_changes(t0)
            attempt = self._attempt(span, train, t0, None)
            retries = 0
            while attempt.failed_node >= 0 and retries < 2 and d.u() < P_RETRY:
                retries += 1
                t_retry = attempt.end + int(d.lognormal(RETRY_DELAY_MEDIAN_MIN, 0.5) * MINUTE_MS)
                if t_retry >= self.window_end:
                    break
                attempt = self._attempt(span, train, t_retry, attempt)
            prev_end = attempt.end
            if attempt.cut:
                break
            span += 1
        return self

    def _apply_changes(self, now: int) -> None:
        """Apply configuration and structure changes that happened before this training."""
        p, d = self.p, self.d
        while (
            self.config_cursor < len(p.config_changes)
            and p.config_changes[self.config_cursor] <= now
        ):
            self.config_cursor += 1
            r = d.u()
            if r < 0.5:  # hyperparameters
                self.train_steps = 1000 * (1 + int(d.u() * 10))
            elif r < 0.8:  # trainer code
                self.code_version += 1
            elif r < 0.95:  # transform code
                self.transform_version += 1
            else:  # model type switch
                p.model_type = str(d.choice(MODEL_TYPES, MODEL_TYPE_WEIGHTS))
                self.code_version += 1
            self.code_effect = 0.5 * self.code_effect + CODE_EFFECT[0] + CODE_EFFECT[1] * d.z()
            self.tune_due = True
        if not self.structure_applied and 0 <= p.structure_change_ms <= now:
            self.structure_applied = True
            setattr(p, p.structure_toggle, not getattr(p, p.structure_toggle))
            self.trainings_since_structure = 0
            self.structure_penalty_scale = STRUCTURE_PENALTY[0] + d.u() * (
                STRUCTURE_PENALTY[1] - STRUCTURE_PENALTY[0]
            )
            self.tune_due = True

    # -- one execution ---------------------------------------------------------------------------
    def _step(
        self,
        att: _Attempt,
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
            ex = rec.execution(node, CACHED, start, end, att.run)
            self._events(ex, inputs, INPUT)
            for key, arts in prev[1].items():
                for i, a in enumerate(arts):
                    rec.event(ex, a, OUTPUT, key, i)
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
            ex = rec.execution(node, RUNNING, start, start, att.run)
            self._events(ex, inputs, INPUT)
            self._exec_props(ex, node, 0.0)
            att.stopped = att.cut = True
            att.end = max(att.end, start)
            if node == Node.TRAINER:
                self.truth.append(self._truth_row(ex, start))
            return None
        if d.u() < FAILURE[node]:
            end = start + int((end - start) * (0.05 + 0.85 * d.u()))
            ex = rec.execution(node, FAILED, start, end, att.run)
            self._events(ex, inputs, INPUT)
            self._exec_props(ex, node, cores * (end - start) / HOUR_MS)
            att.stopped = True
            att.failed_node = node
            att.end = max(att.end, end)
            if node == Node.TRAINER:
                row = self._truth_row(ex, start)
                row.cause = "failure"
                self.truth.append(row)
            return None
        ex = rec.execution(node, COMPLETE, start, end, att.run)
        self._events(ex, inputs, INPUT)
        produced: dict[int, list[int]] = {}
        for out_key, type_name in outputs:
            k = KEY[out_key]
            a = rec.artifact(_T[type_name], node, k)
            rec.event(ex, a, OUTPUT, k, 0)
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

    def _resolver(self, att: _Attempt, node: Node, ready: int, model: _Model | None) -> int:
        """A Resolver execution re-emitting ``model`` (if any) as INTERNAL_OUTPUT."""
        if att.stopped:
            return ready
        start = ready + int(1_000 + self.d.u() * 20_000)
        if start >= self.window_end:
            att.stopped = att.cut = True
            return ready
        end = start + max(int(self.d.lognormal(1_500, 0.3)), 200)
        ex = self.rec.execution(node, COMPLETE, start, end, att.run)
        if model is not None:
            self.rec.event(ex, model.art, INTERNAL_OUTPUT, KEY["model"], 0)
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

    # -- one run ----------------------------------------------------------------------------------
    def _attempt(self, span: int, train: bool, t0: int, prev: _Attempt | None) -> _Attempt:
        p, rec = self.p, self.rec
        run = rec.run(t0, f"{p.name}-{_run_id(t0)}")
        att = _Attempt(run, prev, end=t0)
        # data: ingest, statistics, schema, validation
        res = self._step(att, Node.EXAMPLE_GEN, t0, [], [("examples", "Examples")], sig=(span,))
        if res is None:
            return att
        eg, out = res
        [examples] = out[KEY["examples"]]
        if span not in self.examples:
            self.examples[span] = examples
            rec.art_prop(examples, PROP["span"], span, custom=False)
            rec.art_prop(examples, PROP["version"], 0, custom=False)
            rec.art_prop(examples, PROP["split_names"], SPLITS, custom=False)
            rec.art_prop(examples, PROP["file_format"], "tfrecords_gzip")
            rec.art_prop(examples, PROP["payload_format"], "FORMAT_TF_EXAMPLE")
        t = rec.ex_end[eg]
        res = self._step(
            att,
            Node.STATISTICS_GEN,
            t,
            [("examples", [examples])],
            [("statistics", "ExampleStatistics")],
        )
        if res is None:
            return att
        sg, out = res
        [stats] = out[KEY["statistics"]]
        if rec.ex_state[sg] == COMPLETE:
            self._stats_props(stats, span)
        t = rec.ex_end[sg]
        res = self._step(att, Node.SCHEMA_GEN, t, [("statistics", [stats])], [("schema", "Schema")])
        if res is None:
            return att
        sch, out = res
        [schema] = out[KEY["schema"]]
        t_schema = rec.ex_end[sch]
        res = self._step(
            att,
            Node.EXAMPLE_VALIDATOR,
            t_schema,
            [("statistics", [stats]), ("schema", [schema])],
            [("anomalies", "ExampleAnomalies")],
        )
        if res is None:
            return att
        ev, out = res
        if rec.ex_state[ev] == COMPLETE:
            [anomalies] = out[KEY["anomalies"]]
            rec.art_prop(anomalies, PROP["span"], span, custom=False)
            rec.art_prop(anomalies, PROP["split_names"], SPLITS, custom=False)
        if not train:
            return att
        return self._train(att, span, t0, t_schema, schema)

    def _stats_props(self, stats: int, span: int) -> None:
        rec, d = self.rec, self.d
        m, s = self.mean[span], self.std[span]
        rec.art_prop(stats, PROP["span"], span, custom=False)
        rec.art_prop(stats, PROP["split_names"], SPLITS, custom=False)
        n = max(100, int(d.lognormal(50_000 * self.p.size, 0.1)))
        rec.art_prop(stats, PROP["num_examples"], n)
        noise = 1.0 / math.sqrt(n)
        rec.art_prop(stats, PROP["feature_0_mean"], round(m[0] + noise * d.z(), 5))
        rec.art_prop(stats, PROP["feature_0_std"], round(s[0] * (1 + noise * d.z()), 5))
        rec.art_prop(stats, PROP["feature_1_mean"], round(m[1] + noise * d.z(), 5))
        rec.art_prop(stats, PROP["feature_1_std"], round(s[1] * (1 + noise * d.z()), 5))

    def _train(self, att: _Attempt, span: int, t0: int, t_schema: int, schema: int) -> _Attempt:
        p, rec, d = self.p, self.rec, self.d
        spans = [s for s in range(span - p.window + 1, span + 1) if s in self.examples]
        window_examples = [self.examples[s] for s in spans]
        self.window_spans = spans
        trainer_inputs: list[tuple[str, list[int]]]
        ready = t_schema
        if p.transform:
            res = self._step(
                att,
                Node.TRANSFORM,
                t_schema,
                [("examples", window_examples), ("schema", [schema])],
                [("transform_graph", "TransformGraph"), ("transformed_examples", "Examples")],
                sig=(self.transform_version,),
                window=len(spans),
            )
            if res is None:
                return att
            tr, out = res
            [graph] = out[KEY["transform_graph"]]
            [transformed] = out[KEY["transformed_examples"]]
            if rec.ex_state[tr] == COMPLETE:
                rec.art_prop(transformed, PROP["span"], span, custom=False)
                rec.art_prop(transformed, PROP["version"], 0, custom=False)
                rec.art_prop(transformed, PROP["split_names"], SPLITS, custom=False)
            trainer_inputs = [
                ("examples", [transformed]),
                ("transform_graph", [graph]),
                ("schema", [schema]),
            ]
            ready = rec.ex_end[tr]
        else:
            trainer_inputs = [("examples", window_examples), ("schema", [schema])]
        if p.tuner and (
            self.tune_due or self.trainings_since_tune >= TUNE_EVERY or self.hyperparameters is None
        ):
            res = self._step(
                att,
                Node.TUNER,
                ready,
                list(trainer_inputs),
                [("best_hyperparameters", "HyperParameters")],
                sig=(self.code_version, self.train_steps),
                window=len(spans),
            )
            if res is None:
                return att
            tu, out = res
            self.hyperparameters = out[KEY["best_hyperparameters"]][0]
            self.tune_due = False
            self.trainings_since_tune = 0
            ready = rec.ex_end[tu]
        if p.tuner and self.hyperparameters is not None:
            trainer_inputs.append(("hyperparameters", [self.hyperparameters]))
        base = self.last_model if p.warm else None
        if p.warm:
            ready = max(ready, self._resolver(att, Node.LATEST_MODEL_RESOLVER, t0, base))
            if base is not None:
                trainer_inputs.append(("base_model", [base.art]))
        res = self._step(
            att,
            Node.TRAINER,
            ready,
            trainer_inputs,
            [("model", "Model"), ("model_run", "ModelRun")],
            sig=(self.code_version, self.train_steps),
            window=len(spans),
        )
        if res is None:
            return att
        trn, out = res
        [model_art] = out[KEY["model"]]
        if rec.ex_state[trn] == CACHED:
            model = self.models[model_art]
        else:
            model = self._new_model(trn, model_art, spans, base is not None)
        t_model = rec.ex_end[trn]
        baseline = self.last_blessed if p.baseline else None
        if p.baseline:
            self._resolver(att, Node.LATEST_BLESSED_MODEL_RESOLVER, t0, baseline)
        blessed, cause = self._evaluate(model, baseline, span)
        eval_inputs = [("examples", [self.examples[span]]), ("model", [model_art])]
        if baseline is not None:
            eval_inputs.append(("baseline_model", [baseline.art]))
        eval_inputs.append(("schema", [schema]))
        res = self._step(
            att,
            Node.EVALUATOR,
            t_model,
            eval_inputs,
            [("evaluation", "ModelEvaluation"), ("blessing", "ModelBlessing")],
            cacheable=False,
        )
        if res is None:
            return self._stopped(att, model)
        evx, out = res
        [blessing] = out[KEY["blessing"]]
        rec.art_prop(blessing, PROP["blessed"], int(blessed))
        rec.art_prop(blessing, PROP["current_model_id"], model_art, ref=True)
        if baseline is not None:
            rec.art_prop(blessing, PROP["baseline_model_id"], baseline.art, ref=True)
        ready = rec.ex_end[evx]
        pusher_inputs = [("model", [model_art]), ("model_blessing", [blessing])]
        infra_ok = True
        if p.infra:
            res = self._step(
                att,
                Node.INFRA_VALIDATOR,
                t_model,
                [("model", [model_art]), ("examples", [self.examples[span]])],
                [("blessing", "InfraBlessing")],
                cacheable=False,
            )
            if res is None:
                return self._stopped(att, model)
            ivx, out = res
            infra_ok = d.u() >= P_INFRA_REJECT
            [infra] = out[KEY["blessing"]]
            rec.art_prop(infra, PROP["blessed"], int(infra_ok))
            pusher_inputs.append(("infra_blessing", [infra]))
            ready = max(ready, rec.ex_end[ivx])
        res = self._step(
            att,
            Node.PUSHER,
            ready,
            pusher_inputs,
            [("pushed_model", "PushedModel")],
            cacheable=False,
        )
        if res is None:
            return self._stopped(att, model)
        px, out = res
        [pushed_art] = out[KEY["pushed_model"]]
        pushed = blessed and infra_ok
        rec.art_prop(pushed_art, PROP["pushed"], int(pushed))
        row = model.trainer_truth
        row.blessed = blessed
        if pushed:
            rec.art_prop(pushed_art, PROP["pushed_destination"], f"/serving/{p.name}")
            rec.art_prop(pushed_art, PROP["pushed_version"], str(rec.ex_end[px] // 1000))
            row.pushed, row.cause = True, ""
        else:
            row.pushed, row.cause = False, cause if not blessed else "other"
        if blessed:
            self.last_blessed = model
        return att

    def _stopped(self, att: _Attempt, model: _Model) -> _Attempt:
        """Downstream of the trainer stopped: in flight if cut by the window, else failure."""
        model.trainer_truth.cause = "in_flight" if att.cut else "failure"
        return att

    def _new_model(self, trn: int, art: int, spans: list[int], warm: bool) -> _Model:
        p, d = self.p, self.d
        self.trainings += 1
        self.trainings_since_tune += 1
        penalty = 0.0
        if self.trainings_since_structure >= 0:
            penalty = -self.structure_penalty_scale * math.exp(
                -self.trainings_since_structure / STRUCTURE_DECAY
            )
            self.trainings_since_structure += 1
        skill = (
            BASE_QUALITY[p.model_type]
            + self.code_effect
            + penalty
            + (WARM_START_BONUS if warm else 0.0)
            + SKILL_NOISE[p.model_type] * d.z()
        )
        ms = [self.mean[s] for s in spans]
        mean = (sum(m[0] for m in ms) / len(ms), sum(m[1] for m in ms) / len(ms))
        spread = math.sqrt(sum((m[0] - mean[0]) ** 2 + (m[1] - mean[1]) ** 2 for m in ms) / len(ms))
        # only spread beyond what the random walk alone gives over the window counts
        het = max(0.0, spread - EXPECTED_SPREAD * self.walk * math.sqrt(len(ms)))
        row = TruthRow(trn, p.name, self.rec.ex_start[trn], spans, p.model_type, cause="in_flight")
        self.truth.append(row)
        model = _Model(art, row, skill, mean, het, self.code_effect, penalty)
        self.models[art] = model
        self.last_model = model
        return model

    def _evaluate(self, model: _Model, baseline: _Model | None, span: int) -> tuple[bool, str]:
        """Whether the Evaluator blesses ``model``, and the cause if it does not."""
        x = self.mean[span]
        floor = BASE_QUALITY[self.p.model_type] - FLOOR_BELOW_BASE
        delta = self.p.threshold

        def penalty(m: _Model) -> float:
            dist = math.hypot(m.mean[0] - x[0], m.mean[1] - x[1])
            return DRIFT_WEIGHT * (dist + HETEROGENEITY_WEIGHT * m.het)

        noise_c, noise_b = EVAL_NOISE * self.d.z(), EVAL_NOISE * self.d.z()
        cand = model.skill - penalty(model) + noise_c
        thr = (
            floor
            if baseline is None
            else max(floor, baseline.skill - penalty(baseline) + noise_b + delta)
        )
        if cand >= thr:
            return True, ""
        # counterfactuals: which single change, undone, would have let the model through?
        margins: dict[str, float] = {}
        thr_no_drift = floor if baseline is None else max(floor, baseline.skill + noise_b + delta)
        margins["drift"] = model.skill + noise_c - thr_no_drift
        margins["structure_change"] = cand - model.structure_penalty - thr
        if baseline is not None:
            margins["config_change"] = cand + (baseline.code_effect - model.code_effect) - thr
        flips = {k: v for k, v in margins.items() if v >= 0}
        if not flips:
            return False, "other"
        return False, max(flips, key=lambda k: flips[k])


def _digest(*parts: object) -> str:
    """A short stable hash (module file fingerprints)."""
    h = 1469598103934665603
    for ch in "/".join(str(p) for p in parts):
        h = ((h ^ ord(ch)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"[:12]


def _run_id(ms: int) -> str:
    """TFX's default pipeline run id: the run's start time, ISO format with microseconds."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")

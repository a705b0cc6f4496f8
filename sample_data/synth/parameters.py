"""The corpus generator's distributions: their parameters, the random draws, and what each
pipeline draws once.

The distributions are documented in :mod:`mlprov.sample.synth.generator`; the constants below are
their parameters. Every draw of a pipeline comes from one stream (:class:`Draws`), so the order
in which the simulation draws is part of what a seed means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from mlprov.sample.synth.config import SynthConfig
from mlprov.sample.synth.tfx import Kind, Node, type_code

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
ARTIFACT_CODES = {
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
DOMAINS = (
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
class PipelineParams:
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


def draw_pipeline(c: SynthConfig, index: int, d: Draws) -> PipelineParams:
    """Draw the parameters of pipeline ``index`` (in this order: the stream is shared)."""
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
    domain = str(d.choice(DOMAINS))
    return PipelineParams(
        name=f"{domain}-{index:04d}",
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

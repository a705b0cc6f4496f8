"""Model quality: what a trained model is worth on the data, and whether the Evaluator blesses it.

A model's skill comes from its type, the code changes and structure change behind it, warm
start and noise; on the evaluation span it loses quality with the distance between its
training window and that span and with excess spread inside the window. A rejected model
gets a cause: the single factor (drift, structure change, config change) without which it
would have been blessed, the largest such margin winning (see :mod:`mlprov.sample.synth.generator`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlprov.sample.synth.parameters import (
    BASE_QUALITY,
    DRIFT_WEIGHT,
    EVAL_NOISE,
    EXPECTED_SPREAD,
    FLOOR_BELOW_BASE,
    HETEROGENEITY_WEIGHT,
    SKILL_NOISE,
    WARM_START_BONUS,
    Draws,
)
from mlprov.sample.synth.truth import TruthRow


@dataclass
class Model:
    """A trained model as the quality model sees it."""

    art: int
    trainer_truth: TruthRow
    skill: float
    mean: tuple[float, float]
    het: float
    code_effect: float
    structure_penalty: float


def skill(model_type: str, code_effect: float, penalty: float, warm: bool, d: Draws) -> float:
    """The skill of a freshly trained model (one draw)."""
    return (
        BASE_QUALITY[model_type]
        + code_effect
        + penalty
        + (WARM_START_BONUS if warm else 0.0)
        + SKILL_NOISE[model_type] * d.z()
    )


def window_fit(ms: list[tuple[float, float]], walk: float) -> tuple[tuple[float, float], float]:
    """Mean latent features of a training window and its excess spread (heterogeneity)."""
    mean = (sum(m[0] for m in ms) / len(ms), sum(m[1] for m in ms) / len(ms))
    spread = math.sqrt(sum((m[0] - mean[0]) ** 2 + (m[1] - mean[1]) ** 2 for m in ms) / len(ms))
    # only spread beyond what the random walk alone gives over the window counts
    return mean, max(0.0, spread - EXPECTED_SPREAD * walk * math.sqrt(len(ms)))


def evaluate(
    model: Model,
    baseline: Model | None,
    x: tuple[float, float],
    model_type: str,
    delta: float,
    d: Draws,
) -> tuple[bool, str]:
    """Whether the Evaluator blesses ``model`` on span features ``x``, and the cause if not.

    Args:
        model: the candidate.
        baseline: the latest blessed model, if the pipeline compares against one.
        x: the evaluation span's latent feature means.
        model_type: the pipeline's current model type (sets the quality floor).
        delta: the pipeline's change threshold.
        d: the pipeline's draws (two: the candidate's and the baseline's noise).
    """
    floor = BASE_QUALITY[model_type] - FLOOR_BELOW_BASE

    def penalty(m: Model) -> float:
        dist = math.hypot(m.mean[0] - x[0], m.mean[1] - x[1])
        return DRIFT_WEIGHT * (dist + HETEROGENEITY_WEIGHT * m.het)

    noise_c, noise_b = EVAL_NOISE * d.z(), EVAL_NOISE * d.z()
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

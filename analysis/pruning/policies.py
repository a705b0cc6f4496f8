"""The policies: a registry from a policy's name to the function giving its skip mask.

A policy sees every decision (:class:`PolicyInputs`) and returns a :class:`Skip`: which
decisions it skips (only test decisions, the ones scored) and the parameter it used. Adding a
policy is adding a function here and its name to :data:`POLICIES`; the command line's
``--policy`` choices come from it.

Example:
    >>> list(POLICIES)
    ['none', 'oracle', 'random', 'k-nonpush', 'no-new-span', 'learned']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from mlprov.analysis.errors import PruningError
from mlprov.provenance.errors import did_you_mean

if TYPE_CHECKING:
    from mlprov.analysis.pruning.config import PruningConfig
    from mlprov.analysis.pruning.score import Scorer


class Skip(NamedTuple):
    """A policy's decisions: ``mask`` (one bool per decision) and its parameter (threshold, k
    or skip rate; None when it has none)."""

    mask: np.ndarray
    param: float | None


@dataclass(frozen=True)
class PolicyInputs:
    """What a policy decides from: the decisions with their features, the scorer's test
    period, the configuration and, when the learned policy runs, its probabilities.

    Attributes:
        decisions: :func:`mlprov.analysis.pruning.features.decision_features`.
        scorer: its ``test`` and ``scored`` masks and the seeded random order.
        config: ``k`` and the rest of the simulation's settings.
        proba: the learned policy's P(no push) per decision (NaN outside the test period, and
            everywhere when the learned policy is not simulated).
        threshold: the learned policy's threshold, or None when it is not simulated.
    """

    decisions: pd.DataFrame
    scorer: Scorer
    config: PruningConfig
    proba: np.ndarray
    threshold: float | None


def never(inputs: PolicyInputs) -> Skip:
    """``none``: never skip (the reference: saves 0)."""
    return Skip(np.zeros(len(inputs.decisions), dtype=bool), None)


def oracle(inputs: PolicyInputs) -> Skip:
    """``oracle``: skip exactly the graphlets that did not push (saves all avoidable waste)."""
    return Skip(inputs.scorer.scored & ~inputs.decisions["deployed"].to_numpy(), None)


def at_random(inputs: PolicyInputs) -> Skip:
    """``random``: skip at random at the learned policy's skip rate (the oracle's without
    it)."""
    scored = inputs.scorer.scored
    reference = oracle(inputs) if inputs.threshold is None else learned(inputs)
    rate = reference.mask[scored].mean()
    return Skip(inputs.scorer.random_skip(rate), float(rate))


def k_nonpush(inputs: PolicyInputs) -> Skip:
    """``k-nonpush``: skip after ``k`` consecutive known non-pushes of the pipeline."""
    k = inputs.config.k
    nonpush = inputs.decisions["consecutive_nonpush"].to_numpy()
    return Skip(inputs.scorer.test & (nonpush >= k), float(k))


def no_new_span(inputs: PolicyInputs) -> Skip:
    """``no-new-span``: skip when the window holds no span the previous graphlet lacked."""
    return Skip(inputs.scorer.test & (inputs.decisions["new_spans"].to_numpy() == 0), None)


def learned(inputs: PolicyInputs) -> Skip:
    """``learned``: skip when the classifier's P(no push) exceeds the threshold
    (:mod:`mlprov.analysis.pruning.learner`)."""
    assert inputs.threshold is not None, "the learner runs before the policies"
    return Skip(inputs.scorer.test & (inputs.proba > inputs.threshold), inputs.threshold)


Policy = Callable[[PolicyInputs], Skip]
#: Every policy by name, in the order results list them.
POLICIES: Mapping[str, Policy] = MappingProxyType(
    {
        "none": never,
        "oracle": oracle,
        "random": at_random,
        "k-nonpush": k_nonpush,
        "no-new-span": no_new_span,
        "learned": learned,
    }
)


def policy_names(policies: Sequence[str] | str) -> list[str]:
    """The named policies (or every one for ``"all"``) in the order of :data:`POLICIES`.

    Raises:
        PruningError: a name that is no policy, with the closest one.
    """
    names = (
        list(POLICIES)
        if policies == "all"
        else ([policies] if isinstance(policies, str) else list(policies))
    )
    for name in names:
        if name not in POLICIES:
            raise PruningError(
                f"unknown policy {name!r}; valid policies are "
                f"{', '.join(POLICIES)}, all.{did_you_mean(name, POLICIES)}"
            )
    return [p for p in POLICIES if p in names]

"""How a simulation runs: one frozen :class:`PruningConfig` instead of a list of parameters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from mlprov.analysis.errors import PruningError
from mlprov.analysis.pruning.policies import policy_names

Model = Literal["hgb", "logistic"]
Retrain = Literal["once", "monthly"]
MODELS: tuple[Model, ...] = ("hgb", "logistic")
RETRAINS: tuple[Retrain, ...] = ("once", "monthly")
TimeLike = str | dt.date | dt.datetime | pd.Timestamp


@dataclass(frozen=True)
class PruningConfig:
    """What to simulate, and how: checked when made.

    Attributes:
        policies: names from :data:`~mlprov.analysis.pruning.policies.POLICIES`, or ``"all"``.
        train_until: start of the test period (UTC); default: the time by which 60% of the
            decisions had been taken.
        threshold: the learned policy's probability threshold; default: the lowest that keeps
            99% of pushes on the last quarter of the training period.
        k: consecutive non-pushes after which ``k-nonpush`` skips.
        seed: seed of the classifier, the random policy and permutation importance.
        model: ``hgb`` (histogram gradient boosting) or ``logistic`` regression.
        retrain: ``once`` at ``train_until``, or ``monthly`` (30 days) through the test period.
        importance_repeats: permutations per feature family (and per feature); 0 skips
            permutation importance.

    Raises:
        PruningError: an unknown policy, model or retrain, a ``k`` below 1, a threshold
            outside [0, 1], or a ``train_until`` that is not a date.

    Example:
        >>> PruningConfig(policies=["learned", "none"]).chosen
        ['none', 'learned']
    """

    policies: Sequence[str] | str = "all"
    train_until: TimeLike | None = None
    threshold: float | None = None
    k: int = 3
    seed: int = 0
    model: Model = "hgb"
    retrain: Retrain = "once"
    importance_repeats: int = 5

    def __post_init__(self) -> None:
        policy_names(self.policies)  # an unknown policy fails here, not halfway through a run
        if self.k < 1:
            raise PruningError(f"k must be at least 1, got {self.k}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise PruningError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.model not in MODELS:
            raise PruningError(
                f"unknown model {self.model!r}; valid models are {', '.join(MODELS)}"
            )
        if self.retrain not in RETRAINS:
            raise PruningError(
                f"unknown retrain {self.retrain!r}; valid values are {', '.join(RETRAINS)}"
            )
        if self.train_until is not None:
            _timestamp(self.train_until)

    @property
    def chosen(self) -> list[str]:
        """The policies to simulate, in the order of the registry."""
        return policy_names(self.policies)

    def test_start(self, decisions: pd.DataFrame) -> pd.Timestamp:
        """``train_until`` as a UTC timestamp, or by default just after 60% of the decisions
        (by ``train_time``) were taken."""
        if self.train_until is not None:
            return _timestamp(self.train_until)
        times = decisions["train_time"].sort_values(kind="stable").reset_index(drop=True)
        return pd.Timestamp(times.iloc[int(0.6 * (len(times) - 1))]) + pd.Timedelta(microseconds=1)


def _timestamp(value: TimeLike) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise PruningError(f"train_until {value!r} is not a date; use YYYY-MM-DD") from err
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def when(time: Any, *, day: bool = False) -> str:
    """``time`` as ``YYYY-MM-DD HH:MM`` (or the day): also past year 9999, where strftime fails
    (times in microseconds read as milliseconds land there).

    Example:
        >>> when(pd.Timestamp("2025-01-06 10:20:30")), when(pd.Timestamp("2025-01-06"), day=True)
        ('2025-01-06 10:20', '2025-01-06')
    """
    text = pd.Timestamp(time).isoformat(sep=" ", timespec="minutes")
    return text.split(" ")[0] if day else text

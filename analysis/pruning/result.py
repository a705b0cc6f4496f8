"""A simulation's result: :class:`PruningResult`, and the learned policy's :class:`Headline`."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mlprov.analysis.pruning.config import Model, Retrain

#: The share of pushes a policy must keep for the headline, and for the learned threshold.
PUSHES_KEPT_TARGET = 0.99
LIMIT = (
    "The simulation treats the recorded history as fixed: skipping a run would have "
    "changed later outcomes (the baseline the Evaluator compares against, warm starts), "
    "which a replay of the recorded provenance cannot show."
)
#: Test decisions permutation importance is measured on (a seeded sample when there are more).
IMPORTANCE_SAMPLE = 5_000


@dataclass(frozen=True)
class Headline:
    """The learned policy's best trade-off at ``pushes_kept >= target`` (from the sweep).

    Attributes:
        threshold: probability threshold (skip when P(no push) > threshold).
        wasted_saved: share of avoidable wasted compute saved (0-1).
        total_saved: share of the test period's total compute saved (0-1).
        pushes_kept: share of pushes kept (0-1).
        skip_rate: share of test graphlets skipped (0-1).
        target: the pushes-kept floor (0.99).
    """

    threshold: float
    wasted_saved: float
    total_saved: float
    pushes_kept: float
    skip_rate: float
    target: float


@dataclass(frozen=True)
class PruningResult:
    """What :func:`~mlprov.analysis.pruning.simulate.simulate_pruning` found.

    Attributes:
        table: one row per policy: ``policy``, ``param`` (threshold, k or skip rate),
            ``skipped`` (graphlets), ``skip_rate``, ``wasted_saved`` (share of avoidable waste:
            the trainer-and-downstream cost of test graphlets that did not push),
            ``waste_saved_all`` (share of all wasted compute started in the test period,
            upstream and orphans included), ``total_saved`` (share of all compute started in
            the test period), ``saved`` (cost, in ``cost_unit``), ``pushes_kept`` (share),
            ``pushes_per_pipeline_week``, ``mean_longest_gap_days`` (per pipeline, averaged),
            ``max_gap_days``, ``serving_age_days`` (time-averaged age of the serving model,
            from its training start), ``cadence_vs_none`` (pushes per pipeline-week over no
            pruning's).
        sweep: the learned policy over thresholds: ``threshold``, ``skip_rate``,
            ``wasted_saved``, ``total_saved``, ``pushes_kept``, and the random policy at the
            same skip rate (``random_wasted_saved``, ``random_pushes_kept``). Empty without the
            learned policy.
        heuristic_sweep: ``k-nonpush`` for k = 1..10: ``k``, ``skip_rate``, ``wasted_saved``,
            ``total_saved``, ``pushes_kept``.
        matched: per baseline policy, its pushes kept and wasted saved beside the learned
            policy's best wasted saved at no fewer pushes kept (``learned_wasted_saved``).
        importance: permutation importance by feature family: ``family``, ``importance``
            (drop in average precision of "no push" on the test period, or on a seeded
            sample of :data:`IMPORTANCE_SAMPLE` of its decisions), ``std``.
        feature_importance: the same per feature column, with its ``family``.
        headline: the learned policy's best wasted-compute saving at >= 99% pushes kept, or
            None without the learned policy or when no threshold that skips anything keeps
            that many (this history has no safe threshold).
        train_until: start of the test period (UTC).
        threshold: the learned policy's threshold in ``table``.
        model: the classifier, ``hgb`` or ``logistic``; retrain: ``once`` or ``monthly``.
        seed: the seed of every random draw.
        n_train, n_test: graphlets trained on and scored (in-flight ones excluded).
        test_pushes, test_nonpushes: outcomes in the test period.
        auc: ROC AUC of the learned probabilities on the test period (NaN without it).
        avoidable_waste, test_cost: the denominators, in ``cost_unit``.
        cost_unit: e.g. ``cpu_hours`` or ``seconds``.
        other_unit: executions left out of cost figures (cost in another unit).
        limit: the stated limit of the simulation.
        skipped_pipelines: the pipelines whose test-period training runs the learned policy
            (at ``threshold``) skips most: ``pipeline``, ``skipped``, ``decisions`` (scored in
            the test period), ``saved`` (cost the skips save, in ``cost_unit``). Empty without
            the learned policy.
        decisions: one row per decision: ``source_id``, ``graphlet_id``, ``pipeline``,
            ``train_time``, ``deployed``, ``in_flight``, ``test`` (in the test period),
            ``no_push_probability`` (the learned policy's, test period only) and ``skipped``
            (the learned policy skips it at ``threshold``).
    """

    table: pd.DataFrame
    sweep: pd.DataFrame
    heuristic_sweep: pd.DataFrame
    matched: pd.DataFrame
    importance: pd.DataFrame
    feature_importance: pd.DataFrame
    headline: Headline | None
    train_until: pd.Timestamp
    threshold: float | None
    model: Model
    retrain: Retrain
    seed: int
    n_train: int
    n_test: int
    test_pushes: int
    test_nonpushes: int
    auc: float
    avoidable_waste: float
    test_cost: float
    cost_unit: str
    other_unit: int
    limit: str = LIMIT
    skipped_pipelines: pd.DataFrame = field(default_factory=pd.DataFrame)
    decisions: pd.DataFrame = field(default_factory=pd.DataFrame)

    def _repr_html_(self) -> str:
        """In a notebook: the report's pruning section (headline, comparison, figures)."""
        from mlprov.analysis.pruning_report import pruning_section

        return pruning_section(self, fmt="html")

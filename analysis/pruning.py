"""Simulate policies that skip training runs unlikely to push, and what they would have saved.

At each graphlet's decision point (just before its trainer starts) a policy decides to train or
to skip. Skipping saves the trainer and everything downstream of it (evaluation, validation,
push); the upstream work has already run. Policies are scored on the graphlets of a test period
(decisions at or after ``train_until``) against the recorded outcomes:

* ``none``: never skip (the reference: saves 0).
* ``oracle``: skip exactly the graphlets that did not push (saves all avoidable waste).
* ``random``: skip at random at the learned policy's skip rate (the oracle's without it).
* ``k-nonpush``: skip after ``k`` consecutive known non-pushes of the pipeline.
* ``no-new-span``: skip when the window holds no span the previous graphlet lacked.
* ``learned``: a scikit-learn classifier of "will not push" trained on graphlets whose outcome
  was known before the test period (or before each month, with monthly retraining), skipping
  when its probability exceeds a threshold chosen on the last quarter of the training period.

Metrics (see :class:`PruningResult`): share of avoidable wasted compute saved, share of all
wasted compute and of total compute saved (in the test period), pushes kept, and deployment
cadence: pushes per pipeline-week, longest gap between pushes, and the time-averaged age of the
serving model.

The simulation treats the recorded history as fixed: skipping a run would have changed later
outcomes (baselines the Evaluator compares against, warm starts), which it cannot replay.

Example:
    >>> POLICIES
    ('none', 'oracle', 'random', 'k-nonpush', 'no-new-span', 'learned')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from analysis.frames import ALL, LATEST, Liveness, cost_unit, in_unit
from analysis.pruning_features import decision_features, feature_columns, in_units
from provenance.errors import MlprovError, did_you_mean
from provenance.sql import named_queries
from provenance.store import ProvenanceStore

Policy = Literal["none", "oracle", "random", "k-nonpush", "no-new-span", "learned"]
Model = Literal["hgb", "logistic"]
Retrain = Literal["once", "monthly"]
POLICIES: tuple[Policy, ...] = ("none", "oracle", "random", "k-nonpush", "no-new-span", "learned")
#: The share of pushes a policy must keep for the headline, and for the learned threshold.
PUSHES_KEPT_TARGET = 0.99
LIMIT = (
    "The simulation treats the recorded history as fixed: skipping a run would have "
    "changed later outcomes (the baseline the Evaluator compares against, warm starts), "
    "which a replay of the recorded provenance cannot show."
)
#: Test decisions permutation importance is measured on (a seeded sample when there are more).
IMPORTANCE_SAMPLE = 5_000
_DAY = pd.Timedelta(days=1)
_WEEK = pd.Timedelta(days=7)


class PruningError(MlprovError):
    """The simulation cannot run as asked (unknown policy, empty training or test period)."""


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
    """What :func:`simulate_pruning` found.

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
        from analysis.pruning_report import pruning_section

        return pruning_section(self, fmt="html")


@dataclass(frozen=True)
class PruningData:
    """Everything the simulation reads from a store, loaded once (see :func:`load_pruning_data`).

    Attributes:
        decisions: :func:`analysis.pruning_features.decision_features`.
        members: execution memberships: ``row`` (index into ``decisions``), ``exec`` (index
            into ``executions``), ``after_decision`` (anchor or downstream).
        executions: ``cost``, ``start_time``, ``wasted`` per execution.
        cost_unit: unit of ``cost``.
        other_unit: executions left out of cost figures: their cost is in another unit.
    """

    decisions: pd.DataFrame
    members: pd.DataFrame
    executions: pd.DataFrame
    cost_unit: str
    other_unit: int = 0


def load_pruning_data(
    store: ProvenanceStore, unit: str | None = None, liveness: Liveness = LATEST
) -> PruningData:
    """Read decisions, their features, memberships and costs from a store with graphlets.

    Args:
        store: a canonical store with graphlets built.
        unit: the cost unit; default as in :mod:`analysis.frames` (the cost property's unit
            when executions have it, else seconds). Executions whose non-zero cost is in
            another unit count as zero and are counted in ``other_unit``.
        liveness: which work is in flight and which abandoned (waste), as in the report.

    Raises:
        StoreError: the store has no graphlets.
        NonFiniteCostError: a cost is infinite, or the costs add up past what sums can hold.
        StaleGraphletsError, NotBuiltError: stale graphlets on a read-only store.
    """
    from analysis.frames import require_graphlets
    from analysis.waste import check_costs

    require_graphlets(store)
    decisions = decision_features(store, liveness)
    q = named_queries("analysis", "pruning_features.sql")
    executions = store.df(q["executions"], liveness.params())
    members = store.df(q["members"])
    unit = cost_unit(store, ALL, unit)
    cost = in_unit(executions["cost"], executions["cost_unit"], unit)
    rows = _key(decisions, "graphlet_id").get_indexer(_key(members, "graphlet_id"))
    execs = _key(executions, "execution_id").get_indexer(_key(members, "execution_id"))
    keep = (rows >= 0) & (execs >= 0)
    members = pd.DataFrame(
        {
            "row": rows[keep],
            "exec": execs[keep],
            "after_decision": members["after_decision"].to_numpy()[keep],
        }
    )
    check_costs(executions.assign(cost=cost))
    frame = pd.DataFrame(
        {
            "cost": cost.fillna(0.0),
            "start_time": executions["start_time"],
            "wasted": executions["wasted"].astype(bool),
        }
    )
    return PruningData(decisions, members, frame, unit, int(cost.isna().sum()))


def _key(frame: pd.DataFrame, id_column: str) -> pd.Index:
    """``(source_id, <id_column>)`` as one int64 per row: MLMD ids are far below 2**40."""
    return pd.Index(
        frame["source_id"].to_numpy(np.int64) << 40 | frame[id_column].to_numpy(np.int64)
    )


def simulate_pruning(
    store: ProvenanceStore,
    *,
    policies: Sequence[str] | str = "all",
    train_until: str | dt.date | dt.datetime | pd.Timestamp | None = None,
    threshold: float | None = None,
    k: int = 3,
    seed: int = 0,
    model: Model = "hgb",
    retrain: Retrain = "once",
    importance_repeats: int = 5,
    unit: str | None = None,
    liveness: Liveness = LATEST,
) -> PruningResult:
    """Simulate pruning policies on a store's graphlets; see the module docstring.

    Args:
        store: a canonical store with graphlets built.
        policies: names from :data:`POLICIES`, or ``"all"``.
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
        unit: the cost unit (see :func:`load_pruning_data`).
        liveness: which graphlets are still in flight (not scored) and which abandoned.

    Returns:
        A :class:`PruningResult`.

    Raises:
        StoreError: the store has no graphlets.
        PruningError: an unknown policy, or a split leaving no training or test graphlets.
    """
    return simulate(
        load_pruning_data(store, unit, liveness),
        policies=policies,
        train_until=train_until,
        threshold=threshold,
        k=k,
        seed=seed,
        model=model,
        retrain=retrain,
        importance_repeats=importance_repeats,
    )


def simulate(
    data: PruningData,
    *,
    policies: Sequence[str] | str = "all",
    train_until: str | dt.date | dt.datetime | pd.Timestamp | None = None,
    threshold: float | None = None,
    k: int = 3,
    seed: int = 0,
    model: Model = "hgb",
    retrain: Retrain = "once",
    importance_repeats: int = 5,
) -> PruningResult:
    """:func:`simulate_pruning` on data already loaded by :func:`load_pruning_data`."""
    chosen = _policies(policies)
    if k < 1:
        raise PruningError(f"k must be at least 1, got {k}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise PruningError(f"threshold must be in [0, 1], got {threshold}")
    if model not in ("hgb", "logistic"):
        raise PruningError(f"unknown model {model!r}; valid models are hgb, logistic")
    if retrain not in ("once", "monthly"):
        raise PruningError(f"unknown retrain {retrain!r}; valid values are once, monthly")
    d = data.decisions
    if d.empty:
        raise PruningError(
            "no graphlet has a training time to decide at (their trainers' start times are "
            "missing or not positive in the source), so there is nothing to simulate"
        )
    until = _train_until(d, train_until)
    scorer = _Scorer(data, until, seed)
    if scorer.n_test == 0:
        raise PruningError(
            f"no finished graphlet decided on or after train_until "
            f"{when(until)}; pass an earlier --train-until (decisions "
            f"run from {when(d['train_time'].min(), day=True)} to "
            f"{when(d['train_time'].max(), day=True)})"
        )
    test = scorer.test
    skips: dict[str, tuple[np.ndarray, float | None]] = {}
    proba = np.full(len(d), np.nan)
    n_train, used_threshold, auc = 0, None, float("nan")
    learner: _Learner | None = None
    if "learned" in chosen:
        learner = _Learner(d, until, model, seed)
        n_train = learner.n_train
        used_threshold = learner.threshold() if threshold is None else float(threshold)
        proba = learner.predict_test(test, retrain)
        skips["learned"] = (test & (proba > used_threshold), used_threshold)
        auc = _auc(proba[scorer.scored], ~d["deployed"].to_numpy()[scorer.scored])
    for name in chosen:
        if name == "none":
            skips[name] = (np.zeros(len(d), dtype=bool), None)
        elif name == "oracle":
            skips[name] = (scorer.scored & ~d["deployed"].to_numpy(), None)
        elif name == "k-nonpush":
            skips[name] = (test & (d["consecutive_nonpush"].to_numpy() >= k), float(k))
        elif name == "no-new-span":
            skips[name] = (test & (d["new_spans"].to_numpy() == 0), None)
    if "random" in chosen:
        reference = skips.get("learned", (scorer.scored & ~d["deployed"].to_numpy(), None))[0]
        rate = reference[scorer.scored].mean()
        skips["random"] = (scorer.random_skip(rate), float(rate))
    rows = [
        {"policy": name, "param": skips[name][1], **scorer.score(skips[name][0], cadence=True)}
        for name in chosen
    ]
    table = pd.DataFrame(rows)
    if "none" in chosen:
        reference_cadence = table.loc[table["policy"] == "none", "pushes_per_pipeline_week"]
        table["cadence_vs_none"] = table["pushes_per_pipeline_week"] / float(
            reference_cadence.iloc[0]
        )
    ks = np.arange(1, 11)
    heuristic_sweep = scorer.curve(d["consecutive_nonpush"].to_numpy(float), ks - 0.5)
    heuristic_sweep.insert(0, "k", ks)
    sweep = pd.DataFrame()
    headline = None
    importance = pd.DataFrame(columns=["family", "importance", "std"])
    feature_importance = pd.DataFrame(columns=["feature", "family", "importance", "std"])
    if learner is not None:
        sweep = scorer.sweep(proba)
        headline = _headline(sweep)
        if importance_repeats > 0:
            importance, feature_importance = learner.importance(
                scorer.scored, importance_repeats, np.random.default_rng(seed)
            )
    matched = _matched(table, sweep)
    skipped_pipelines = (
        scorer.by_pipeline(skips["learned"][0]) if "learned" in skips else pd.DataFrame()
    )
    return PruningResult(
        table=table,
        sweep=sweep,
        heuristic_sweep=heuristic_sweep,
        matched=matched,
        importance=importance,
        feature_importance=feature_importance,
        headline=headline,
        train_until=until,
        threshold=used_threshold,
        model=model,
        retrain=retrain,
        seed=seed,
        n_train=n_train,
        n_test=scorer.n_test,
        test_pushes=scorer.pushes,
        test_nonpushes=scorer.n_test - scorer.pushes,
        auc=auc,
        avoidable_waste=scorer.avoidable,
        test_cost=scorer.test_cost,
        skipped_pipelines=skipped_pipelines,
        decisions=d[["source_id", "graphlet_id", "pipeline", "train_time", "deployed"]].assign(
            in_flight=d["in_flight"].to_numpy(),
            test=test,
            no_push_probability=proba,
            skipped=skips["learned"][0] if "learned" in skips else False,
        ),
        cost_unit=data.cost_unit,
        other_unit=data.other_unit,
    )


def _policies(policies: Sequence[str] | str) -> list[Policy]:
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


def when(time: Any, *, day: bool = False) -> str:
    """``time`` as ``YYYY-MM-DD HH:MM`` (or the day): also past year 9999, where strftime fails
    (times in microseconds read as milliseconds land there).

    Example:
        >>> when(pd.Timestamp("2025-01-06 10:20:30")), when(pd.Timestamp("2025-01-06"), day=True)
        ('2025-01-06 10:20', '2025-01-06')
    """
    text = pd.Timestamp(time).isoformat(sep=" ", timespec="minutes")
    return text.split(" ")[0] if day else text


def _train_until(d: pd.DataFrame, value: object) -> pd.Timestamp:
    if value is None:
        times = d["train_time"].sort_values(kind="stable").reset_index(drop=True)
        return pd.Timestamp(times.iloc[int(0.6 * (len(times) - 1))]) + pd.Timedelta(microseconds=1)
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError) as err:
        raise PruningError(f"train_until {value!r} is not a date; use YYYY-MM-DD") from err
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, score))


class _Scorer:
    """Scores skip vectors over all decisions (only test decisions are ever skipped)."""

    def __init__(self, data: PruningData, until: pd.Timestamp, seed: int) -> None:
        d = data.decisions
        self.d = d
        self.until = until
        self.test = (d["train_time"] >= until).to_numpy()
        self.scored = self.test & ~d["in_flight"].to_numpy()
        self.n_test = int(self.scored.sum())
        self.deployed = d["deployed"].to_numpy()
        self.pushes = int((self.scored & self.deployed).sum())
        self.row = data.members["row"].to_numpy()
        self.exec = data.members["exec"].to_numpy()
        self.after = data.members["after_decision"].to_numpy().astype(bool)
        ex = data.executions
        self.cost = ex["cost"].to_numpy(dtype=float)
        self.wasted = ex["wasted"].to_numpy().astype(bool)
        self.n_exec = len(ex)
        self.has_member = np.bincount(self.exec, minlength=self.n_exec) > 0
        in_test = (ex["start_time"] >= until).to_numpy()
        self.test_cost = float(self.cost[in_test].sum())
        self.test_waste = float(self.cost[in_test & self.wasted].sum())
        self.avoidable = float(self._saved(self.scored & ~self.deployed)[1])
        self.order = np.random.default_rng(seed).permutation(np.flatnonzero(self.scored))
        self._cadence_frame()

    def _saved(self, skip: np.ndarray) -> tuple[float, float]:
        """(total cost saved, wasted cost saved): an execution is saved when every graphlet it
        belongs to is skipped and it runs after the decision in each of them."""
        ok = skip[self.row] & self.after
        blocked = np.bincount(self.exec, weights=~ok, minlength=self.n_exec)
        saved = (blocked == 0) & self.has_member
        return float(self.cost[saved].sum()), float(self.cost[saved & self.wasted].sum())

    def by_pipeline(self, skip: np.ndarray, top: int = 5) -> pd.DataFrame:
        """The ``top`` pipelines with the most skipped decisions: skipped, decisions scored,
        and the cost their skips alone save."""
        skip = skip & self.scored
        names = self.d["pipeline"].fillna("(no pipeline)").to_numpy()
        counts = pd.DataFrame(
            {
                "skipped": pd.Series(names[skip]).value_counts(),
                "decisions": pd.Series(names[self.scored]).value_counts(),
            }
        ).dropna()
        counts = counts.rename_axis("pipeline").reset_index()
        counts = counts.sort_values(
            ["skipped", "pipeline"], ascending=[False, True], ignore_index=True
        ).head(top)
        counts["saved"] = [self._saved(skip & (names == name))[0] for name in counts["pipeline"]]
        return counts.astype({"skipped": int, "decisions": int})

    def random_skip(self, rate: float) -> np.ndarray:
        """Skip ``round(rate x n)`` scored decisions: the first of one seeded random order, so
        the random policy's skip sets are nested across rates."""
        skip = np.zeros(len(self.d), dtype=bool)
        skip[self.order[: round(rate * len(self.order))]] = True
        return skip

    def score(self, skip: np.ndarray, cadence: bool = False) -> dict[str, float]:
        skip = skip & self.scored
        total, waste = self._saved(skip)
        out = self._metrics(skip.sum(), total, waste, (skip & self.deployed).sum())
        out = {k: float(v) for k, v in out.items()}
        if cadence:
            out.update(self._cadence(skip))
        return out

    def curve(self, level: np.ndarray, cuts: np.ndarray) -> pd.DataFrame:
        """:meth:`score` of ``level > t`` for every ``t`` in ``cuts``, in one pass.

        These skip sets nest (a lower cut skips more), so an execution is saved from the
        highest cut below the level of every graphlet it belongs to (where it runs after the
        decision; never otherwise): the smallest such level over its memberships.
        """
        level = np.where(self.scored, level, -np.inf)
        level[np.isnan(level)] = -np.inf
        member = np.where(self.after, level[self.row], -np.inf)
        saved_from = np.full(self.n_exec, np.inf)
        np.minimum.at(saved_from, self.exec, member)
        saved_from[~self.has_member] = -np.inf

        def above(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            """Sum of ``weights`` (or count) of ``values > t`` for each cut."""
            order = np.argsort(values, kind="stable")
            w = np.ones(len(values)) if weights is None else weights[order]
            suffix = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])
            return suffix[np.searchsorted(values[order], cuts, side="right")]

        metrics = self._metrics(
            above(level[self.scored]),
            above(saved_from, self.cost),
            above(saved_from, np.where(self.wasted, self.cost, 0.0)),
            above(level[self.scored & self.deployed]),
        )
        return pd.DataFrame(metrics)

    def _metrics(self, skipped: Any, total: Any, waste: Any, pushes_skipped: Any) -> dict[str, Any]:
        """The figures of :meth:`score` from skipped decisions, total and wasted cost saved
        and skipped pushes (numbers or arrays)."""
        nan = float("nan")
        return {
            "skipped": skipped * 1.0,
            "skip_rate": skipped / self.n_test,
            "wasted_saved": waste / self.avoidable if self.avoidable > 0 else waste * nan,
            "waste_saved_all": waste / self.test_waste if self.test_waste > 0 else waste * nan,
            "total_saved": total / self.test_cost if self.test_cost > 0 else total * nan,
            "saved": total * 1.0,
            "pushes_kept": (self.pushes - pushes_skipped) / self.pushes
            if self.pushes
            else skipped * nan,
        }

    def sweep(self, proba: np.ndarray) -> pd.DataFrame:
        p = proba[self.scored]
        grid = np.unique(
            np.concatenate([np.linspace(0.0, 1.0, 101), np.quantile(p, np.linspace(0.0, 1.0, 201))])
        )
        learned = self.curve(proba, grid)
        # the random policy at each skip rate: the first round(rate x n) of its seeded order
        n = len(self.order)
        rank = np.full(len(self.d), -np.inf)
        rank[self.order] = np.arange(n, 0, -1)
        rand = self.curve(rank, n - np.round(learned["skip_rate"].to_numpy() * n) + 0.5)
        return pd.DataFrame(
            {
                "threshold": grid,
                **learned,
                "random_wasted_saved": rand["wasted_saved"],
                "random_pushes_kept": rand["pushes_kept"],
            }
        )

    # -- cadence ---------------------------------------------------------------------------
    def _cadence_frame(self) -> None:
        """Per pipeline with test decisions, the observed test interval [a, b]."""
        d = self.d
        key = d["source_id"].astype(str) + ":" + d["pipeline_id"].astype(str)
        self.key = key.to_numpy()
        last = d["end_time"].fillna(d["train_time"]).groupby(key).max()
        first = d["train_time"].groupby(key).min()
        start = first.where(first > self.until, self.until)
        live = pd.Index(np.unique(self.key[self.test]))
        self.span = pd.DataFrame({"a": start.reindex(live), "b": last.reindex(live)})
        self.span = self.span[self.span["b"] > self.span["a"]]
        self.weeks = float(in_units(self.span["b"] - self.span["a"], _WEEK).sum())

    def _cadence(self, skip: np.ndarray) -> dict[str, float]:
        d = self.d
        pushed = self.deployed & ~skip & d["push_time"].notna().to_numpy()
        push = pd.DataFrame(
            {
                "key": self.key[pushed],
                "t": d["push_time"].to_numpy()[pushed],
                "model": d["train_time"].to_numpy()[pushed],
            }
        )
        push = push.join(self.span, on="key", how="inner")
        push = push[push["t"] <= push["b"]].sort_values(["key", "t"], kind="stable")
        in_window = push[push["t"] >= push["a"]]
        per_week = len(in_window) / self.weeks if self.weeks > 0 else float("nan")
        # serving intervals: each push serves from max(t, a) until the next push or b
        nxt = push.groupby("key")["t"].shift(-1)
        seg_start = push["t"].where(push["t"] > push["a"], push["a"])
        seg_end = nxt.fillna(push["b"]).where(nxt.fillna(push["b"]) < push["b"], push["b"])
        live = seg_end > seg_start
        s = in_units(seg_start[live] - push["model"][live], _DAY)
        e = in_units(seg_end[live] - push["model"][live], _DAY)
        covered = float((e - s).sum())
        age = float(((e**2 - s**2) / 2).sum() / covered) if covered > 0 else float("nan")
        # gaps: from the serving push (or a) through every push in the window to b
        anchor = push[push["t"] < push["a"]].groupby("key")["t"].max()
        starts = self.span["a"].copy()
        starts.loc[anchor.index] = anchor
        points = pd.concat(
            [
                pd.DataFrame({"key": starts.index, "t": starts.to_numpy()}),
                in_window[["key", "t"]],
                pd.DataFrame({"key": self.span.index, "t": self.span["b"].to_numpy()}),
            ]
        ).sort_values(["key", "t"], kind="stable")
        gaps = in_units(points.groupby("key")["t"].diff(), _DAY).groupby(points["key"]).max()
        return {
            "pushes_per_pipeline_week": per_week,
            "mean_longest_gap_days": float(gaps.mean()) if len(gaps) else float("nan"),
            "max_gap_days": float(gaps.max()) if len(gaps) else float("nan"),
            "serving_age_days": age,
        }


@dataclass(frozen=True)
class _Fitted:
    model: object
    blank: np.ndarray  # feature columns never observed in the training rows


def _blanked(x: np.ndarray, blank: np.ndarray) -> np.ndarray:
    if not blank.any():
        return x
    x = x.copy()
    x[:, blank] = 0.0
    return x


class _Learner:
    """The learned policy: a classifier of "will not push" over the decision features."""

    def __init__(self, d: pd.DataFrame, until: pd.Timestamp, model: Model, seed: int) -> None:
        self.d, self.until, self.model, self.seed = d, until, model, seed
        self.families = feature_columns(d)
        self.columns = [c for cols in self.families.values() for c in cols]
        self.x = d[self.columns].to_numpy(dtype=float)
        self.y = ~d["deployed"].to_numpy()
        self.train = self._known_before(until)
        self.n_train = int(self.train.sum())
        if self.n_train == 0 or self.y[self.train].all() or not self.y[self.train].any():
            raise PruningError(
                f"the training period (outcomes known before {when(until)}) holds "
                f"{self.n_train} graphlets with {int(self.y[self.train].sum())} non-pushes; "
                "the learned policy needs both outcomes: pass a later --train-until"
            )
        self.fitted = self._fit(self.train)

    def _known_before(self, boundary: pd.Timestamp) -> np.ndarray:
        d = self.d
        return (
            (d["known_time"] < boundary) & (d["train_time"] < boundary) & ~d["in_flight"]
        ).to_numpy()

    def _fit(self, rows: np.ndarray) -> _Fitted:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.model == "hgb":
            clf: object = HistGradientBoostingClassifier(
                max_iter=200,
                learning_rate=0.05,
                max_leaf_nodes=15,
                min_samples_leaf=20,
                l2_regularization=1.0,
                random_state=self.seed,
            )
        else:
            clf = make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
                LogisticRegression(max_iter=2000, random_state=self.seed),
            )
        # a feature never observed in the training rows (e.g. no anomaly counts recorded)
        # carries no information; HistGradientBoosting cannot bin an all-NaN column
        blank = np.isnan(self.x[rows]).all(axis=0)
        clf.fit(_blanked(self.x[rows], blank), self.y[rows])  # type: ignore[attr-defined]
        return _Fitted(clf, blank)

    def _proba(self, fitted: _Fitted, x: np.ndarray) -> np.ndarray:
        classes = list(fitted.model.classes_)  # type: ignore[attr-defined]
        proba = fitted.model.predict_proba(_blanked(x, fitted.blank))  # type: ignore[attr-defined]
        return np.asarray(proba[:, classes.index(True)], dtype=float)

    def threshold(self) -> float:
        """The lowest threshold keeping 99% of pushes on the last quarter of training time."""
        times = self.d["train_time"][self.train].sort_values(kind="stable")
        cut = pd.Timestamp(times.iloc[int(0.75 * (len(times) - 1))])
        fit_rows = self._known_before(cut)
        val = self.train & (self.d["train_time"] >= cut).to_numpy()
        pushed_val = val & ~self.y
        if (
            fit_rows.sum() == 0
            or self.y[fit_rows].all()
            or not self.y[fit_rows].any()
            or not pushed_val.any()
        ):
            return 0.5
        p = np.sort(self._proba(self._fit(fit_rows), self.x[pushed_val]))[::-1]
        allowed = int(np.floor((1.0 - PUSHES_KEPT_TARGET) * len(p)))
        return float(p[allowed])

    def predict_test(self, test: np.ndarray, retrain: Retrain) -> np.ndarray:
        proba = np.full(len(self.d), np.nan)
        if retrain == "once":
            proba[test] = self._proba(self.fitted, self.x[test])
            return proba
        times = self.d["train_time"]
        start = self.until
        while (test & (times >= start).to_numpy()).any():
            end = start + pd.Timedelta(days=30)
            month = test & ((times >= start) & (times < end)).to_numpy()
            if month.any():
                rows = self._known_before(start)
                fitted = self.fitted if start == self.until else self._fit(rows)
                proba[month] = self._proba(fitted, self.x[month])
            start = end
        return proba

    def importance(
        self, scored: np.ndarray, repeats: int, rng: np.random.Generator
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Permutation importance on (a seeded sample of) the test period, by family and by
        feature."""
        from sklearn.metrics import average_precision_score

        rows = np.flatnonzero(scored)
        if len(rows) > IMPORTANCE_SAMPLE:
            rows = np.sort(rng.choice(rows, IMPORTANCE_SAMPLE, replace=False))
        x, y = self.x[rows], self.y[rows]
        if len(y) == 0 or y.all() or not y.any():
            empty = pd.DataFrame(columns=["family", "importance", "std"])
            return empty, pd.DataFrame(columns=["feature", "family", "importance", "std"])
        base = average_precision_score(y, self._proba(self.fitted, x))

        def drop(columns: list[int]) -> tuple[float, float]:
            shuffled = np.tile(x, (repeats, 1))  # every repeat scored in one call
            for block in np.split(shuffled, repeats):
                block[:, columns] = x[rng.permutation(len(x))][:, columns]
            proba = np.split(self._proba(self.fitted, shuffled), repeats)
            losses = [base - average_precision_score(y, p) for p in proba]
            return float(np.mean(losses)), float(np.std(losses))

        index = {c: i for i, c in enumerate(self.columns)}
        fam_rows, feat_rows = [], []
        for family, cols in self.families.items():
            if not cols:
                continue
            mean, std = drop([index[c] for c in cols])
            fam_rows.append({"family": family, "importance": mean, "std": std})
            for c in cols:
                mean, std = drop([index[c]])
                feat_rows.append({"feature": c, "family": family, "importance": mean, "std": std})
        families = pd.DataFrame(fam_rows).sort_values("importance", ascending=False, kind="stable")
        features = pd.DataFrame(feat_rows).sort_values("importance", ascending=False, kind="stable")
        return families.reset_index(drop=True), features.reset_index(drop=True)


def _headline(sweep: pd.DataFrame) -> Headline | None:
    # Skipping nothing keeps every push: it is no threshold to recommend.
    ok = sweep[(sweep["pushes_kept"] >= PUSHES_KEPT_TARGET) & (sweep["skip_rate"] > 0)]
    if ok.empty:
        return None
    best = ok.sort_values(
        ["wasted_saved", "threshold"], ascending=[False, False], kind="stable"
    ).iloc[0]
    return Headline(
        threshold=float(best["threshold"]),
        wasted_saved=float(best["wasted_saved"]),
        total_saved=float(best["total_saved"]),
        pushes_kept=float(best["pushes_kept"]),
        skip_rate=float(best["skip_rate"]),
        target=PUSHES_KEPT_TARGET,
    )


def _matched(table: pd.DataFrame, sweep: pd.DataFrame) -> pd.DataFrame:
    """Each baseline beside the learned policy's best saving at no fewer pushes kept."""
    rows = []
    for row in table.to_dict("records"):
        if row["policy"] in ("learned", "none", "oracle") or sweep.empty:
            continue
        ok = sweep[sweep["pushes_kept"] >= float(row["pushes_kept"]) - 1e-12]
        best = ok.iloc[int(np.argmax(ok["wasted_saved"].to_numpy()))] if not ok.empty else None
        rows.append(
            {
                "policy": row["policy"],
                "pushes_kept": row["pushes_kept"],
                "wasted_saved": row["wasted_saved"],
                "learned_wasted_saved": float(best["wasted_saved"])
                if best is not None
                else float("nan"),
                "learned_threshold": float(best["threshold"]) if best is not None else float("nan"),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "policy",
            "pushes_kept",
            "wasted_saved",
            "learned_wasted_saved",
            "learned_threshold",
        ],
    )

"""Run the simulation: load, fit the learner, apply every chosen policy, score, summarise."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from mlprov.analysis.errors import PruningError
from mlprov.analysis.frames import LATEST, Liveness
from mlprov.analysis.pruning.config import PruningConfig, when
from mlprov.analysis.pruning.data import PruningData, load_pruning_data
from mlprov.analysis.pruning.learner import Learner, auc
from mlprov.analysis.pruning.policies import POLICIES, PolicyInputs
from mlprov.analysis.pruning.result import PUSHES_KEPT_TARGET, Headline, PruningResult
from mlprov.analysis.pruning.score import Scorer
from mlprov.provenance.store import ProvenanceStore


def simulate_pruning(
    store: ProvenanceStore,
    config: PruningConfig | None = None,
    *,
    unit: str | None = None,
    liveness: Liveness = LATEST,
    **options: Any,
) -> PruningResult:
    """Simulate pruning policies on a store's graphlets; see :mod:`mlprov.analysis.pruning`.

    Args:
        store: a canonical store with graphlets built.
        config: what to simulate and how; default :class:`PruningConfig` (every policy,
            seed 0).
        unit: the cost unit (see :func:`load_pruning_data`).
        liveness: which graphlets are still in flight (not scored) and which abandoned.
        options: fields of :class:`PruningConfig` to change in ``config``, e.g. ``seed=1``.

    Returns:
        A :class:`PruningResult`.

    Raises:
        StoreError: the store has no graphlets.
        PruningError: an invalid configuration, or a split leaving no training or test
            graphlets.
    """
    return simulate(load_pruning_data(store, unit, liveness), config, **options)


def simulate(
    data: PruningData, config: PruningConfig | None = None, **options: Any
) -> PruningResult:
    """:func:`simulate_pruning` on data already loaded by :func:`load_pruning_data`."""
    config = PruningConfig(**options) if config is None else dataclasses.replace(config, **options)
    chosen = config.chosen
    d = data.decisions
    if d.empty:
        raise PruningError(
            "no graphlet has a training time to decide at (their trainers' start times are "
            "missing or not positive in the source), so there is nothing to simulate"
        )
    until = config.test_start(d)
    scorer = Scorer(data, until, config.seed)
    if scorer.n_test == 0:
        raise PruningError(
            f"no finished graphlet decided on or after train_until "
            f"{when(until)}; pass an earlier --train-until (decisions "
            f"run from {when(d['train_time'].min(), day=True)} to "
            f"{when(d['train_time'].max(), day=True)})"
        )
    test = scorer.test
    proba = np.full(len(d), np.nan)
    threshold, learner = None, None
    if "learned" in chosen:
        learner = Learner(d, until, config)
        threshold = learner.threshold() if config.threshold is None else float(config.threshold)
        proba = learner.predict_test(test)
    inputs = PolicyInputs(d, scorer, config, proba, threshold)
    skips = {name: POLICIES[name](inputs) for name in chosen}
    table = pd.DataFrame(
        [
            {"policy": name, "param": skip.param, **scorer.score(skip.mask, cadence=True)}
            for name, skip in skips.items()
        ]
    )
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
        if config.importance_repeats > 0:
            importance, feature_importance = learner.importance(scorer.scored)
    learned = skips.get("learned")
    return PruningResult(
        table=table,
        sweep=sweep,
        heuristic_sweep=heuristic_sweep,
        matched=_matched(table, sweep),
        importance=importance,
        feature_importance=feature_importance,
        headline=headline,
        train_until=until,
        threshold=threshold,
        model=config.model,
        retrain=config.retrain,
        seed=config.seed,
        n_train=learner.n_train if learner else 0,
        n_test=scorer.n_test,
        test_pushes=scorer.pushes,
        test_nonpushes=scorer.n_test - scorer.pushes,
        auc=auc(proba[scorer.scored], ~scorer.deployed[scorer.scored]) if learner else float("nan"),
        avoidable_waste=scorer.avoidable,
        test_cost=scorer.test_cost,
        skipped_pipelines=pd.DataFrame() if learned is None else scorer.by_pipeline(learned.mask),
        decisions=d[["source_id", "graphlet_id", "pipeline", "train_time", "deployed"]].assign(
            in_flight=d["in_flight"].to_numpy(),
            test=test,
            no_push_probability=proba,
            skipped=False if learned is None else learned.mask,
        ),
        cost_unit=data.cost_unit,
        other_unit=data.other_unit,
    )


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

"""Scoring skip sets: compute saved, pushes kept and cadence, for one set or a nested family.

An execution is saved when every graphlet it belongs to is skipped and it runs after the
decision in each of them (the trainer and downstream); upstream work has already run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlprov.analysis.pruning.cadence import Cadence
from mlprov.analysis.pruning.data import PruningData


class Scorer:
    """Scores skip vectors over all decisions (only test decisions are ever skipped)."""

    def __init__(self, data: PruningData, until: pd.Timestamp, seed: int) -> None:
        d = data.decisions
        self.d = d
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
        self.cadence = Cadence(d, until, self.test)

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
            out.update(self.cadence.measure(skip))
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
        """The learned policy at every threshold of a grid (101 even steps and 201 quantiles of
        ``proba``), beside the random policy at the same skip rate."""
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

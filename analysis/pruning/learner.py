"""The learned policy: a classifier of "will not push" over the decision features.

It trains on graphlets whose outcome was known before the test period (or before each month,
with monthly retraining) and skips when its probability exceeds a threshold chosen on the last
quarter of the training period. Permutation importance says which feature families drive it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlprov.analysis.errors import PruningError
from mlprov.analysis.pruning.config import PruningConfig, when
from mlprov.analysis.pruning.features import feature_columns
from mlprov.analysis.pruning.result import IMPORTANCE_SAMPLE, PUSHES_KEPT_TARGET


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


class Learner:
    """A classifier of "will not push" over the decision features, fit on the outcomes known
    before ``until``.

    Raises:
        PruningError: the training period lacks pushes or non-pushes.
    """

    def __init__(self, d: pd.DataFrame, until: pd.Timestamp, config: PruningConfig) -> None:
        self.d, self.until, self.config = d, until, config
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

        seed = self.config.seed
        if self.config.model == "hgb":
            clf: object = HistGradientBoostingClassifier(
                max_iter=200,
                learning_rate=0.05,
                max_leaf_nodes=15,
                min_samples_leaf=20,
                l2_regularization=1.0,
                random_state=seed,
            )
        else:
            clf = make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
                LogisticRegression(max_iter=2000, random_state=seed),
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

    def predict_test(self, test: np.ndarray) -> np.ndarray:
        """P(no push) of the ``test`` decisions (NaN elsewhere), retrained as configured."""
        proba = np.full(len(self.d), np.nan)
        if self.config.retrain == "once":
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

    def importance(self, scored: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Permutation importance on (a seeded sample of) the ``scored`` decisions, by family
        and by feature."""
        from sklearn.metrics import average_precision_score

        repeats = self.config.importance_repeats
        rng = np.random.default_rng(self.config.seed)
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


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of ``score`` for ``positive`` (NaN when only one class is present)."""
    from sklearn.metrics import roc_auc_score

    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, score))

"""Deployment cadence of a skip set: how often pipelines push, the gaps, the serving model's age.

Each pipeline with test decisions is observed over ``[a, b]``: from the test period's start (or
its first decision, if later) to its last graphlet's end. Skipping a graphlet that pushed removes
its push; the model an earlier push put in service keeps serving until the next.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlprov.analysis.pruning.features import in_units

_DAY = pd.Timedelta(days=1)
_WEEK = pd.Timedelta(days=7)


class Cadence:
    """Cadence figures of skip sets over one test period's decisions.

    Args:
        decisions: :func:`mlprov.analysis.pruning.features.decision_features`.
        until: start of the test period.
        test: which decisions are in the test period.
    """

    def __init__(self, decisions: pd.DataFrame, until: pd.Timestamp, test: np.ndarray) -> None:
        d = self.d = decisions
        self.deployed = d["deployed"].to_numpy()
        # per pipeline with test decisions, the observed test interval [a, b]
        key = d["source_id"].astype(str) + ":" + d["pipeline_id"].astype(str)
        self.key = key.to_numpy()
        last = d["end_time"].fillna(d["train_time"]).groupby(key).max()
        first = d["train_time"].groupby(key).min()
        start = first.where(first > until, until)
        live = pd.Index(np.unique(self.key[test]))
        self.span = pd.DataFrame({"a": start.reindex(live), "b": last.reindex(live)})
        self.span = self.span[self.span["b"] > self.span["a"]]
        self.weeks = float(in_units(self.span["b"] - self.span["a"], _WEEK).sum())

    def measure(self, skip: np.ndarray) -> dict[str, float]:
        """``pushes_per_pipeline_week``, ``mean_longest_gap_days`` (per pipeline, averaged),
        ``max_gap_days`` and ``serving_age_days`` (time-averaged, from the training start of
        the serving model) when the decisions in ``skip`` are skipped."""
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

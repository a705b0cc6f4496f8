"""Data drift between statistics payloads, as TensorFlow Data Validation defines it.

TFDV's drift comparators measure, per feature:

* categorical features: the **L-infinity distance** between the two value distributions, each
  normalized by its own total (over the ``rank_histogram`` buckets of the string statistics);
* numeric features: the **Jensen-Shannon divergence** (log base 2, capped at 1) between the
  two standard histograms, after aligning them: buckets with an infinite bound and point
  buckets (low == high) are set apart, the rest are split on the union of both histograms'
  boundaries assuming values spread uniformly inside a bucket, then point masses, infinite
  masses and NaN counts are added as extra buckets (TFDV puts the NaNs of each side in a
  bucket of its own, so they never match).

Here a distribution may also be the sum of several spans' (a training window): its buckets
may then overlap, and the same uniform split onto the union of boundaries sums them.

The drift of a whole dataset is the largest drift of any feature both sides have.

Example:
    >>> round(linf_distance({"a": 60, "b": 40}, {"a": 30, "b": 70}), 6)
    0.3
    >>> js_divergence(Histogram.of([(0, 1, 10)]), Histogram.of([(1, 2, 10)]))
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlprov.provenance.sql import named_queries
from mlprov.provenance.store import ProvenanceStore


@dataclass(frozen=True)
class Histogram:
    """A numeric histogram: bucket bounds and counts, and the count of NaN values."""

    low: np.ndarray
    high: np.ndarray
    count: np.ndarray
    num_nan: float = 0.0

    @classmethod
    def of(cls, buckets: Iterable[tuple[float, float, float]], num_nan: float = 0.0) -> Histogram:
        rows = np.asarray(list(buckets), dtype=float).reshape(-1, 3)
        return cls(rows[:, 0], rows[:, 1], rows[:, 2], float(num_nan))

    @staticmethod
    def sum(parts: Sequence[Histogram]) -> Histogram:
        """One histogram holding every bucket of ``parts`` (overlaps are fine, see above)."""
        return Histogram(
            np.concatenate([p.low for p in parts]),
            np.concatenate([p.high for p in parts]),
            np.concatenate([p.count for p in parts]),
            sum(p.num_nan for p in parts),
        )


#: A feature's distribution: value counts (categorical) or a histogram (numeric).
Distribution = Mapping[str, float] | Histogram


def linf_distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """TFDV's L-infinity distance of two categorical value counts, each normalized by its total.

    NaN when either side has no counts.
    """
    total_a, total_b = sum(a.values()), sum(b.values())
    if total_a <= 0 or total_b <= 0:
        return math.nan
    return max(abs(a.get(k, 0.0) / total_a - b.get(k, 0.0) / total_b) for k in {*a, *b})


def js_divergence(a: Histogram, b: Histogram) -> float:
    """TFDV's Jensen-Shannon divergence of two numeric histograms (log base 2, at most 1).

    NaN when either side is empty.

    >>> p = Histogram.of([(0, 1, 3), (1, 2, 1)])
    >>> q = Histogram.of([(0, 1, 1), (1, 2, 3)])
    >>> round(js_divergence(p, q), 6)
    0.188722
    """
    p, q = _align(a, b)
    if p.sum() <= 0 or q.sum() <= 0:
        return math.nan
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    return min((_kl(p, m) + _kl(q, m)) / 2, 1.0)


def _kl(p: np.ndarray, m: np.ndarray) -> float:
    hit = p > 0
    return float(np.sum(p[hit] * np.log2(p[hit] / m[hit])))


def _align(a: Histogram, b: Histogram) -> tuple[np.ndarray, np.ndarray]:
    """Both histograms' counts on shared buckets, as TFDV's AlignHistograms builds them."""
    if _plain(a) and _plain(b):  # the common case: finite buckets of some width, no NaN
        bounds = np.unique(np.concatenate([a.low, a.high, b.low, b.high]))
        return _rebucket(a.low, a.high, a.count, bounds), _rebucket(b.low, b.high, b.count, bounds)
    parts_a, parts_b = _strip(a), _strip(b)
    finite_a, finite_b = parts_a[0], parts_b[0]
    bounds = np.unique(np.concatenate([finite_a[0], finite_a[1], finite_b[0], finite_b[1]]))
    p, q = [_rebucket(*finite_a, bounds)], [_rebucket(*finite_b, bounds)]
    points_a, points_b = parts_a[1], parts_b[1]
    for point in sorted({*points_a, *points_b}):
        p.append(np.array([points_a.get(point, 0.0)]))
        q.append(np.array([points_b.get(point, 0.0)]))
    if parts_a[2]:
        p.append(np.array([parts_a[2]]))
        q.append(np.array([0.0]))
    if parts_b[2]:
        p.append(np.array([0.0]))
        q.append(np.array([parts_b[2]]))
    if a.num_nan > 0 or b.num_nan > 0:
        p.append(np.array([0.0, a.num_nan]))
        q.append(np.array([b.num_nan, 0.0]))
    return np.concatenate(p), np.concatenate(q)


def _plain(h: Histogram) -> bool:
    return h.num_nan <= 0 and bool(
        np.all(np.isfinite(h.low) & np.isfinite(h.high) & (h.high > h.low))
    )


def _strip(
    h: Histogram,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], dict[float, float], float]:
    """Finite buckets (low, high, count), point masses {value: count}, infinite mass."""
    infinite = ~(np.isfinite(h.low) & np.isfinite(h.high))
    point = ~infinite & (h.low == h.high)
    finite = ~infinite & ~point
    points: dict[float, float] = {}
    for value, count in zip(h.low[point], h.count[point], strict=True):
        points[float(value)] = points.get(float(value), 0.0) + float(count)
    return (
        (h.low[finite], h.high[finite], h.count[finite]),
        points,
        float(h.count[infinite].sum()),
    )


def _rebucket(
    low: np.ndarray, high: np.ndarray, count: np.ndarray, bounds: np.ndarray
) -> np.ndarray:
    """Counts on the intervals between ``bounds`` (which hold every bucket edge), each bucket
    spread uniformly over its range: its density is added where it starts and taken away where
    it ends, so the density on each interval is a running sum."""
    if len(bounds) < 2:
        return np.zeros(0)
    density = count / (high - low)
    change = np.zeros(len(bounds))
    np.add.at(change, np.searchsorted(bounds, low), density)
    np.add.at(change, np.searchsorted(bounds, high), -density)
    # a running sum leaves rounding residue where the density is back to zero
    return np.maximum(np.cumsum(change)[:-1] * np.diff(bounds), 0.0)


def distance(a: Distribution, b: Distribution) -> float:
    """The drift of one feature: L-infinity for categorical, Jensen-Shannon for numeric.

    NaN when one side is categorical and the other numeric.
    """
    if isinstance(a, Histogram) and isinstance(b, Histogram):
        return js_divergence(a, b)
    if isinstance(a, Histogram) or isinstance(b, Histogram):
        return math.nan
    return linf_distance(a, b)


def combine(parts: Sequence[Mapping[str, Distribution]]) -> dict[str, Distribution]:
    """The distributions of several datasets taken together, per feature (all of one kind)."""
    features: dict[str, list[Distribution]] = {}
    for part in parts:
        for feature, dist in part.items():
            features.setdefault(feature, []).append(dist)
    out: dict[str, Distribution] = {}
    for feature, dists in features.items():
        if all(isinstance(d, Histogram) for d in dists):
            out[feature] = Histogram.sum([d for d in dists if isinstance(d, Histogram)])
        elif not any(isinstance(d, Histogram) for d in dists):
            counts: dict[str, float] = {}
            for d in dists:
                for label, n in d.items():  # type: ignore[union-attr]
                    counts[label] = counts.get(label, 0.0) + n
            out[feature] = counts
    return out


def dataset_drift(
    a: Mapping[str, Distribution], b: Mapping[str, Distribution]
) -> tuple[float, str | None]:
    """The largest drift of a feature both datasets have, and that feature (NaN, None: none)."""
    scores = [(distance(a[f], b[f]), f) for f in sorted(a.keys() & b.keys())]
    scores = [(s, f) for s, f in scores if not math.isnan(s)]
    if not scores:
        return math.nan, None
    score, feature = max(scores, key=lambda sf: sf[0])
    return score, feature


# -- from the store ------------------------------------------------------------------------------


def _queries() -> dict[str, str]:
    return named_queries("mlprov.analysis", "drift.sql")


def statistics_distributions(
    store: ProvenanceStore,
) -> dict[tuple[int, int], dict[str, Distribution]]:
    """{(source_id, artifact_id): {feature: distribution}} of every statistics payload read.

    One split per artifact: ``train`` when it has one, else the first by name.
    """
    table = store.con.sql(_queries()["distributions"]).to_arrow_table()
    if table.num_rows == 0:
        return {}
    sid, aid = (table.column(c).to_numpy() for c in ("source_id", "artifact_id"))
    feature, histogram = (table.column(c).to_pylist() for c in ("feature", "histogram"))
    low, high, count, nan = (
        table.column(c).to_numpy(zero_copy_only=False).astype(float)
        for c in ("low", "high", "count", "num_nan")
    )
    labels = table.column("label").to_pylist()
    # rows come ordered by artifact, feature and histogram: cut them where the key changes
    keys = list(zip(sid.tolist(), aid.tolist(), feature, histogram, strict=True))
    starts = [i for i in range(len(keys)) if i == 0 or keys[i] != keys[i - 1]]
    out: dict[tuple[int, int], dict[str, Distribution]] = {}
    for a, b in zip(starts, [*starts[1:], len(keys)], strict=True):
        s, artifact, name, kind = keys[a]
        dists = out.setdefault((int(s), int(artifact)), {})
        if kind == "rank":
            dists[name] = dict(zip(labels[a:b], count[a:b].tolist(), strict=True))
        else:
            dists[name] = Histogram(
                low[a:b], high[a:b], count[a:b], 0.0 if np.isnan(nan[a]) else float(nan[a])
            )
    return out


def span_statistics(store: ProvenanceStore) -> pd.DataFrame:
    """Statistics artifacts whose payload was read, per pipeline and span, with when each
    became available (its StatisticsGen's end)."""
    return store.df(_queries()["span_statistics"])


def span_drift(store: ProvenanceStore) -> pd.DataFrame:
    """Per pipeline and span, the drift of its statistics against the previous span's.

    Returns:
        A frame with ``source_id``, ``pipeline_id``, ``pipeline``, ``span``, ``artifact_id``,
        ``available_time``, ``drift`` (NaN for a pipeline's first span) and ``feature`` (the
        one that drifted most), ordered by pipeline and span. A span with several statistics
        artifacts (a StatisticsGen rerun) is represented by its latest.
    """
    stats = span_statistics(store).sort_values(
        ["source_id", "pipeline_id", "span", "available_time"]
    )
    stats = stats.drop_duplicates(["source_id", "pipeline_id", "span"], keep="last")
    dists = statistics_distributions(store)
    drift: list[float] = []
    feature: list[object] = []
    previous: dict[tuple[int, int], tuple[int, int]] = {}
    for sid, pid, aid in zip(
        stats["source_id"], stats["pipeline_id"], stats["artifact_id"], strict=True
    ):
        before = previous.get((sid, pid))
        score, name = (
            dataset_drift(dists.get(before, {}), dists.get((sid, aid), {}))
            if before is not None
            else (math.nan, None)
        )
        drift.append(score)
        feature.append(name)
        previous[(sid, pid)] = (sid, aid)
    stats = stats.reset_index(drop=True)
    stats["drift"], stats["feature"] = drift, pd.Series(feature, dtype=object)
    return stats

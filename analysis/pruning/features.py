"""Features of each training decision, from what is known just before the trainer starts.

The pruning simulation (:mod:`mlprov.analysis.pruning`) asks, for every model graphlet, "will this
training run lead to a push?" at the moment the trainer is about to start. Everything here is
computed set-at-a-time — SQL over the canonical store and the graphlets, then vectorized pandas
per pipeline — and only from information available at that moment:

* **data**: spans new since the previous graphlet, window size and overlap with the previous
  window, drift of the window's statistics summaries against the previous window's and of the
  newest span against the rest of the window (in units of the features' standard deviations),
  the spread of span means inside the window, the newest span's size against the window's,
  the same two drifts as TFDV measures them on the statistics payloads
  (:mod:`mlprov.analysis.drift`: the largest L-infinity or Jensen-Shannon distance of any feature),
  validation anomalies (and, from the anomalies payloads, the features flagged) and data-validation
  failures since the previous decision. Summaries come from the statistics payloads where they were
  read (``mlprov.provenance.payloads``), else from the artifacts' numeric properties.
* **change**: whether the schema, the Transform, the trainer's configuration or the graphlet's
  upstream structure differ from the previous graphlet's, how many schema features were added,
  removed or changed type (from the schema payloads), and graphlets since the last change. Where
  both graphlets' schema payloads were read, "schema changed" compares their contents; else
  the schema artifacts' properties and import URIs.
* **history**: the previous known outcome, the push rate so far, consecutive non-pushes, and
  graphlets and hours since the last push. An earlier graphlet's outcome counts only once it is
  known: its push happened, or (no push) its last execution ended, before this decision.
* **model_type**: one indicator per model type.

Example:
    >>> sorted(FEATURE_FAMILIES)
    ['change', 'data', 'history', 'model_type']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlprov.analysis.drift import Distribution, combine, dataset_drift, span_statistics
from mlprov.analysis.drift import statistics_distributions as payload_distributions
from mlprov.analysis.frames import LATEST, Liveness, define_macros
from mlprov.provenance.errors import StoreError
from mlprov.provenance.sql import named_queries
from mlprov.provenance.store import ProvenanceStore

#: Feature columns by family (model_type columns are added per store: ``model_type=<name>``).
FEATURE_FAMILIES: dict[str, tuple[str, ...]] = {
    "data": (
        "new_spans",
        "window_size",
        "window_overlap",
        "drift_window",
        "drift_newest",
        "window_spread",
        "examples_ratio",
        "tfdv_drift_window",
        "tfdv_drift_newest",
        "anomalies",
        "anomalous_features",
        "validation_failures",
    ),
    "change": (
        "schema_changed",
        "schema_features_changed",
        "transform_changed",
        "config_changed",
        "structure_changed",
        "graphlets_since_change",
    ),
    "history": (
        "prev_pushed",
        "push_rate",
        "known_outcomes",
        "consecutive_nonpush",
        "graphlets_since_push",
        "hours_since_push",
        "hours_since_prev",
    ),
    "model_type": (),
}
#: Columns of :func:`decision_features` that describe the decision but are not features.
KEY_COLUMNS = ("source_id", "graphlet_id", "pipeline_id", "trainer_execution_id", "train_time")
#: Outcome columns: for scoring and training labels only, never features.
OUTCOME_COLUMNS = ("deployed", "in_flight", "push_time", "end_time", "known_time")

_HOUR = pd.Timedelta(hours=1)
_PIPELINE = ["source_id", "pipeline_id"]


def in_units(delta: pd.Series, unit: pd.Timedelta) -> pd.Series:
    """A series of time differences as a float number of ``unit`` (NaT becomes NaN)."""
    return delta.dt.total_seconds() / unit.total_seconds()


def queries() -> dict[str, str]:
    """The named queries of ``features.sql`` (the simulation's inputs)."""
    return named_queries("mlprov.analysis.pruning", "features.sql")


def feature_columns(features: pd.DataFrame) -> dict[str, list[str]]:
    """The feature columns of a :func:`decision_features` frame, by family.

    Args:
        features: a frame returned by :func:`decision_features`.

    Returns:
        ``{family: [column, ...]}`` for the families of :data:`FEATURE_FAMILIES`.
    """
    families = {name: list(cols) for name, cols in FEATURE_FAMILIES.items()}
    families["model_type"] = sorted(c for c in features.columns if c.startswith("model_type="))
    return families


def decision_features(store: ProvenanceStore, liveness: Liveness = LATEST) -> pd.DataFrame:
    """One row per graphlet: its decision point, its features, and (apart) its outcome.

    Args:
        store: a canonical store whose graphlets have been built
            (``mlprov.graphlets.build_graphlets``).
        liveness: which graphlets are still in flight (their outcome is unknown).

    Returns:
        A frame ordered by pipeline and decision time with :data:`KEY_COLUMNS`, ``pipeline``
        (its name), ``model_type``,
        :data:`OUTCOME_COLUMNS` and the feature columns of :func:`feature_columns`. Times are
        UTC; durations in hours. Features that cannot be computed (a first graphlet has no
        previous one; a store without statistics summaries has no drift) are NaN.

    Raises:
        StoreError: the store has no graphlets yet.
    """
    if not store.has_table("graphlets") or store.count("graphlets") == 0:
        raise StoreError(
            f"{store.path} has no model graphlets; build them first with "
            f"'mlprov graphlets --db {store.path}'"
        )
    q = queries()
    define_macros(store)
    frame = store.df(q["decisions"], liveness.params())
    frame["seq"] = frame.groupby(_PIPELINE, sort=False).cumcount()
    keys = ["source_id", "graphlet_id"]
    frame = frame.merge(store.df(q["windows"]), on=keys, how="left")
    frame = frame.merge(store.df(q["fingerprints"]), on=keys, how="left")
    frame = frame.merge(store.df(q["anomalies"]), on=keys, how="left")
    frame = frame.merge(store.df(q["schema_payloads"]), on=keys, how="left")
    prev = frame.groupby(_PIPELINE, sort=False).shift(1)
    _data_features(frame, prev, store.df(q["statistics"]), store.df(q["validation_failures"]))
    _tfdv_drift_features(frame, _spans(frame), span_statistics(store), payload_distributions(store))
    _change_features(frame, prev)
    _history_features(frame)
    for name in sorted(frame["model_type"].unique()):
        frame[f"model_type={name}"] = (frame["model_type"] == name).astype(float)
    families = feature_columns(frame)
    columns = [
        *KEY_COLUMNS,
        "pipeline",
        "model_type",
        *OUTCOME_COLUMNS,
        "cost_unit",
        *(c for cols in families.values() for c in cols),
    ]
    return frame[columns].reset_index(drop=True)


def _spans(frame: pd.DataFrame) -> pd.Series:
    """The training window's spans, falling back to the graphlet's input spans."""
    spans = frame["window_spans"].where(frame["window_spans"].notna(), frame["input_spans"])

    def as_list(value: object) -> list[int]:
        if isinstance(value, np.ndarray):
            return sorted(value.tolist())
        return sorted(value) if isinstance(value, list) else []  # NULL: None, NaN or NA

    return spans.map(as_list)


def _data_features(
    frame: pd.DataFrame, prev: pd.DataFrame, stats: pd.DataFrame, failures: pd.DataFrame
) -> None:
    spans = _spans(frame)
    prev_spans = spans.groupby([frame["source_id"], frame["pipeline_id"]]).shift(1)
    frame["window_size"] = spans.map(len).astype(float)
    new = [
        len(set(s) - set(p)) if isinstance(p, list) else np.nan
        for s, p in zip(spans, prev_spans, strict=True)
    ]
    frame["new_spans"] = np.asarray(new, dtype=float)
    overlap = [
        len(set(s) & set(p)) / len(s) if isinstance(p, list) and s else np.nan
        for s, p in zip(spans, prev_spans, strict=True)
    ]
    frame["window_overlap"] = np.asarray(overlap, dtype=float)
    _drift_features(frame, spans, stats)
    anomalies = frame["anomalies"].astype(float)
    frame["anomalies"] = anomalies.where(frame["has_counts"].fillna(False).astype(bool))
    flagged = frame["anomalous_features"].astype(float)
    frame["anomalous_features"] = flagged.where(frame["has_payloads"].fillna(False).astype(bool))
    frame["validation_failures"] = _events_since_previous(frame, prev, failures)


def _events_since_previous(
    frame: pd.DataFrame, prev: pd.DataFrame, events: pd.DataFrame
) -> np.ndarray:
    """Per decision, how many pipeline events fell in [previous decision, this decision)."""
    if events.empty:
        return np.zeros(len(frame))
    events = events.sort_values("time", kind="stable")
    events["n"] = events.groupby(_PIPELINE, sort=False).cumcount() + 1.0

    def before(times: pd.Series) -> np.ndarray:
        left = frame[_PIPELINE].assign(
            time=times.astype(events["time"].dtype), row=np.arange(len(frame))
        )
        left = left[left["time"].notna()].sort_values("time", kind="stable")
        hit = pd.merge_asof(left, events, on="time", by=_PIPELINE, allow_exact_matches=False)
        counts = np.zeros(len(frame))
        counts[hit["row"].to_numpy()] = hit["n"].fillna(0.0).to_numpy()
        return counts

    return before(frame["train_time"]) - before(prev["train_time"])


def _drift_features(frame: pd.DataFrame, spans: pd.Series, stats: pd.DataFrame) -> None:
    """Drift between statistics summaries, in units of the features' standard deviation.

    Summaries are the numeric properties of statistics artifacts named ``<feature>_mean``
    (scaled by ``<feature>_std`` when present) and ``num_examples``. A span's summary counts
    only if it was available before the decision.
    """
    names = ("drift_window", "drift_newest", "window_spread", "examples_ratio")
    for name in names:
        frame[name] = np.nan
    means = sorted({n for n in stats["name"].unique() if n.endswith("_mean")})
    if not means:
        return
    keys = ["source_id", "pipeline_id", "artifact_id", "span", "available_time"]
    wide = stats.groupby([*keys, "name"])["value"].mean().unstack("name").reset_index()
    rows = pd.DataFrame(
        {
            "row": np.repeat(np.arange(len(frame)), spans.map(len)),
            "span": [v for s in spans for v in s],
        }
    )
    rows = rows.join(frame[["source_id", "pipeline_id", "train_time"]], on="row")
    rows = rows.merge(wide, on=["source_id", "pipeline_id", "span"], how="inner")
    rows = rows[rows["available_time"] <= rows["train_time"]]
    # one summary per (decision, span): duplicates (a retried StatisticsGen) are averaged
    per_span = rows.groupby(["row", "span"], sort=True).mean(numeric_only=True).reset_index()
    if per_span.empty:
        return
    stds = [m[: -len("_mean")] + "_std" for m in means]
    scale = pd.DataFrame({m: per_span.get(s, 1.0) for m, s in zip(means, stds, strict=True)})
    scale = scale.where(scale > 0).groupby(per_span["row"]).mean()
    window = per_span.groupby("row")[means].mean()
    spread = per_span.groupby("row")[means].std(ddof=0)
    newest_idx = per_span.groupby("row")["span"].idxmax()
    newest = per_span.loc[newest_idx].set_index("row")[means]
    counts = per_span.groupby("row")["span"].count()
    rest_sum = window.mul(counts, axis=0) - newest
    rest = rest_sum.div((counts - 1).where(counts > 1), axis=0)
    index = pd.RangeIndex(len(frame))
    window, scale = window.reindex(index), scale.reindex(index)
    prev_window = window.groupby([frame["source_id"], frame["pipeline_id"]]).shift(1)
    frame["drift_window"] = ((window - prev_window).abs() / scale).mean(axis=1, skipna=False)
    frame["drift_newest"] = ((newest.reindex(index) - rest.reindex(index)).abs() / scale).mean(
        axis=1, skipna=False
    )
    frame["window_spread"] = (spread.reindex(index) / scale).mean(axis=1, skipna=False)
    if "num_examples" in per_span:
        size = per_span.groupby("row")["num_examples"].mean().reindex(index)
        newest_size = per_span.loc[newest_idx].set_index("row")["num_examples"].reindex(index)
        frame["examples_ratio"] = newest_size / size


def _tfdv_drift_features(
    frame: pd.DataFrame,
    spans: pd.Series,
    stats: pd.DataFrame,
    dists: dict[tuple[int, int], dict[str, Distribution]],
) -> None:
    """TFDV drift of each training window against the previous graphlet's window, and of the
    newest span against the rest of its window, from the statistics payloads available before
    the decision (a span's latest such artifact)."""
    window_drift = np.full(len(frame), np.nan)
    newest_drift = np.full(len(frame), np.nan)
    by_span: dict[tuple[int, int, int], list[tuple[pd.Timestamp, int]]] = {}
    ordered = stats.sort_values("available_time", kind="stable")
    for sid, pid, span, available, aid in ordered[
        ["source_id", "pipeline_id", "span", "available_time", "artifact_id"]
    ].itertuples(index=False):
        by_span.setdefault((sid, pid, span), []).append((available, aid))
    previous: dict[tuple[int, int], dict[str, Distribution]] = {}
    columns = zip(frame["source_id"], frame["pipeline_id"], frame["train_time"], spans, strict=True)
    for row, (sid, pid, train_time, window_spans) in enumerate(columns):
        parts = []
        for span in window_spans:
            ready = [a for t, a in by_span.get((sid, pid, span), []) if t <= train_time]
            if ready and (sid, ready[-1]) in dists:
                parts.append(dists[(sid, ready[-1])])
        window = combine(parts)
        before = previous.get((sid, pid))
        if before and window:
            window_drift[row] = dataset_drift(before, window)[0]
        if len(parts) > 1:  # spans are sorted: the newest is the last
            newest_drift[row] = dataset_drift(combine(parts[:-1]), parts[-1])[0]
        previous[(sid, pid)] = window
    frame["tfdv_drift_window"] = window_drift
    frame["tfdv_drift_newest"] = newest_drift


def _schema_feature_changes(frame: pd.DataFrame, prev: pd.DataFrame) -> np.ndarray:
    """Schema features added, removed or of another type than in the previous graphlet's
    schema payload (NaN unless both were read)."""

    def typed(value: object) -> dict[str, str] | None:
        if not isinstance(value, list | np.ndarray):
            return None
        return dict(str(v).rsplit(":", 1) for v in value)

    changes = []
    for now, before in zip(
        frame["typed_features"].map(typed), prev["typed_features"].map(typed), strict=True
    ):
        if now is None or before is None:
            changes.append(np.nan)
            continue
        changed = sum(before[f] != t for f, t in now.items() if f in before)
        changes.append(float(len(now.keys() ^ before.keys()) + changed))
    return np.asarray(changes, dtype=float)


def _change_features(frame: pd.DataFrame, prev: pd.DataFrame) -> None:
    first = frame["seq"] == 0
    # where both schemas' payloads were read, their contents decide whether the schema changed
    read = frame["fingerprints"].notna() & prev["fingerprints"].notna()
    frame["schema_hash"] = frame["schema_hash"].where(~read, frame["fingerprints"].map(str))
    prev["schema_hash"] = prev["schema_hash"].where(~read, prev["fingerprints"].map(str))
    frame["schema_features_changed"] = _schema_feature_changes(frame, prev)
    for name, column in (
        ("schema_changed", "schema_hash"),
        ("transform_changed", "transform_hash"),
        ("config_changed", "config_hash"),
        ("structure_changed", "structure_hash"),
    ):
        same = frame[column].fillna("<none>") == prev[column].fillna("<none>")
        frame[name] = (~same).astype(float).mask(first)
    change = (
        frame[["schema_changed", "transform_changed", "config_changed", "structure_changed"]]
        .fillna(0)
        .max(axis=1)
        > 0
    )
    epoch = change.astype(int).groupby([frame["source_id"], frame["pipeline_id"]]).cumsum()
    since = frame.groupby([frame["source_id"], frame["pipeline_id"], epoch]).cumcount()
    ever = epoch > 0
    frame["graphlets_since_change"] = since.astype(float).where(ever, frame["seq"].astype(float))


def _history_features(frame: pd.DataFrame) -> None:
    """History from outcomes known strictly before each decision (as-of join on known_time)."""
    known = frame.loc[
        frame["known_time"].notna(),
        ["source_id", "pipeline_id", "known_time", "deployed", "seq", "train_time"],
    ].copy()
    known = known.sort_values(["known_time", "seq"], kind="stable")
    known["pushed"] = known["deployed"].astype(float)
    by = known.groupby(_PIPELINE, sort=False)
    known["n_known"] = by.cumcount() + 1.0
    known["n_push"] = by["pushed"].cumsum()
    pushes = known["pushed"] > 0
    known["last_push_known"] = known["known_time"].where(pushes)
    known["last_push_seq"] = known["seq"].where(pushes).astype(float)
    known["known_at_push"] = known["n_known"].where(pushes)
    for column in ("last_push_known", "last_push_seq", "known_at_push"):
        known[column] = known.groupby(_PIPELINE, sort=False)[column].ffill()
    # a push known later for an older graphlet must not move the last pushed position back
    known["last_push_seq"] = known.groupby(_PIPELINE, sort=False)["last_push_seq"].cummax()
    known = known.drop(columns=["deployed", "seq", "train_time"])
    decisions = frame[["source_id", "pipeline_id", "train_time", "seq"]].copy()
    decisions["row"] = np.arange(len(frame))
    decisions["train_time"] = decisions["train_time"].astype(known["known_time"].dtype)
    asof = (
        pd.merge_asof(
            decisions.sort_values("train_time", kind="stable"),
            known.sort_values("known_time", kind="stable"),
            left_on="train_time",
            right_on="known_time",
            by=_PIPELINE,
            allow_exact_matches=False,
        )
        .set_index("row")
        .sort_index()
    )
    n_known = asof["n_known"].fillna(0.0)
    frame["prev_pushed"] = asof["pushed"].to_numpy()
    frame["known_outcomes"] = n_known.to_numpy()
    frame["push_rate"] = (asof["n_push"] / asof["n_known"]).to_numpy()
    frame["consecutive_nonpush"] = (n_known - asof["known_at_push"].fillna(0.0)).to_numpy()
    seq = frame["seq"].astype(float).to_numpy()
    frame["graphlets_since_push"] = np.where(
        asof["last_push_seq"].isna(), seq, seq - asof["last_push_seq"].to_numpy() - 1
    )
    since_push = frame["train_time"] - asof["last_push_known"].to_numpy()
    frame["hours_since_push"] = in_units(since_push, _HOUR).to_numpy(dtype=float)
    prev_time = frame.groupby(_PIPELINE, sort=False)["train_time"].shift(1)
    frame["hours_since_prev"] = in_units(frame["train_time"] - prev_time, _HOUR).to_numpy(
        dtype=float
    )

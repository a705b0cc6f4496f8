"""Pruning simulation on generator stores taken through real ingest and graphlet building."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlprov.analysis.pruning import (
    POLICIES,
    PruningConfig,
    PruningData,
    PruningError,
    PruningResult,
    load_pruning_data,
    simulate,
    simulate_pruning,
)
from mlprov.analysis.pruning.features import (
    FEATURE_FAMILIES,
    KEY_COLUMNS,
    decision_features,
    feature_columns,
)
from mlprov.analysis.pruning.policies import PolicyInputs
from mlprov.analysis.pruning.score import Scorer
from mlprov.analysis.pruning.simulate import _headline
from mlprov.analysis.pruning_report import (
    DECISION_ROWS,
    headline_text,
    pruning_figures,
    pruning_section,
)
from mlprov.graphlets import build_graphlets
from mlprov.provenance.conventions import Mapping
from mlprov.provenance.errors import StoreError
from mlprov.provenance.ingest import ingest
from mlprov.provenance.store import ProvenanceStore
from mlprov.sample.synth.generator import SynthConfig, generate


def build_store(directory: Path, pipelines: int, days: int, seed: int) -> Path:
    """Generate an MLMD store, ingest it (cost = cpu_hours) and build its graphlets."""
    source = directory / "mlmd.sqlite"
    generate(SynthConfig(pipelines=pipelines, days=days, seed=seed), source, writer="bulk")
    db = directory / "prov.duckdb"
    with ProvenanceStore.open(db) as store:
        ingest(store, str(source), mapping=Mapping(cost_property="cpu_hours"))
        build_graphlets(store)
    return db


@pytest.fixture(scope="module")
def mid_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 1,600 training runs in 20 pipelines over 60 days."""
    return build_store(tmp_path_factory.mktemp("mid"), pipelines=20, days=60, seed=1)


@pytest.fixture(scope="module")
def mid_data(mid_db: Path) -> PruningData:
    with ProvenanceStore.open(mid_db, read_only=True) as store:
        return load_pruning_data(store)


@pytest.fixture(scope="module")
def mid_result(mid_data: PruningData):  # type: ignore[no-untyped-def]
    return simulate(mid_data, seed=0, importance_repeats=2)


# -- features ---------------------------------------------------------------------------------
def test_features_cover_every_graphlet_with_every_family(mid_db: Path) -> None:
    with ProvenanceStore.open(mid_db, read_only=True) as store:
        features = decision_features(store)
        graphlets = store.count("graphlets")
    assert len(features) == graphlets
    families = feature_columns(features)
    assert set(families) == set(FEATURE_FAMILIES)
    assert families["model_type"] == [
        "model_type=boosted_trees",
        "model_type=dnn",
        "model_type=linear",
    ]
    # the generator records statistics summaries, so drift is known past the first graphlet
    later = features.groupby(["source_id", "pipeline_id"]).cumcount() > 0
    assert features.loc[later, "drift_window"].notna().mean() > 0.9
    assert features["config_changed"].sum() > 0 and features["structure_changed"].sum() > 0
    # no anomaly counts are recorded by the generator: unknown, not zero
    assert features["anomalies"].isna().all()


def test_history_features_match_a_direct_count(mid_db: Path) -> None:
    """Recount history per decision with a plain loop over the earlier graphlets."""
    with ProvenanceStore.open(mid_db, read_only=True) as store:
        f = decision_features(store)
    sample = f.groupby(["source_id", "pipeline_id"]).head(40)
    for row in sample.sample(150, random_state=0).itertuples():
        same = f[(f["source_id"] == row.source_id) & (f["pipeline_id"] == row.pipeline_id)]
        known = same[same["known_time"] < row.train_time].sort_values(["known_time", "train_time"])
        assert row.known_outcomes == len(known)
        if known.empty:
            assert np.isnan(row.prev_pushed) and np.isnan(row.push_rate)
            continue
        assert row.prev_pushed == float(known["deployed"].iloc[-1])
        assert row.push_rate == pytest.approx(known["deployed"].mean())
        flags = known["deployed"].to_numpy()
        trailing = len(flags) - (np.flatnonzero(flags)[-1] + 1 if flags.any() else 0)
        assert row.consecutive_nonpush == trailing
        if flags.any():
            last_push = known.loc[known["deployed"], "known_time"].max()
            hours = (row.train_time - last_push) / pd.Timedelta(hours=1)
            assert row.hours_since_push == pytest.approx(hours)


def test_features_ignore_own_outcome_and_everything_later(mid_db: Path, tmp_path: Path) -> None:
    """Flip every outcome learned after a cut, rewrite later statistics and configurations:
    no feature of a decision taken up to the cut may change."""
    with ProvenanceStore.open(mid_db, read_only=True) as store:
        before = decision_features(store)
    cut = before["train_time"].sort_values().iloc[len(before) // 2]
    copy = tmp_path / "perturbed.duckdb"
    shutil.copy(mid_db, copy)
    with ProvenanceStore.open(copy) as store:
        flipped = store.con.execute(
            "UPDATE graphlets SET deployed = NOT deployed, "
            "push_time = CASE WHEN deployed THEN NULL ELSE end_time END "
            "WHERE NOT in_flight AND coalesce(push_time, end_time) >= ?",
            [cut],
        ).fetchall()
        assert flipped[0][0] > 0
        store.con.execute(
            "UPDATE artifact_properties SET double_value = double_value * 3 + 1 "
            "WHERE artifact_id IN (SELECT artifact_id FROM artifacts "
            "WHERE type_name = 'ExampleStatistics' AND create_time > ?)",
            [cut],
        )
        store.con.execute(
            "UPDATE execution_properties SET string_value = string_value || '-changed' "
            "WHERE string_value IS NOT NULL AND execution_id IN "
            "(SELECT execution_id FROM executions WHERE start_time > ?)",
            [cut],
        )
        store.con.execute(
            "UPDATE graphlets SET end_time = end_time + INTERVAL 3 DAY WHERE end_time >= ?", [cut]
        )
        after = decision_features(store)
    columns = [c for cols in feature_columns(before).values() for c in cols]
    early = before["train_time"] <= cut
    assert early.sum() > 100
    # the decision at the cut is among them, and its own outcome was flipped
    at_cut = before.index[before["train_time"] == cut]
    assert (before.loc[at_cut, "deployed"] != after.loc[at_cut, "deployed"]).all()
    pd.testing.assert_frame_equal(
        before.loc[early, [*KEY_COLUMNS, *columns]], after.loc[early, [*KEY_COLUMNS, *columns]]
    )
    # and the perturbation does reach later decisions (the test would notice a leak)
    assert not before.loc[~early, columns].equals(after.loc[~early, columns])


# -- policies ---------------------------------------------------------------------------------
def test_reference_policies(mid_result) -> None:  # type: ignore[no-untyped-def]
    table = mid_result.table.set_index("policy")
    assert list(table.index) == list(POLICIES)
    assert table.loc["none", "wasted_saved"] == 0 and table.loc["none", "total_saved"] == 0
    assert table.loc["none", "pushes_kept"] == 1
    assert table.loc["oracle", "wasted_saved"] == pytest.approx(1.0)
    assert table.loc["oracle", "pushes_kept"] == 1
    assert table.loc["oracle", "skipped"] == mid_result.test_nonpushes
    assert table.loc["oracle", "cadence_vs_none"] == pytest.approx(1.0)
    assert table.loc["oracle", "serving_age_days"] == pytest.approx(
        table.loc["none", "serving_age_days"]
    )
    assert table.loc["random", "skipped"] == table.loc["learned", "skipped"]
    for policy in POLICIES:
        row = table.loc[policy]
        assert 0 <= row["total_saved"] <= row["waste_saved_all"] + 1e-9 or row["pushes_kept"] < 1
        assert 0 <= row["wasted_saved"] <= 1 + 1e-9 and 0 <= row["pushes_kept"] <= 1
    # skipping pushes can only slow deployment down
    assert (
        table["pushes_per_pipeline_week"] <= table.loc["none", "pushes_per_pipeline_week"] + 1e-9
    ).all()
    assert (table["serving_age_days"] >= table.loc["none", "serving_age_days"] - 1e-9).all()


def test_sweeps_score_every_cut_as_its_own_policy(mid_data: PruningData, mid_result) -> None:  # type: ignore[no-untyped-def]
    """The one-pass curves equal scoring each skip set alone (ties and NaN levels included)."""
    scorer = Scorer(mid_data, mid_result.train_until, seed=0)
    rng = np.random.default_rng(1)
    level = rng.integers(0, 5, len(mid_data.decisions)).astype(float)
    level[rng.random(len(level)) < 0.1] = np.nan
    cuts = np.array([-1.0, 0.5, 1.0, 2.5, 3.0, 4.0])
    curve = scorer.curve(level, cuts)
    for i, cut in enumerate(cuts):
        alone = scorer.score(level > cut)
        assert curve.iloc[i].to_dict() == pytest.approx(alone, nan_ok=True), cut
    nonpush = mid_data.decisions["consecutive_nonpush"].to_numpy()
    for row in mid_result.heuristic_sweep.to_dict("records"):
        alone = scorer.score(scorer.test & (nonpush >= row.pop("k")))
        assert row == pytest.approx(alone, nan_ok=True)
    for row in mid_result.sweep.iloc[::25].to_dict("records"):
        rand = scorer.score(scorer.random_skip(row["skip_rate"]))
        assert row["random_wasted_saved"] == pytest.approx(rand["wasted_saved"], nan_ok=True)
        assert row["random_pushes_kept"] == pytest.approx(rand["pushes_kept"], nan_ok=True)


def test_registry_gives_each_policy_its_row(mid_data: PruningData, mid_result) -> None:  # type: ignore[no-untyped-def]
    """Each registered policy, given the learned probabilities of the result, skips only test
    decisions and exactly the ones its row of the table counts."""
    scorer = Scorer(mid_data, mid_result.train_until, seed=0)
    proba = mid_result.decisions["no_push_probability"].to_numpy()
    inputs = PolicyInputs(mid_data.decisions, scorer, PruningConfig(), proba, mid_result.threshold)
    table = mid_result.table.set_index("policy")
    for name, policy in POLICIES.items():
        skip = policy(inputs)
        assert skip.mask.dtype == bool and len(skip.mask) == len(mid_data.decisions)
        assert not (skip.mask & ~scorer.test).any(), name
        assert scorer.score(skip.mask)["skipped"] == table.loc[name, "skipped"], name
        expected = table.loc[name, "param"]
        assert skip.param == expected if skip.param is not None else np.isnan(expected), name
    assert list(table.loc[["k-nonpush", "learned"], "param"]) == [3.0, mid_result.threshold]


def test_a_config_or_its_fields_as_keywords(mid_data: PruningData) -> None:
    config = PruningConfig(policies=["random", "k-nonpush", "oracle"], seed=5, k=2)
    assert config.chosen == ["oracle", "random", "k-nonpush"]  # the registry's order
    by_config = simulate(mid_data, config).table
    pd.testing.assert_frame_equal(
        by_config, simulate(mid_data, policies=["random", "k-nonpush", "oracle"], seed=5, k=2).table
    )
    # keywords change the config's fields, the rest stays
    changed = simulate(mid_data, config, k=4).table.set_index("policy")
    assert list(changed.index) == ["oracle", "random", "k-nonpush"]
    assert changed.loc["k-nonpush", "param"] == 4.0
    assert (
        changed.loc["random", "skipped"] == by_config.set_index("policy").loc["random", "skipped"]
    )


def _learned_at(sweep: pd.DataFrame, pushes_kept: float) -> float:
    """The learned policy's best wasted-compute saving keeping at least ``pushes_kept``."""
    return float(sweep.loc[sweep["pushes_kept"] >= pushes_kept - 1e-12, "wasted_saved"].max())


def test_learned_beats_every_baseline_at_equal_pushes_kept(mid_result) -> None:  # type: ignore[no-untyped-def]
    sweep = mid_result.sweep
    baselines = mid_result.table[
        mid_result.table["policy"].isin(["random", "k-nonpush", "no-new-span"])
    ]
    for row in baselines.to_dict("records"):
        assert _learned_at(sweep, row["pushes_kept"]) > row["wasted_saved"] + 0.05, row
    for row in mid_result.heuristic_sweep.to_dict("records"):
        assert _learned_at(sweep, row["pushes_kept"]) > row["wasted_saved"], row
    # the random curve of the sweep sits under the learned one
    assert (sweep["wasted_saved"] - sweep["random_wasted_saved"]).mean() > 0.2
    matched = mid_result.matched
    assert (matched["learned_wasted_saved"] > matched["wasted_saved"]).all()
    assert mid_result.headline is not None
    assert mid_result.headline.pushes_kept >= 0.99 and mid_result.headline.wasted_saved > 0.15
    assert mid_result.auc > 0.8


def test_shuffled_training_outcomes_leave_the_learned_policy_at_chance(
    mid_data: PruningData,
) -> None:
    """With outcomes shuffled inside the training period, nothing can be learned: the learned
    policy must do no better than random skipping (a leak of test labels would show here)."""
    result = simulate(mid_data, seed=0, importance_repeats=0)
    d = mid_data.decisions.copy()
    training = (d["train_time"] < result.train_until).to_numpy()
    rng = np.random.default_rng(1)
    d.loc[training, "deployed"] = rng.permutation(d.loc[training, "deployed"].to_numpy())
    shuffled = simulate(
        dataclasses.replace(mid_data, decisions=d),
        seed=0,
        train_until=result.train_until,
        importance_repeats=0,
    )
    assert abs(shuffled.auc - 0.5) < 0.08
    gain = shuffled.sweep["wasted_saved"] - shuffled.sweep["random_wasted_saved"]
    assert gain.mean() < 0.05
    assert _learned_at(shuffled.sweep, 0.99) < 0.1
    assert result.auc > shuffled.auc + 0.2


def test_deterministic_given_a_seed(mid_data: PruningData, mid_result) -> None:  # type: ignore[no-untyped-def]
    again = simulate(mid_data, seed=0, importance_repeats=2)
    pd.testing.assert_frame_equal(mid_result.table, again.table)
    pd.testing.assert_frame_equal(mid_result.sweep, again.sweep)
    pd.testing.assert_frame_equal(mid_result.importance, again.importance)
    assert mid_result.headline == again.headline
    other = simulate(mid_data, seed=5, policies=["random", "oracle"])
    assert not other.table.equals(simulate(mid_data, seed=6, policies=["random", "oracle"]).table)


def test_threshold_and_split_are_honoured(mid_data: PruningData) -> None:
    def run(**kwargs: object) -> PruningResult:
        return simulate(mid_data, policies=["learned"], importance_repeats=0, **kwargs)  # type: ignore[arg-type]

    strict = run(threshold=0.999, train_until="2025-02-15")
    loose = run(threshold=0.2, train_until="2025-02-15")
    assert strict.train_until == pd.Timestamp("2025-02-15")
    assert strict.threshold == 0.999
    assert strict.table["skip_rate"].iloc[0] < loose.table["skip_rate"].iloc[0]
    d = mid_data.decisions
    assert (~d.loc[d["train_time"] >= "2025-02-15", "in_flight"]).sum() == strict.n_test
    assert strict.importance.empty
    monthly = run(retrain="monthly", train_until="2025-02-01")
    assert monthly.auc > 0.8
    logistic = run(model="logistic")
    assert logistic.auc > 0.7


def test_importance_ranks_data_and_history_first(mid_result) -> None:  # type: ignore[no-untyped-def]
    importance = mid_result.importance
    assert set(importance["family"]) == set(FEATURE_FAMILIES)
    assert set(importance["family"].iloc[:2]) == {"data", "history"}
    assert importance["importance"].iloc[0] > 0.1
    top = mid_result.feature_importance.iloc[0]
    assert top["family"] == "data"


# -- errors -----------------------------------------------------------------------------------
def test_errors_say_what_to_do(mid_data: PruningData) -> None:
    with pytest.raises(PruningError, match=r"unknown policy 'orcale'.*Did you mean 'oracle'"):
        simulate(mid_data, policies=["orcale"])
    with pytest.raises(PruningError, match="no finished graphlet decided on or after"):
        simulate(mid_data, train_until="2031-01-01")
    with pytest.raises(PruningError, match="pass a later --train-until"):
        simulate(mid_data, policies=["learned"], train_until="2025-01-06")
    with pytest.raises(PruningError, match="not a date"):
        simulate(mid_data, train_until="next tuesday")
    with pytest.raises(PruningError, match=r"threshold must be in \[0, 1\]"):
        simulate(mid_data, threshold=1.5)
    with pytest.raises(PruningError, match="k must be at least 1"):
        simulate(mid_data, k=0)


def test_config_is_checked_when_made() -> None:
    """A bad setting fails before any data is read."""
    with pytest.raises(PruningError, match=r"unknown model 'xgb'; valid models are hgb, logistic"):
        PruningConfig(model="xgb")  # type: ignore[arg-type]
    with pytest.raises(PruningError, match=r"unknown retrain 'weekly'; valid values are once, mon"):
        PruningConfig(retrain="weekly")  # type: ignore[arg-type]
    with pytest.raises(PruningError, match=r"unknown policy 'learnt'.*Did you mean 'learned'"):
        PruningConfig(policies="learnt")
    with pytest.raises(PruningError, match="not a date"):
        PruningConfig(train_until="next tuesday")
    assert PruningConfig().chosen == list(POLICIES)
    assert PruningConfig(train_until="2025-02-15T10:00+01:00").test_start(pd.DataFrame()) == (
        pd.Timestamp("2025-02-15 09:00")
    )


def test_store_without_graphlets_is_refused() -> None:
    with (
        ProvenanceStore.open(":memory:") as store,
        pytest.raises(StoreError, match="mlprov graphlets --db"),
    ):
        simulate_pruning(store)


# -- report -----------------------------------------------------------------------------------
def test_figures_and_section(mid_result) -> None:  # type: ignore[no-untyped-def]
    figures = pruning_figures(mid_result)
    assert set(figures) == {"pruning_tradeoff", "pruning_importance"}
    tradeoff = figures["pruning_tradeoff"].axes[0]
    learned_line = tradeoff.get_lines()[0]
    assert len(learned_line.get_xdata()) == len(mid_result.sweep)
    bars = figures["pruning_importance"].axes[0].patches
    assert len(bars) == len(mid_result.importance)
    markdown = pruning_section(mid_result, images={"pruning_tradeoff": "tradeoff.png"})
    assert "## Pruning simulation" in markdown and "![pruning_tradeoff](tradeoff.png)" in markdown
    assert f"saves up to {mid_result.headline.wasted_saved:.0%} of the avoidable" in markdown
    assert "treats the recorded history as fixed" in markdown
    html = pruning_section(mid_result, fmt="html")
    assert html.count("data:image/png;base64,") == 2 and "<table" in html


def test_headline_names_savings_and_pipelines(mid_result) -> None:  # type: ignore[no-untyped-def]
    text = headline_text(mid_result)
    skipped = mid_result.skipped_pipelines
    assert 0 < len(skipped) <= 5 and skipped["skipped"].is_monotonic_decreasing
    assert (skipped["skipped"] <= skipped["decisions"]).all() and (skipped["saved"] >= 0).all()
    first = skipped.iloc[0]
    assert f"It would skip most in {first['pipeline']} ({first['skipped']} of" in text
    assert f"{mid_result.cost_unit}, " in text  # savings in the cost unit


def test_headline_without_a_safe_threshold_says_so(mid_result) -> None:  # type: ignore[no-untyped-def]
    """A short history: only skipping nothing keeps 99% of pushes, and the threshold chosen
    on training data keeps 74.4%. The headline must not call that a saving."""
    sweep = pd.DataFrame(
        {
            "threshold": [0.5, 1.0],
            "skip_rate": [0.4, 0.0],
            "wasted_saved": [0.91, 0.0],
            "total_saved": [0.3, 0.0],
            "pushes_kept": [0.744, 1.0],
        }
    )
    assert _headline(sweep) is None
    table = mid_result.table.copy()
    learned = table["policy"] == "learned"
    table.loc[learned, ["pushes_kept", "wasted_saved"]] = [0.744, 0.91]
    short = dataclasses.replace(mid_result, headline=None, table=table)
    text = headline_text(short)
    assert text.startswith("This history has no safe threshold: no threshold")
    assert "keeps 74.4% of pushes: below 99%, so it is not safe to apply." in text
    assert "saves up to" not in text and "threshold 1.00" not in text


def test_decisions_per_pipeline(mid_result, mid_db: Path) -> None:  # type: ignore[no-untyped-def]
    from mlprov.analysis.frames import ALL, graphlet_frame
    from mlprov.analysis.pruning_report import pipeline_decisions

    d = mid_result.decisions
    test = d[d["test"] & ~d["in_flight"]]
    assert len(test) == mid_result.n_test and not d.loc[~d["test"], "skipped"].any()
    assert test["no_push_probability"].between(0, 1).all()
    top = mid_result.skipped_pipelines.iloc[0]
    with ProvenanceStore.open(mid_db, read_only=True) as store:
        graphlets = graphlet_frame(store, ALL, mid_result.cost_unit)
    html = pipeline_decisions(mid_result, top["pipeline"], graphlets)
    assert f"would skip {top['skipped']:,} of this pipeline&#39;s" in html
    mine = d[d["test"] & (d["pipeline"] == top["pipeline"])].sort_values(
        ["train_time", "graphlet_id"]
    )
    assert html.count("<td>skip</td>") == mine.tail(DECISION_ROWS)["skipped"].sum()
    assert mid_result._repr_html_() == pruning_section(mid_result, fmt="html")  # in Jupyter

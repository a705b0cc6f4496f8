"""TFDV's drift measures, checked by hand on tiny distributions."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from mlprov.analysis.drift import (
    Histogram,
    combine,
    dataset_drift,
    distance,
    js_divergence,
    linf_distance,
    span_drift,
)
from mlprov.provenance.store import ProvenanceStore
from tests.analysis.conftest import ROOT

H = Histogram.of


def test_linf_normalizes_each_side_by_its_own_total() -> None:
    # 60/100 - 30/100 on 'a'; a label only one side has counts fully on its side
    assert linf_distance({"a": 60, "b": 40}, {"a": 3, "b": 7}) == pytest.approx(0.3)
    assert linf_distance({"a": 1}, {"b": 5}) == pytest.approx(1.0)
    assert linf_distance({"a": 2, "b": 2}, {"a": 1, "b": 1}) == 0.0
    assert math.isnan(linf_distance({}, {"a": 1}))


def test_js_identical_disjoint_and_by_hand() -> None:
    p = H([(0, 1, 3), (1, 2, 1)])
    assert js_divergence(p, p) == 0.0
    assert js_divergence(H([(0, 1, 10)]), H([(1, 2, 10)])) == 1.0
    # P = (3/4, 1/4), Q = (1/4, 3/4), M = (1/2, 1/2):
    # KL(P||M) = 3/4 log2(3/2) + 1/4 log2(1/2), the same for Q, JS their mean
    by_hand = 0.75 * math.log2(1.5) + 0.25 * math.log2(0.5)
    assert js_divergence(p, H([(0, 1, 1), (1, 2, 3)])) == pytest.approx(by_hand)


def test_js_rebuckets_uniformly_on_the_union_of_boundaries() -> None:
    # [0, 2) holding 4 is (2, 2) on [0, 1), [1, 2): the same as the other side
    assert js_divergence(H([(0, 2, 4)]), H([(0, 1, 2), (1, 2, 2)])) == pytest.approx(0.0)
    # [0, 4) holding 4 against [0, 1) holding 4: P = (1, 3)/4 on [0,1), [1,4); Q = (1, 0)
    p, m = [0.25, 0.75], [0.625, 0.375]
    kl_p = sum(a * math.log2(a / b) for a, b in zip(p, m, strict=True))
    kl_q = math.log2(1 / 0.625)
    assert js_divergence(H([(0, 4, 4)]), H([(0, 1, 4)])) == pytest.approx((kl_p + kl_q) / 2)


def test_js_point_infinite_and_nan_buckets_as_tfdv_adds_them() -> None:
    # NaNs of each side go to a bucket of their own: P = (1, 0, 1)/2, Q = (1, 0, 0)
    p = H([(0, 1, 1)], num_nan=1)
    q = H([(0, 1, 1)])
    m = [0.75, 0.0, 0.25]
    kl_p = 0.5 * math.log2(0.5 / m[0]) + 0.5 * math.log2(0.5 / m[2])
    kl_q = math.log2(1 / m[0])
    assert js_divergence(p, q) == pytest.approx((kl_p + kl_q) / 2)
    # a point bucket (low == high) matches the same point on the other side
    assert js_divergence(H([(3, 3, 5)]), H([(3, 3, 2)])) == 0.0
    # infinite-bound masses never match the other side's
    assert js_divergence(H([(0, 1, 1), (1, math.inf, 1)]), H([(0, 1, 1), (1, math.inf, 1)])) > 0
    assert math.isnan(js_divergence(H([]), H([(0, 1, 1)])))


def test_window_sums_and_dataset_drift() -> None:
    window = combine([{"x": H([(0, 1, 2)]), "c": {"a": 1}}, {"x": H([(0, 2, 2)]), "c": {"b": 1}}])
    assert window["c"] == {"a": 1.0, "b": 1.0}
    # the two spans' overlapping buckets: 2 + 1 on [0, 1), 1 on [1, 2)
    assert js_divergence(window["x"], H([(0, 1, 3), (1, 2, 1)])) == pytest.approx(0.0)  # type: ignore[arg-type]
    score, feature = dataset_drift(window, {"x": H([(5, 6, 1)]), "c": {"a": 1, "b": 1}})
    assert (score, feature) == (1.0, "x")
    assert math.isnan(distance({"a": 1}, H([(0, 1, 1)])))
    score, feature = dataset_drift({"x": H([(0, 1, 1)])}, {"y": H([(0, 1, 1)])})
    assert math.isnan(score) and feature is None


# -- on the sample store with its shipped payload tree -------------------------------------------


@pytest.fixture(scope="module")
def sample_payloads(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the ingested sample store with the sample's payload tree read."""
    pytest.importorskip("tensorflow_metadata")
    from mlprov.provenance.payloads import read_payloads
    from mlprov.sample.synth.payloads import extract_tree

    where = tmp_path_factory.mktemp("drift")
    db = where / "sample.duckdb"
    shutil.copy(sample_db, db)
    tree = extract_tree(ROOT / "sample_data" / "payloads.tar.gz", where / "payloads")
    with ProvenanceStore.open(db) as store:
        report = read_payloads(store, prefixes=[("/pipelines", str(tree))])
    assert report.problems == () and report.read == 723  # 241 each of the three kinds
    return db


def test_span_drift_on_the_sample(sample_payloads: Path) -> None:
    with ProvenanceStore.open(sample_payloads, read_only=True) as store:
        spans = span_drift(store)
    firsts = spans.groupby(["source_id", "pipeline_id"]).head(1)
    assert firsts["drift"].isna().all()
    rest = spans.drop(firsts.index)
    assert rest["drift"].between(0, 1).all() and rest["feature"].notna().all()
    assert set(rest["feature"]) <= {"feature_0", "feature_1", "segment"}


def test_drift_section_only_with_payloads(sample_payloads: Path, tfx: ProvenanceStore) -> None:
    from mlprov.analysis.drift_report import DRIFT_THRESHOLD, drift_outcomes, drift_section
    from mlprov.analysis.frames import ALL

    assert drift_section(tfx, ALL) is None  # no payloads read: no section
    with ProvenanceStore.open(sample_payloads, read_only=True) as store:
        section = drift_section(store, ALL)
        _, decided = drift_outcomes(store, ALL)
    assert section is not None and section.title == "Data drift and outcomes"
    measured = decided[decided["tfdv_drift_window"].notna()]
    unpushed = measured[~measured["deployed"].astype(bool)]
    after = (unpushed["tfdv_drift_window"] > DRIFT_THRESHOLD).mean()
    assert section.summary["unpushed"] == len(unpushed) > 0
    assert section.summary["unpushed_after_drift"] == pytest.approx(after)
    # on the sample, non-pushes follow drift more often than pushes do
    assert section.summary["unpushed_after_drift"] > section.summary["pushed_after_drift"]
    assert f"{after:.0%} followed data drift" in section.markdown
    assert 'id="fig-drift"' in section.html and "data:image/png;base64," in section.html

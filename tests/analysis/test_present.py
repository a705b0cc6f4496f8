"""Results for people: readable tables in Jupyter and IPython, and a graphlet as its drawing."""

from __future__ import annotations

import pytest

from mlprov.analysis.characterize import characterization_summary
from mlprov.analysis.present import styled
from mlprov.analysis.waste import waste_by_pipeline, waste_summary
from mlprov.graphlets import load_graphlet
from mlprov.provenance.store import ProvenanceStore


def test_results_render_as_tables(tfx: ProvenanceStore) -> None:
    summary = waste_summary(tfx)
    html = summary._repr_html_()
    assert "<caption>WasteSummary (costs in seconds)</caption>" in html
    assert (
        f"<th style='text-align:left'>wasted share</th><td style='text-align:right'>"
        f"{100 * summary.wasted_share:.1f}%</td>" in html
    )
    assert f"{summary.total_cost:,.0f} seconds" in html
    text = repr(summary)
    assert "WasteSummary(" not in text and "wasted share" in text
    traits = repr(characterization_summary(tfx))
    assert "Characterization(" not in traits and " days" in traits and " hours" in traits


def test_frames_render_with_units_and_percentages(tfx: ProvenanceStore) -> None:
    frame = waste_by_pipeline(tfx)[["pipeline", "wasted_cost", "wasted_share", "graphlets"]]
    html = styled(frame, "seconds").to_html()
    assert "wasted cost (seconds)" in html and "wasted share" in html
    assert f"{100 * frame['wasted_share'].iloc[0]:.1f}%" in html
    assert "wasted_share" not in html  # headings are words


def test_graphlet_renders_as_its_drawing(tfx: ProvenanceStore) -> None:
    pretty = pytest.importorskip("IPython.lib.pretty")
    view = load_graphlet(tfx, 14)
    assert view._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")
    assert pretty.pretty(view) == (
        "graphlet 14 of pipeline taxi: not deployed: not blessed: validation rejected the model"
    )


def test_workers_draw_what_the_caller_would(tfx: ProvenanceStore) -> None:
    """A drawing made in a worker process is the caller's, byte for byte."""
    from mlprov.analysis.drawings import POOLED_FROM, Drawings
    from mlprov.analysis.drilldown import _lineage

    views = [load_graphlet(tfx, 14)] * 2
    with Drawings(figures=1) as inline:
        here = [inline.draw(_lineage, v).result() for v in views]
    with Drawings(figures=POOLED_FROM, workers=2) as pooled:
        assert pooled._pool is not None
        there = [f.result() for f in [pooled.draw(_lineage, v) for v in views]]
    assert here == there and here[0].startswith("iVBORw0KGgo")  # base64 of a PNG's signature

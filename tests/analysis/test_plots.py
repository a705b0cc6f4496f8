"""The report's cost figures read at a glance: large second counts in hours, plain ticks."""

from __future__ import annotations

import pandas as pd

from mlprov.analysis import plots


def _weekly(scale: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "week": pd.to_datetime(["2025-01-06", "2025-01-13"]),
            "total_cost": [4.0 * scale, 2.0 * scale],
            "wasted_cost": [1.0 * scale, 2.0 * scale],
            "in_flight_cost": [0.0, 0.0],
        }
    )


def test_large_second_counts_are_drawn_in_hours_without_offsets() -> None:
    fig = plots.waste_over_time(_weekly(3_600_000.0), "seconds")  # 4,000 hours
    ax = fig.axes[0]
    assert ax.get_ylabel() == "hours"
    heights = sorted(round(p.get_height()) for p in ax.patches if p.get_height() > 0)
    assert heights == [1_000, 2_000, 3_000]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "4,000" in labels and ax.yaxis.get_offset_text().get_text() == ""


def test_small_costs_and_other_units_stay_as_they_are() -> None:
    assert plots.waste_over_time(_weekly(60.0), "seconds").axes[0].get_ylabel() == "seconds"
    fig = plots.waste_over_time(_weekly(1e7), "cpu_hours")
    assert fig.axes[0].get_ylabel() == "cpu_hours"
    by_pipeline = pd.DataFrame({"pipeline": ["a", None], "wasted_cost": [9e8, 1e8]})
    fig = plots.top_wasteful(by_pipeline, "seconds")
    assert fig.axes[0].get_xlabel() == "wasted cost (days)"

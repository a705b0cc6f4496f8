"""Figures of the report, drawn from the analyses' DataFrames.

Figures are built as :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas: no
pyplot, no global state, no display needed. Each function takes the frame an analysis returns;
tests check the data behind a figure, and :func:`png_base64` embeds it in HTML.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

WIDTH, HEIGHT = 7.0, 3.6
COLORS = {
    "deployed": "#2b8a3e",
    "wasted": "#c92a2a",
    "in_flight": "#868e96",
    "orphan": "#e8590c",
    "bar": "#1c7ed6",
}


def figure(height: float = HEIGHT) -> tuple[Figure, Axes]:
    """A report-sized figure (off-screen) and its one axes."""
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _empty(ax: Axes, what: str) -> None:
    blank(ax, f"no {what} in this range")


def blank(ax: Axes, message: str) -> None:
    """An axes with nothing to show: ``message`` in its middle, no ticks."""
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="#868e96",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def readable(values: np.ndarray, unit: str) -> tuple[np.ndarray, str]:
    """Costs in a unit a reader takes in at a glance: seconds become hours, or days, when the
    largest value would need five digits or more.

    Example:
        >>> readable(np.array([7_200.0, 36_000.0]), "seconds")
        (array([ 2., 10.]), 'hours')
    """
    if unit != "seconds" or len(values) == 0 or np.nanmax(np.abs(values), initial=0) < 10_000:
        return values, unit
    hours = values / 3600
    if np.nanmax(np.abs(hours)) < 10_000:
        return hours, "hours"
    return hours / 24, "days"


def plain_numbers(ax: Axes, axis: str = "y") -> None:
    """Tick labels as plain numbers with thousands separators: no offsets, no 1e6 factors."""
    which = ax.yaxis if axis == "y" else ax.xaxis
    which.set_major_formatter(
        FuncFormatter(lambda v, _: f"{v:,.10g}" if abs(v) < 1 else f"{v:,.0f}")
    )


def cdf(values: pd.Series, *, xlabel: str, title: str, log: bool = False) -> Figure:
    """The empirical CDF of ``values`` (NaN dropped): share of items at or below x."""
    fig, ax = figure()
    data = np.sort(values.dropna().astype(float).to_numpy())
    if log:
        data = data[data > 0]
    if len(data) == 0:
        _empty(ax, "data")
    else:
        ax.step(data, np.arange(1, len(data) + 1) / len(data), where="post", color=COLORS["bar"])
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("share at or below")
        if log:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return fig


def compute_share(usage: pd.DataFrame, unit: str) -> Figure:
    """Horizontal bars: share of cost per category (from ``component_usage(by="category")``)."""
    fig, ax = figure()
    table = usage.sort_values("cost_share")
    if table.empty:
        _empty(ax, "executions")
    else:
        ax.barh(table["category"], table["cost_share"] * 100, color=COLORS["bar"])
        ax.set_xlabel(f"share of total cost ({unit}), %")
    ax.set_title("Compute share by operator category")
    return fig


def waste_over_time(weekly: pd.DataFrame, unit: str) -> Figure:
    """Stacked weekly bars of cost: deployed, wasted, in flight (from ``waste_by_week``)."""
    fig, ax = figure()
    if weekly.empty:
        _empty(ax, "executions")
    else:
        # executions without a start time (MLMD's default 0, read as unknown) get a bar too
        weeks = weekly["week"].dt.strftime("%Y-%m-%d").fillna("no start time")
        costs = weekly[["total_cost", "wasted_cost", "in_flight_cost"]].to_numpy(float)
        (total, wasted, flight), unit = readable(costs.T, unit)
        deployed = total - wasted - flight
        ax.bar(weeks, deployed, color=COLORS["deployed"], label="reached a deployed model")
        ax.bar(weeks, wasted, bottom=deployed, color=COLORS["wasted"], label="wasted")
        ax.bar(
            weeks, flight, bottom=deployed + wasted, color=COLORS["in_flight"], label="in flight"
        )
        ax.set_ylabel(unit)
        plain_numbers(ax)
        ax.set_xlabel("week starting (UTC)")
        fig.legend(loc="outside upper center", ncols=3, fontsize="small", frameon=False)
        ax.tick_params(axis="x", labelrotation=60, labelsize="small")
    ax.set_title("Cost per week by outcome")
    return fig


def top_wasteful(by_pipeline: pd.DataFrame, unit: str) -> Figure:
    """Horizontal bars: wasted cost of the top pipelines (from ``waste_by_pipeline(top=n)``)."""
    table = by_pipeline.iloc[::-1]
    fig, ax = figure(max(HEIGHT, 0.3 * len(table) + 1.2))
    if table.empty:
        _empty(ax, "pipelines")
    else:
        names = table["pipeline"].fillna("(no pipeline)")
        wasted, unit = readable(table["wasted_cost"].to_numpy(float), unit)
        ax.barh(names, wasted, color=COLORS["wasted"])
        ax.set_xlabel(f"wasted cost ({unit})")
        plain_numbers(ax, "x")
        ax.tick_params(axis="y", labelsize="small")
    ax.set_title("Pipelines with the most wasted compute")
    return fig


#: Colors of the reasons a graphlet did not push (graphlets.REASONS), pushed first.
REASON_COLORS = {
    "pushed": COLORS["deployed"],
    "not_blessed": COLORS["wasted"],
    "push_skipped": "#f08c00",
    "push_failed": "#e64980",
    "trainer_failed": "#7048e8",
    "cut_before_evaluation": "#1098ad",
    "abandoned": "#495057",
    "in_flight": COLORS["in_flight"],
}


def graphlet_timeline(graphlets: pd.DataFrame, unit: str) -> Figure:
    """One pipeline's graphlets over time: train time against split cost, one color per
    reason for not pushing (from ``graphlet_frame``, one pipeline's rows)."""
    fig, ax = figure()
    # matplotlib dates end with the year 9999; odd provenance can hold later times
    drawable = graphlets["train_time"].dt.year.between(1, 9999)
    graphlets = graphlets[drawable.fillna(False).astype(bool)]
    if graphlets.empty:
        _empty(ax, "graphlets with a training time")
    else:
        costs, unit = readable(graphlets["split_cost"].to_numpy(float), unit)
        size = 14 if len(graphlets) <= 200 else 5  # hundreds of trainings: smaller dots
        for reason, color in REASON_COLORS.items():
            mask = (graphlets["reason"] == reason).to_numpy()
            if mask.any():
                ax.scatter(
                    graphlets["train_time"][mask],
                    costs[mask],
                    s=size,
                    alpha=0.8,
                    linewidths=0,
                    color=color,
                    label=f"{reason.replace('_', ' ')} ({int(mask.sum()):,})",
                )
        ax.set_ylabel(f"split cost ({unit})")
        ax.set_ylim(bottom=0)
        plain_numbers(ax)
        ax.tick_params(axis="x", labelrotation=30, labelsize="small")
        fig.legend(loc="outside right upper", fontsize="small", frameon=False)
    ax.set_title("Graphlets over time, by outcome")
    return fig


def span_overlap(windows: pd.DataFrame) -> Figure:
    """Histogram of the share of a graphlet's input spans its predecessor also read."""
    fig, ax = figure()
    values = windows["span_overlap"].dropna().astype(float)
    if values.empty:
        _empty(ax, "consecutive graphlets with input spans")
    else:
        ax.hist(values, bins=[i / 10 for i in range(11)], color=COLORS["bar"], edgecolor="white")
        ax.set_xlabel("share of input spans shared with the previous graphlet")
        ax.set_ylabel("graphlets")
    ax.set_title("Input overlap between consecutive graphlets")
    return fig


def png_bytes(fig: Figure, dpi: int = 110, *, colors: int | None = None) -> bytes:
    """The figure as PNG bytes (``IPython.display.Image(png_bytes(fig))`` in a notebook).

    Args:
        fig: the figure.
        dpi: resolution.
        colors: reduce the picture to a palette of this many colors (a quarter of the bytes
            for these flat drawings; the report's pages use it to stay small).
    """
    buffer = io.BytesIO()
    if colors is None:
        fig.savefig(buffer, format="png", dpi=dpi)
        return buffer.getvalue()
    from PIL import Image  # matplotlib's own dependency

    # draw once into pixels and encode once: a PNG round trip and the default (median cut)
    # quantizer took 20 times longer than the drawing
    before = fig.get_dpi()
    fig.set_dpi(dpi)
    try:
        canvas = FigureCanvasAgg(fig)  # off-screen pixels, whatever canvas the figure had
        canvas.draw()
        size = canvas.get_width_height()
        pixels = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    finally:
        fig.set_dpi(before)
    small = pixels.convert("RGB").quantize(colors=colors, method=Image.Quantize.FASTOCTREE)
    small.save(buffer, format="PNG")
    return buffer.getvalue()


def png_base64(fig: Figure, dpi: int = 110, *, colors: int | None = None) -> str:
    """The figure as a base64-encoded PNG, for a ``data:image/png;base64,`` URL."""
    return base64.b64encode(png_bytes(fig, dpi, colors=colors)).decode("ascii")

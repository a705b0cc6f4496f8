"""Figures and a report section for a :class:`~mlprov.analysis.pruning.PruningResult`.

Figures are :class:`matplotlib.figure.Figure` objects on the Agg canvas (no pyplot, no global
state), in the style of :mod:`mlprov.analysis.plots`. :func:`pruning_section` renders the section as
Markdown or HTML for the report, through the report's templates and table helpers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlprov.analysis.plots import COLORS, blank, figure, png_base64
from mlprov.analysis.present import Table
from mlprov.analysis.pruning import PUSHES_KEPT_TARGET, PruningResult, when
from mlprov.analysis.report.formatting import Format, render
from mlprov.analysis.report.tables import frame_table

#: Columns of the comparison table in the report, with their headings.
TABLE_COLUMNS = {
    "policy": "policy",
    "skip_rate": "skipped",
    "wasted_saved": "waste saved",
    "total_saved": "compute saved",
    "pushes_kept": "pushes kept",
    "pushes_per_pipeline_week": "pushes/pipeline-week",
    "mean_longest_gap_days": "longest gap (d)",
    "serving_age_days": "model age (d)",
}
_SHARES = {"skip_rate", "wasted_saved", "total_saved", "pushes_kept"}


def tradeoff_figure(result: PruningResult) -> Figure:
    """Wasted compute saved against pushes kept: the learned policy's threshold sweep, random
    skipping at the same skip rates, the k-nonpush heuristic for k = 1..10, and the other
    policies as points."""
    fig, ax = figure()
    sweep = result.sweep
    if not sweep.empty:
        ordered = sweep.sort_values("pushes_kept", kind="stable")
        ax.plot(
            ordered["pushes_kept"] * 100,
            ordered["wasted_saved"] * 100,
            color=COLORS["bar"],
            label="learned (threshold sweep)",
        )
        rand = sweep.sort_values("random_pushes_kept", kind="stable")
        ax.plot(
            rand["random_pushes_kept"] * 100,
            rand["random_wasted_saved"] * 100,
            color="#868e96",
            linestyle=":",
            label="random at the same skip rate",
        )
    heur = result.heuristic_sweep
    if not heur.empty:
        ax.plot(
            heur["pushes_kept"] * 100,
            heur["wasted_saved"] * 100,
            marker="o",
            markersize=3,
            color=COLORS["orphan"],
            linestyle="--",
            label="k consecutive non-pushes (k = 1..10)",
        )
    markers = {"none": "s", "oracle": "*", "no-new-span": "D", "learned": "o"}
    for row in result.table.to_dict("records"):
        if row["policy"] in markers:
            ax.scatter(
                row["pushes_kept"] * 100,
                row["wasted_saved"] * 100,
                marker=markers[row["policy"]],
                s=50,
                zorder=3,
                label=row["policy"],
            )
    if result.headline is not None:
        h = result.headline
        ax.annotate(
            f"headline: {h.wasted_saved:.0%} saved at {h.pushes_kept:.1%} kept",
            (h.pushes_kept * 100, h.wasted_saved * 100),
            xytext=(-150, 10),
            textcoords="offset points",
            fontsize="small",
            arrowprops={"arrowstyle": "->", "color": "#495057"},
        )
    ax.axvline(_target(result) * 100, color="#adb5bd", linewidth=0.8)
    ax.set_xlabel("pushes kept, %")
    ax.set_ylabel("avoidable wasted compute saved, %")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="lower left")
    ax.set_title("Pruning trade-off on the test period")
    return fig


def _target(result: PruningResult) -> float:
    """The pushes-kept floor of the headline (0.99)."""
    return result.headline.target if result.headline is not None else PUSHES_KEPT_TARGET


def importance_figure(result: PruningResult) -> Figure:
    """Horizontal bars: permutation importance of each feature family (drop in average
    precision of "will not push" on the test period), with one standard deviation."""
    fig, ax = figure()
    table = result.importance.iloc[::-1]
    if table.empty:
        blank(ax, "no learned policy in this run")
    else:
        ax.barh(table["family"], table["importance"], xerr=table["std"], color=COLORS["bar"])
        ax.axvline(0, color="#495057", linewidth=0.8)
        ax.set_xlabel("drop in average precision when the family is permuted")
    ax.set_title("What drives non-pushes: feature families")
    return fig


def pruning_figures(result: PruningResult) -> dict[str, Figure]:
    """``{"pruning_tradeoff": ..., "pruning_importance": ...}``."""
    return {
        "pruning_tradeoff": tradeoff_figure(result),
        "pruning_importance": importance_figure(result),
    }


def headline_text(result: PruningResult) -> str:
    """The headline: the learned policy's best saving that keeps the pushes-kept floor
    (threshold read off the test sweep), or plainly that this history has none; what the
    threshold chosen on training data alone did; and the pipelines it would skip most."""
    target, unit = _target(result), result.cost_unit
    learned = result.table[result.table["policy"] == "learned"]
    h = result.headline
    if h is None:
        text = (
            f"This history has no safe threshold: no threshold of the learned policy that "
            f"skips any training run keeps {target:.0%} of the test period's pushes."
        )
    else:
        text = (
            f"At {h.target:.0%} of pushes kept or more, the learned policy saves up to "
            f"{h.wasted_saved:.0%} of the avoidable wasted compute "
            f"({_num(h.total_saved * result.test_cost)} {unit}, {h.total_saved:.1%} of all "
            f"compute in the test period), skipping {h.skip_rate:.1%} of training runs "
            f"(threshold {h.threshold:.2f}, read off the test sweep)."
        )
    if not learned.empty:
        row = learned.iloc[0]
        safe = row["pushes_kept"] >= target
        text += (
            f" The threshold chosen on training data alone ({result.threshold:.2f}) saves "
            f"{row['wasted_saved']:.0%} of the avoidable waste ({_num(row['saved'])} {unit}) "
            f"and keeps {row['pushes_kept']:.1%} of pushes"
            + ("." if safe else f": below {target:.0%}, so it is not safe to apply.")
        )
    skipped = result.skipped_pipelines
    if not skipped.empty and skipped["skipped"].sum() > 0:
        most = ", ".join(
            f"{r.pipeline} ({r.skipped} of {r.decisions} runs)" for r in skipped.itertuples()
        )
        text += f" It would skip most in {most}."
    return text


def _num(value: float) -> str:
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def comparison_table(result: PruningResult) -> pd.DataFrame:
    """The policy comparison with readable headings and shares as percentages (strings)."""
    table = result.table[[c for c in TABLE_COLUMNS if c in result.table]].copy()
    for column in table.columns:
        if column in _SHARES:
            table[column] = table[column].map(_percent)
        elif column != "policy":
            table[column] = table[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return table.rename(columns=TABLE_COLUMNS)


def _percent(value: float | None) -> str:
    return "" if pd.isna(value) else f"{value:.1%}"


def _setup(result: PruningResult) -> str:
    learned = (
        ""
        if result.threshold is None
        else f" The learned policy ({result.model}, retrained {result.retrain}) was "
        f"trained on {result.n_train:,} graphlets whose outcome was known before the "
        f"test period; its threshold ({result.threshold:.2f}) was chosen on the last "
        f"quarter of the training period to keep {_target(result):.0%} of pushes."
    )
    return (
        f"Decisions from {when(result.train_until)} UTC on are the test period: "
        f"{result.n_test:,} finished graphlets ({result.test_pushes:,} pushed, "
        f"{result.test_nonpushes:,} not). Avoidable waste is the trainer-and-downstream "
        f"cost of the test graphlets that did not push "
        f"({result.avoidable_waste:,.1f} {result.cost_unit}); skipping saves nothing "
        f"upstream of the trainer, which has already run.{learned}"
    )


def pruning_section(
    result: PruningResult,
    *,
    fmt: Format = "markdown",
    images: Mapping[str, str] | None = None,
    title: bool = True,
    note: str = "",
) -> str:
    """The pruning section of a report: headline, comparison, trade-off and importance plots,
    importance table, and the stated limit (templates ``pruning.html.j2``, ``pruning.md.j2``).

    Args:
        result: from :func:`mlprov.analysis.pruning.simulate_pruning`.
        fmt: ``markdown`` or ``html``.
        images: figure name (see :func:`pruning_figures`) -> image URL/path to reference.
            Without it, HTML embeds the figures as base64 PNGs and Markdown leaves them out.
        title: whether to open with the "Pruning simulation" heading (a host document that
            heads its sections itself passes False).
        note: a paragraph to open with (the report says what the simulation covered).

    Returns:
        The section text.
    """
    if images is None and fmt == "html":
        images = {
            name: f"data:image/png;base64,{png_base64(fig)}"
            for name, fig in pruning_figures(result).items()
        }
    importance = result.importance.assign(
        importance=result.importance["importance"].map(lambda v: f"{v:.3f}"),
        std=result.importance["std"].map(lambda v: f"{v:.3f}"),
    )
    context = {
        "title": title,
        "note": note,
        "headline": headline_text(result),
        "setup": _setup(result),
        "comparison": frame_table(comparison_table(result)),
        "images": images or {},
        "importance": frame_table(importance, "What drives non-pushes"),
        "limit": result.limit,
    }
    return render("pruning", fmt, context)


def not_simulated(reason: str, fmt: Format = "markdown") -> str:
    """The section when the simulation could not run: why."""
    return render("pruning", fmt, {"reason": reason})


#: Test-period decisions listed on a pipeline's page (the latest).
DECISION_ROWS = 50


def pipeline_decisions(result: PruningResult, pipeline: str | None, graphlets: pd.DataFrame) -> str:
    """HTML for one pipeline's page: what the learned policy decided for its training runs in
    the test period, beside what became of them.

    Args:
        result: from :func:`mlprov.analysis.pruning.simulate_pruning`.
        pipeline: the pipeline's name.
        graphlets: its graphlets (``mlprov.analysis.frames.graphlet_frame`` rows), for their
        outcome.
    """
    d = result.decisions
    if d.empty or result.threshold is None:
        return _decisions("The learned policy did not run, so there are no decisions to show.")
    mine = d[d["test"] & (d["pipeline"].fillna("\0") == ("\0" if pipeline is None else pipeline))]
    start = when(result.train_until)
    if mine.empty:
        return _decisions(
            f"None of this pipeline's training runs falls in the test period (from {start} UTC)."
        )
    mine = mine.merge(
        graphlets[["source_id", "graphlet_id", "reason"]],
        on=["source_id", "graphlet_id"],
        how="left",
    )
    skipped = mine[mine["skipped"]]
    lost = int(skipped["deployed"].sum())
    text = (
        f"From {start} UTC on, the learned policy (threshold {result.threshold:.2f}) would "
        f"skip {len(skipped):,} of this pipeline's {len(mine):,} training runs: "
        f"{len(skipped) - lost:,} that did not push and {lost:,} that pushed (pushes lost)."
    )
    shown = mine.sort_values(["train_time", "graphlet_id"]).tail(DECISION_ROWS).iloc[::-1]
    table = pd.DataFrame(
        {
            "trained (UTC)": shown["train_time"].dt.strftime("%Y-%m-%d %H:%M"),
            "graphlet": "#" + shown["graphlet_id"].astype(str),
            "P(no push)": shown["no_push_probability"].map(
                lambda v: "" if pd.isna(v) else f"{v:.2f}"
            ),
            "decision": np.where(shown["skipped"], "skip", "train"),
            "outcome": shown["reason"].fillna("").str.replace("_", " "),
        }
    )
    more = (
        f"The latest {DECISION_ROWS} of {len(mine):,} decisions."
        if len(mine) > DECISION_ROWS
        else ""
    )
    return _decisions(text, frame_table(table, note=more))


def _decisions(text: str, table: Table | None = None) -> str:
    return render("pruning_pipeline", "html", {"text": text, "table": table})

"""The report's "Data drift and outcomes" section: drift read from statistics payloads beside
what became of the models trained on the drifted data.

A trained model *followed drift* when the TFDV drift of its training window against the
previous graphlet's window (:mod:`mlprov.analysis.drift`, the largest L-infinity or Jensen-Shannon
distance of any feature) exceeds :data:`DRIFT_THRESHOLD`, and *followed a schema change*
when its schema differs from the previous graphlet's. Only graphlets whose outcome is known
count. The section appears once statistics payloads were read (``mlprov payloads``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlprov.analysis.drift import span_drift
from mlprov.analysis.frames import Scope
from mlprov.analysis.plots import COLORS, png_base64
from mlprov.analysis.present import Table
from mlprov.analysis.pruning.features import decision_features
from mlprov.analysis.report.formatting import render
from mlprov.analysis.report.sections import Section
from mlprov.provenance.store import ProvenanceStore

#: Drift above this counts as drift (TFDV leaves the threshold to the user's drift comparator;
#: 0.1 is a common choice for both L-infinity and Jensen-Shannon).
DRIFT_THRESHOLD = 0.1
#: Pipelines shown in the table and the figure: those with the most non-pushes.
TOP = 6
TITLE = "Data drift and outcomes"


def drift_outcomes(store: ProvenanceStore, scope: Scope) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-span drift and per-graphlet features (decided outcomes only) behind the section."""
    return span_drift(store), _decided(store, scope)


def _decided(store: ProvenanceStore, scope: Scope) -> pd.DataFrame:
    features = decision_features(store, scope.liveness)
    decided = features[~features["in_flight"].fillna(False).astype(bool)].copy()
    decided["drifted"] = decided["tfdv_drift_window"] > DRIFT_THRESHOLD
    decided["schema_change"] = decided["schema_changed"] > 0
    return decided


def drift_section(store: ProvenanceStore, scope: Scope) -> Section | None:
    """The section, or None when no statistics payload was read."""
    spans = span_drift(store)
    if spans.empty:  # no statistics payloads: no need for the graphlets' features
        return None
    decided = _decided(store, scope)
    if decided.empty:
        return None
    measured = decided[decided["tfdv_drift_window"].notna()]
    unpushed = measured[~measured["deployed"].astype(bool)]
    pushed = measured[measured["deployed"].astype(bool)]
    summary: dict[str, Any] = {
        "threshold": DRIFT_THRESHOLD,
        "spans_measured": int(spans["drift"].notna().sum()),
        "graphlets_measured": len(measured),
        "unpushed": len(unpushed),
        "unpushed_after_drift": _share(unpushed["drifted"]),
        "unpushed_after_schema_change": _share(unpushed["schema_change"]),
        "pushed_after_drift": _share(pushed["drifted"]),
        "pushed_after_schema_change": _share(pushed["schema_change"]),
    }
    table = _pipeline_table(spans, measured)
    context = {
        "summary": summary,
        "headline": _headline(summary),
        "table": table,
        "figure": png_base64(drift_figure(spans, measured)),
        "scope_note": "Over every graphlet in the store whose outcome is known.",
    }
    return Section(
        "drift",
        TITLE,
        render("drift", "html", context),
        render("drift", "markdown", context),
        summary,
    )


def _share(flags: pd.Series) -> float | None:
    return float(flags.mean()) if len(flags) else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _headline(s: dict[str, Any]) -> str:
    return (
        f"Of {s['unpushed']:,} trained models that were not pushed, "
        f"{_pct(s['unpushed_after_drift'])} followed data drift and "
        f"{_pct(s['unpushed_after_schema_change'])} a schema change; of those pushed, "
        f"{_pct(s['pushed_after_drift'])} and {_pct(s['pushed_after_schema_change'])}."
    )


def _pipeline_table(spans: pd.DataFrame, measured: pd.DataFrame) -> Table:
    per_span = spans.groupby("pipeline")["drift"].agg(["count", "median", "max"])
    by = measured.assign(unpushed=~measured["deployed"].astype(bool))
    by = by.assign(
        after_drift=by["unpushed"] & by["drifted"],
        after_schema=by["unpushed"] & by["schema_change"],
    )
    per_model = by.groupby("pipeline")[["unpushed", "after_drift", "after_schema"]].sum()
    per_model["models"] = by.groupby("pipeline").size()
    rows = per_model.join(per_span, how="left").loc[top_pipelines(measured)]
    return Table(
        title=f"Pipelines with the most non-pushes (top {TOP})",
        columns=(
            "pipeline",
            "spans compared",
            "median span drift",
            "max span drift",
            "models",
            "not pushed",
            "after drift",
            "after schema change",
        ),
        rows=tuple(
            (
                str(name),
                f"{int(r['count']) if pd.notna(r['count']) else 0}",
                _num(r["median"]),
                _num(r["max"]),
                f"{int(r['models'])}",
                f"{int(r['unpushed'])}",
                f"{int(r['after_drift'])}",
                f"{int(r['after_schema'])}",
            )
            for name, r in rows.iterrows()
        ),
        note=f"Drift: TFDV's L-infinity (categorical) or Jensen-Shannon (numeric) distance, the "
        f"largest of any feature; a model follows drift when its training window drifted more "
        f"than {DRIFT_THRESHOLD} from the previous model's.",
    )


def top_pipelines(measured: pd.DataFrame) -> list[str]:
    """The :data:`TOP` pipelines with the most non-pushes (then the most models, then by name)."""
    counts = pd.DataFrame(
        {
            "unpushed": (~measured["deployed"].astype(bool)).groupby(measured["pipeline"]).sum(),
            "models": measured.groupby("pipeline").size(),
        }
    ).reset_index(names="pipeline")
    ordered = counts.sort_values(["unpushed", "models", "pipeline"], ascending=[False, False, True])
    return [str(p) for p in ordered["pipeline"].head(TOP)]


def _num(value: Any) -> str:
    return "" if pd.isna(value) else f"{value:.3f}"


def drift_figure(spans: pd.DataFrame, measured: pd.DataFrame) -> Figure:
    """Per pipeline (the :data:`TOP` with most non-pushes): span-to-span drift over time as a
    line, and each trained model at its training window's drift, colored by outcome."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    names = top_pipelines(measured)
    cols = 2
    nrows = max(1, int(np.ceil(len(names) / cols)))
    fig = Figure(figsize=(9, 2.2 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, cols, squeeze=False, sharey=True)
    for ax, name in zip(axes.flat, names, strict=False):
        line = spans[spans["pipeline"] == name]
        ax.plot(line["available_time"], line["drift"], color="#495057", lw=1, label="span drift")
        models = measured[measured["pipeline"] == name]
        for deployed, label in ((True, "pushed"), (False, "not pushed")):
            sel = models[models["deployed"].astype(bool) == deployed]
            ax.scatter(
                sel["train_time"],
                sel["tfdv_drift_window"],
                s=14,
                color=COLORS["deployed" if deployed else "wasted"],
                label=label,
                zorder=3,
            )
        ax.axhline(DRIFT_THRESHOLD, color="#adb5bd", lw=0.8, ls="--")
        ax.set_title(str(name), fontsize=9)
        ax.tick_params(labelsize=7)
        locator = AutoDateLocator(maxticks=5)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.supylabel("TFDV drift", fontsize=9)
    return fig

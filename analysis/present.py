"""Figures for people: numbers, shares and costs formatted once, for the report, its pages and
notebooks.

:class:`Readable` gives the analyses' result dataclasses a readable table in Jupyter (HTML)
and in IPython's text display; :func:`styled` does the same for their frames.

Example:
    >>> num(12345.678), pct(0.35849), label("wasted_share")
    ('12,346', '35.8%', 'wasted share')
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from functools import partial
from typing import Any

import jinja2
import pandas as pd


def _missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


def num(value: Any) -> str:
    """A number for people: thousands separators, about three significant digits.

    Example:
        >>> num(12345.678), num(3.14159), num(0.01234), num(float("nan")), num(-math.inf)
        ('12,346', '3.14', '0.0123', '–', '−∞')
    """
    if _missing(value):
        return "–"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == int(value) and abs(value) >= 1:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def pct(value: Any) -> str:
    """A share as a percentage.

    Example:
        >>> pct(0.35849), pct(None)
        ('35.8%', '–')
    """
    if _missing(value):
        return "–"
    return f"{100 * float(value):.1f}%"


def label(name: str) -> str:
    """A field or column name as words."""
    return name.replace("_", " ")


def cell(name: str, value: Any, unit: str | None = None) -> str:
    """One value formatted by what its name says it is: a share, a cost (with ``unit``), a
    duration in days or hours, a time, a count.

    Example:
        >>> cell("wasted_cost", 1234.5, "cpu_hours"), cell("median_gap_hours", 2.25)
        ('1,234 cpu_hours', '2.25 hours')
    """
    if isinstance(value, bool | str):
        return str(value)
    if _missing(value):
        return "–"
    if isinstance(value, datetime):  # isoformat: strftime fails past pandas' year 2262
        return value.isoformat(sep=" ", timespec="minutes")
    if name.endswith("share") or name in ("pushes_kept", "skip_rate"):
        return pct(value)
    if name.endswith("cost") and unit:
        return f"{num(value)} {unit}"
    for suffix in ("days", "hours"):
        if name.endswith(f"_{suffix}"):
            return f"{num(value)} {suffix}"
    if isinstance(value, int | float):
        return num(value)
    return str(value)


class Readable:
    """Mixin for result dataclasses (declared with ``repr=False``): a two-column table of
    their fields, formatted with :func:`cell` (costs in the object's ``cost_unit``), as HTML
    in notebooks and as text everywhere else."""

    def _rows(self) -> list[tuple[str, str]]:
        unit = getattr(self, "cost_unit", None)
        return [
            (label(f.name), cell(f.name, getattr(self, f.name), unit))
            for f in fields(self)  # type: ignore[arg-type]
            if f.name != "cost_unit"
        ]

    def _title(self) -> str:
        unit = getattr(self, "cost_unit", None)
        return f"{type(self).__name__}" + (f" (costs in {unit})" if unit else "")

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:right'>{html.escape(v)}</td></tr>"
            for k, v in self._rows()
        )
        return f"<table><caption>{html.escape(self._title())}</caption>{body}</table>"

    def __repr__(self) -> str:
        rows = self._rows()
        width = max((len(k) for k, _ in rows), default=0)
        return "\n".join([self._title(), *(f"  {k:<{width}}  {v}" for k, v in rows)])


def styled(frame: pd.DataFrame, unit: str | None = None) -> Any:
    """A frame for a notebook: shares as percentages, costs and counts readable, the cost
    unit in the cost columns' headings, no index (a pandas ``Styler``).

    Args:
        frame: an analysis frame (e.g. :func:`mlprov.analysis.waste.waste_by_pipeline`).
        unit: the unit of its cost columns, shown in their headings.
    """
    formats: dict[Any, Callable[[object], str] | str | None] = {
        c: partial(cell, str(c)) for c in frame.columns
    }
    headings = {
        str(c): f"{label(str(c))} ({unit})" if unit and str(c).endswith("cost") else label(str(c))
        for c in frame.columns
    }
    return (
        frame.style.format(formats)
        .format_index(lambda c: headings.get(str(c), str(c)), axis="columns")
        .hide(axis="index")
    )


def template_env(*, autoescape: bool) -> jinja2.Environment:
    """The Jinja environment of analysis/templates (the report and its pages)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("mlprov.analysis", "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class Table:
    """A rendered table: pre-formatted cells, shared by the HTML and Markdown templates."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    text_columns: int = 1  # leading columns holding names (left-aligned)
    links: tuple[str | None, ...] = ()  # per row: where its first cell links (HTML only)


@dataclass(frozen=True)
class EmbeddedFigure:
    """An embedded figure: a title, a caption and the PNG as base64."""

    key: str
    title: str
    caption: str
    png_base64: str

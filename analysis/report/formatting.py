"""How the report says things: ranges, figures and their changes, JSON-ready values, and the
templates of analysis/templates rendered as HTML or Markdown."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from mlprov.analysis.frames import Scope
from mlprov.analysis.present import num, pct, template_env

#: The report's text formats.
Format = Literal["html", "markdown"]


def render(name: str, fmt: Format, context: Mapping[str, Any]) -> str:
    """Template ``name`` of analysis/templates (``report``, ``drift``, ``pruning``, ...) as HTML
    (``<name>.html.j2``, autoescaped) or Markdown (``<name>.md.j2``)."""
    html = fmt == "html"
    template = template_env(autoescape=html).get_template(f"{name}.{'html' if html else 'md'}.j2")
    return template.render(context)


def range_text(scope: Scope, first: datetime | None = None, last: datetime | None = None) -> str:
    """The scope's time range in words; an open end is ``first`` or ``last`` when given.

    Example:
        >>> range_text(Scope.of(datetime(2025, 1, 1)))
        'from 2025-01-01 00:00 UTC to the end'
    """
    start = scope.since or first
    end = scope.until or last
    fmt = "%Y-%m-%d %H:%M UTC"
    return (
        f"from {start.strftime(fmt) if start else 'the beginning'} "
        f"to {end.strftime(fmt) if end else 'the end'}"
    )


def pipelines_text(scope: Scope) -> str:
    """The scope's pipeline filter in words, to follow the range ('' for every pipeline)."""
    return "" if scope.pipelines is None else f", pipelines {', '.join(scope.pipelines)}"


def finite(value: Any) -> bool:
    """A finite int or float, not a bool (JSON's ``Infinity`` and ``NaN`` parse as floats)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def figure_text(value: Any, kind: str, unit: str) -> str:
    """A headline figure of a kind (``share``, ``cost`` or ``count``) in words."""
    if kind == "share":
        return pct(value)
    if kind == "cost":
        return f"{num(value)} {unit}"
    return num(value)


def change_text(change: float, kind: str, unit: str) -> str:
    """A headline figure's change, signed; shares in percentage points.

    Example:
        >>> change_text(-0.012, "share", "cpu_hours"), change_text(3, "cost", "cpu_hours")
        ('−1.2 pp', '+3 cpu_hours')
    """
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    if kind == "share":
        return f"{sign}{abs(100 * change):.1f} pp"
    if kind == "cost":
        return f"{sign}{num(abs(change))} {unit}"
    return f"{sign}{num(abs(change))}"


def json_ready(value: Any) -> Any:
    """Recursively: NaN to None, datetimes to ISO strings, numpy scalars to Python numbers (the
    one conversion of figures for JSON, which has no NaN: summary.json, ``mlprov prune``).

    Example:
        >>> json_ready({"share": float("nan"), "when": [datetime(2025, 1, 1)]})
        {'share': None, 'when': ['2025-01-01T00:00:00']}
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value

"""notebooks/explore.ipynb runs top to bottom on the sample data; it is committed stripped."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "explore.ipynb"


def test_notebook_is_stripped() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


#: What a dataclass's default repr looks like: ``Characterization(median_lifespan_days=...``.
RAW_REPR = re.compile(r"\b[A-Z]\w*\(\w+=")


def test_notebook_runs_and_shows_no_raw_repr() -> None:
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # waste over time, the pipeline's graphlets, one graphlet
    results = [o for o in outputs if o.output_type == "execute_result"]
    # every result a cell ends on renders as a table or a picture, never as bare text
    assert results and all({"text/html", "image/png"} & set(o["data"]) for o in results)
    shown = [o.get("text", "") for o in outputs] + [
        text for o in outputs for text in o.get("data", {}).values() if isinstance(text, str)
    ]
    raw = [t for t in shown if RAW_REPR.search(t)]
    assert not raw, raw
    text = "".join(o.get("text", "") for o in outputs)
    assert "graphlets that did not push: 33.0% of 194" in text
    assert "not blessed: validation rejected the model" in text
    html = "".join(o["data"].get("text/html", "") for o in results)
    assert "wasted share" in html and "cpu_hours" in html and "%" in html

"""The report: golden text, summary keys as documented, atomic output, and a real browser."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from mlprov.analysis.errors import ReportError
from mlprov.analysis.frames import Scope
from mlprov.analysis.report import Report, build_report, load_summary, write_report
from mlprov.provenance.store import ProvenanceStore

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
CHROMIUM = Path("/usr/bin/chromium")


def _documented_keys() -> set[str]:
    """Keys listed in the README's summary.json table (first column, in backticks)."""
    text = (ROOT / "README.md").read_text()
    text = text[text.index("### summary.json") :]
    text = text[: text.index("\n## ")]
    return set(re.findall(r"^\| `([\w.\[\]]+)`", text, flags=re.MULTILINE))


def _keys(value: object, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            if prefix in ("changes.", "sections."):  # free-form: one entry per key / section
                continue
            out |= {f"{prefix}{k}"} | _keys(v, f"{prefix}{k}.")
        return out
    if isinstance(value, list) and value:
        return _keys(value[0], prefix[:-1] + "[].")
    return set()


def test_report_text_is_golden(two_pipelines: ProvenanceStore) -> None:
    report = build_report(two_pipelines)
    golden = GOLDEN / "two_pipelines.md"
    if os.environ.get("MLPROV_UPDATE_GOLDEN"):
        golden.write_text(report.markdown)
    assert report.markdown == golden.read_text()


def test_summary_keys_are_documented(two_pipelines: ProvenanceStore) -> None:
    previous = build_report(two_pipelines).summary
    summary = build_report(two_pipelines, previous=previous).summary
    documented = _documented_keys()
    assert _keys(summary) <= documented, sorted(_keys(summary) - documented)
    assert summary["cost_unit"] == "cpu_hours"
    assert summary["headline"]["wasted_share"] == pytest.approx(31 / 44)
    assert summary["changes"]["wasted_share"] == {"previous": pytest.approx(31 / 44), "change": 0.0}
    json.dumps(summary, allow_nan=False)  # valid JSON: no NaN


def test_report_states_unit_range_and_changes(
    two_pipelines: ProvenanceStore, tmp_path: Path
) -> None:
    from datetime import datetime

    # Both from the beginning: the first until day 1 (run 1 only, nothing wasted), then all.
    first = write_report(
        build_report(two_pipelines, Scope.of(until=datetime(2025, 1, 7))), tmp_path / "r1"
    )
    report = build_report(
        two_pipelines, Scope.of(until=datetime(2025, 2, 1)), previous=load_summary(first)
    )
    for text in (report.markdown, report.html):
        assert "cpu_hours" in text
        assert "from 2025-01-06 00:00 UTC to 2025-02-01 00:00 UTC" in text
    # Wasted share went from 0% (until day 1) to 31/44.
    assert f"+{100 * 31 / 44:.1f} pp" in report.markdown
    assert "change since previous report" in report.html
    assert report.html.count("data:image/png;base64,") == 7


def test_changes_only_between_like_ranges(two_pipelines: ProvenanceStore) -> None:
    """Nothing is subtracted across another kind of range or other pipelines."""
    from datetime import datetime

    week = build_report(two_pipelines, Scope.of(datetime(2025, 1, 6), datetime(2025, 1, 13)))
    later = Scope.of(datetime(2025, 1, 13), datetime(2025, 1, 20))
    compared = build_report(two_pipelines, later, previous=week.summary)
    assert compared.summary["changes"]["total_cost"] == {"previous": 33.0, "change": -22.0}
    for scope, why in [
        (Scope.of(datetime(2025, 1, 13), datetime(2025, 1, 27)), "a range of another length"),
        (Scope(), "a range of another length"),
        (Scope.of(datetime(2025, 1, 6), datetime(2025, 1, 13), ["a"]), "covered pipelines all"),
    ]:
        report = build_report(two_pipelines, scope, previous=week.summary)
        assert report.summary["changes"] == {}
        assert "Changes are not shown: the previous report" in report.markdown
        assert why in report.markdown


def test_write_is_atomic(two_pipelines: ProvenanceStore, tmp_path: Path) -> None:
    out = tmp_path / "report"
    good = build_report(two_pipelines)
    write_report(good, out)

    def files() -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    before = files()
    assert len(before) == 3 + len(good.pages) and any(n.startswith("pages/") for n in before)
    broken = replace(good, summary={**good.summary, "bad": float("nan")})  # fails to serialize
    with pytest.raises(ValueError):
        write_report(broken, out)
    assert files() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no leftovers


def test_write_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    report = Report(summary={}, html="", markdown="")
    with pytest.raises(ReportError, match=r"holds other files \(notes.txt\)"):
        write_report(report, tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(ReportError, match="is a file; pass a directory"):
        write_report(report, tmp_path / "file")


def test_previous_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"no summary\.json there"):
        load_summary(tmp_path)
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(ReportError, match=r"cannot read .* as JSON"):
        load_summary(tmp_path)
    (tmp_path / "summary.json").write_text('{"a": 1}')
    with pytest.raises(ReportError, match="is not an mlprov report summary"):
        load_summary(tmp_path / "summary.json")


def test_empty_scope_is_an_error(two_pipelines: ProvenanceStore) -> None:
    with pytest.raises(ReportError, match=r"no executions in .*pipelines nope"):
        build_report(two_pipelines, Scope.of(pipelines=["nope"]))


# Injected into a copy of the page: records script and resource errors and console.error calls,
# then, once loaded, whether every image decoded and where its links go; --dump-dom prints it.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(
  String(e.message || ("failed to load " + (e.target.src || "").slice(0, 60)))), true);
const consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.join(" ")); consoleError(...args); };
window.addEventListener("load", () => {
  const images = [...document.images];
  const ok = images.filter(i => i.complete && i.naturalWidth > 0).length;
  const links = [...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href"));
  const out = document.createElement("pre");
  out.id = "mlprov-probe";
  out.textContent = JSON.stringify({images: images.length, ok: ok, errors: window.__errors,
                                    links: links});
  document.body.appendChild(out);
});
</script>"""
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def _probe(page: Path) -> dict[str, object]:
    """Open ``page`` in Chromium (a copy beside it, with the probe) and return the verdict."""
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    try:
        result = _chromium(
            "--enable-logging=stderr", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()
        )
    finally:
        probe.unlink()
    found = re.search(r'<pre id="mlprov-probe">(.*?)</pre>', result.stdout)
    assert found, result.stdout[-2000:]
    assert "CONSOLE" not in result.stderr, result.stderr
    verdict: dict[str, object] = json.loads(found.group(1).replace("&quot;", '"'))
    return verdict


@pytest.mark.chromium
def test_report_and_its_pages_render_in_chromium(sample: ProvenanceStore, tmp_path: Path) -> None:
    """From the main page, every internal link is followed (to pipeline pages, on to graphlet
    pages and back): every target and anchor exists, every image decodes, nothing errs."""
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    out = write_report(build_report(sample, top=2, graphlet_pages=2), tmp_path / "report")
    main = (out / "report.html").resolve()
    verdicts, queue = {}, [main]
    while queue:
        page = queue.pop()
        if page in verdicts:
            continue
        verdict = verdicts[page] = _probe(page)
        assert verdict["images"] == verdict["ok"] and verdict["errors"] == [], (page, verdict)
        for link in verdict["links"]:  # type: ignore[attr-defined]
            path, _, anchor = link.partition("#")
            assert "://" not in link, f"{page.name} links outside the report: {link}"
            target = (page.parent / path).resolve() if path else page
            assert target.is_file(), f"{page.name}: broken link {link}"
            if anchor:
                assert f'id="{anchor}"' in target.read_text(), f"{page.name}: no #{anchor}"
            queue.append(target)
    pages = {p.resolve() for p in (out / "pages").iterdir()}
    assert set(verdicts) == {main} | pages  # every page is reached, none is left out
    assert sum(p.name.startswith("pipeline-") for p in pages) == 2
    assert sum(p.name.startswith("graphlet-") for p in pages) == 4
    assert verdicts[main]["images"] == 9  # 7 figures + 2 of pruning
    assert all(v["images"] == 1 for p, v in verdicts.items() if p != main)
    shot = os.environ.get("MLPROV_SCREENSHOT")
    if shot:  # MLPROV_SCREENSHOT=/tmp/report.png: look at the three levels yourself
        levels = [main, min(p for p in pages if "pipeline-" in p.name)]
        levels.append(min(p for p in pages if "graphlet-" in p.name))
        for level, page in zip(("main", "pipeline", "graphlet"), levels, strict=True):
            png = Path(shot).with_name(f"{Path(shot).stem}-{level}.png")
            _chromium(f"--screenshot={png}", "--window-size=1280,3000", page.as_uri())

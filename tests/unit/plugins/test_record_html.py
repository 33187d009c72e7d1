"""record.html: the self-contained HTML record, rendered from journals of real runs.

The journals in tests/unit/fixtures/journals/ were captured from real runs (`make demo` and the
integration tests): success (demo v2), rolled_back (demo v3: the gate breached, the rollback's
gate passed), step_rollback (a canary rollout stopped by the gate after its 50 % step),
failed_backup (the off-host upload failed, nothing to undo), check_mode (a plan) and running (a
journal copied while its run was going). The interrupted record is made by the record_guard's
own code (run_guard.close_stopped_run) on a copy of the running journal.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils import record_html
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import iter_journal
from ansible_collections.liftoff.release.plugins.plugin_utils.record import build
from ansible_collections.liftoff.release.plugins.plugin_utils.record_files import write_record
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact, redact_text
from ansible_collections.liftoff.release.plugins.plugin_utils.run_guard import close_stopped_run
from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import driving_reasons, fold

JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "journals"
VOID = {"meta", "br", "link", "img", "input", "hr", "wbr", "source", "col"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(self.texts) + "".join(c.text() for c in self.children)

    def walk(self) -> list[Element]:
        out = [self]
        for child in self.children:
            out += child.walk()
        return out

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return [e for e in self.walk() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]


class Page(HTMLParser):
    """A tree of the page, failing on an end tag that closes nothing open (broken structure)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        assert self.current.parent is not None
        self.current = self.current.parent

    def handle_data(self, data: str) -> None:
        self.current.texts.append(data)

    def by_id(self, ident: str) -> Element:
        found = [e for e in self.root.walk() if e.attrs.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident}"
        return found[0]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return self.root.find(tag, cls, **attrs)


def journal(name: str) -> list[dict[str, Any]]:
    return list(iter_journal(JOURNALS / f"{name}.jsonl"))


def record_of(name: str) -> dict[str, Any]:
    items = journal(name)
    return build(items, fold(items))


def rendered(record: dict[str, Any]) -> tuple[str, Page]:
    text = record_html.render(record)
    page = Page(text)
    assert page.current is page.root, f"<{page.current.tag}> is never closed"
    return text, page


def assert_self_contained(text: str, page: Page) -> None:
    """Nothing the browser would fetch: no element that loads anything, no src/href attribute,
    no @import or url() in the styles, no http(s) URL in any attribute."""
    loaders = {"script", "link", "img", "iframe", "object", "embed", "audio", "video", "source", "image", "use"}
    elements = page.root.walk()
    assert not [e.tag for e in elements if e.tag in loaders]
    assert not [(e.tag, k) for e in elements for k in e.attrs if k in {"src", "href", "xlink:href", "srcset", "action"}]
    assert not [(e.tag, k, v) for e in elements for k, v in e.attrs.items() if re.search(r"https?://", v, re.I)]
    styles = "".join(e.text() for e in elements if e.tag == "style")
    assert styles and "@import" not in styles and "url(" not in styles and "@font-face" not in styles
    assert not re.search(r"""(?:src|href)\s*=\s*["']?https?:""", text, re.I)


ALL = ["success", "rolled_back", "step_rollback", "failed_backup", "check_mode", "running"]


@pytest.mark.parametrize("name", ALL)
def test_every_journal_renders_a_whole_self_contained_page(name: str) -> None:
    record = record_of(name)
    text, page = rendered(record)
    assert_self_contained(text, page)
    for ident in ("header", "verdict", "timeline", "gates", "rollback", "evidence"):
        page.by_id(ident)
    assert page.find("title")[0].text() == f"Deployment record: {record['environment']} {record['version']}"
    assert page.by_id("verdict").attrs["data-outcome"] == ("running" if name == "running" else record["outcome"])
    assert page.by_id("fact-run-id").text().strip().endswith(record["run_id"])
    # One bar per phase, in the record's order; one checklist block per phase.
    assert [b.attrs["data-phase"] for b in page.find("rect", "phase-bar")] == [p["name"] for p in record["phases"]]
    assert [b.attrs["data-phase"] for b in page.find(cls="phase-evidence")] == [p["name"] for p in record["phases"]]
    # Every evidence item but the phase outcomes is one row, with its status, target and actual.
    rows = page.find("tr", "evidence-item")
    items = [i for i in record["evidence"] if not i["id"].endswith(".phase")]
    assert [r.attrs["data-item"] for r in rows] == [i["id"] for i in sorted(items, key=lambda i: _phase_rank(
        record, i))]
    for row, item in zip(rows, sorted(items, key=lambda i: _phase_rank(record, i)), strict=True):
        assert row.attrs["data-status"] == item["status"]
        actual = row.find("td", "actual")[0].text()
        assert actual == ("-" if item.get("actual") in (None, "") else str(item["actual"]))


@pytest.mark.parametrize("name", ALL)
def test_masking_leaves_a_page_without_secrets_as_it_is(name: str) -> None:
    """record.html goes through redact_text like record.md: nothing of the page itself (its CSS, its
    attributes) may look like a secret to it, or the page would be mangled ("--pass: #..." once was)."""
    text = record_html.render(redact(record_of(name)))
    masked = redact_text(text)
    assert masked == text, next(f"{a!r} -> {b!r}" for a, b in zip(text.splitlines(), masked.splitlines(),
                                                                  strict=True) if a != b)


def _phase_rank(record: dict[str, Any], item: dict[str, Any]) -> tuple[int, int]:
    names = [p["name"] for p in record["phases"]]
    return names.index(item["phase"]), item["seq"]


def test_phase_bars_are_drawn_to_scale_on_one_axis() -> None:
    record = record_of("success")
    _text, page = rendered(record)
    svg = page.by_id("timeline-chart")
    total = float(svg.attrs["data-total-s"])
    plot = record_html.TL_WIDTH - record_html.TL_LABEL - record_html.TL_RIGHT
    bars = {b.attrs["data-phase"]: b for b in page.find("rect", "phase-bar")}
    for phase in record["phases"]:
        phase_bar = bars[phase["name"]]
        width = float(phase_bar.attrs["width"])
        assert width > 0
        if phase["duration_s"] and phase["duration_s"] * plot / total > record_html.TL_MIN_BAR:
            assert width == pytest.approx(phase["duration_s"] / total * plot, abs=0.02), phase["name"]
    # Bars start where their phase starts: backup after preflight, verify last.
    starts = {name: float(phase_bar.attrs["x"]) for name, phase_bar in bars.items()}
    assert starts["preflight"] < starts["backup"] < starts["migrate"] < starts["rollout"] < starts["verify"]
    # Each phase's steps lie within its bar.
    for step in page.find("rect", "step-bar"):
        phase_bar = bars[step.attrs["data-phase"]]
        assert float(step.attrs["x"]) >= float(phase_bar.attrs["x"]) - 0.01, step.attrs["data-item"]


def test_success_charts_every_metric_against_its_threshold() -> None:
    record = record_of("success")
    _text, page = rendered(record)
    assert page.by_id("verdict").attrs["data-verdict"] == "PROCEED"
    assert page.by_id("gate-verdict").text() == "PROCEED"
    assert "why" not in {e.attrs.get("id") for e in page.root.walk()}
    charts = page.find("figure", "metric-chart")
    metrics = record["gate"]["metrics"]
    assert [c.attrs["data-metric"] for c in charts] == [m["name"] for m in metrics]
    for chart, metric in zip(charts, metrics, strict=True):
        assert int(chart.attrs["data-samples"]) == len(metric["samples"]) > 0
        assert [s.attrs["data-value"] for s in chart.find("circle", "sample")] == [
            str(s["value"]) for s in metric["samples"]]
        lines = chart.find("line", "threshold")
        assert {(ln.attrs["data-bound"], float(ln.attrs["data-value"])) for ln in lines} == {
            (b, metric["threshold"][b]) for b in ("min", "max") if metric["threshold"][b] is not None}
        assert chart.find("circle", "breach") == [] and chart.attrs["data-breaches"] == "0"
    assert page.by_id("rollback").attrs["data-performed"] == "false"
    assert page.find("g", "failure-mark") == []


def test_rolled_back_shows_why_and_marks_the_breaching_samples() -> None:
    record = record_of("rolled_back")
    _text, page = rendered(record)
    verdict = page.by_id("verdict")
    assert verdict.find("p", "outcome")[0].text() == "ROLLED BACK"
    assert page.by_id("failed-phase").text() == "verify"
    assert page.by_id("why").text().endswith(record["reason"])
    reasons = [li.text() for li in verdict.find("ul", "reasons")[0].find("li")]
    assert reasons == driving_reasons(record["gate"]) and "error_ratio breached max 0.05" in reasons[0]
    # Both gates are charted: the one that decided ROLLBACK and the one after the rollback.
    gates = [g.attrs["data-gate"] for g in page.find("div", "gate")]
    assert gates == ["verify.verdict", "rollback.gate.verdict"]
    verify = page.find("div", "gate", data_gate="verify.verdict")[0]
    breached = verify.find("figure", "metric-chart", data_metric="error_ratio")[0]
    expected = [s for s in record["gate"]["metrics"][0]["samples"] if s["status"] == "fail"]
    markers = breached.find("circle", "breach")
    assert len(markers) == len(expected) >= 1 and breached.attrs["data-result"] == "fail"
    ceiling = breached.find("line", "threshold-max")[0]
    assert float(ceiling.attrs["data-value"]) == 0.05
    assert all(float(m.attrs["cy"]) < float(ceiling.attrs["y1"]) for m in markers), "a breach drawn below max"
    after = page.find("div", "gate", data_gate="rollback.gate.verdict")[0]
    assert after.attrs["data-verdict"] == "PROCEED" and after.find("circle", "breach") == []
    assert sum(int(c.attrs["data-samples"]) for c in after.find("figure", "metric-chart")) == 10
    rollback = page.by_id("rollback")
    assert rollback.attrs["data-performed"] == "true"
    assert "rollback.undo_app" in [li.attrs["data-item"] for li in rollback.find("li")]


def test_a_step_gate_that_stopped_a_canary_speaks_for_the_run() -> None:
    record = record_of("step_rollback")
    assert record["verdict"] is None  # no verify gate ran: the step gate decided
    _text, page = rendered(record)
    assert page.by_id("verdict").attrs["data-verdict"] == "ROLLBACK"
    assert page.by_id("verdict").attrs["data-verdict-from"] == "rollout.step_50.verdict"
    assert "rollout.step_50.verdict" in page.by_id("fact-verdict").text()
    assert page.by_id("failed-phase").text() == "rollout"
    assert [g.attrs["data-gate"] for g in page.find("div", "gate")] == [
        "rollout.step_10.verdict", "rollout.step_50.verdict", "rollback.gate.verdict"]
    step50 = page.find("div", "gate", data_gate="rollout.step_50.verdict")[0]
    assert len(step50.find("circle", "breach")) >= 1


def test_failed_in_a_phase_says_where_and_why_without_charts() -> None:
    record = record_of("failed_backup")
    _text, page = rendered(record)
    assert page.by_id("verdict").attrs["data-outcome"] == "failed"
    assert page.by_id("failed-phase").text() == "backup"
    assert "upload" in page.by_id("why").text()
    assert page.find("figure", "metric-chart") == []
    assert "the gate did not run" in page.by_id("gates").text()
    upload = page.find("tr", "evidence-item", data_item="backup.upload")[0]
    assert "s-fail" in upload.classes and upload.attrs["data-status"] == "fail"
    assert page.find("rect", "phase-bar", data_phase="backup")[0].attrs["data-status"] == "fail"
    # The failure is marked on the timeline where the failing step (the upload) ended.
    mark = page.find("g", "failure-mark")
    upload_bar = page.find("rect", "step-bar", data_item="backup.upload")[0]
    assert len(mark) == 1 and mark[0].attrs["data-phase"] == "backup" and mark[0].text() == "backup failed"
    assert float(mark[0].find("line")[0].attrs["x1"]) == pytest.approx(
        float(upload_bar.attrs["x"]) + float(upload_bar.attrs["width"]), abs=0.02)


def test_check_mode_is_a_plan() -> None:
    record = record_of("check_mode")
    assert record["check_mode"] is True
    _text, page = rendered(record)
    assert "nothing was changed" in page.by_id("check-mode").text()
    assert "check mode" in page.by_id("gates").text()
    assert page.find("tr", "evidence-item", data_item="verify.plan")[0].attrs["data-status"] == "skip"


def test_a_running_run_renders_what_was_recorded_so_far() -> None:
    record = record_of("running")
    assert not [i for i in record["evidence"] if i["id"] in ("run.end", "run.stopped")]
    _text, page = rendered(record)
    # Nothing failed yet, so the fold says success; the page says the run has not ended.
    assert page.by_id("verdict").attrs["data-outcome"] == "running"
    assert "o-running" in page.by_id("fact-outcome").find("span")[0].classes
    assert page.by_id("verdict").find("p", "outcome")[0].text() == "INCOMPLETE"
    assert "still going" in page.by_id("incomplete").text()
    assert page.by_id("fact-ended").find("dd")[0].text() == "not ended"
    assert [b.attrs["data-phase"] for b in page.find("rect", "phase-bar")] == [
        "run", "preflight", "backup", "migrate", "rollout", "cdn", "smoke"]


def test_an_interrupted_run_closed_by_the_record_guard(tmp_path: Path) -> None:
    shutil.copy(JOURNALS / "running.jsonl", tmp_path / "evidence.jsonl")
    paths = close_stopped_run(tmp_path, "SIGINT", "Wait for the gate", "verify")
    assert paths is not None and Path(paths["html"]) == tmp_path / "record.html"
    text = (tmp_path / "record.html").read_text(encoding="utf-8")
    page = Page(text)
    assert page.by_id("verdict").attrs["data-outcome"] == "interrupted"
    stop = page.by_id("interruption").text()
    assert "SIGINT" in stop and "Wait for the gate" in stop
    pending = [li.attrs["data-item"] for li in page.by_id("rollback").find("ul", "pending")[0].find("li")]
    assert pending == ["rollout.change", "migrate.change"]
    assert "liftoff_resume=20261203T070115Z-4e8dcf" in page.by_id("verdict").text()


HOSTILE = '<script>alert("x")</script>'


def test_every_string_is_escaped() -> None:
    items = journal("rolled_back")
    items[1] = {**items[1], "actual": HOSTILE, "title": 'Lock "held" & <b>bold</b>', "target": "<img src=x>"}
    record = build(items, fold(items))
    record["environment"] = "<i>prod</i>"
    record["gate"]["metrics"][0]["name"] = '"><svg onload=alert(1)>'
    record["gate"]["metrics"][0]["reason"] = "</figure><script>bad()</script>"
    text, page = rendered(record)
    assert "<script" not in text and "<img" not in text and "<i>prod" not in text and "<svg onload" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    row = page.find("tr", "evidence-item", data_item=items[1]["id"])[0]
    assert row.find("td", "actual")[0].text() == HOSTILE  # the text a reader sees is the text recorded
    assert row.find("td", "target")[0].text() == "<img src=x>"
    assert 'Lock "held" & <b>bold</b>' in row.text()
    assert page.find("figure", "metric-chart", data_metric='"><svg onload=alert(1)>')
    assert not any(k.startswith("on") for e in page.root.walk() for k in e.attrs), "an event handler attribute"
    assert_self_contained(text, page)


def test_html_is_written_next_to_the_json_and_masked(tmp_path: Path) -> None:
    items = journal("success")
    items[2] = {**items[2], "actual": "token hunter2-sekrit-value seen"}
    (tmp_path / "evidence.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    paths, state = write_record(tmp_path, ["json", "html"], secrets=["hunter2-sekrit-value"])
    assert set(paths) == {"json", "html"} and state.outcome == "success"
    assert Path(paths["html"]) == tmp_path / "record.html" and not (tmp_path / "record.md").exists()
    text = (tmp_path / "record.html").read_text(encoding="utf-8")
    assert "hunter2-sekrit-value" not in text
    actual = Page(text).find("tr", "evidence-item", data_item=items[2]["id"])[0].find("td", "actual")[0].text()
    assert actual.startswith("token ") and "hunter2" not in actual


def test_missing_and_odd_data_render() -> None:
    """No evidence, no times, unknown fields, metrics as a mapping, infinite and missing samples."""
    _text, page = rendered({})
    assert page.by_id("verdict").attrs["data-outcome"] == "running"
    assert "No timed evidence" in page.by_id("timeline").text()
    record = record_of("rolled_back")
    record["a_field_added_later"] = {"x": [1, 2]}
    gate = record["gate"]
    metric = gate["metrics"][1]
    metric["samples"] = [{"at": "2026-12-03T06:46:51Z", "value": "+Inf", "status": "fail"},
                         {"at": "2026-12-03T06:46:53Z", "value": None, "status": "nodata"},
                         {"at": "not a time", "t": 4.0, "value": 0.2, "status": "pass"}]
    metric["threshold"] = {"min": 0.1, "max": "+Inf", "baseline": 0.15}
    gate["metrics"] = {m["name"]: m for m in gate["metrics"]}
    _text, page = rendered(record)
    chart = page.find("div", "gate", data_gate="verify.verdict")[0].find("figure", "metric-chart",
                                                                         data_metric=metric["name"])[0]
    assert [ln.attrs["data-bound"] for ln in chart.find("line", "threshold")] == ["min"]
    assert len(chart.find("line", "baseline")) == 1
    assert len(chart.find("circle", "off-scale")) == 1 and len(chart.find("circle", "missing")) == 1
    metric["samples"] = []
    _text, page = rendered(record)
    chart = page.find("div", "gate", data_gate="verify.verdict")[0].find("figure", "metric-chart",
                                                                         data_metric=metric["name"])[0]
    assert chart.attrs["data-samples"] == "0" and "no samples" in chart.text()
    assert len(chart.find("line", "threshold")) == 1


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0.25, "250 ms"), (4.24, "4.2 s"), (185, "3 min 05 s"), (3720, "1 h 02 min")])
def test_human_duration(seconds: float | None, text: str) -> None:
    assert record_html.human_duration(seconds) == text


def test_ticks_are_round_numbers_without_float_noise() -> None:
    assert record_html.ticks(-1.0, 1.0, 0.2) == [-1.0, -0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert record_html.ticks(0.0, 95.0, record_html.time_step(95.0)) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert record_html.nice_step(0.3, 5) == 0.1
    assert record_html.value_range([]) == (0.0, 1.0)
    low, high = record_html.value_range([0.05, 0.28])  # positive values near zero: the axis starts at 0
    assert low == 0.0 and high > 0.28
    low, high = record_html.value_range([100.0, 105.0])  # far from zero: padded around the values
    assert 99.0 < low < 100.0 and 105.0 < high < 106.0


def test_render_time_and_size() -> None:
    """A real rolled-back record (two gates, 38 items) renders in well under a second into a page under 200 KB."""
    record = record_of("rolled_back")
    started = time.perf_counter()
    text = record_html.render(record)
    took = time.perf_counter() - started
    assert took < 1.0, f"render took {took:.3f} s"
    assert 10_000 < len(text.encode()) < 200_000

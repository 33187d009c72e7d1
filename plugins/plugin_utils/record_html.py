# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The deployment record as one self-contained HTML page (record.html).

Inline CSS and inline SVG only: no script, no external asset, nothing fetched, so the page
reads the same from a laptop, a CI artifact or an air-gapped runbook. It shows the header,
the outcome and why, a timeline of phases and their steps on one time axis, every gate's
metric samples against their thresholds, and the evidence checklist per phase.

``render`` reads the record dict of ``record.build`` defensively (``.get``), so fields added
later do not break it and a record of a running, interrupted or check-mode run renders too.
Every string from the record is escaped.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils.record_facts import threshold_text
from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import driving_reasons

OUTCOME_TEXT = {"success": "SUCCESS", "failed": "FAILED", "rolled_back": "ROLLED BACK",
                "rollback_failed": "ROLLBACK FAILED", "interrupted": "INTERRUPTED", "running": "INCOMPLETE"}
STATUSES = ("pass", "fail", "skip", "info")
# Timeline geometry (SVG user units; the SVG scales to the page width).
TL_WIDTH, TL_LABEL, TL_RIGHT, TL_AXIS = 1000.0, 210.0, 16.0, 26.0
TL_PHASE_H, TL_STEP_H, TL_GAP = 16.0, 10.0, 3.0
TL_MIN_BAR = 1.5
# Metric chart geometry.
CH_WIDTH, CH_HEIGHT, CH_LEFT, CH_RIGHT, CH_TOP, CH_BOTTOM = 480.0, 220.0, 58.0, 64.0, 14.0, 34.0

# Colour names avoid words the masking reads as secret keys ("--pass: #..." would be masked as a password).
CSS = """
:root{--c-ok:#23883b;--c-bad:#cf2f2f;--c-skip:#9aa0a8;--c-info:#2f6fcf;--c-wait:#c98a00;--ink:#1d2430;--mute:#5b6473;
--line:#d8dde4;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid var(--line);
padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
section{margin-bottom:8px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 16px}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:8px 18px;margin:0}
dl.facts div{min-width:0}dl.facts dt{font-size:12px;color:var(--mute);text-transform:uppercase;letter-spacing:.04em}
dl.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;color:#fff;
background:var(--c-skip);white-space:nowrap}
.badge.s-pass,.badge.o-success,.badge.v-PROCEED{background:var(--c-ok)}
.badge.s-fail,.badge.o-failed,.badge.o-rolled_back,.badge.o-rollback_failed,.badge.v-ROLLBACK,.badge.o-interrupted{
background:var(--c-bad)}
.badge.s-info{background:var(--c-info)}.badge.v-HOLD,.badge.o-running,.badge.s-pending{background:var(--c-wait)}
#verdict{border-left:8px solid var(--c-skip)}
#verdict.o-success{border-left-color:var(--c-ok)}#verdict.o-running{border-left-color:var(--c-wait)}
#verdict.o-failed,#verdict.o-rolled_back,#verdict.o-rollback_failed,#verdict.o-interrupted{border-left-color:var(--c-bad)}
#verdict .outcome{font-size:26px;font-weight:800;letter-spacing:.02em;margin:0 0 4px}
#verdict p{margin:6px 0}#verdict ul{margin:4px 0 4px 20px;padding:0}
.note{color:var(--mute)}.check-mode{background:#fff6dc;border:1px solid #f0d98c;border-radius:6px;padding:6px 10px}
table{border-collapse:collapse;width:100%;background:#fff}
table.checklist{table-layout:fixed}table.checklist col.c-status{width:76px}table.checklist col.c-check{width:24%}
table.checklist col.c-host{width:90px}table.checklist col.c-target{width:24%}table.checklist col.c-time{width:76px}
th,td{text-align:left;vertical-align:top;padding:5px 8px;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
th{white-space:nowrap;font-size:12px;color:var(--mute);text-transform:uppercase;letter-spacing:.04em;background:#fafbfc}
tr.s-fail td{background:#fff1f1}
td.when,td.status{white-space:nowrap;color:var(--mute);font-size:12px}
.small{font-size:12px;color:var(--mute)}
svg{display:block;width:100%;height:auto;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg text{fill:var(--ink)}svg .axis text,svg text.tick{fill:var(--mute);font-size:10px}
svg .grid{stroke:#e7eaee;stroke-width:1}svg .axis-line{stroke:#9aa0a8;stroke-width:1}
.s-pass{fill:var(--c-ok)}.s-fail{fill:var(--c-bad)}.s-skip{fill:var(--c-skip)}.s-info{fill:var(--c-info)}
.s-running,.s-pending,.s-nodata,.s-error,.s-inconclusive{fill:var(--c-wait)}
rect.phase-bar{fill-opacity:.85}rect.step-bar{fill-opacity:.7}
text.phase-label{font-weight:700;font-size:12px}text.step-label{font-size:9.5px;fill:var(--mute)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:14px}
figure.metric-chart{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 12px}
figure.metric-chart figcaption{font-size:13px;margin-bottom:4px}
figure.metric-chart .reason{font-size:12px;color:var(--mute);margin-top:4px;overflow-wrap:anywhere}
line.threshold{stroke:var(--c-bad);stroke-width:1.5;stroke-dasharray:6 4}
rect.breach-zone{fill:var(--c-bad);fill-opacity:.07}
line.baseline{stroke:var(--c-info);stroke-width:1;stroke-dasharray:2 3}
polyline.series{fill:none;stroke:#44506a;stroke-width:1.5}
polyline.series-baseline{fill:none;stroke:var(--c-skip);stroke-width:1.2;stroke-dasharray:4 3}
circle.sample{stroke:#fff;stroke-width:1}
circle.breach{stroke:var(--c-bad);stroke-width:2.5;fill:#fff}
text.threshold-label{fill:var(--c-bad);font-size:10px}
.gate{margin-bottom:18px}
g.failure-mark line{stroke:var(--c-bad);stroke-width:1.2;stroke-dasharray:3 3}g.failure-mark text{fill:var(--c-bad);
font-size:10px;font-weight:700}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;vertical-align:-1px;background:var(--c-skip)}
.swatch.s-pass{background:var(--c-ok)}.swatch.s-fail{background:var(--c-bad)}.swatch.s-info{background:var(--c-info)}
footer{margin-top:32px;font-size:12px;color:var(--mute)}
@media print{body{background:#fff}.card,figure.metric-chart{break-inside:avoid}}
"""


# --------------------------------------------------------------------------- text


def esc(value: Any) -> str:
    """The value as escaped HTML text (None as an empty string)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
    return html.escape(value, quote=True)


def shown(value: Any, empty: str = "-") -> str:
    """Escaped text for a table cell, ``empty`` for a missing value."""
    return esc(value) if value not in (None, "") else empty


def status_class(status: Any) -> str:
    """A CSS class for a status; unknown statuses share one class (never an unescaped name)."""
    text = str(status)
    return f"s-{text}" if text in (*STATUSES, "running", "pending", "nodata", "error", "inconclusive") else "s-other"


def human_duration(seconds: float | None) -> str:
    """'850 ms', '4.2 s', '3 min 05 s', '1 h 02 min'."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def number(value: float) -> str:
    """A compact number for axes and labels."""
    if value == 0:
        return "0"
    return f"{value:.4g}"


def parse_time(ts: Any) -> _dt.datetime | None:
    """An ISO-8601 timestamp (``Z`` or an offset) as an aware datetime; None when it is not one."""
    if not isinstance(ts, str) or not ts:
        return None
    try:
        moment = _dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.UTC)


def finite(value: Any) -> float | None:
    """The value as a finite float, or None (strings such as '+Inf', None, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def as_dict(value: Any) -> dict[str, Any]:
    """The value when it is a mapping, else an empty dict."""
    return dict(value) if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """A list, a dict's values, or an empty list."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []


def nice_step(span: float, most: int = 8) -> float:
    """A round tick step (1, 2, 5 x 10^k) giving at most ``most`` intervals over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / most
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)


def ticks(low: float, high: float, step: float) -> list[float]:
    """The multiples of ``step`` within [low, high], rounded so that no float noise shows (0.1 + 0.2)."""
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return [round(n * step, 12) + 0.0 for n in range(first, last + 1)]


def time_step(span: float) -> float:
    """A tick step in seconds for a time axis: 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1 h..."""
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600):
        if span / step <= 10:
            return float(step)
    return 43200.0


def tick_label(seconds: float) -> str:
    """'+0 s', '+30 s', '+2 min', '+1 min 30 s' for the timeline's axis."""
    if seconds < 60:
        return f"+{seconds:g} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"+{minutes} min" + (f" {rest} s" if rest else "")


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# --------------------------------------------------------------------------- page


def effective_outcome(record: Mapping[str, Any]) -> str:
    """The record's outcome, or ``running`` when the journal has no end since the run (re)started.

    A journal read while its run is still going folds to ``success`` (nothing failed yet); the
    page must not say so.
    """
    items = [i for i in as_list(record.get("evidence")) if isinstance(i, dict)]
    ended = False
    for item in items:
        ident = item.get("id")
        if ident in ("run.start", "run.resume"):
            ended = False
        elif ident in ("run.end", "run.stopped"):
            ended = True
    if items and not ended:
        return "running"
    return str(record.get("outcome") or "running")


def render(record: Mapping[str, Any]) -> str:
    """The record as one self-contained HTML page."""
    title = f"Deployment record: {record.get('environment') or '-'} {record.get('version') or '-'}"
    body = "\n".join([
        _header(record, title),
        _verdict(record),
        _summary(as_list(record.get("summary"))),
        _checklist(as_dict(record.get("checklist"))),
        _timeline(record),
        _gates(record),
        _rollback(record),
        _evidence(record),
        f'<footer>Rendered from the run\'s evidence journal (evidence.jsonl); schema '
        f'<code>{shown(record.get("schema"))}</code>. record.json holds every detail.</footer>',
    ])
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f'<body>\n<main data-schema="{esc(record.get("schema"))}" data-run-id="{esc(record.get("run_id"))}">\n'
        f"{body}\n</main>\n</body>\n</html>\n"
    )


def _fact(label: str, value: str, ident: str) -> str:
    return f'<div id="{ident}"><dt>{esc(label)}</dt><dd>{value}</dd></div>'


def _header(record: Mapping[str, Any], title: str) -> str:
    outcome = effective_outcome(record)
    verdict, which = headline_verdict(record)
    version = f"{shown(record.get('previous_version'))} &rarr; {shown(record.get('version'))}"
    facts = [
        _fact("Environment", shown(record.get("environment")), "fact-environment"),
        _fact("Version", version, "fact-version"),
        _fact("Run id", f"<code>{shown(record.get('run_id'))}</code>", "fact-run-id"),
        _fact("Operator", shown(record.get("operator")), "fact-operator"),
        _fact("Strategy", shown(record.get("strategy")), "fact-strategy"),
        _fact("Outcome", f'<span class="badge o-{esc(outcome)}">{esc(OUTCOME_TEXT.get(outcome, outcome))}</span>',
              "fact-outcome"),
        _fact("Gate verdict", _verdict_badge(verdict, which) if verdict else "not run", "fact-verdict"),
        _fact("Started", shown(record.get("started")), "fact-started"),
        _fact("Ended", shown(record.get("ended")) if outcome != "running" else "not ended", "fact-ended"),
        _fact("Duration", esc(human_duration(finite(record.get("duration_s")))), "fact-duration"),
    ]
    plan = ('<p class="check-mode" id="check-mode">Check mode: this record is the plan; nothing was changed.</p>'
            if record.get("check_mode") else "")
    return (f'<header id="header"><h1>{esc(title)}</h1>{plan}'
            f'<dl class="facts card">{"".join(facts)}</dl></header>')


# --------------------------------------------------------------------------- verdict and why


def gate_sources(record: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every gate the run ran, in journal order: (item id, title, verdict details)."""
    found = [(str(item.get("id")), str(item.get("title") or item.get("id")), item["details"])
             for item in as_list(record.get("evidence"))
             if isinstance(item, dict) and str(item.get("id", "")).endswith(".verdict")
             and isinstance(item.get("details"), dict) and "metrics" in item["details"]]
    gate = record.get("gate")
    if isinstance(gate, dict) and not any(ident == "verify.verdict" for ident, _t, _d in found):
        found.append(("verify.verdict", "Gate verdict", gate))
    return found


def _failing_gate(record: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The gate whose verdict stopped the run (the last one whose decision is not PROCEED)."""
    for ident, _title, details in reversed(gate_sources(record)):
        if str(details.get("final") or details.get("verdict")) not in ("PROCEED", "None"):
            return ident, details
    return None


def headline_verdict(record: Mapping[str, Any]) -> tuple[str | None, str]:
    """The verdict that speaks for the run and the item it comes from: the final gate's (``verify.verdict``),
    else the gate that stopped the run (a rolling step's), else the last one before any rollback."""
    if record.get("verdict"):
        return str(record["verdict"]), "verify.verdict"
    failing = _failing_gate(record)
    if failing:
        return str(failing[1].get("verdict")), failing[0]
    before = [(ident, d) for ident, _t, d in gate_sources(record) if not ident.startswith("rollback.")]
    return (str(before[-1][1].get("verdict")), before[-1][0]) if before else (None, "")


def _verdict_badge(verdict: str, which: str) -> str:
    badge = f'<span class="badge v-{esc(verdict)}">{esc(verdict)}</span>'
    return badge + (f' <code class="small">{esc(which)}</code>' if which != "verify.verdict" else "")


def _verdict(record: Mapping[str, Any]) -> str:
    outcome = effective_outcome(record)
    parts = [f'<p class="outcome">{esc(OUTCOME_TEXT.get(outcome, outcome))}</p>']
    verdict, which = headline_verdict(record)
    undecided = "The gate has not decided yet." if outcome == "running" else "The gate did not decide in this run."
    parts.append(f'<p>Gate verdict: <strong id="gate-verdict">{esc(verdict)}</strong> <code>{esc(which)}</code></p>'
                 if verdict else f'<p class="note" id="gate-verdict">{undecided}</p>')
    parts += _why(record)
    parts += _stopped(record, outcome)
    for resumed in as_list(record.get("resumed")):
        if isinstance(resumed, dict):
            parts.append(f'<p class="resumed">Resumed {shown(resumed.get("at"))} by {shown(resumed.get("by"))} '
                         f'({shown(resumed.get("from"))}; it had stopped: {shown(resumed.get("after"))}).</p>')
    return (f'<section id="verdict" class="card o-{esc(outcome)}" data-outcome="{esc(outcome)}" '
            f'data-verdict="{esc(verdict)}" data-verdict-from="{esc(which)}">{"".join(parts)}</section>')


def _why(record: Mapping[str, Any]) -> list[str]:
    if not record.get("reason"):
        return []
    parts = [f'<p id="why">Failed in phase <strong id="failed-phase">{shown(record.get("failed_phase"))}</strong>: '
             f'<span class="reason">{esc(record.get("reason"))}</span></p>']
    failing = _failing_gate(record)
    if failing:
        ident, details = failing
        reasons = driving_reasons(details)
        parts.append(f'<p>What drove the gate (<code>{esc(ident)}</code>, '
                     f'{esc(details.get("verdict"))}):</p>')
        parts.append('<ul class="reasons">' + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>")
        if details.get("stop_reason"):
            parts.append(f'<p class="note">{esc(details.get("stop_reason"))}</p>')
    return parts


def _stopped(record: Mapping[str, Any], outcome: str) -> list[str]:
    run_id = esc(record.get("run_id"))
    if outcome == "running":
        return ['<p class="note" id="incomplete">The journal has no end: the run is still going, or it stopped '
                "before anything could record why. This page shows what was recorded so far.</p>"]
    stop = record.get("interruption")
    if not isinstance(stop, dict):
        return []
    return [f'<p id="interruption">ansible-playbook stopped ({shown(stop.get("signal"), "no signal: it exited")}) '
            f'during phase <strong>{shown(stop.get("phase"))}</strong>, task <code>{shown(stop.get("task"))}</code>, '
            "before the run ended. Nothing was undone.</p>",
            f"<p>Continue it: <code>ansible-playbook playbooks/deploy.yml -e liftoff_resume={run_id}</code> "
            f"(same inventory and variables), or undo it: "
            f"<code>ansible-playbook playbooks/rollback.yml -e run_id={run_id}</code>.</p>"]


def _summary(rows: list[Any]) -> str:
    body = "".join(
        f'<tr class="{status_class(r.get("status"))}" data-metric="{esc(r.get("metric"))}">'
        f'<td>{shown(r.get("metric"))}</td><td>{shown(r.get("target"))}</td><td>{shown(r.get("actual"))}</td>'
        f'<td class="status"><span class="badge {status_class(r.get("status"))}">{shown(r.get("status"))}</span>'
        "</td></tr>"
        for r in rows if isinstance(r, dict))
    if not body:
        return ""
    return ('<section id="summary"><h2>Deployment metrics summary</h2><table><thead><tr><th>Metric</th>'
            f'<th>Target</th><th>Actual</th><th class="status">Status</th></tr></thead><tbody>{body}</tbody>'
            "</table></section>")


CHECKLIST_CLASS = {"pass": "pass", "fail": "fail", "missing": "fail", "partial": "skip", "skip": "skip", "n/a": "info"}


def _checklist(checklist: Mapping[str, Any]) -> str:
    """The go-live checklist item by item (record.json's checklist), when the run has one."""
    rows = [r for r in as_list(checklist.get("items")) if isinstance(r, dict)]
    if not rows:
        return ""
    counts = ", ".join(f"{esc(c.get('count'))} {esc(c.get('status'))}" for c in as_list(checklist.get("counts"))
                       if isinstance(c, dict))
    body = "".join(
        f'<tr class="{status_class(CHECKLIST_CLASS.get(str(r.get("status")), "info"))}" data-item="{esc(r.get("id"))}" '
        f'data-status="{esc(r.get("status"))}"><td class="status"><span class="badge '
        f'{status_class(CHECKLIST_CLASS.get(str(r.get("status")), "info"))}">{esc(r.get("status"))}</span></td>'
        f'<td><code class="small">{esc(r.get("id"))}</code> {shown(r.get("text"))}</td><td>{shown(r.get("how"))}</td>'
        f'<td class="actual">{shown(r.get("actual"))}</td></tr>'
        for r in rows)
    source = f' <span class="small">{esc(checklist.get("source"))}</span>' if checklist.get("source") else ""
    return (f'<section id="checklist"><h2>Checklist: {shown(checklist.get("name"))}{source}</h2>'
            f'<p class="small">{len(rows)} items: {counts}.</p><table class="checklist"><colgroup>'
            '<col class="c-status"><col><col class="c-host"><col></colgroup><thead><tr><th>Status</th><th>Item</th>'
            f'<th>Handled as</th><th>Evidence</th></tr></thead><tbody>{body}</tbody></table></section>')


def _rollback(record: Mapping[str, Any]) -> str:
    rollback = as_dict(record.get("rollback"))
    pending = [c for c in as_list(rollback.get("pending")) if isinstance(c, dict)]
    if not rollback.get("performed") and not pending:
        return ('<section id="rollback" data-performed="false"><h2>Rollback</h2>'
                '<p class="note">No rollback was needed.</p></section>')
    rows = "".join(f'<li class="{status_class(i.get("status"))}-text" data-item="{esc(i.get("id"))}">'
                   f'<span class="badge {status_class(i.get("status"))}">{shown(i.get("status"))}</span> '
                   f'{shown(i.get("title"))} ({shown(i.get("host"))}): {shown(i.get("actual"))}</li>'
                   for i in as_list(rollback.get("undone")) if isinstance(i, dict))
    parts = [f'<p>Result: <span class="badge {status_class(rollback.get("status"))}">'
             f'{shown(rollback.get("status"))}</span> Why: {shown(rollback.get("why"))}</p>'] \
        if rollback.get("performed") else []
    if rows:
        parts.append(f'<ul class="undone">{rows}</ul>')
    if pending:
        parts.append('<p><strong>Changes not undone:</strong></p><ul class="pending">' + "".join(
            f'<li data-item="{esc(c.get("id"))}">{shown(c.get("title"))} ({shown(c.get("host"))}, '
            f'<code>{shown(c.get("id"))}</code>)</li>' for c in pending) + "</ul>")
    return (f'<section id="rollback" data-performed="{str(bool(rollback.get("performed"))).lower()}">'
            f'<h2>Rollback</h2><div class="card">{"".join(parts)}</div></section>')


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class Span:
    """One bar of the timeline, in seconds from the run's first timestamp."""

    kind: str  # phase | step
    key: str
    phase: str
    label: str
    status: str
    start: float
    end: float
    note: str = ""

    @property
    def duration(self) -> float:
        return max(self.end - self.start, 0.0)


def timeline_spans(record: Mapping[str, Any]) -> list[Span]:
    """The phases (with their steps under each), with times relative to the earliest timestamp."""
    phases = [p for p in as_list(record.get("phases")) if isinstance(p, dict)]
    items = [i for i in as_list(record.get("evidence")) if isinstance(i, dict)]
    moments = [parse_time(x.get(k)) for x in (*phases, *items) for k in ("started", "ended")]
    known = [m for m in moments if m is not None]
    if not known:
        return []
    origin = min(known)
    spans: list[Span] = []
    for phase in phases:
        name = str(phase.get("name"))
        span = _span("phase", name, name, name, phase, origin)
        if span is None:
            continue
        spans.append(span)
        steps = [_span("step", str(i.get("id")), name, str(i.get("title") or i.get("id")), i, origin)
                 for i in items if i.get("phase") == name and not str(i.get("id", "")).endswith(".phase")]
        spans += sorted((s for s in steps if s is not None), key=lambda s: (s.start, s.end))
    return spans


def _span(kind: str, key: str, phase: str, label: str, source: Mapping[str, Any],
          origin: _dt.datetime) -> Span | None:
    start, end = parse_time(source.get("started")), parse_time(source.get("ended"))
    if start is None:
        return None
    end = end if end is not None and end >= start else start
    note = source.get("actual") if kind == "step" else None
    return Span(kind, key, phase, label, str(source.get("status") or "info"),
                (start - origin).total_seconds(), (end - origin).total_seconds(), "" if note is None else str(note))


def _timeline(record: Mapping[str, Any]) -> str:
    spans = timeline_spans(record)
    if not spans:
        return ('<section id="timeline"><h2>Timeline</h2><p class="note">No timed evidence was recorded.</p>'
                "</section>")
    total = max(max(s.end for s in spans), 1e-3)
    plot = TL_WIDTH - TL_LABEL - TL_RIGHT
    rows, y = [], TL_AXIS
    for span in spans:
        height = TL_PHASE_H if span.kind == "phase" else TL_STEP_H
        rows.append(_bar(span, y, height, plot / total))
        y += height + TL_GAP + (2.0 if span.kind == "phase" else 0.0)
    height = y + 6
    axis = _time_axis(total, plot, height)
    mark = _failure_mark(spans, record.get("failed_phase"), plot / total, height)
    return ('<section id="timeline"><h2>Timeline</h2>'
            f'<div class="card"><svg id="timeline-chart" viewBox="0 0 {TL_WIDTH:g} {height:.1f}" '
            f'role="img" aria-label="Timeline of the run\'s phases and steps" data-total-s="{total:.3f}">'
            f'{axis}{"".join(rows)}{mark}</svg>'
            '<p class="small legend">Bars to scale on one time axis from the run\'s first recorded moment, '
            f"coloured by status: {_LEGEND}. Hover a bar for its times and result.</p></div></section>")


_LEGEND = ", ".join(f'<span class="swatch {status_class(st)}"></span> {st}' for st in STATUSES)


def _failure_mark(spans: Sequence[Span], phase: Any, scale: float, height: float) -> str:
    """A red line where the run failed: the end of the failed phase's first failing step (else of the phase)."""
    if not phase:
        return ""
    failing = [s.end for s in spans if s.kind == "step" and s.phase == phase and s.status == "fail"]
    ends = failing or [s.end for s in spans if s.kind == "phase" and s.phase == phase]
    if not ends:
        return ""
    x = TL_LABEL + min(ends) * scale
    return (f'<g class="failure-mark" data-phase="{esc(phase)}"><line x1="{x:.2f}" y1="{TL_AXIS - 4:g}" '
            f'x2="{x:.2f}" y2="{height:.1f}"/><text x="{x + 3:.2f}" y="{height - 3:.1f}">'
            f"{esc(phase)} failed</text></g>")


def _time_axis(total: float, plot: float, height: float) -> str:
    out = []
    for tick in ticks(0.0, total, time_step(total)):
        x = TL_LABEL + tick * plot / total
        out.append(f'<line class="grid" x1="{x:.2f}" y1="{TL_AXIS - 6:g}" x2="{x:.2f}" y2="{height:.1f}"/>'
                   f'<text class="tick" x="{x:.2f}" y="{TL_AXIS - 10:g}" text-anchor="middle">'
                   f"{esc(tick_label(tick))}</text>")
    return f'<g class="axis">{"".join(out)}</g>'


def _bar(span: Span, y: float, height: float, scale: float) -> str:
    x = TL_LABEL + span.start * scale
    width = max(span.duration * scale, TL_MIN_BAR)
    cls = "phase-bar" if span.kind == "phase" else "step-bar"
    label_cls = "phase-label" if span.kind == "phase" else "step-label"
    indent = 4.0 if span.kind == "phase" else 14.0
    label = span.label if span.kind == "phase" else clip(span.label, 40)
    tip = f"{span.label} ({span.status}): {human_duration(span.duration)} from {tick_label(span.start)}"
    tip += f" - {span.note}" if span.note else ""
    data = f'data-phase="{esc(span.phase)}" data-status="{esc(span.status)}" data-duration-s="{span.duration:.3f}"'
    if span.kind == "step":
        data += f' data-item="{esc(span.key)}"'
    return (f'<g class="row row-{span.kind}">'
            f'<text class="{label_cls}" x="{indent:g}" y="{y + height - 2:.1f}">{esc(label)}</text>'
            f'<rect class="{cls} {status_class(span.status)}" {data} x="{x:.2f}" y="{y:.1f}" '
            f'width="{width:.2f}" height="{height:g}" rx="2"><title>{esc(clip(tip, 400))}</title></rect></g>')


# --------------------------------------------------------------------------- gate charts


def _gates(record: Mapping[str, Any]) -> str:
    sources = gate_sources(record)
    if not sources:
        why = ("check mode: the gate only planned its samples" if record.get("check_mode")
               else "the gate did not run in this run")
        return f'<section id="gates"><h2>Gate metrics</h2><p class="note">No samples: {esc(why)}.</p></section>'
    blocks = []
    for ident, title, details in sources:
        metrics = [m for m in as_list(details.get("metrics")) if isinstance(m, dict)]
        verdict = details.get("verdict")
        charts = "".join(metric_chart(ident, m) for m in metrics) or '<p class="note">No metrics.</p>'
        final = details.get("final")
        decided = f" (decided: {esc(final)})" if final and final != verdict else ""
        blocks.append(f'<div class="gate" data-gate="{esc(ident)}" data-verdict="{esc(verdict)}">'
                      f'<h3>{esc(title)} <code>{esc(ident)}</code> '
                      f'<span class="badge v-{esc(verdict)}">{shown(verdict)}</span>{decided}</h3>'
                      f'<div class="charts">{charts}</div></div>')
    return ('<section id="gates"><h2>Gate metrics</h2><p class="small">Each sample against its thresholds '
            "(dashed red); breaching samples are ringed in red, the shaded band is out of bounds.</p>"
            f'{"".join(blocks)}</section>')


@dataclass(frozen=True)
class Point:
    """One sample of a metric, placed on the chart's axes (value None: no number to plot)."""

    x: float
    value: float | None
    raw: Any
    status: str
    at: str
    detail: str
    baseline: float | None


def metric_points(samples: Sequence[Any]) -> tuple[list[Point], str]:
    """The samples as points and what x is: seconds since the gate started (each sample's ``t``), else
    since the first sample (``at``), else the sample's number."""
    rows = [s for s in samples if isinstance(s, dict)]
    moments = [parse_time(s.get("at")) for s in rows]
    if rows and all(finite(s.get("t")) is not None for s in rows):
        xs, label = [float(s["t"]) for s in rows], "seconds since the gate started"
    elif rows and all(m is not None for m in moments):
        first = min(m for m in moments if m is not None)
        xs = [(m - first).total_seconds() if m is not None else 0.0 for m in moments]
        label = "seconds since the first sample"
    else:
        xs, label = [float(n) for n in range(1, len(rows) + 1)], "sample"
    points = [Point(x, _sample_value(sample.get("value")), sample.get("value"), str(sample.get("status") or "info"),
                    str(sample.get("at") or ""), str(sample.get("detail") or ""), finite(sample.get("baseline_value")))
              for x, sample in zip(xs, rows, strict=True)]
    return points, label


def x_range(xs: Sequence[float], from_zero: bool) -> tuple[float, float]:
    """The x domain: from 0 (or the first x) to the last x rounded up to a tick."""
    low = min([0.0, *xs]) if from_zero or not xs else min(xs)
    high = max(xs, default=low + 1.0)
    if high - low < 1e-9:
        low, high = (low - 1.0, high + 1.0) if not from_zero else (low, high + 1.0)
    step = time_step(high - low)
    return low, math.ceil(high / step - 1e-9) * step


def _sample_value(raw: Any) -> float | None:
    if raw in ("+Inf", "Inf"):
        return math.inf
    if raw == "-Inf":
        return -math.inf
    return finite(raw)


def thresholds(metric: Mapping[str, Any]) -> dict[str, float]:
    """The metric's finite bounds: {'min': ..., 'max': ...} (what the samples were judged against)."""
    raw = as_dict(metric.get("threshold"))
    found = {bound: finite(raw.get(bound)) for bound in ("min", "max")}
    return {bound: value for bound, value in found.items() if value is not None}


def value_range(values: Iterable[float]) -> tuple[float, float]:
    """A padded y range holding every value (0..1 when there is none)."""
    finite_values = [v for v in values if math.isfinite(v)]
    if not finite_values:
        return 0.0, 1.0
    low, high = min(finite_values), max(finite_values)
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.12
    low = 0.0 if 0 <= low <= high - low else low - pad  # positive values near zero: the axis starts at 0
    return low, high + pad


@dataclass(frozen=True)
class Frame:
    """A chart's plot area and the scales mapping data onto it."""

    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, value: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return CH_LEFT + (value - self.x0) / span * (CH_WIDTH - CH_LEFT - CH_RIGHT)

    def y(self, value: float) -> float:
        bottom, top = CH_HEIGHT - CH_BOTTOM, CH_TOP
        if value == math.inf:
            return top
        if value == -math.inf:
            return bottom
        span = self.y1 - self.y0 or 1.0
        return min(max(bottom - (value - self.y0) / span * (bottom - top), top), bottom)


def metric_chart(gate: str, metric: Mapping[str, Any]) -> str:
    """One metric's samples over time, with its min/max thresholds and the breaching samples marked."""
    points, x_label = metric_points(as_list(metric.get("samples")))
    bounds = thresholds(metric)
    baseline = finite(as_dict(metric.get("threshold")).get("baseline"))
    ys = [p.value for p in points if p.value is not None] + [p.baseline for p in points if p.baseline is not None]
    ys += list(bounds.values()) + ([baseline] if baseline is not None else [])
    low, high = value_range(ys)
    x0, x1 = x_range([p.x for p in points], x_label != "seconds since the first sample")
    frame = Frame(x0, x1, low, high)
    svg = "".join([_chart_axes(frame, x_label), _breach_zones(frame, bounds), _threshold_lines(frame, bounds, baseline),
                   _series(frame, points), _markers(frame, points)])
    if not points:
        svg += (f'<text class="no-samples" x="{CH_WIDTH / 2:g}" y="{CH_HEIGHT / 2:g}" text-anchor="middle">'
                "no samples</text>")
    name = str(metric.get("name") or "?")
    result = str(metric.get("result") or metric.get("status") or "")
    breaches = sum(1 for p in points if p.status == "fail")
    unit = f" ({esc(metric.get('unit'))})" if metric.get("unit") else ""
    return (f'<figure class="metric-chart" data-gate="{esc(gate)}" data-metric="{esc(name)}" '
            f'data-result="{esc(result)}" data-samples="{len(points)}" data-breaches="{breaches}">'
            f'<figcaption><strong>{esc(name)}</strong>{unit} '
            f'<span class="badge {status_class(_result_status(result))}">{shown(result)}</span> '
            f'<span class="small">{esc(_caption(metric, bounds, len(points), breaches))}</span></figcaption>'
            f'<svg viewBox="0 0 {CH_WIDTH:g} {CH_HEIGHT:g}" role="img" aria-label="{esc(name)} samples" '
            f'>{svg}</svg>'
            f'<div class="reason">{esc(metric.get("reason"))}</div></figure>')


def _result_status(result: str) -> str:
    return {"pass": "pass", "fail": "fail", "error": "fail"}.get(result, "pending" if result else "info")


def _caption(metric: Mapping[str, Any], bounds: Mapping[str, float], count: int, breaches: int) -> str:
    text = threshold_text({bound: number(value) for bound, value in bounds.items()}) if bounds else "none"
    parts = [f"threshold {text}", f"{count} sample(s), {breaches} breaching"]
    if metric.get("severity"):
        parts.append(f"severity {metric.get('severity')}")
    if metric.get("dry_run"):
        parts.append("dry run: does not decide")
    return "; ".join(parts)


def _chart_axes(frame: Frame, x_label: str) -> str:
    bottom, right = CH_HEIGHT - CH_BOTTOM, CH_WIDTH - CH_RIGHT
    out = [f'<g class="axis"><line class="axis-line" x1="{CH_LEFT:g}" y1="{bottom:g}" x2="{right:g}" '
           f'y2="{bottom:g}"/><line class="axis-line" x1="{CH_LEFT:g}" y1="{CH_TOP:g}" x2="{CH_LEFT:g}" '
           f'y2="{bottom:g}"/>']
    for value in ticks(frame.y0, frame.y1, nice_step(frame.y1 - frame.y0, 5)):
        y = frame.y(value)
        out.append(f'<line class="grid" x1="{CH_LEFT:g}" y1="{y:.2f}" x2="{right:g}" y2="{y:.2f}"/>'
                   f'<text class="tick" x="{CH_LEFT - 4:g}" y="{y + 3:.2f}" text-anchor="end">'
                   f"{number(value)}</text>")
    for tick in ticks(frame.x0, frame.x1, time_step(frame.x1 - frame.x0)):
        out.append(f'<text class="tick" x="{frame.x(tick):.2f}" y="{bottom + 13:g}" text-anchor="middle">'
                   f"{number(tick)}</text>")
    out.append(f'<text class="tick" x="{(CH_LEFT + right) / 2:g}" y="{CH_HEIGHT - 4:g}" text-anchor="middle">'
               f"{esc(x_label)}</text></g>")
    return "".join(out)


def _breach_zones(frame: Frame, bounds: Mapping[str, float]) -> str:
    width = CH_WIDTH - CH_LEFT - CH_RIGHT
    out = []
    if "max" in bounds:
        y = frame.y(bounds["max"])
        out.append(f'<rect class="breach-zone" data-bound="max" x="{CH_LEFT:g}" y="{CH_TOP:g}" width="{width:g}" '
                   f'height="{max(y - CH_TOP, 0):.2f}"/>')
    if "min" in bounds:
        y = frame.y(bounds["min"])
        out.append(f'<rect class="breach-zone" data-bound="min" x="{CH_LEFT:g}" y="{y:.2f}" width="{width:g}" '
                   f'height="{max(CH_HEIGHT - CH_BOTTOM - y, 0):.2f}"/>')
    return "".join(out)


def _threshold_lines(frame: Frame, bounds: Mapping[str, float], baseline: float | None) -> str:
    right = CH_WIDTH - CH_RIGHT
    out = []
    for bound, value in bounds.items():
        y = frame.y(value)
        out.append(f'<line class="threshold threshold-{bound}" data-bound="{bound}" data-value="{value!r}" '
                   f'x1="{CH_LEFT:g}" y1="{y:.2f}" x2="{right:g}" y2="{y:.2f}"><title>{bound} {number(value)}'
                   f'</title></line><text class="threshold-label" x="{right + 4:g}" y="{y + 3:.2f}">'
                   f"{bound} {number(value)}</text>")
    if baseline is not None:
        y = frame.y(baseline)
        out.append(f'<line class="baseline" data-value="{baseline!r}" x1="{CH_LEFT:g}" y1="{y:.2f}" '
                   f'x2="{right:g}" y2="{y:.2f}"><title>baseline {number(baseline)}</title></line>')
    return "".join(out)


def _series(frame: Frame, points: Sequence[Point]) -> str:
    line = " ".join(f"{frame.x(p.x):.2f},{frame.y(p.value):.2f}" for p in points if p.value is not None)
    out = f'<polyline class="series" points="{line}"/>' if line else ""
    base = " ".join(f"{frame.x(p.x):.2f},{frame.y(p.baseline):.2f}" for p in points if p.baseline is not None)
    return out + (f'<polyline class="series-baseline" points="{base}"/>' if base else "")


def _markers(frame: Frame, points: Sequence[Point]) -> str:
    out = []
    for point in points:
        x = frame.x(point.x)
        y = frame.y(point.value) if point.value is not None else CH_HEIGHT - CH_BOTTOM
        breach = point.status == "fail"
        cls = f"sample {status_class(point.status)}" + (" breach" if breach else "")
        cls += " off-scale" if point.value is not None and not math.isfinite(point.value) else ""
        cls += " missing" if point.value is None else ""
        tip = f"{point.at}: {point.raw} ({point.status})" + (f" - {point.detail}" if point.detail else "")
        out.append(f'<circle class="{cls}" data-status="{esc(point.status)}" data-value="{esc(point.raw)}" '
                   f'data-at="{esc(point.at)}" cx="{x:.2f}" cy="{y:.2f}" r="{5.5 if breach else 3.5}">'
                   f"<title>{esc(clip(tip, 300))}</title></circle>")
    return "".join(out)


# --------------------------------------------------------------------------- evidence


def _evidence(record: Mapping[str, Any]) -> str:
    items = [i for i in as_list(record.get("evidence")) if isinstance(i, dict)]
    phases = [p for p in as_list(record.get("phases")) if isinstance(p, dict)]
    named = [str(p.get("name")) for p in phases]
    others = sorted({str(i.get("phase")) for i in items} - set(named))
    blocks = [_phase_block(p, items) for p in phases]
    blocks += [_phase_block({"name": name, "status": "info"}, items) for name in others]
    return f'<section id="evidence"><h2>Evidence checklist</h2>{"".join(blocks)}</section>'


def _phase_block(phase: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> str:
    name = str(phase.get("name"))
    status = str(phase.get("status") or "info")
    mine = [i for i in items if str(i.get("phase")) == name]
    outcome = next((i for i in reversed(mine) if str(i.get("id")) == f"{name}.phase"), None)
    note = f' <span class="small">{esc(outcome.get("actual"))}</span>' if outcome and outcome.get("actual") else ""
    rows = "".join(_item_row(i) for i in mine if not str(i.get("id", "")).endswith(".phase"))
    table = ('<table class="checklist"><colgroup><col class="c-status"><col class="c-check"><col class="c-host">'
             '<col class="c-target"><col><col class="c-time"></colgroup><thead><tr><th>Status</th><th>Check</th>'
             '<th>Host</th><th>Target</th><th>Actual</th>'
             f"<th>Time</th></tr></thead><tbody>{rows}</tbody></table>") if rows else \
        '<p class="note">No checks recorded in this phase.</p>'
    return (f'<div class="phase-evidence" data-phase="{esc(name)}" data-status="{esc(status)}">'
            f'<h3>{esc(name.capitalize())} <span class="badge {status_class(status)}">{esc(status)}</span> '
            f'<span class="small">{esc(human_duration(finite(phase.get("duration_s"))))}</span>{note}</h3>'
            f"{table}</div>")


def _item_row(item: Mapping[str, Any]) -> str:
    status = str(item.get("status") or "info")
    start, end = parse_time(item.get("started")), parse_time(item.get("ended"))
    seconds = (end - start).total_seconds() if start and end else 0.0
    took = human_duration(seconds) if seconds > 0 else "-"  # an instant (or no times): no duration to show
    return (f'<tr class="evidence-item {status_class(status)}" data-item="{esc(item.get("id"))}" '
            f'data-status="{esc(status)}"><td class="status">'
            f'<span class="badge {status_class(status)}">{esc(status)}</span></td>'
            f'<td>{shown(item.get("title"))}<br><code class="small">{esc(item.get("id"))}</code></td>'
            f'<td>{shown(item.get("host"))}</td><td class="target">{shown(item.get("target"))}</td>'
            f'<td class="actual">{shown(item.get("actual"))}</td>'
            f'<td class="when" title="{esc(item.get("started"))}">{esc(took)}</td></tr>')

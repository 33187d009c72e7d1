# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The deployment record, rendered from the evidence journal: JSON for machines, Markdown for people."""
from __future__ import annotations

import datetime as _dt
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import ORDER, RunState, driving_reasons

SCHEMA = "liftoff.release/record/v1"
BOX = {"pass": "[x]", "fail": "[ ] FAILED:", "skip": "[-]", "info": "[x]"}
PHASE_ORDER = ("run", *ORDER, "rollback", "record")
_NEVER = _dt.datetime.max.replace(tzinfo=_dt.UTC)
_ALWAYS = _dt.datetime.min.replace(tzinfo=_dt.UTC)


def _parse(ts: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def _seconds(start: str, end: str) -> float | None:
    a, b = _parse(start), _parse(end)
    return round((b - a).total_seconds(), 3) if a and b else None


def build(items: list[dict[str, Any]], state: RunState) -> dict[str, Any]:
    """The record as a JSON-serialisable dict (schema liftoff.release/record/v1)."""
    started = items[0]["started"] if items else ""
    ended = items[-1]["ended"] if items else ""
    phases = []
    for name in PHASE_ORDER:
        mine = [i for i in items if i.get("phase") == name]
        if not mine:
            continue
        outcome = next((i for i in reversed(mine) if i["id"] == f"{name}.phase"), None)
        status = outcome["status"] if outcome else ("fail" if any(i["status"] == "fail" for i in mine) else "info")
        first = min((i["started"] for i in mine), key=lambda ts: _parse(ts) or _NEVER)
        last = max((i["ended"] for i in mine), key=lambda ts: _parse(ts) or _ALWAYS)
        phases.append({"name": name, "status": status, "started": first, "ended": last,
                       "duration_s": _seconds(first, last),
                       "checks": sum(1 for i in mine if not i["id"].endswith(".phase"))})
    verdict_item = next((i for i in reversed(items) if i["id"] == "verify.verdict"), None)
    start_item: dict[str, Any] = next((i for i in items if i["id"] == "run.start"), {"details": {}})
    rollout = next((i for i in reversed(items) if i["id"] == "rollout.change"), None)
    return {
        "schema": SCHEMA,
        "run_id": state.run_id,
        "environment": state.environment,
        "version": state.version,
        "previous_version": (rollout or {}).get("details", {}).get("undo", {}).get("previous"),
        "operator": start_item["details"].get("operator"),
        "strategy": start_item["details"].get("strategy"),
        "check_mode": state.check_mode,
        "outcome": state.outcome,
        "failed_phase": state.failed_phase,
        "reason": state.reason,
        "verdict": state.verdict,
        "started": started,
        "ended": ended,
        "duration_s": _seconds(started, ended),
        "phases": phases,
        "gate": verdict_item["details"] if verdict_item else None,
        "rollback": {
            "performed": state.rollback_status in ("pass", "fail") and bool(state.changes),
            "status": state.rollback_status,
            "undone": [i for i in items if i.get("phase") == "rollback" and i["id"] != "rollback.phase"],
        },
        "evidence": items,
    }


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."


def markdown(record: dict[str, Any]) -> str:
    """The record as a filled-in checklist, in the shape of the seed checklists."""
    outcome = {"success": "SUCCESS", "failed": "FAILED", "rolled_back": "ROLLED BACK",
               "rollback_failed": "ROLLBACK FAILED", "running": "INCOMPLETE"}.get(record["outcome"], record["outcome"])
    lines = [
        f"# Deployment record: {record['environment']} {record['version']}",
        "",
        f"**Outcome:** `{outcome}`" + ("  (check mode: a plan, nothing was changed)" if record["check_mode"] else ""),
        "",
        "| field | value |",
        "|---|---|",
        f"| Run id | `{record['run_id']}` |",
        f"| Environment | {_cell(record['environment'])} |",
        f"| Version | {_cell(record['previous_version'])} -> {_cell(record['version'])} |",
        f"| Strategy | {_cell(record['strategy'])} |",
        f"| Deployment lead (operator) | {_cell(record['operator'])} |",
        f"| Start time | {_cell(record['started'])} |",
        f"| End time | {_cell(record['ended'])} |",
        f"| Duration | {_cell(record['duration_s'])} s |",
        f"| Gate verdict | {_cell(record['verdict'])} |",
        f"| Rolled back | {'Yes' if record['rollback']['performed'] else 'No'} |",
    ]
    if record["reason"]:
        lines.append(f"| Why it failed | {_cell(record['reason'])} (phase: {record['failed_phase']}) |")
    if record["reason"]:
        lines += ["", "## Why the run did not succeed", "", f"Phase **{record['failed_phase']}**:", ""]
        gate_reasons = driving_reasons(record["gate"] or {})
        if record["failed_phase"] == "verify" and gate_reasons:
            lines.append(f"Gate verdict **{record['verdict']}**:")
            lines.append("")
            lines += [f"- {reason}" for reason in gate_reasons]
        else:
            lines.append(str(record["reason"]))
    lines += ["", "## Phases", "", "| phase | status | duration (s) | checks |", "|---|---|---|---|"]
    lines += [f"| {p['name']} | {p['status']} | {_cell(p['duration_s'])} | {p['checks']} |" for p in record["phases"]]
    for phase in record["phases"]:
        lines += ["", f"## {phase['name'].capitalize()}", ""]
        for item in record["evidence"]:
            if item.get("phase") != phase["name"] or item["id"].endswith(".phase"):
                continue
            box = BOX.get(item["status"], "[ ]")
            parts = [f"target: {_cell(item.get('target'))}"] if item.get("target") not in (None, "") else []
            parts.append(f"actual: {_cell(item.get('actual'))}")
            lines.append(f"- {box} **{item['title']}** ({item['host']}): " + "; ".join(parts)
                         + f" `{item['status']}`")
    if record["gate"]:
        lines += _gate_section(record["gate"])
    lines.append("")
    return "\n".join(lines)


def _threshold(threshold: Any) -> str:
    """'>= 1 and <= 5' from {'min': 1, 'max': 5}; other shapes as text."""
    if not isinstance(threshold, dict):
        return _cell(threshold)
    parts = [f">= {threshold['min']}"] if threshold.get("min") is not None else []
    parts += [f"<= {threshold['max']}"] if threshold.get("max") is not None else []
    return " and ".join(parts) or "-"


def _gate_section(gate: dict[str, Any]) -> list[str]:
    lines = ["", "## Gate", "", f"**Verdict:** `{gate.get('verdict')}`", ""]
    for reason in gate.get("reasons") or []:
        lines.append(f"- {reason}")
    metrics = gate.get("metrics") or []
    if isinstance(metrics, dict):
        metrics = list(metrics.values())
    for metric in metrics:
        lines += ["", f"### {metric.get('name')} ({metric.get('status') or metric.get('result')})", "",
                  f"Threshold: {_threshold(metric.get('threshold'))}; severity {_cell(metric.get('severity'))}"
                  f"; limit {_cell(metric.get('limit'))}", "",
                  "| # | time | value | status |", "|---|---|---|---|"]
        for n, sample in enumerate(metric.get("samples") or [], 1):
            lines.append(f"| {n} | {_cell(sample.get('at'))} | {_cell(sample.get('value'))} | "
                         f"{_cell(sample.get('status'))} |")
    return lines

# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The deployment record, rendered from the evidence journal: JSON for machines, Markdown for people."""
from __future__ import annotations

import datetime as _dt
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils import checklist as checklist_rows
from ansible_collections.liftoff.release.plugins.plugin_utils import record_facts as facts
from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import ORDER, RunState, driving_reasons

# v2 (additive over v1): backup, migrations, cdn, smoke, approvals, summary, rollback.why, resumed,
# interruption and the outcome "interrupted"; later checklist (optional). docs/record-schema.json is the schema;
# docs/record.md says what it means.
SCHEMA = "liftoff.release/record/v2"
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


def build(items: list[dict[str, Any]], state: RunState, targets: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record as a JSON-serialisable dict (schema liftoff.release/record/v2).

    ``targets`` overrides the summary table's targets (record_facts.DEFAULT_TARGETS).
    """
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
    stopped = next((i for i in reversed(items) if i["id"] == "run.stopped"), None)
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "run_id": state.run_id,
        "environment": state.environment,
        "version": state.version,
        "previous_version": (rollout or {}).get("details", {}).get("undo", {}).get("previous"),
        "operator": start_item["details"].get("operator"),
        "strategy": start_item["details"].get("strategy"),
        "check_mode": state.check_mode,
        "outcome": state.outcome if state.ended else "running",  # no run.end or run.stopped yet
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
            "why": state.reason if state.rollback_status in ("pass", "fail") and state.changes else None,
            "undone": [i for i in items if i.get("phase") == "rollback" and i["id"] != "rollback.phase"],
            "pending": state.pending_undo if state.outcome != "success" else [],
        },
        "interruption": ((stopped or {}).get("details") or None) if state.outcome == "interrupted" else None,
        "resumed": [{"at": i.get("started"), "by": (i.get("details") or {}).get("by"),
                     "after": (i.get("details") or {}).get("previous_reason"), "from": i.get("actual")}
                    for i in items if i["id"] == "run.resume"],
        "backup": facts.backup(items),
        "migrations": facts.migrations(items),
        "cdn": facts.cdn(items),
        "smoke": facts.smoke(items),
        "approvals": facts.approvals(items),
        "evidence": items,
    }
    document["summary"] = facts.summary(document, targets)
    # After the summary: a checklist item may name a summary row (summary.total_deployment_time).
    document["checklist"] = checklist_rows.rows(items, document["summary"])
    return document


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."


OUTCOME_TEXT = {"success": "SUCCESS", "failed": "FAILED", "rolled_back": "ROLLED BACK",
                "rollback_failed": "ROLLBACK FAILED", "interrupted": "INTERRUPTED", "running": "INCOMPLETE"}
STATUS_TEXT = {"pass": "pass", "fail": "**FAIL**", "n/a": "n/a", "skip": "skipped", "info": "info"}


def markdown(record: dict[str, Any]) -> str:
    """The record as a filled-in checklist, in the shape of the seed checklists (003's form and summary)."""
    outcome = OUTCOME_TEXT.get(record["outcome"], record["outcome"])
    lines = [
        f"# Deployment record: {record['environment']} {record['version']}",
        "",
        f"**Deployment Date:** `{_cell(record['started'])}`  ",
        f"**Deployment Lead:** `{_cell(record['operator'])}`  ",
        f"**Version:** `{_cell(record['version'])}` (from `{_cell(record['previous_version'])}`)  ",
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
    for resumed in record.get("resumed") or []:
        lines.append(f"| Resumed | {_cell(resumed.get('at'))} by {_cell(resumed.get('by'))}, "
                     f"{_cell(resumed.get('from'))} (it had stopped: {_cell(resumed.get('after'))}) |")
    if record["reason"]:
        lines.append(f"| Why it failed | {_cell(record['reason'])} (phase: {record['failed_phase']}) |")
        lines += _why_section(record)
    if record.get("interruption"):
        lines += _interruption_section(record)
    lines += _summary_section(record.get("summary") or [])
    lines += _checklist_section(record.get("checklist"))
    lines += _approvals_section(record.get("approvals") or [])
    lines += _backup_section(record.get("backup"))
    lines += _migrations_section(record.get("migrations"))
    lines += _cdn_section(record.get("cdn"))
    lines += _rollback_section(record)
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
    lines += ["", "## Sign-Off", "", f"- **Deployed By:** `{_cell(record['operator'])}`",
              f"- **Date/Time:** `{_cell(record['ended'])}`", f"- **Deployment Status:** `{outcome}`",
              f"- **Notes:** {_cell(record['reason']) if record['reason'] else 'none'}", ""]
    return "\n".join(lines)


def _why_section(record: dict[str, Any]) -> list[str]:
    lines = ["", "## Why the run did not succeed", "", f"Phase **{record['failed_phase']}**:", ""]
    gate_reasons = driving_reasons(record["gate"] or {})
    if record["failed_phase"] == "verify" and gate_reasons:
        lines += [f"Gate verdict **{record['verdict']}**:", ""]
        lines += [f"- {reason}" for reason in gate_reasons]
    else:
        lines.append(str(record["reason"]))
    return lines


def _interruption_section(record: dict[str, Any]) -> list[str]:
    stop = record["interruption"]
    lines = ["", "## Interrupted", "",
             f"ansible-playbook stopped ({_cell(stop.get('signal') or 'no signal: it exited')}) during phase "
             f"**{_cell(stop.get('phase'))}**, task `{_cell(stop.get('task'))}`, before the run ended.", ""]
    pending = record["rollback"].get("pending") or []
    if pending:
        lines += ["Changes this run made that were **not undone**:", ""]
        lines += [f"- {_cell(c.get('title'))} ({_cell(c.get('host'))}, `{c.get('id')}`)" for c in pending]
        lines.append("")
    lines += [f"Continue it: `ansible-playbook playbooks/deploy.yml -e liftoff_resume={record['run_id']}` "
              "(with the same inventory and variables),",
              f"or undo it: `ansible-playbook playbooks/rollback.yml -e run_id={record['run_id']}`."]
    return lines


def _summary_section(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = ["", "## Deployment Metrics Summary", "", "| Metric | Target | Actual | Status |", "|---|---|---|---|"]
    lines += [f"| {_cell(r['metric'])} | {_cell(r['target'])} | {_cell(r['actual'])} | "
              f"{STATUS_TEXT.get(r['status'], r['status'])} |" for r in rows]
    return lines


CHECK_BOX = {"pass": "[x]", "fail": "[ ] **FAILED**", "missing": "[ ] **NO EVIDENCE**", "skip": "[-] skipped",
             "partial": "[~] partly", "n/a": "[-] n/a", "info": "[x]"}


def _checklist_section(checklist: dict[str, Any] | None) -> list[str]:
    """The go-live checklist item by item: how each item is handled and what this run's evidence says."""
    if not checklist:
        return []
    counts = ", ".join(f"{c['count']} {c['status']}" for c in checklist.get("counts") or [])
    lines = ["", f"## Checklist: {_cell(checklist.get('name'))}", ""]
    if checklist.get("source"):
        lines.append(f"Source: `{_cell(checklist['source'])}`. ")
    lines += [f"{len(checklist['items'])} items: {counts}.", "",
              "| | item | handled as | evidence | actual |", "|---|---|---|---|---|"]
    for row in checklist["items"]:
        text = f"{row['id']} {row.get('text') or ''}".strip()
        lines.append(f"| {CHECK_BOX.get(row['status'], row['status'])} | {_cell(text)} | {_cell(row['how'])} | "
                     f"{_cell(', '.join(row.get('evidence') or []))} | {_cell(row.get('actual'))} |")
    return lines


def _approvals_section(approvals: list[dict[str, Any]]) -> list[str]:
    if not approvals:
        return []
    lines = ["", "## Approvals and sign-offs", "", "| what | by | when | how | status |", "|---|---|---|---|---|"]
    lines += [f"| {_cell(a['question'])} | {_cell(a['by'])} | {_cell(a['at'])} | {_cell(a['how'])} | "
              f"{STATUS_TEXT.get(a['status'], a['status'])} |" for a in approvals]
    return lines


def _field_table(title: str, rows: list[tuple[str, str]]) -> list[str]:
    """A '## title' section holding a two-column field | value table; values are already cells."""
    return ["", f"## {title}", "", "| field | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _backup_section(bak: dict[str, Any] | None) -> list[str]:
    if not bak:
        return []
    return _field_table("Database backup", [
        ("Path", f"`{_cell(bak.get('path'))}` ({_cell(bak.get('host'))})"),
        ("Size", f"{facts.human_bytes(bak.get('bytes'))} ({_cell(bak.get('bytes'))} bytes)"),
        ("sha256", f"`{_cell(bak.get('sha256'))}`"),
        ("Format", _cell(bak.get("format"))),
        ("Dump time", facts.human_duration(bak.get("duration_s"))),
        ("Verified (pg_restore --list)", "Yes" if bak.get("verified") else "No"),
        ("Test restore", f"{_cell(bak.get('test_restore') or 'not run')} - {_cell(bak.get('test_restore_actual'))}"),
        ("Uploaded to", _cell(bak.get("uploaded_to"))),
    ])


def _migrations_section(mig: dict[str, Any] | None) -> list[str]:
    if not mig:
        return []
    return _field_table("Database migrations", [
        ("Applied", _cell(", ".join(mig["applied"]) or "nothing pending")),
        ("Duration", facts.human_duration(mig.get("duration_s"))),
        ("Driver", _cell(mig.get("driver"))),
        ("Schema fingerprint before", f"`{_cell(mig.get('fingerprint_before'))}`"),
        ("Schema fingerprint after", f"`{_cell(mig.get('fingerprint_after'))}`"),
        ("Result", f"{_cell(mig.get('status'))} - {_cell(mig.get('actual'))}"),
    ])


def _cdn_section(cd: dict[str, Any] | None) -> list[str]:
    if not cd:
        return []
    return _field_table("CDN", [
        ("Upload", _cell(cd.get("upload"))),
        ("Invalidation id", f"`{_cell(cd.get('invalidation_id'))}` ({_cell(cd.get('distribution_id'))})"),
        ("Paths invalidated", _cell(", ".join(map(str, cd.get("paths") or [])))),
        ("Time to complete", f"{_cell(cd.get('took_s'))} s"),
        ("Result", _cell(cd.get("invalidation_status"))),
    ])


def _rollback_section(record: dict[str, Any]) -> list[str]:
    rb = record["rollback"]
    lines = ["", "## Rollback", "", f"**Rollback required:** {'Yes' if rb['performed'] else 'No'}"]
    if rb["performed"]:
        lines += [f"**Why:** {_cell(rb.get('why'))}", f"**Rollback result:** `{_cell(rb.get('status'))}`", ""]
        lines += [f"- {BOX.get(i['status'], '[ ]')} {_cell(i['title'])} ({i['host']}): {_cell(i.get('actual'))}"
                  for i in rb["undone"]]
    return lines


def _gate_section(gate: dict[str, Any]) -> list[str]:
    lines = ["", "## Gate", "", f"**Verdict:** `{gate.get('verdict')}`", ""]
    for reason in gate.get("reasons") or []:
        lines.append(f"- {reason}")
    metrics = gate.get("metrics") or []
    if isinstance(metrics, dict):
        metrics = list(metrics.values())
    for metric in metrics:
        lines += ["", f"### {metric.get('name')} ({metric.get('status') or metric.get('result')})", "",
                  f"Threshold: {facts.threshold_text(metric.get('threshold'))}"
                  f"; severity {_cell(metric.get('severity'))}"
                  f"; limit {_cell(metric.get('limit'))}", "",
                  "| # | time | value | status |", "|---|---|---|---|"]
        for n, sample in enumerate(metric.get("samples") or [], 1):
            lines.append(f"| {n} | {_cell(sample.get('at'))} | {_cell(sample.get('value'))} | "
                         f"{_cell(sample.get('status'))} |")
    return lines

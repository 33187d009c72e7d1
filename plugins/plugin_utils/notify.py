# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Notifications of a run: which targets hear which event, and the payload each one gets.

Events: ``start`` (the run began), ``phase`` (a phase passed or failed), ``rollback`` (the run
failed and is being undone) and ``end`` (its outcome, with the record's link). Targets: a Slack
incoming webhook (or a Slack-compatible one: Mattermost, Rocket.Chat), a generic JSON webhook,
and PagerDuty Events API v2 (a failed or rolled-back run triggers an alert, a later success
resolves it: one dedup key per environment).
"""
from __future__ import annotations

import re
from typing import Any

EVENTS = ("start", "phase", "rollback", "end")
TYPES = ("slack", "webhook", "pagerduty")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
_ICONS = {"success": ":white_check_mark:", "pass": ":white_check_mark:", "fail": ":x:", "failed": ":x:",
          "rolled_back": ":rewind:", "rollback_failed": ":rotating_light:", "start": ":rocket:",
          "rollback": ":rewind:", "skip": ":fast_forward:"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def target_errors(targets: Any, name: str = "notify_targets") -> list[str]:
    """One message per unusable target, naming it and the expected form."""
    if not isinstance(targets, list):
        return [f"{name} must be a list of targets, got {type(targets).__name__}"]
    errors: list[str] = []
    for index, target in enumerate(targets):
        where = f"{name}[{index}]"
        if not isinstance(target, dict):
            errors.append(f"{where} must be a mapping with name and type")
            continue
        if not _NAME.match(str(target.get("name", ""))):
            errors.append(f"{where}.name must be letters, digits, '.', '_' or '-', got {target.get('name')!r}")
        kind = target.get("type")
        if kind not in TYPES:
            errors.append(f"{where}.type must be one of {', '.join(TYPES)}, got {kind!r}")
            continue
        if kind in ("slack", "webhook") and not str(target.get("url") or "").startswith(("http://", "https://")):
            errors.append(f"{where} ({kind}) needs url, an http(s) URL (the incoming webhook)")
        if kind == "pagerduty" and not target.get("routing_key"):
            errors.append(f"{where} (pagerduty) needs routing_key (the Events API v2 integration key)")
        events = target.get("events", list(EVENTS))
        if not isinstance(events, list) or any(e not in EVENTS for e in events):
            errors.append(f"{where}.events must be a list of {', '.join(EVENTS)}, got {events!r}")
    return errors


def wants(target: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether the target hears this event; PagerDuty hears only what it can act on."""
    kind = str(event.get("event"))
    if kind not in target.get("events", list(EVENTS)):
        return False
    if target.get("type") == "pagerduty":
        # An alert is raised when a run fails or rolls back, and resolved by a later success.
        return kind == "end" or (kind == "rollback")
    if kind == "phase" and target.get("failures_only", False):
        return event.get("status") == "fail"
    return True


def headline(event: dict[str, Any]) -> str:
    """One line a person reads first."""
    who = f"{event.get('app') or 'deploy'} {event.get('version') or ''}".strip()
    env = event.get("environment") or ""
    kind = event.get("event")
    if kind == "start":
        return f"{who} to {env}: started by {event.get('operator') or 'someone'} (run {event.get('run_id')})"
    if kind == "phase":
        return f"{who} to {env}: phase {event.get('phase')} {event.get('status')}"
    if kind == "rollback":
        return f"{who} to {env}: rolling back after {event.get('failed_phase') or 'a failure'}: {event.get('reason')}"
    outcome = str(event.get("outcome") or "")
    text = f"{who} to {env}: {outcome.replace('_', ' ').upper()}"
    return text + (f" ({event.get('reason')})" if outcome != "success" and event.get("reason") else "")


def _status(event: dict[str, Any]) -> str:
    return str(event.get("outcome") or event.get("status") or event.get("event"))


def slack_payload(event: dict[str, Any]) -> dict[str, Any]:
    icon = _ICONS.get(_status(event), ":information_source:")
    text = f"{icon} {headline(event)}"
    if event.get("record"):
        text += f"\nRecord: {event['record']}"
    return {"text": text}


def webhook_payload(event: dict[str, Any]) -> dict[str, Any]:
    return {"source": "liftoff.release", "summary": headline(event), **event}


def pagerduty_payload(event: dict[str, Any], routing_key: str, severity: str = "critical") -> dict[str, Any]:
    """Events API v2: trigger on a failed, rolled-back or rolling-back run; resolve on success."""
    dedup = f"liftoff-{event.get('app') or 'deploy'}-{event.get('environment') or 'env'}"
    resolve = event.get("event") == "end" and event.get("outcome") == "success"
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": "resolve" if resolve else "trigger",
                            "dedup_key": dedup}
    if not resolve:
        body["payload"] = {"summary": headline(event)[:1024], "source": str(event.get("environment") or "liftoff"),
                           "severity": severity, "component": str(event.get("app") or ""),
                           "group": "deploy", "class": str(event.get("event")),
                           "custom_details": {k: v for k, v in event.items() if k != "record"}}
        if event.get("record"):
            body["links"] = [{"href": str(event["record"]), "text": "Deployment record"}]
    return body


def deliveries(targets: list[dict[str, Any]], event: dict[str, Any]) -> list[dict[str, Any]]:
    """For each target that hears the event: {name, type, url, body} (url and keys are secrets)."""
    out: list[dict[str, Any]] = []
    for target in targets:
        if not wants(target, event):
            continue
        kind = target["type"]
        if kind == "pagerduty":
            if event.get("event") == "end" and event.get("outcome") == "success" and not target.get("resolve", True):
                continue
            body = pagerduty_payload(event, str(target["routing_key"]), str(target.get("severity", "critical")))
            url = str(target.get("url") or PAGERDUTY_URL)
        elif kind == "slack":
            body, url = slack_payload(event), str(target["url"])
        else:
            body, url = webhook_payload(event), str(target["url"])
        out.append({"name": target["name"], "type": kind, "url": url, "body": body})
    return out

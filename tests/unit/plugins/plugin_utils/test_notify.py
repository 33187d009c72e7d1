"""notify: who hears what, and the payloads."""
from __future__ import annotations

from ansible_collections.liftoff.release.plugins.plugin_utils.notify import (
    PAGERDUTY_URL,
    deliveries,
    headline,
    pagerduty_payload,
    target_errors,
    wants,
)

SLACK = {"name": "ops", "type": "slack", "url": "https://hooks.slack.com/services/T/B/SECRET"}
HOOK = {"name": "audit", "type": "webhook", "url": "http://127.0.0.1:9/hook", "events": ["end"]}
PD = {"name": "pager", "type": "pagerduty", "routing_key": "R0UT1NGKEY"}
END = {"event": "end", "app": "shop", "environment": "production", "version": "v2", "outcome": "rolled_back",
       "reason": "gate verdict ROLLBACK: error_ratio 0.3 > 0.05", "record": "file:///r/record.md", "run_id": "r1"}


def test_target_errors() -> None:
    assert target_errors([SLACK, HOOK, PD]) == []
    assert target_errors([{"name": "x", "type": "slack"}, {"name": "p", "type": "pagerduty"},
                          {"name": "w", "type": "email"}, {"name": "h", "type": "webhook", "url": "ftp://x",
                                                           "events": ["boom"]}]) == [
        "notify_targets[0] (slack) needs url, an http(s) URL (the incoming webhook)",
        "notify_targets[1] (pagerduty) needs routing_key (the Events API v2 integration key)",
        "notify_targets[2].type must be one of slack, webhook, pagerduty, got 'email'",
        "notify_targets[3] (webhook) needs url, an http(s) URL (the incoming webhook)",
        "notify_targets[3].events must be a list of start, phase, rollback, end, got ['boom']",
    ]


def test_who_hears_what() -> None:
    start = {"event": "start"}
    assert wants(SLACK, start) and not wants(HOOK, start) and not wants(PD, start)
    assert wants(PD, {"event": "rollback"}) and wants(PD, END)
    quiet = {**SLACK, "failures_only": True}
    assert not wants(quiet, {"event": "phase", "status": "pass"}) and wants(quiet, {"event": "phase", "status": "fail"})


def test_headlines() -> None:
    assert headline(END) == "shop v2 to production: ROLLED BACK (gate verdict ROLLBACK: error_ratio 0.3 > 0.05)"
    assert headline({**END, "outcome": "success"}) == "shop v2 to production: SUCCESS"
    assert headline({"event": "start", "app": "shop", "version": "v2", "environment": "prod", "operator": "ann",
                     "run_id": "r1"}) == "shop v2 to prod: started by ann (run r1)"


def test_pagerduty_triggers_then_resolves_with_one_dedup_key() -> None:
    trigger = pagerduty_payload(END, "KEY")
    assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "critical"
    assert trigger["links"] == [{"href": "file:///r/record.md", "text": "Deployment record"}]
    resolve = pagerduty_payload({**END, "outcome": "success"}, "KEY")
    assert resolve == {"routing_key": "KEY", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}


def test_deliveries() -> None:
    sent = deliveries([SLACK, HOOK, PD], END)
    assert [(d["name"], d["url"]) for d in sent] == [
        ("ops", SLACK["url"]), ("audit", HOOK["url"]), ("pager", PAGERDUTY_URL)]
    assert sent[0]["body"]["text"].startswith(":rewind: shop v2 to production: ROLLED BACK")
    assert sent[1]["body"]["outcome"] == "rolled_back" and sent[1]["body"]["source"] == "liftoff.release"
    assert deliveries([{**PD, "resolve": False}], {**END, "outcome": "success"}) == []

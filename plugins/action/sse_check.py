# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: open a server-sent-events stream from the controller, read its first events within a deadline."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import http_check, sse
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import (
    EVIDENCE_OPTION,
    inventory_host,
    record,
    task_secrets,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import Evidence, utc_now
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact, redact_text
from ansible_collections.liftoff.release.plugins.plugin_utils.sse_client import read_stream


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "url": {"type": "str", "required": True},
        "headers": {"type": "dict", "default": {}, "no_log": True},
        "events": {"type": "int", "default": 1},
        "deadline": {"type": "float", "default": 5.0},
        "status": {"type": "list", "elements": "int", "default": [200]},
        "event_names": {"type": "list", "elements": "str", "default": []},
        "first_event_max_ms": {"type": "float"},
        "evidence": EVIDENCE_OPTION,
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        if args["events"] < 0 or args["deadline"] <= 0:
            raise AnsibleActionFail("liftoff.release.sse_check: events must be 0 or more and deadline above 0 "
                                    f"(got events={args['events']}, deadline={args['deadline']})")
        secrets = task_secrets(task_vars, self._templar) | http_check.header_secrets(args["headers"])
        started = utc_now()
        stream = read_stream(args["url"], events=args["events"], deadline=args["deadline"],
                             headers=args["headers"])
        failures = sse.judge_stream(stream, events=args["events"], expect_status=args["status"],
                                    event_names=args["event_names"], first_event_max_ms=args["first_event_max_ms"],
                                    deadline_ms=args["deadline"] * 1000.0)
        names = sse.names_in_order(stream.events)
        if args["evidence"]:
            record(task_vars, self._templar, Evidence(
                id=args["evidence"]["id"], phase=args["evidence"]["phase"], title=args["evidence"]["title"],
                status="fail" if failures else "pass", target=target_text(args), actual=actual_text(stream, names),
                started=started, ended=utc_now(), host=inventory_host(task_vars),
                details={"url": args["url"], "failures": failures, "status_code": stream.status,
                         "content_type": stream.content_type, "events": len(stream.events),
                         "event_names": names, "first_event_ms": stream.first_event_ms,
                         "elapsed_ms": stream.elapsed_ms, "stopped": stream.stopped}), secrets)
        result.update(changed=False, passed=not failures, status=stream.status, content_type=stream.content_type,
                      events=len(stream.events), event_names=names, first_event_ms=stream.first_event_ms,
                      elapsed_ms=stream.elapsed_ms, stopped=stream.stopped, failures=redact(failures, secrets))
        if failures:
            result.update(failed=True, msg=redact_text(f"{args['url']}: " + "; ".join(failures), secrets))
        return result


def target_text(args: dict[str, Any]) -> str:
    text = f"{args['events']} event{'s' if args['events'] != 1 else ''} within {args['deadline']:g} s"
    if args["event_names"]:
        text += f" named {'/'.join(args['event_names'])}"
    if args["first_event_max_ms"] is not None:
        text += f", first within {args['first_event_max_ms']:g} ms"
    return text


def actual_text(stream: sse.StreamResult, names: list[str]) -> str:
    if stream.status is None:
        return f"no response: {stream.error}"
    if stream.status != 200 or not stream.content_type.lower().startswith("text/event-stream"):
        return f"HTTP {stream.status}, {stream.content_type or 'no content type'}"
    first = f", first after {stream.first_event_ms} ms" if stream.first_event_ms is not None else ""
    named = f" ({'/'.join(names)})" if names else ""
    return f"{len(stream.events)} events{named}{first}, stopped: {stream.stopped} after {stream.elapsed_ms} ms"

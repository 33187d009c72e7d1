# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: an HTTP smoke check from the controller, latency in ms, recorded as evidence."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import assertions, http_check
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import (
    EVIDENCE_OPTION,
    inventory_host,
    record,
    task_secrets,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import Evidence, utc_now
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact, redact_text


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "url": {"type": "str", "required": True},
        "method": {"type": "str", "default": "GET"},
        "headers": {"type": "dict", "default": {}, "no_log": True},
        "status": {"type": "list", "elements": "int", "default": [200]},
        "body_contains": {"type": "list", "elements": "str", "default": []},
        "json": {"type": "dict", "default": {}},
        "json_checks": {"type": "list", "elements": "dict", "default": []},
        "header_checks": {"type": "list", "elements": "dict", "default": []},
        "latency_max_ms": {"type": "float"},
        "timeout": {"type": "float", "default": 5.0},
        "retries": {"type": "int", "default": 0},
        "delay": {"type": "float", "default": 1.0},
        "evidence": EVIDENCE_OPTION,
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        problems = (assertions.json_assertion_errors(args["json_checks"])
                    + assertions.header_assertion_errors(args["header_checks"]))
        if problems:
            raise AnsibleActionFail("liftoff.release.http_check: " + "; ".join(problems))
        if self._task.check_mode and args["method"].upper() not in ("GET", "HEAD", "OPTIONS"):
            result.update(changed=False, skipped=True, passed=None,
                          msg=f"check mode: a {args['method'].upper()} request could change the target; not sent")
            return result
        secrets = task_secrets(task_vars, self._templar) | http_check.header_secrets(args["headers"])
        started = utc_now()
        verdict = http_check.check(
            args["url"], method=args["method"], headers=args["headers"], expect_status=args["status"],
            body_contains=args["body_contains"], json_equals=args["json"], latency_max_ms=args["latency_max_ms"],
            json_checks=args["json_checks"], header_checks=args["header_checks"], timeout=args["timeout"],
            retries=args["retries"], delay=args["delay"])
        if args["evidence"]:
            target = f"HTTP {'/'.join(map(str, args['status']))}"
            if args["latency_max_ms"] is not None:
                target += f", latency <= {args['latency_max_ms']} ms"
            asserted = len(args["json"]) + len(args["json_checks"]) + len(args["header_checks"]) \
                + len(args["body_contains"])
            if asserted:
                target += f", {asserted} assertion{'s' if asserted > 1 else ''}"
            response = verdict.response
            actual = (f"HTTP {response.status}, {response.latency_ms} ms" if response.status
                      else f"no response: {response.error}")
            record(task_vars, self._templar, Evidence(
                id=args["evidence"]["id"], phase=args["evidence"]["phase"], title=args["evidence"]["title"],
                status="pass" if verdict.passed else "fail", target=target, actual=actual, started=started,
                ended=utc_now(), host=inventory_host(task_vars),
                details={"url": args["url"], "failures": verdict.failures, "attempts": verdict.attempts,
                         "latency_ms": response.latency_ms, "status_code": response.status,
                         "assertions": asserted}), secrets)
        result.update(changed=False, passed=verdict.passed, status=verdict.response.status,
                      latency_ms=verdict.response.latency_ms, failures=redact(verdict.failures, secrets),
                      attempts=verdict.attempts,
                      body=http_check.redact_body(verdict.response.body, secrets)[:500])
        if not verdict.passed:
            result.update(failed=True, msg=redact_text(f"{args['url']}: " + "; ".join(verdict.failures), secrets))
        return result

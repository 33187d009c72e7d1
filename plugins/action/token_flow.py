# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: the ephemeral-token flow from the controller (issue, use, expiry after the TTL, principal)."""
from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import http_check, token_flow
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import (
    EVIDENCE_OPTION,
    inventory_host,
    record,
    task_secrets,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import Evidence, utc_now
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact, redact_text
from ansible_collections.liftoff.release.plugins.plugin_utils.sse_client import probe

_STATUSES = {"type": "list", "elements": "int"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "issue_url": {"type": "str", "required": True},
        "use_url": {"type": "str", "required": True},
        "principal_token": {"type": "str", "required": True, "no_log": True},
        "issue_method": {"type": "str", "default": "POST"},
        "principal_header": {"type": "str", "default": "Authorization"},
        "principal_prefix": {"type": "str", "default": "Bearer "},
        "ephemeral_path": {"type": "str", "default": "token"},
        "ttl": {"type": "float"},
        "ttl_path": {"type": "str", "default": "expires_in"},
        "send_as": {"type": "str", "default": "query", "choices": ["query", "header"]},
        "query_param": {"type": "str", "default": "token"},
        "use_header": {"type": "str", "default": "Authorization"},
        "use_prefix": {"type": "str", "default": "Bearer "},
        "issue_status": {**_STATUSES, "default": [200, 201]},
        "use_status": {**_STATUSES, "default": [200]},
        "expired_status": {**_STATUSES, "default": [403]},
        "principal_status": {**_STATUSES, "default": [200]},
        "check_expiry": {"type": "bool", "default": True},
        "expiry_grace": {"type": "float", "default": 1.0},
        "expiry_wait_max": {"type": "float", "default": 120.0},
        "check_principal": {"type": "bool", "default": True},
        "timeout": {"type": "float", "default": 5.0},
        "evidence": EVIDENCE_OPTION,
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        if self._task.check_mode:
            result.update(changed=False, skipped=True, passed=None,
                          msg="check mode: issuing a token is a POST that changes the target; not sent")
            return result
        secrets = task_secrets(task_vars, self._templar) | {args["principal_token"]}
        spec = token_flow.FlowSpec(**{k: v for k, v in args.items() if k != "evidence"})
        started = utc_now()
        flow = token_flow.run_flow(spec, fetch=fetch_body, probe=probe)
        if flow.token:
            secrets.add(flow.token)
        if args["evidence"]:
            record(task_vars, self._templar, Evidence(
                id=args["evidence"]["id"], phase=args["evidence"]["phase"], title=args["evidence"]["title"],
                status="pass" if flow.passed else "fail", target=token_flow.target(spec),
                actual=token_flow.summary(flow), started=started, ended=utc_now(), host=inventory_host(task_vars),
                details={"issue_url": args["issue_url"], "use_url": args["use_url"], "send_as": args["send_as"],
                         "ttl_s": flow.ttl, "waited_s": flow.waited_s, "failures": flow.failures,
                         "steps": [s.to_dict() for s in flow.steps]}), secrets)
        result.update(changed=False, passed=flow.passed, ttl=flow.ttl, waited_s=flow.waited_s,
                      steps=redact([s.to_dict() for s in flow.steps], secrets),
                      failures=redact(flow.failures, secrets))
        if not flow.passed:
            result.update(failed=True, msg=redact_text("token flow: " + "; ".join(flow.failures), secrets))
        return result


def fetch_body(url: str, **kwargs: Any) -> tuple[int | None, float, str, str | None]:
    response = http_check.fetch(url, **kwargs)
    return response.status, response.latency_ms, response.body, response.error

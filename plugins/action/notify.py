# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: tell Slack, webhooks and PagerDuty about a run's event, from the controller."""
from __future__ import annotations

import json
import time
from typing import Any

from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import notify
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import inventory_host, record, task_secrets
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import PHASES, Evidence, utc_now
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact_text


def _post(url: str, body: dict[str, Any], timeout: float, retries: int, delay: float) -> dict[str, Any]:
    """POST JSON; {ok, status, ms, attempts, error}. 2xx is delivered; 429 and 5xx are retried."""
    attempt, error, status = 0, "", 0
    while True:
        attempt += 1
        started = time.monotonic()
        try:
            reply = open_url(url, method="POST", data=json.dumps(body), timeout=timeout,
                             headers={"Content-Type": "application/json"}, use_proxy=True)
            status = int(reply.status)
            return {"ok": True, "status": status, "ms": round((time.monotonic() - started) * 1000, 1),
                    "attempts": attempt, "error": ""}
        except Exception as exc:  # every failure to deliver is reported, none raised
            status = int(getattr(exc, "code", 0) or 0)
            error = f"HTTP {status}" if status else str(getattr(exc, "reason", exc))
        if attempt > retries or (status and status < 500 and status != 429):
            return {"ok": False, "status": status, "ms": round((time.monotonic() - started) * 1000, 1),
                    "attempts": attempt, "error": error}
        time.sleep(delay)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "targets": {"type": "list", "elements": "dict", "required": True, "no_log": True},
        "event": {"type": "dict", "required": True},
        "phase": {"type": "str", "required": True, "choices": list(PHASES)},
        "timeout": {"type": "float", "default": 5.0},
        "retries": {"type": "int", "default": 1},
        "delay": {"type": "float", "default": 1.0},
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        errors = notify.target_errors(args["targets"])
        if errors:
            result.update(failed=True, msg="; ".join(errors))
            return result
        secrets = task_secrets(task_vars, self._templar)
        for target in args["targets"]:  # webhook URLs carry their token; keys are keys
            secrets |= {str(target[k]) for k in ("url", "routing_key") if target.get(k)}
        event = args["event"]
        sent: list[dict[str, Any]] = []
        started = utc_now()
        for delivery in notify.deliveries(args["targets"], event):
            if self._task.check_mode:
                sent.append({"name": delivery["name"], "type": delivery["type"], "ok": None, "error": "check mode"})
                continue
            outcome = _post(delivery["url"], delivery["body"], args["timeout"], args["retries"], args["delay"])
            outcome["error"] = redact_text(outcome["error"], secrets)
            sent.append({"name": delivery["name"], "type": delivery["type"], **outcome})
        if sent:
            failed = [s["name"] for s in sent if s["ok"] is False]
            kind = str(event.get("event"))
            record(task_vars, self._templar, Evidence(
                id=f"{args['phase']}.notify.{kind}", phase=args["phase"], title=f"Notified: {kind}",
                status="skip" if self._task.check_mode else ("fail" if failed else "pass"),
                target=f"{len(sent)} target(s) told", started=started, ended=utc_now(),
                actual=("plan: " if self._task.check_mode else "") + "; ".join(
                    f"{s['name']} {'HTTP ' + str(s.get('status')) if s['ok'] else s['error']}" for s in sent),
                host=inventory_host(task_vars), details={"event": kind, "deliveries": sent}), secrets)
        result.update(changed=False, deliveries=sent, failed_targets=[s["name"] for s in sent if s["ok"] is False])
        return result

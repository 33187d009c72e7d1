# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: the deploy lock on the controller (owner, run id, TTL, heartbeat, explicit break)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import lock


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "path": {"type": "path", "required": True},
        "state": {"type": "str", "choices": ["acquired", "released", "heartbeat", "query"], "default": "acquired"},
        "owner": {"type": "str", "default": "unknown"},
        "run_id": {"type": "str", "required": True},
        "environment": {"type": "str", "default": ""},
        "ttl": {"type": "int", "default": 1800},
        "break_stale": {"type": "bool", "default": False},
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        if args["ttl"] < 1:
            raise AnsibleActionFail(
                f"liftoff.release.lock: ttl must be a positive number of seconds, got {args['ttl']}")
        path = Path(args["path"])
        state = args["state"]
        if state == "query":
            held = lock.read(path)
            result.update(changed=False, held=held is not None, holder=held.__dict__ if held else None)
            return result
        if self._task.check_mode and state != "query":
            held = lock.read(path)
            free = held is None or held.run_id == args["run_id"]
            if not free and held is not None and not held.stale(time.time()):
                return {"failed": True, "acquired": False,
                        "msg": f"deploy lock would be refused: held by {held.describe()}"}
            result.update(changed=False, acquired=True, held=held is not None, msg="check mode: lock not taken")
            return result
        try:
            if state == "acquired":
                outcome = lock.acquire(path, args["owner"], args["run_id"], args["environment"], args["ttl"],
                                       args["break_stale"])
                result.update(changed=not outcome["reentered"], acquired=True, **outcome)
            elif state == "heartbeat":
                result.update(changed=False, **lock.heartbeat(path, args["run_id"], args["ttl"]))
            else:
                outcome = lock.release(path, args["run_id"])
                result.update(changed=bool(outcome["released"]), **outcome)
        except lock.LockHeld as exc:
            return {"failed": True, "acquired": False, "msg": str(exc), "changed": False}
        return result

# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: append one evidence item to the run's journal on the controller."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import inventory_host, record
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import PHASES, STATUSES, Evidence, EvidenceError


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "id": {"type": "str", "required": True},
        "phase": {"type": "str", "required": True, "choices": list(PHASES)},
        "title": {"type": "str", "required": True},
        "status": {"type": "str", "required": True, "choices": list(STATUSES)},
        "target": {"type": "raw"},
        "actual": {"type": "raw"},
        "started": {"type": "str", "default": ""},
        "ended": {"type": "str", "default": ""},
        "host": {"type": "str"},
        "details": {"type": "dict", "default": {}},
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        item = Evidence(id=args["id"], phase=args["phase"], title=args["title"], status=args["status"],
                        target=args["target"], actual=args["actual"], started=args["started"], ended=args["ended"],
                        host=args["host"] or inventory_host(task_vars), details=args["details"] or {})
        try:
            stored = record(task_vars, self._templar, item)
        except EvidenceError as exc:
            raise AnsibleActionFail(f"liftoff.release.evidence: {exc}") from exc
        result.update(changed=False, evidence=stored)
        return result

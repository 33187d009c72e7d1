# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: start or join a run (run id, run directory) and read its state from the journal."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import run_state
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import run_dir, task_secrets
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import Evidence, EvidenceJournal, iter_journal
from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import default_operator, default_record_dir


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "state": {"type": "str", "choices": ["start", "query"], "default": "query"},
        "record_dir": {"type": "path"},
        "environment": {"type": "str"},
        "operator": {"type": "str"},
        "run_id": {"type": "str"},
        "details": {"type": "dict", "default": {}},
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        if args["state"] == "start":
            result.update(self._start(args, task_vars))
        else:
            directory = run_dir(task_vars, self._templar)
            state = run_state.fold(iter_journal(directory / "evidence.jsonl"))
            result.update(changed=False, state=state.to_dict(), pending_undo=state.pending_undo,
                          run_dir=str(directory))
        return result

    def _start(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        if not args["environment"]:
            raise AnsibleActionFail("liftoff.release.run: liftoff_environment is required to start a run "
                                    "(the name of the environment deployed to, e.g. production)")
        args["record_dir"] = args["record_dir"] or default_record_dir(os.environ)
        operator = args["operator"] or default_operator(os.environ)
        run_id = args["run_id"] or run_state.new_run_id()
        if "/" in run_id or run_id.startswith("."):
            raise AnsibleActionFail(f"liftoff.release.run: run_id must be a plain name, got {run_id!r}")
        directory = Path(args["record_dir"]) / args["environment"] / run_id
        journal = EvidenceJournal(directory)
        existing = run_state.fold(journal.read())
        joined = bool(existing.run_id)
        if not joined:
            details = dict(args["details"], run_id=run_id, environment=args["environment"], operator=operator,
                           check_mode=bool(self._task.check_mode))
            journal.append(Evidence(id="run.start", phase="run", title="Run started", status="info",
                                    target=None, actual=run_id, details=details),
                           task_secrets(task_vars, self._templar))
        return {"changed": False, "joined": joined, "run_id": run_id, "run_dir": str(directory), "operator": operator}

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
        "resume": {"type": "str"},
        "resume_check": {"type": "bool", "default": False},
        "details": {"type": "dict", "default": {}},
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
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
        run_id = args["resume"] or args["run_id"] or run_state.new_run_id()
        if "/" in run_id or run_id.startswith("."):
            name = "liftoff_resume" if args["resume"] else "run_id"
            raise AnsibleActionFail(f"liftoff.release.run: {name} must be a plain run id, got {run_id!r}")
        directory = Path(args["record_dir"]) / args["environment"] / run_id
        journal = EvidenceJournal(directory)
        existing = run_state.fold(journal.read())
        if args["resume"]:
            return self._resume(args, task_vars, journal, existing, operator)
        joined = bool(existing.run_id)
        if not joined:
            details = dict(args["details"], run_id=run_id, environment=args["environment"], operator=operator,
                           check_mode=bool(self._task.check_mode))
            journal.append(Evidence(id="run.start", phase="run", title="Run started", status="info",
                                    target=None, actual=run_id, details=details),
                           task_secrets(task_vars, self._templar))
        return {"changed": False, "joined": joined, "run_id": run_id, "run_dir": str(directory), "operator": operator}

    def _resume(self, args: dict[str, Any], task_vars: dict[str, Any], journal: EvidenceJournal,
                state: run_state.RunState, operator: str) -> dict[str, Any]:
        """Continue an interrupted or failed run from its first phase that did not pass, or refuse and say why."""
        run_id = str(args["resume"])
        request = dict(args["details"], check_mode=bool(self._task.check_mode))
        later = later_runs(journal.run_dir.parent, run_id, state.started)
        why = run_state.resume_refusal(state, request, later)
        if why:
            raise AnsibleActionFail(f"liftoff_resume={run_id}: run {run_id} of {args['environment']} cannot be "
                                    f"resumed: {why}")
        if args["resume_check"]:
            # Only the verdict and what to check on the hosts; nothing is written.
            plan = run_state.fold([*journal.read(), {"id": "run.resume", "phase": "run", "details": {}}])
            return {"changed": False, "joined": False, "resumed": False, "run_id": run_id,
                    "run_dir": str(journal.run_dir), "operator": operator, "completed": plan.completed,
                    "remembered": run_state.resume_facts(plan), "expected_releases": run_state.expected_releases(plan)}
        remaining = [phase for phase in run_state.ORDER if state.phases.get(phase) != "pass"]
        journal.append(Evidence(
            id="run.resume", phase="run", title="Run resumed", status="info",
            target=None, actual=f"resumed at {remaining[0] if remaining else 'the record'}",
            details={"by": operator, "previous_outcome": state.outcome, "previous_reason": state.reason,
                     "previous_failed_phase": state.failed_phase,
                     "completed": [p for p in run_state.ORDER if state.phases.get(p) == "pass"],
                     "pending_undo": [c["id"] for c in state.pending_undo]}),
            task_secrets(task_vars, self._templar))
        resumed = run_state.fold(journal.read())
        return {"changed": False, "joined": False, "resumed": True, "run_id": run_id,
                "run_dir": str(journal.run_dir), "operator": operator, "completed": resumed.completed,
                "remembered": run_state.resume_facts(resumed),
                "expected_releases": run_state.expected_releases(resumed)}


def later_runs(environment_dir: Path, run_id: str, started: str) -> list[str]:
    """Runs of this environment (not plans) that started after ``started``: they may have changed it since."""
    found = []
    for path in sorted(environment_dir.glob("*/evidence.jsonl")):
        if path.parent.name == run_id:
            continue
        first = next(iter_journal(path), None)
        if not first or first.get("id") != "run.start":
            continue
        details = first.get("details") or {}
        if not details.get("check_mode") and str(first.get("started", "")) > started:
            found.append(path.parent.name)
    return found

# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: render the deployment record (JSON, Markdown, HTML) from the run's evidence journal."""
from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import run_dir, task_secrets
from ansible_collections.liftoff.release.plugins.plugin_utils.record_facts import phase_limit_error
from ansible_collections.liftoff.release.plugins.plugin_utils.record_files import write_record


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "formats": {"type": "list", "elements": "str", "choices": ["json", "markdown", "html"],
                    "default": ["json", "markdown", "html"]},
        "targets": {"type": "dict", "default": {}, "options": {
            "max_duration_s": {"type": "float"},
            "max_migration_s": {"type": "float"},
            "min_smoke_success_pct": {"type": "float"},
            "max_phase_s": {"type": "dict"},
        }},
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        directory = run_dir(task_vars, self._templar)
        targets = {k: v for k, v in (args["targets"] or {}).items() if v is not None}
        error = phase_limit_error(targets.get("max_phase_s"))
        if error:
            return {**result, "failed": True, "msg": f"targets.max_phase_s {error}"}
        paths, state = write_record(directory, args["formats"], task_secrets(task_vars, self._templar), targets)
        result.update(changed=False, paths=paths, outcome=state.outcome, reason=state.reason,
                      failed_phase=state.failed_phase, verdict=state.verdict)
        return result

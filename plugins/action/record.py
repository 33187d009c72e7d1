# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: render the deployment record (JSON, Markdown) from the run's evidence journal."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import record, run_state
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import run_dir, task_secrets
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import iter_journal
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact, redact_text


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "formats": {"type": "list", "elements": "str", "choices": ["json", "markdown"],
                    "default": ["json", "markdown"]},
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        directory = run_dir(task_vars, self._templar)
        items = list(iter_journal(directory / "evidence.jsonl"))
        state = run_state.fold(items)
        secrets = task_secrets(task_vars, self._templar)
        document = redact(record.build(items, state), secrets)
        paths: dict[str, str] = {}
        if "json" in args["formats"]:
            paths["json"] = str(directory / "record.json")
            _write(Path(paths["json"]), json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
        if "markdown" in args["formats"]:
            paths["markdown"] = str(directory / "record.md")
            _write(Path(paths["markdown"]), redact_text(record.markdown(document), secrets))
        result.update(changed=False, paths=paths, outcome=state.outcome, reason=state.reason,
                      failed_phase=state.failed_phase, verdict=state.verdict)
        return result

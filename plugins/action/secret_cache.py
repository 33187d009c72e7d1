# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: template the host's secret variables once, for a registered result the masking reads."""
from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import template_secrets


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC: dict[str, Any] = {}

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        cache = template_secrets(task_vars or {}, self._templar)
        # Returned to be registered (register: __liftoff_secret_cache), never as ansible_facts: facts of an
        # action go to the fact cache (ansible-runner and AWX write it to disk), a registered result does not.
        # no_log: it holds the values it exists to mask; nothing of it is shown, not even with -vvv.
        result.update(changed=False, secrets=cache, variables=sorted(cache), _ansible_no_log=True)
        return result

# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin liftoff.release.pm2_release: copy the release archive over, then run the module.

Thin: the switch is the module (plugins/modules/pm2_release.py, module_utils._pm2). Copying the
archive here, in the same task, saves the separate copy and unarchive module runs per host.
"""
from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.module_utils._pm2 import ARGUMENT_SPEC
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import copy_into_task_tmp

MODULE = "liftoff.release.pm2_release"


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        # Bad input fails here, before the archive is copied (the module checks the same spec again).
        self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        args = dict(self._task.args)
        archive = args.pop("archive", None)
        try:
            if archive and not self._task.check_mode:
                local = os.path.expanduser(str(archive))
                if not os.path.isfile(local):
                    raise AnsibleActionFail(f"liftoff.release.pm2_release: archive: no such file on the controller: "
                                            f"{local}")
                args["archive"] = copy_into_task_tmp(self, [(local, "release.tar.gz")])[0]
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

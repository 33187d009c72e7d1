# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin liftoff.release.sql_migrate: with ``src``, copy the migration files over, then run the module.

Thin: the migrations are the module (plugins/modules/sql_migrate.py). The ``*.sql`` files of ``src``
(a directory on the controller) go into the task's own temporary directory on the host, which the
module reads as its ``path`` and Ansible removes afterwards: no staging directory to make and clean
up, and no copy module run per file. Without ``src`` the module runs as it is.
"""
from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.module_utils._migrations import SQL_MIGRATE_ARGUMENT_SPEC
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import copy_into_task_tmp

MODULE = "liftoff.release.sql_migrate"


def sql_files(directory: str) -> list[str]:
    """The ``*.sql`` regular files of ``directory`` (the module ignores every other file)."""
    if not os.path.isdir(directory):
        raise AnsibleActionFail(f"liftoff.release.sql_migrate: src: not a directory on the controller: {directory}")
    return sorted(name for name in os.listdir(directory)
                  if name.endswith(".sql") and os.path.isfile(os.path.join(directory, name)))


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    ARGUMENT_SPEC = SQL_MIGRATE_ARGUMENT_SPEC

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        src = args.pop("src", None)
        try:
            if src is not None and args.get("path"):
                raise AnsibleActionFail("liftoff.release.sql_migrate: give src (on the controller) or path "
                                        "(on the host), not both")
            # Bad input fails here, before any file is copied (the module checks the same spec again).
            self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC, required_one_of=[["path", "src"]])
            if src is not None:
                local = os.path.expanduser(str(src))
                copy_into_task_tmp(self, [(os.path.join(local, name), name) for name in sql_files(local)])
                args["path"] = self._connection._shell.tmpdir
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

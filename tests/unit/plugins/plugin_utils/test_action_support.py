"""action_support.task_secrets: which values of the task's variables are treated as secrets."""
from __future__ import annotations

from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import task_secrets


class Templar:
    def template(self, value: Any) -> Any:
        return value


def test_secret_named_variables_are_secrets_but_approvers_are_not() -> None:
    found = task_secrets({"liftoff_db_password": "pw-0123456789",
                          "smoke_auth_checks": [{"name": "flow", "principal_token": "tok-0123456789"}],
                          "approval_given": {"token_rotation": {"by": "alice", "note": "CAB-1"}},
                          "approval_attested": {"credentials_rotated": "bob.smith"}}, Templar())
    assert found == {"pw-0123456789", "tok-0123456789"}

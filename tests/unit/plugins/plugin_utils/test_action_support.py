"""action_support.task_secrets: which values of the task's variables are treated as secrets, and the secret cache."""
from __future__ import annotations

from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import (
    SECRET_CACHE_VAR,
    source_fingerprint,
    task_secrets,
    template_secrets,
)


class Templar:
    def template(self, value: Any) -> Any:
        return value


def test_secret_named_variables_are_secrets_but_approvers_are_not() -> None:
    found = task_secrets({"liftoff_db_password": "pw-0123456789",
                          "smoke_auth_checks": [{"name": "flow", "principal_token": "tok-0123456789"}],
                          "approval_given": {"token_rotation": {"by": "alice", "note": "CAB-1"}},
                          "approval_attested": {"credentials_rotated": "bob.smith"}}, Templar())
    assert found == {"pw-0123456789", "tok-0123456789"}


class CountingTemplar:
    """Templates ``{{ x }}`` strings from ``values`` and counts how often each is templated (a lookup each)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.calls: dict[str, int] = {}

    def template(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.template(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("{{"):
            key = value.strip("{} ")
            self.calls[key] = self.calls.get(key, 0) + 1
            if key not in self.values:
                raise ValueError(f"undefined: {key}")
            return self.values[key]
        return value


def test_the_secret_cache_templates_each_variable_once_and_serves_every_later_task() -> None:
    variables: dict[str, Any] = {"api_key": "{{ lookup_sm }}", "liftoff_db_password": "pw-literal-0123",
                                 "app_name": "{{ not_a_secret }}", "broken_token": "{{ undefined_var }}"}
    templar = CountingTemplar({"lookup_sm": "sm-value-0123456789", "not_a_secret": "shop"})
    cache = template_secrets(variables, templar)
    assert set(cache) == {"api_key", "liftoff_db_password"}  # broken_token cannot be templated: left out
    with_cache = {**variables, SECRET_CACHE_VAR: {"secrets": cache}}
    for _task in range(5):
        assert task_secrets(with_cache, templar) == {"sm-value-0123456789", "pw-literal-0123"}
    # The lookup ran once (for the cache); only the broken variable is tried again each time.
    assert templar.calls == {"lookup_sm": 1, "undefined_var": 6}


def test_a_secret_variable_defined_differently_since_the_cache_is_templated_again() -> None:
    templar = CountingTemplar({"old": "old-secret-0123456", "new": "new-secret-0123456", "row": "row-secret-012345"})
    cache = template_secrets({"api_key": "{{ old }}"}, templar)
    # A set_fact changed the variable, and a loop variable holds a secret-named key: both templated now.
    later = {"api_key": "{{ new }}", "item": {"db_password": "{{ row }}"}, SECRET_CACHE_VAR: {"secrets": cache}}
    assert task_secrets(later, templar) == {"new-secret-0123456", "row-secret-012345"}
    assert templar.calls == {"old": 1, "new": 1, "row": 1}


def test_the_cache_itself_is_not_read_as_a_secret_variable() -> None:
    cache = {"api_key": {"source": source_fingerprint("{{ x }}"), "value": "cached-secret-01234"}}
    # api_key is no longer visible to this task: the cached value of it is not a secret of this task.
    assert task_secrets({SECRET_CACHE_VAR: {"secrets": cache}, "app": "shop"}, Templar()) == set()

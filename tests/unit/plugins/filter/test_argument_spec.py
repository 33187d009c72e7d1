"""Filter role_argument_options: an entry point's options without their (templated) defaults."""
from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.filter.argument_spec import FilterModule, role_argument_options

SPECS: dict[str, Any] = {"argument_specs": {
    "main": {"short_description": "Deploy", "options": {
        "pm2_app_name": {"type": "str", "required": True},
        "pm2_strategy": {"type": "str", "default": "{{ liftoff_strategy }}", "choices": ["pm2"]},
        "pm2_env": {"type": "dict", "default": {}, "options": {
            "port": {"type": "int", "default": 3000},
            "tls": {"type": "dict", "default": {}, "options": {"cert": {"type": "path", "default": "/x"}}},
        }},
        "pm2_hooks": {"type": "list", "elements": "dict", "default": [], "options": {
            "name": {"type": "str", "default": "hook"}}},
    }},
    "status": {"short_description": "Status"},
}}


def test_defaults_stripped_recursively() -> None:
    assert role_argument_options(SPECS) == {
        "pm2_app_name": {"type": "str", "required": True},
        "pm2_strategy": {"type": "str", "choices": ["pm2"]},
        "pm2_env": {"type": "dict", "options": {
            "port": {"type": "int"},
            "tls": {"type": "dict", "options": {"cert": {"type": "path"}}},
        }},
        "pm2_hooks": {"type": "list", "elements": "dict", "options": {"name": {"type": "str"}}},
    }
    assert SPECS["argument_specs"]["main"]["options"]["pm2_strategy"]["default"] == "{{ liftoff_strategy }}", (
        "the input must not be modified")


def test_entry_point_without_options() -> None:
    assert role_argument_options(SPECS, "status") == {}


@pytest.mark.parametrize(("specs", "entry_point"), [
    (SPECS, "rollback"),
    ({}, "main"),
    (None, "main"),
    ({"argument_specs": "nope"}, "main"),
    ({"argument_specs": {"main": None}}, "main"),
])
def test_missing_entry_point(specs: Any, entry_point: str) -> None:
    with pytest.raises(AnsibleFilterError,
                       match=rf"^liftoff\.release\.role_argument_options: no entry point '{entry_point}' "
                             r"in the argument specs"):
        role_argument_options(specs, entry_point)


def test_filter_module_exports() -> None:
    assert FilterModule().filters() == {"role_argument_options": role_argument_options}

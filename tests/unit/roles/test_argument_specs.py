"""Every role's argument specs agree with its defaults/main.yml, and every role variable is documented."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists())


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}


def spec_options(role: str) -> dict[str, dict[str, Any]]:
    """All options of all entry points (an option may be declared by several entry points)."""
    merged: dict[str, dict[str, Any]] = {}
    for entry in load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"].values():
        for name, option in (entry.get("options") or {}).items():
            merged.setdefault(name, option)
    return merged


def test_every_role_has_specs_and_a_readme() -> None:
    for role in (p for p in ROLES.iterdir() if p.is_dir()):
        assert (role / "meta" / "argument_specs.yml").exists(), f"{role.name} has no argument specs"
        assert (role / "README.md").exists(), f"{role.name} has no README"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_spec_defaults_equal_role_defaults(role: str) -> None:
    defaults = load(ROLES / role / "defaults" / "main.yml") or {}
    options = spec_options(role)
    for name, value in defaults.items():
        assert name in options, f"{role}: {name} is in defaults/main.yml but not in meta/argument_specs.yml"
        if "default" in options[name]:
            assert options[name]["default"] == value, f"{role}: {name} spec default differs from defaults/main.yml"
    for name, option in options.items():
        if "default" in option and option["default"] is not None and not name.startswith("liftoff_"):
            assert name in defaults, f"{role}: {name} has a spec default but no entry in defaults/main.yml"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_variables_carry_the_role_prefix(role: str) -> None:
    for name in spec_options(role):
        assert re.match(rf"^({role}|liftoff|run)_", name) or name == "run_id", \
            f"{role}: variable {name} should start with {role}_ (or liftoff_ when shared)"

# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter: a role entry point's options, ready for ansible.builtin.validate_argument_spec up front."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def _strip_defaults(options: dict[str, Any]) -> dict[str, Any]:
    stripped: dict[str, Any] = {}
    for name, spec in options.items():
        spec = {k: v for k, v in dict(spec).items() if k != "default"}
        if isinstance(spec.get("options"), dict):
            spec["options"] = _strip_defaults(spec["options"])
        stripped[name] = spec
    return stripped


def role_argument_options(specs: Any, entry_point: str = "main") -> dict[str, Any]:
    """Options of ``entry_point`` from a parsed meta/argument_specs.yml, without their defaults.

    Defaults in a spec may be templates of other variables ("{{ liftoff_strategy }}"); validating
    them as literals would reject good input. The role's defaults/main.yml supplies them anyway.
    """
    try:
        options = specs["argument_specs"][entry_point].get("options") or {}
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError(
            f"liftoff.release.role_argument_options: no entry point {entry_point!r} in the argument specs") from exc
    return _strip_defaults(options)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"role_argument_options": role_argument_options}

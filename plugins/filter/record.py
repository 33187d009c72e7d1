# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter: why record_targets cannot be used (checked in preflight, before anything changes)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils.record_facts import phase_limit_error


def record_target_errors(value: Any, name: str = "record_targets") -> list[str]:
    """One message per problem of the Deployment Metrics Summary's targets."""
    if value in (None, ""):
        return []
    if not isinstance(value, Mapping):
        return [f"{name} must be a mapping (max_duration_s, max_migration_s, min_smoke_success_pct, max_phase_s)"]
    errors = []
    for key in ("max_duration_s", "max_migration_s", "min_smoke_success_pct"):
        number = value.get(key)
        if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0):
            errors.append(f"{name}.{key} must be a number at least 0; got {number!r}")
    error = phase_limit_error(value.get("max_phase_s"))
    if error:
        errors.append(f"{name}.max_phase_s {error}")
    return errors


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"record_target_errors": record_target_errors}

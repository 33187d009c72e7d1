# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over threshold profiles: expand ``profile:`` metric items, and trace them to the seeds."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.plugin_utils.gate_profile import (
    ProfileError,
    apply_profile,
    parse_profile,
    profile_trace,
)


def gate_apply_profile(metrics: Any, profile: Any, var: str = "gate_metrics") -> list[dict[str, Any]]:
    """The metric list with every ``profile: <key>`` item expanded into one metric per tier."""
    try:
        return apply_profile(metrics, parse_profile(profile), var)
    except ProfileError as exc:
        raise AnsibleFilterError(f"liftoff.release.gate_apply_profile: {exc}") from exc


def gate_profile_trace(metrics: Any, profile: Any, var: str = "gate_metrics") -> dict[str, list[str]]:
    """Expanded metric name -> the seed catalogue ids its tier implements."""
    try:
        return profile_trace(metrics, parse_profile(profile), var)
    except ProfileError as exc:
        raise AnsibleFilterError(f"liftoff.release.gate_profile_trace: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"gate_apply_profile": gate_apply_profile, "gate_profile_trace": gate_profile_trace}

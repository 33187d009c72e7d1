# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for rolling and canary steps across hosts (pure logic in plugin_utils/rollout.py)."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.plugin_utils import rollout


def rollout_batches(hosts: Any, steps: Any) -> list[dict[str, Any]]:
    """The batches that cumulative percentage ``steps`` make of ``hosts``."""
    try:
        return rollout.batches(list(hosts), list(steps))
    except (rollout.RolloutStepsError, TypeError) as exc:
        raise AnsibleFilterError(f"liftoff.release.rollout_batches: {exc}") from exc


def rollout_step_errors(steps: Any, name: str = "rollout_steps") -> list[str]:
    """Why ``steps`` cannot be used (an empty list when it can)."""
    return rollout.step_errors(steps, name)


def rollout_batch_outcome(batch_hosts: Any, failed: Any, max_fail_percentage: Any) -> dict[str, Any]:
    """Whether the failed hosts of a batch stop the rollout."""
    try:
        return rollout.batch_outcome(list(batch_hosts), list(failed or []), max_fail_percentage)
    except (rollout.RolloutStepsError, TypeError) as exc:
        raise AnsibleFilterError(f"liftoff.release.rollout_batch_outcome: {exc}") from exc


def rollout_fleet(releases: Any, hosts: Any, target: str) -> dict[str, Any]:
    """Which host runs what, from each host's strategy release fact."""
    if not isinstance(releases, dict):
        raise AnsibleFilterError(f"liftoff.release.rollout_fleet: expected a mapping host -> release, got {releases!r}")
    return rollout.fleet(list(hosts), releases, str(target))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "rollout_batches": rollout_batches,
            "rollout_step_errors": rollout_step_errors,
            "rollout_batch_outcome": rollout_batch_outcome,
            "rollout_fleet": rollout_fleet,
        }

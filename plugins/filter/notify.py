# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The notify_target_errors filter (pure logic in plugin_utils/notify.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils import notify


def notify_target_errors(targets: Any, name: str = "notify_targets") -> list[str]:
    """Why the notification targets cannot be used (an empty list when they can)."""
    return notify.target_errors(targets, name)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"notify_target_errors": notify_target_errors}

# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failure_message filter (pure logic in plugin_utils/failure.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils import failure


def failure_message(result: Any, limit: int = 500) -> str:
    """Why a task failed, in its own words (a looped task: each failed item's)."""
    return failure.message(result, int(limit))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"failure_message": failure_message}

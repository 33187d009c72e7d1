# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The readiness_check_errors filter (pure logic in plugin_utils/readiness.py)."""
from __future__ import annotations

from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils import readiness


def readiness_check_errors(checks: Any, name: str = "preflight_checks") -> list[str]:
    """Why the preflight readiness checks cannot run (an empty list when they can)."""
    return readiness.check_errors(checks, name)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"readiness_check_errors": readiness_check_errors}

# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the release history every strategy keeps."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.plugin_utils import releases


def release_history_advance(state: Any, version: str, action: str, run_id: str = "", at: str = "") -> dict[str, Any]:
    """The release history after ``action`` (deploy / rollback) made ``version`` current."""
    try:
        return releases.advance(state, str(version), str(action), str(run_id), str(at))
    except releases.ReleaseHistoryError as exc:
        raise AnsibleFilterError(f"liftoff.release.release_history_advance: {exc}") from exc


def release_history_kept(state: Any, keep: int, also: list[str] | None = None) -> list[str]:
    """Releases to keep on disk: the last ``keep`` of the history plus current and previous."""
    try:
        return releases.kept(state, int(keep), also)
    except (releases.ReleaseHistoryError, ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"liftoff.release.release_history_kept: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"release_history_advance": release_history_advance, "release_history_kept": release_history_kept}

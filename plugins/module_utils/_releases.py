# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Release history kept by every strategy: what runs, what ran before it, what was rolled back.

In module_utils so the modules that switch a release on its host (liftoff.release.pm2_release)
advance the history with the same rules as the controller's filters (plugin_utils.releases).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ACTIONS = ("deploy", "rollback")


class ReleaseHistoryError(ValueError):
    """A release history that cannot be advanced as asked."""


def empty() -> dict[str, Any]:
    return {"current": None, "previous": None, "history": [], "rolled_back": []}


def _went_live_from(history: list[Mapping[str, Any]], version: str) -> str | None:
    """The release that served before ``version`` was last deployed (None if it was the first)."""
    for entry in reversed(history):
        if entry.get("version") == version and entry.get("action") == "deploy":
            origin = entry.get("from")
            return str(origin) if origin else None
    return None


def advance(state: Mapping[str, Any] | None, version: str, action: str, run_id: str = "",
            at: str = "") -> dict[str, Any]:
    """The history after ``action`` made ``version`` current.

    deploy V: previous becomes what served (unless V already served: a restart keeps it).
    rollback to V: previous becomes what served before V was deployed, never the release just
    rolled back from, which is listed in ``rolled_back`` so a later "roll back to previous" cannot
    bring a bad release back.
    """
    if action not in ACTIONS:
        raise ReleaseHistoryError(f"release history action must be one of {', '.join(ACTIONS)}, got {action!r}")
    if not version:
        raise ReleaseHistoryError("release history: the version to make current is empty")
    old = {**empty(), **(dict(state) if state else {})}
    history = list(old["history"])
    rolled_back = [v for v in old["rolled_back"] if v != version]
    current = old["current"]
    if action == "deploy":
        previous = current if current and current != version else old["previous"]
    else:
        previous = _went_live_from(history, version)
        if current and current != version and current not in rolled_back:
            rolled_back.append(current)
    history.append({"version": version, "action": action, "from": current, "run_id": run_id, "at": at})
    return {"current": version, "previous": previous, "history": history, "rolled_back": rolled_back}


def kept(state: Mapping[str, Any], keep: int, also: list[str] | None = None) -> list[str]:
    """Releases to keep on disk: the last ``keep`` distinct ones of the history, plus current and previous."""
    if keep < 1:
        raise ReleaseHistoryError(f"keep must be at least 1, got {keep}")
    recent: list[str] = []
    for entry in reversed(state.get("history") or []):
        name = entry.get("version")
        if name and name not in recent:
            recent.append(str(name))
        if len(recent) >= keep:
            break
    extra = [state.get("current"), state.get("previous"), *(also or [])]
    return recent + [str(v) for v in extra if v and str(v) not in recent]

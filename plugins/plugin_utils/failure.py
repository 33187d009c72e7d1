# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why a task failed, in words, from its result (ansible_failed_result)."""
from __future__ import annotations

from typing import Any

UNKNOWN = "unknown error"


def _own_words(result: dict[str, Any]) -> str:
    for key in ("msg", "stderr", "module_stderr", "stdout"):
        value = result.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _item_label(item: dict[str, Any]) -> str:
    loop_var = item.get("ansible_loop_var") or "item"
    label = item.get(loop_var)
    return str(label) if isinstance(label, (str, int, float)) else ""


def message(result: Any, limit: int = 500) -> str:
    """The failure's own words: a looped task's failed items each with its item, else msg or stderr.

    A loop's result says only "One or more items failed"; the items say what went wrong.
    """
    if not isinstance(result, dict):
        return UNKNOWN
    items = result.get("results")
    parts: list[str] = []
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("failed"):
                words = _own_words(item) or UNKNOWN
                label = _item_label(item)
                parts.append(f"{label}: {words}" if label and label not in words else words)
    text = "; ".join(parts) or _own_words(result) or UNKNOWN
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."

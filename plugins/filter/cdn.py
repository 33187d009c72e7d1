# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the cdn role (pure logic in plugin_utils/cdn.py)."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.plugin_utils import cdn


def cdn_invalidation_paths(changed_keys: Any, prefix: str = "", universe: Any = None, index_document: str = "",
                           max_paths: int = cdn.MAX_PATHS, max_wildcards: int = cdn.MAX_WILDCARDS) -> list[str]:
    """The paths one invalidation asks for, from the S3 keys a deploy overwrote or deleted."""
    try:
        return cdn.paths_for_change([str(k) for k in changed_keys or []], str(prefix or ""),
                                    None if universe is None else [str(k) for k in universe],
                                    str(index_document or ""), int(max_paths), int(max_wildcards))
    except (cdn.CdnPathsError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"liftoff.release.cdn_invalidation_paths: {exc}") from exc


def cdn_config_errors(config: Any) -> list[str]:
    """Why the cdn role's variables cannot work (an empty list when they can)."""
    if not isinstance(config, dict):
        raise AnsibleFilterError(
            f"liftoff.release.cdn_config_errors: expected a mapping of cdn_* variables, got {config!r}")
    return cdn.config_errors(config)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cdn_invalidation_paths": cdn_invalidation_paths, "cdn_config_errors": cdn_config_errors}

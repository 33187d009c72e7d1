# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over backups: which stored backups retention deletes, and which writes a restore would lose."""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.module_utils import _backup


def backup_expired(entries: Any, keep_last: int = 0, keep_days: float = 0, protect: Any = None,
                   prefix: str = "", now: float | None = None) -> list[str]:
    """Entries (paths or S3 keys) of the backups no retention rule keeps; protected and foreign entries stay."""
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise AnsibleFilterError(f"liftoff.release.backup_expired: expected a list of paths or keys, got {entries!r}")
    try:
        keep, days = int(keep_last), float(keep_days)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"liftoff.release.backup_expired: keep_last and keep_days must be numbers: {exc}") \
            from exc
    if keep < 0 or days < 0:
        raise AnsibleFilterError(f"liftoff.release.backup_expired: keep_last ({keep}) and keep_days ({days}) "
                                 "must not be negative")
    protected = [str(p) for p in (protect or [])]
    return _backup.expired_entries(entries, keep, days, time.time() if now is None else float(now),
                                   protected, str(prefix))


def _counters(value: Any, what: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"liftoff.release.backup_lost_writes: {what} must be a mapping of table to "
                                 f"write counter, got {value!r}")
    try:
        return {str(k): int(v) for k, v in value.items()}
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"liftoff.release.backup_lost_writes: {what}: {exc}") from exc


def backup_lost_writes(now: Any, at_backup: Any, before_migrate: Any = None,
                       after_migrate: Any = None) -> dict[str, Any]:
    """Rows written since the backup that a restore would lose, per table.

    Writes by the migrations themselves (between ``before_migrate`` and ``after_migrate``) are
    what a restore is meant to undo, so they are left out when both are known.
    """
    current = _counters(now, "now")
    backup = _counters(at_backup, "at_backup")
    before = _counters(before_migrate, "before_migrate")
    after = _counters(after_migrate, "after_migrate")
    if before and after:
        writes = _backup.add_writes(_backup.writes_between(backup, before), _backup.writes_between(after, current))
        basis = "since the backup, the migrations' own writes left out"
    else:
        writes = _backup.writes_between(backup, current)
        basis = "since the backup, the migrations' own writes included (their counters were not recorded)"
    return {"tables": writes.tables, "total": writes.total, "reset": writes.reset, "any": writes.any,
            "basis": basis}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"backup_expired": backup_expired, "backup_lost_writes": backup_lost_writes}

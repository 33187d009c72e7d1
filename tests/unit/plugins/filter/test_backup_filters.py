"""The backup filters: lost writes since the backup (the migrations' own left out) and retention, errors by FQCN."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.filter.backup import backup_expired, backup_lost_writes


def test_lost_writes_leave_the_migrations_own_writes_out() -> None:
    at_backup = {"t": 100, "tracking": 2}
    before = {"t": 101, "tracking": 2}  # one write by the old release after the snapshot
    after = {"t": 601, "tracking": 3}   # the migration rewrote 500 rows and tracked itself
    now = {"t": 605, "tracking": 3}     # the new release wrote 4 rows
    lost = backup_lost_writes(now, at_backup, before, after)
    assert lost["tables"] == {"t": 5} and lost["total"] == 5 and lost["any"] and "left out" in lost["basis"]
    without = backup_lost_writes(now, at_backup)
    assert without["tables"] == {"t": 505, "tracking": 1} and "included" in without["basis"]
    assert backup_lost_writes({"t": 1}, {"t": 1}, {"t": 1}, {"t": 1})["any"] is False


def test_lost_writes_rejects_non_counters() -> None:
    with pytest.raises(AnsibleFilterError, match=r"liftoff\.release\.backup_lost_writes: at_backup must be a mapping"):
        backup_lost_writes({"t": 1}, ["t"])


def test_backup_expired_filter_errors_name_the_filter() -> None:
    with pytest.raises(AnsibleFilterError, match=r"liftoff\.release\.backup_expired: expected a list"):
        backup_expired("not a list")
    with pytest.raises(AnsibleFilterError, match="must not be negative"):
        backup_expired([], -1, 0)

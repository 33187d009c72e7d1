"""The pure decisions of a verified backup: options, commands, space, checksums, counts, retention, lost writes.

The filters built on them (backup_lost_writes, backup_expired) are tested in tests/unit/plugins/filter/test_backup_filters.py:
ansible-test runs module_utils tests with only the module side of ansible importable.
"""
from __future__ import annotations

import calendar
import hashlib
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.liftoff.release.plugins.module_utils._backup import (
    BackupError,
    Stored,
    backup_name,
    check_options,
    count_mismatches,
    dump_argv,
    expired,
    expired_entries,
    manifest,
    manifest_sha256,
    parse_toc,
    restore_argv,
    space_check,
    taken_at,
    target_path,
    writes_between,
)

DAY = 86400.0
NOW = float(calendar.timegm(time.strptime("20261201T120000Z", "%Y%m%dT%H%M%SZ")))


@pytest.mark.parametrize(
    ("fmt", "jobs", "compress", "message"),
    [
        ("tar", 1, "1", "backup_format must be one of"),
        ("custom", 0, "1", "backup_jobs must be 1 or more"),
        ("custom", 4, "1", "backup_jobs=4 needs backup_format=directory"),
        ("directory", 2, "fast", "backup_compression must be"),
        ("custom", 1, "10", "backup_compression must be"),
    ],
)
def test_bad_options_name_the_variable(fmt: str, jobs: int, compress: str, message: str) -> None:
    with pytest.raises(BackupError, match=message):
        check_options(fmt, jobs, compress)


@pytest.mark.parametrize(("fmt", "jobs", "compress"),
                         [("custom", 1, "1"), ("directory", 4, "0"), ("custom", 1, "zstd:3"), ("directory", 1, "none")])
def test_good_options(fmt: str, jobs: int, compress: str) -> None:
    check_options(fmt, jobs, compress)


def test_dump_argv_never_carries_a_password_and_uses_the_snapshot() -> None:
    argv = dump_argv("/usr/bin/pg_dump", fmt="directory", jobs=4, compress="1", target="/b/app-x.dir", db="app",
                     host="db", port=5433, user="deployer", snapshot="00000003-1")
    assert argv[0] == "/usr/bin/pg_dump"
    assert {"--format=d", "--compress=1", "--jobs=4", "--snapshot=00000003-1", "--file=/b/app-x.dir",
            "--dbname=app", "--no-password"} <= set(argv)
    assert argv[argv.index("--host") + 1] == "db" and argv[argv.index("--port") + 1] == "5433"
    assert not any("password=" in a.lower() for a in argv)
    single = dump_argv("pg_dump", fmt="custom", jobs=1, compress="0", target="/b/x.pgc", db="app", host="", port=5432,
                       user="u")
    assert "--format=c" in single and not any(a.startswith("--jobs") for a in single) and "--host" not in single


def test_restore_argv_keeps_owners_only_for_a_real_restore() -> None:
    scratch = restore_argv("pg_restore", target="/b/x.dir", jobs=2, db="s", host="h", port=1, user="u")
    real = restore_argv("pg_restore", target="/b/x.dir", jobs=2, db="app", host="h", port=1, user="u",
                        keep_owners=True)
    assert "--no-owner" in scratch and "--no-owner" not in real
    assert scratch[-1] == "/b/x.dir" and "--jobs=2" in real


def test_target_path() -> None:
    assert target_path("/var/backups/", "app-1", "custom") == "/var/backups/app-1.pgc"
    assert target_path("/var/backups", "app-1", "directory") == "/var/backups/app-1.dir"


@pytest.mark.parametrize(("estimate", "free", "margin", "ok", "needed"),
                         [(100, 100, 1.0, True, 100), (100, 99, 1.0, False, 100), (100, 149, 1.5, False, 150),
                          (100, 150, 1.5, True, 150), (100, 100, 0.5, True, 100), (0, 0, 1.0, True, 0)])
def test_space_check_boundaries(estimate: int, free: int, margin: float, ok: bool, needed: int) -> None:
    space = space_check(estimate, free, margin)
    assert (space.ok, space.needed) == (ok, needed)
    assert ("not enough" in space.describe("/b")) is (not ok)


def test_manifest_checksum_changes_with_any_file() -> None:
    files = [("toc.dat", "a" * 64, 10), ("3001.dat.gz", "b" * 64, 20)]
    text = manifest(files)
    assert text.splitlines() == [f"{'b' * 64}  3001.dat.gz", f"{'a' * 64}  toc.dat"]
    assert manifest_sha256(files) == hashlib.sha256(text.encode()).hexdigest()
    assert manifest_sha256(reversed(files)) == manifest_sha256(files)
    assert manifest_sha256([files[0], ("3001.dat.gz", "c" * 64, 20)]) != manifest_sha256(files)


def test_parse_toc() -> None:
    toc = parse_toc(";\n; Archive created at 2026-12-01\n;     Format: DIRECTORY\n;\n"
                    "215; 1259 16390 TABLE public items postgres\n"
                    "3340; 0 16390 TABLE DATA public items postgres\n"
                    "3341; 0 16400 TABLE DATA public ledger postgres\n\n")
    assert (toc.format, toc.entries, toc.tables_with_data) == ("DIRECTORY", 3, 2)


def test_count_mismatches() -> None:
    assert count_mismatches({"a": 1, "b": 2}, {"a": 1, "b": 2}) == []
    assert count_mismatches({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 0}) == [
        "b: 2 rows in the source, 3 restored", "c: in the restore (0 rows) but not in the source"]
    assert count_mismatches({"a": 5}, {}) == ["a: 5 rows in the source, missing from the restore"]


def test_writes_between_and_reset() -> None:
    writes = writes_between({"a": 10, "b": 5}, {"a": 12, "b": 5, "new": 4})
    assert writes.tables == {"a": 2, "new": 4} and writes.total == 6 and writes.any and not writes.reset
    assert not writes_between({"a": 10}, {"a": 10}).any
    reset = writes_between({"a": 10}, {"a": 3})
    assert reset.reset and reset.any and reset.total == 0


def test_backup_names_and_times_come_from_the_run_id() -> None:
    assert backup_name("/var/backups/app-20261201T101500Z-1a2b3c.pgc") == "app-20261201T101500Z-1a2b3c"
    assert backup_name("pfx/app-20261201T101500Z-1a2b3c.dir/toc.dat", "pfx/") == "app-20261201T101500Z-1a2b3c"
    assert backup_name("pfx/app-20261201T101500Z-1a2b3c.dir.sha256") == "app-20261201T101500Z-1a2b3c"
    assert backup_name("/var/backups/README") is None
    assert backup_name("/var/backups/app-latest.pgc") is None
    assert taken_at("app-20261201T120000Z-abc") == NOW
    assert taken_at("app-latest") is None


def test_retention_rules() -> None:
    backups = [Stored(f"b{i}", NOW - i * DAY) for i in range(10)]  # b0 newest
    assert expired(backups, 0, 0, NOW) == []  # retention must be asked for
    assert expired(backups, 3, 0, NOW) == [f"b{i}" for i in range(9, 2, -1)]
    assert expired(backups, 0, 2.5, NOW) == [f"b{i}" for i in range(9, 2, -1)]
    assert expired(backups, 2, 5, NOW) == [f"b{i}" for i in range(9, 4, -1)]  # either rule keeps
    assert "b9" not in expired(backups, 1, 0, NOW, protect=["b9"])


def test_expired_entries_group_files_of_one_backup_and_spare_foreign_ones() -> None:
    entries = ["p/app-20261101T000000Z-aaa.dir/toc.dat", "p/app-20261101T000000Z-aaa.dir/3001.dat.gz",
               "p/app-20261101T000000Z-aaa.dir.sha256", "p/app-20261130T000000Z-bbb.pgc", "p/notes.txt",
               "p/app-20261201T110000Z-ccc.pgc"]
    gone = expired_entries(entries, 1, 0, NOW, protect=["/local/app-20261130T000000Z-bbb.pgc"], prefix="p/")
    assert gone == entries[:3]


@given(st.lists(st.tuples(st.integers(0, 400), st.text("abc", min_size=1, max_size=4)), max_size=30, unique_by=lambda t: t[1]),
       st.integers(0, 10), st.integers(0, 30), st.sampled_from([None, 0, 5]))
def test_retention_never_deletes_the_protected_or_the_newest(items: list[tuple[int, str]], keep_last: int,
                                                             keep_days: int, protect_index: int | None) -> None:
    backups = [Stored(name, NOW - age * 3600) for age, name in items]
    protect = [backups[protect_index].name] if protect_index is not None and protect_index < len(backups) else []
    gone = set(expired(backups, keep_last, keep_days, NOW, protect))
    assert not gone & set(protect)
    newest = sorted(backups, key=lambda b: (b.taken, b.name), reverse=True)[:keep_last]
    assert not gone & {b.name for b in newest}
    if keep_days:
        assert all(NOW - b.taken >= keep_days * DAY for b in backups if b.name in gone)
    if keep_last == 0 and keep_days == 0:
        assert not gone

"""Unit tests of the pure migration logic (no database)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ansible_collections.liftoff.release.plugins.module_utils import _migrations as migrations_lib
from ansible_collections.liftoff.release.plugins.module_utils._migrations import (
    AppliedMigration,
    DriftError,
    Migration,
    MigrationError,
    check_drift,
    checksum,
    find_drift,
    fingerprint,
    load_migrations,
    make_migration,
    order_migrations,
    parse_filename,
    plan,
    resolve_target,
    summary,
)


def mig(filename: str, body: str = "SELECT 1;") -> Migration:
    return make_migration(filename, body.encode())


def applied_row(m: Migration, *, checksum_: str | None = None) -> AppliedMigration:
    return AppliedMigration(version=m.version, name=m.name, checksum=checksum_ or m.checksum)


M1, M2, M3 = mig("001_users.sql", "a"), mig("002_orders.sql", "b"), mig("010_index.sql", "c")


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("001_create_users.sql", ("001", "create_users")),
        ("1_a.sql", ("1", "a")),
        ("20260101120000_add-index.sql", ("20260101120000", "add-index")),
        ("002_Mixed_Case9.sql", ("002", "Mixed_Case9")),
    ],
)
def test_parse_filename_accepts(filename: str, expected: tuple[str, str]) -> None:
    assert parse_filename(filename) == expected


@pytest.mark.parametrize(
    "filename",
    ["create_users.sql", "001-create_users.sql", "001_.sql", "001_users.SQL", "001_users.sql.bak",
     "001_bad name.sql", "v001_users.sql", "001__users.sql", "_001_users.sql"],
)
def test_parse_filename_rejects(filename: str) -> None:
    with pytest.raises(MigrationError, match=rf"bad migration file name '{filename}': expected NNN_name\.sql"):
        parse_filename(filename)


def test_checksum_is_sha256_of_bytes() -> None:
    assert checksum(b"SELECT 1;") == hashlib.sha256(b"SELECT 1;").hexdigest()
    assert mig("001_a.sql", "SELECT 1;").checksum == checksum(b"SELECT 1;")


def test_non_utf8_file_is_refused() -> None:
    with pytest.raises(MigrationError, match=r"001_a\.sql is not UTF-8"):
        make_migration("001_a.sql", b"\xff\xfe")


def test_order_is_numeric_not_lexical() -> None:
    files = [mig("10_c.sql"), mig("9_b.sql"), mig("0001_a.sql")]
    assert [m.filename for m in order_migrations(files)] == ["0001_a.sql", "9_b.sql", "10_c.sql"]


@pytest.mark.parametrize(
    ("first", "second", "version"),
    [("001_a.sql", "001_b.sql", 1), ("002_a.sql", "2_a.sql", 2)],
)
def test_duplicate_versions_are_refused(first: str, second: str, version: int) -> None:
    with pytest.raises(MigrationError, match=rf"duplicate migration version {version}: {first} and {second}"):
        order_migrations([mig(first), mig(second)])


def test_load_migrations_reads_sql_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "002_b.sql").write_text("SELECT 2;")
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "README.md").write_text("ignored")
    (tmp_path / "003_dir.sql").mkdir()  # a directory, not a file: ignored
    loaded = load_migrations(str(tmp_path))
    assert [(m.version, m.name, m.sql) for m in loaded] == [("001", "a", "SELECT 1;"), ("002", "b", "SELECT 2;")]


def test_load_migrations_rejects_bad_names_and_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match=r"is not a directory"):
        load_migrations(str(tmp_path / "nope"))
    (tmp_path / "oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"bad migration file name 'oops\.sql'"):
        load_migrations(str(tmp_path))


def test_no_drift_when_files_match() -> None:
    assert find_drift([M1, M2, M3], [applied_row(M1), applied_row(M2)]) == []
    check_drift([M1, M2, M3], [applied_row(M1), applied_row(M2)])


@pytest.mark.parametrize(
    ("files", "rows", "reason", "match"),
    [
        ([M1, M2], [applied_row(M1, checksum_="0" * 64)], "changed",
         r"001_users\.sql was changed after it was applied \(checksum differs\)"),
        ([M2], [applied_row(M1), applied_row(M2)], "missing",
         r"version 001 \(001_users\.sql\) is applied but its file is missing"),
        ([M1, M2, M3], [applied_row(M1), applied_row(M3)], "out_of_order",
         r"002_orders\.sql is pending but older than the latest applied version"),
    ],
)
def test_drift_is_refused(
    files: list[Migration], rows: list[AppliedMigration], reason: str, match: str
) -> None:
    assert [d.reason for d in find_drift(files, rows)] == [reason]
    with pytest.raises(DriftError, match=rf"^migration drift, nothing applied: {match}"):
        check_drift(files, rows)
    with pytest.raises(DriftError, match=match):
        plan(files, rows)


def test_drift_lists_every_problem_in_version_order() -> None:
    rows = [applied_row(M1, checksum_="x"), applied_row(mig("005_gone.sql"))]
    drift = find_drift([M1, M2, M3], rows)
    assert [(d.version, d.reason) for d in drift] == [("001", "changed"), ("002", "out_of_order"), ("005", "missing")]


@pytest.mark.parametrize(
    ("rows", "target", "pending", "already"),
    [
        ([], None, ["001", "002", "010"], 0),
        ([applied_row(M1)], None, ["002", "010"], 1),
        ([applied_row(M1), applied_row(M2), applied_row(M3)], None, [], 3),
        ([], "002", ["001", "002"], 0),
        ([], "2", ["001", "002"], 0),
        ([applied_row(M1), applied_row(M2)], "002", [], 2),
    ],
)
def test_plan(rows: list[AppliedMigration], target: str | None, pending: list[str], already: int) -> None:
    result = plan([M1, M2, M3], rows, target)
    assert [m.version for m in result.pending] == pending
    assert result.already_applied == already


@pytest.mark.parametrize(
    ("target", "match"),
    [("abc", r"target 'abc' is not a migration version"), ("004", r"target version 004 matches no migration file")],
)
def test_bad_target_is_refused(target: str, match: str) -> None:
    with pytest.raises(MigrationError, match=match):
        resolve_target([M1, M2, M3], target)


def test_fingerprint_is_stable_and_order_sensitive() -> None:
    rows = [("column", "public", "users", "id", 1, "bigint", "NO", None)]
    assert fingerprint(rows) == fingerprint(list(rows))
    assert fingerprint(rows) != fingerprint([])
    assert fingerprint([("a",), ("b",)]) != fingerprint([("b",), ("a",)])
    assert fingerprint([(None,)]) != fingerprint([("None",)])


def test_summary_shape() -> None:
    assert summary(M1) == {"version": "001", "name": "users", "file": "001_users.sql", "checksum": M1.checksum}
    assert summary(M1, 12)["duration_ms"] == 12


def test_database_ahead_of_the_release_is_not_drift() -> None:
    """After an app-only rollback the schema keeps the newer release's migrations; the older release deploys."""
    files = [migrations_lib.make_migration("001_a.sql", b"a"), migrations_lib.make_migration("002_b.sql", b"b")]
    applied = [migrations_lib.AppliedMigration("001", "a", migrations_lib.checksum(b"a")),
               migrations_lib.AppliedMigration("002", "b", migrations_lib.checksum(b"b")),
               migrations_lib.AppliedMigration("003", "c", migrations_lib.checksum(b"c"))]
    assert migrations_lib.find_drift(files, applied) == []
    the_plan = migrations_lib.plan(files, applied)
    assert the_plan.pending == () and the_plan.ahead == ("003",)


def test_a_missing_file_older_than_the_release_newest_is_still_drift() -> None:
    files = [migrations_lib.make_migration("001_a.sql", b"a"), migrations_lib.make_migration("004_d.sql", b"d")]
    applied = [migrations_lib.AppliedMigration("001", "a", migrations_lib.checksum(b"a")),
               migrations_lib.AppliedMigration("003", "c", migrations_lib.checksum(b"c"))]
    with pytest.raises(migrations_lib.DriftError, match=r"version 003 \(003_c.sql\) is applied but its file is missing"):
        migrations_lib.plan(files, applied)

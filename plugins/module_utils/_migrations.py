# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to the liftoff.release collection.
"""Pure logic of tracked SQL migrations: files, checksums, drift and the plan.

Nothing here talks to a database, so every decision is unit-testable.
A migration file is named ``NNN_name.sql``: NNN is the version (digits, ordered
numerically), ``name`` is letters, digits, ``_`` and ``-``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# The options of liftoff.release.sql_migrate: the module and its action plugin validate with it.
SQL_MIGRATE_ARGUMENT_SPEC: dict[str, Any] = {
    "login_host": {"type": "str", "default": ""},
    "login_port": {"type": "int", "default": 5432},
    "login_user": {"type": "str", "default": "postgres"},
    "login_password": {"type": "str", "default": "", "no_log": True},
    "db": {"type": "str", "required": True},
    "path": {"type": "path"},
    "src": {"type": "path"},  # the action plugin turns it into path
    "table": {"type": "str", "default": "liftoff_schema_migrations"},
    "lock_timeout": {"type": "str", "default": "5s"},
    "statement_timeout": {"type": "str", "default": "60s"},
    "advisory_lock_id": {"type": "int", "default": 7262100401},
    "lock_wait": {"type": "int", "default": 30},
    "run_id": {"type": "str"},
    "target": {"type": "str"},
    "allow_destructive": {"type": "list", "elements": "str", "default": []},
}

FILENAME_RE = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[A-Za-z0-9][A-Za-z0-9_\-]*)\.sql$")


class MigrationError(Exception):
    """The migration set or the tracking table is not in a state we may act on."""


class DriftError(MigrationError):
    """An applied migration's file changed, went missing or was added out of order."""


@dataclass(frozen=True)
class Migration:
    """One migration file on disk."""

    version: str
    name: str
    filename: str
    checksum: str
    sql: str

    @property
    def order(self) -> int:
        return int(self.version)


@dataclass(frozen=True)
class AppliedMigration:
    """One row of the tracking table."""

    version: str
    name: str
    checksum: str


@dataclass(frozen=True)
class Drift:
    """Why an applied migration no longer matches the files."""

    version: str
    filename: str
    reason: str  # "changed" | "missing" | "out_of_order"

    def describe(self) -> str:
        if self.reason == "changed":
            return f"{self.filename} was changed after it was applied (checksum differs)"
        if self.reason == "missing":
            return f"version {self.version} ({self.filename}) is applied but its file is missing"
        return (
            f"{self.filename} is pending but older than the latest applied version; "
            "give it a higher version number"
        )


@dataclass(frozen=True)
class Plan:
    """What a run would do."""

    pending: tuple[Migration, ...]
    already_applied: int
    ahead: tuple[str, ...] = ()


def parse_filename(filename: str) -> tuple[str, str]:
    """Return ``(version, name)`` of ``NNN_name.sql``; raise MigrationError otherwise."""
    match = FILENAME_RE.match(filename)
    if match is None:
        raise MigrationError(
            f"bad migration file name {filename!r}: expected NNN_name.sql "
            "(digits, underscore, then letters, digits, '_' or '-')"
        )
    return match.group("version"), match.group("name")


def checksum(data: bytes) -> str:
    """sha256 hex digest of a migration file's exact bytes."""
    return hashlib.sha256(data).hexdigest()


def make_migration(filename: str, data: bytes) -> Migration:
    version, name = parse_filename(filename)
    try:
        sql = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MigrationError(f"{filename} is not UTF-8: {exc}") from exc
    return Migration(version=version, name=name, filename=filename, checksum=checksum(data), sql=sql)


def order_migrations(migrations: Iterable[Migration]) -> list[Migration]:
    """Sort by numeric version; raise MigrationError on two files with the same version."""
    by_order: dict[int, Migration] = {}
    for migration in migrations:
        other = by_order.get(migration.order)
        if other is not None:
            raise MigrationError(
                f"duplicate migration version {migration.order}: "
                f"{other.filename} and {migration.filename}"
            )
        by_order[migration.order] = migration
    return [by_order[key] for key in sorted(by_order)]


def load_migrations(path: str) -> list[Migration]:
    """Read every ``*.sql`` file of ``path`` (other files are ignored), in version order."""
    if not os.path.isdir(path):
        raise MigrationError(f"migrations path {path!r} is not a directory")
    migrations = []
    for filename in sorted(os.listdir(path)):
        full = os.path.join(path, filename)
        if not filename.endswith(".sql") or not os.path.isfile(full):
            continue
        with open(full, "rb") as handle:
            migrations.append(make_migration(filename, handle.read()))
    return order_migrations(migrations)


def ahead_of_release(migrations: Sequence[Migration], applied: Sequence[AppliedMigration]) -> list[str]:
    """Applied versions newer than every file this release ships.

    That is the database being ahead of the release, not drift: after an application-only
    rollback the schema keeps the newer release's (backward-compatible) migrations, and the
    previous release must still deploy.
    """
    newest_file = max((m.order for m in migrations), default=-1)
    return [row.version for row in sorted(applied, key=lambda r: int(r.version)) if int(row.version) > newest_file]


def find_drift(migrations: Sequence[Migration], applied: Sequence[AppliedMigration]) -> list[Drift]:
    """Applied versions whose file changed or vanished, and pending files older than the newest applied.

    An applied version newer than every file of the release is not drift (see ahead_of_release).
    """
    files = {m.order: m for m in migrations}
    ahead = set(ahead_of_release(migrations, applied))
    ahead_orders = {int(v) for v in ahead}
    drift: list[Drift] = []
    applied_orders = set()
    for row in applied:
        order = int(row.version)
        applied_orders.add(order)
        migration = files.get(order)
        if row.version in ahead:
            continue
        if migration is None:
            drift.append(Drift(row.version, f"{row.version}_{row.name}.sql", "missing"))
        elif migration.checksum != row.checksum:
            drift.append(Drift(row.version, migration.filename, "changed"))
    newest = max(applied_orders - ahead_orders, default=None)
    if newest is not None:
        for migration in migrations:
            if migration.order not in applied_orders and migration.order < newest:
                drift.append(Drift(migration.version, migration.filename, "out_of_order"))
    return sorted(drift, key=lambda d: int(d.version))


def check_drift(migrations: Sequence[Migration], applied: Sequence[AppliedMigration]) -> None:
    """Raise DriftError describing every mismatch; return quietly when there is none."""
    drift = find_drift(migrations, applied)
    if drift:
        raise DriftError(
            "migration drift, nothing applied: " + "; ".join(d.describe() for d in drift)
        )


def resolve_target(migrations: Sequence[Migration], target: str | None) -> int | None:
    """The numeric version to stop at (inclusive); it must name one of the files."""
    if target is None or target == "":
        return None
    if not str(target).isdigit():
        raise MigrationError(f"target {target!r} is not a migration version (digits)")
    order = int(target)
    if order not in {m.order for m in migrations}:
        raise MigrationError(f"target version {target} matches no migration file")
    return order


def plan(
    migrations: Sequence[Migration],
    applied: Sequence[AppliedMigration],
    target: str | None = None,
) -> Plan:
    """Check drift, then list the files still to apply (up to ``target``) in order."""
    check_drift(migrations, applied)
    stop_at = resolve_target(migrations, target)
    done = {int(row.version) for row in applied}
    pending = tuple(
        m for m in migrations
        if m.order not in done and (stop_at is None or m.order <= stop_at)
    )
    return Plan(pending=pending, already_applied=len(done), ahead=tuple(ahead_of_release(migrations, applied)))


def fingerprint(rows: Iterable[Sequence[object]]) -> str:
    """sha256 over ordered schema rows (columns and indexes), stable across runs."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([None if v is None else str(v) for v in row]).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def summary(migration: Migration, duration_ms: int | None = None) -> dict[str, object]:
    """The JSON shape of one migration in the module's results."""
    item: dict[str, object] = {
        "version": migration.version,
        "name": migration.name,
        "file": migration.filename,
        "checksum": migration.checksum,
    }
    if duration_ms is not None:
        item["duration_ms"] = duration_ms
    return item

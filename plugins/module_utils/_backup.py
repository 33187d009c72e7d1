# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to the liftoff.release collection.
"""Pure decisions of a verified PostgreSQL backup: commands, space, checksums, counts, retention, lost writes.

Nothing here runs a command or talks to a database, so every decision is unit-testable.
"""
from __future__ import annotations

import calendar
import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FORMATS = {"custom": ("c", ".pgc"), "directory": ("d", ".dir")}
COMPRESS_RE = re.compile(r"^(?:[0-9]|(?:none|gzip|lz4|zstd)(?::[0-9]{1,2})?)$")


class BackupError(Exception):
    """A backup option, or what a backup tool reported, that we must not go on with.

    ``result`` is what was measured before the failure (path, estimate, free space ...), returned with it.
    """

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


def check_options(fmt: str, jobs: int, compress: str) -> None:
    """Raise BackupError naming the role variable when the options cannot work together."""
    if fmt not in FORMATS:
        raise BackupError(f"backup_format must be one of {sorted(FORMATS)}, got {fmt!r}")
    if jobs < 1:
        raise BackupError(f"backup_jobs must be 1 or more, got {jobs}")
    if jobs > 1 and fmt != "directory":
        raise BackupError(
            f"backup_jobs={jobs} needs backup_format=directory: pg_dump dumps in parallel only to a directory")
    if not COMPRESS_RE.match(compress):
        raise BackupError(
            f"backup_compression must be a gzip level 0-9, or METHOD[:LEVEL] with METHOD one of none, gzip, "
            f"lz4, zstd (lz4 and zstd need pg_dump 16+), got {compress!r}")


def target_path(directory: str, name: str, fmt: str) -> str:
    """Where the dump goes: ``<dir>/<name>.pgc`` (custom) or ``<dir>/<name>.dir`` (directory)."""
    return f"{directory.rstrip('/')}/{name}{FORMATS[fmt][1]}"


def conn_args(host: str, port: int, user: str) -> list[str]:
    args = ["--port", str(port), "--username", user, "--no-password"]
    if host:
        args[:0] = ["--host", host]
    return args


def dump_argv(pg_dump: str, *, fmt: str, jobs: int, compress: str, target: str, db: str, host: str, port: int,
              user: str, snapshot: str | None = None) -> list[str]:
    """pg_dump's argv (no shell; the password goes in PGPASSWORD, never on the command line)."""
    argv = [pg_dump, *conn_args(host, port, user), f"--format={FORMATS[fmt][0]}", f"--compress={compress}",
            f"--file={target}"]
    if jobs > 1:
        argv.append(f"--jobs={jobs}")
    if snapshot:
        argv.append(f"--snapshot={snapshot}")
    argv.append(f"--dbname={db}")
    return argv


def restore_argv(pg_restore: str, *, target: str, jobs: int, db: str, host: str, port: int, user: str,
                 extra: Sequence[str] = (), keep_owners: bool = False) -> list[str]:
    """pg_restore's argv; a scratch restore drops ownership (``--no-owner``), a real one keeps it."""
    argv = [pg_restore, *conn_args(host, port, user), f"--dbname={db}", *([] if keep_owners else ["--no-owner"]),
            *extra]
    if jobs > 1:
        argv.append(f"--jobs={jobs}")
    argv.append(target)
    return argv


@dataclass(frozen=True)
class Space:
    """Whether the backup directory has room for the estimated dump."""

    ok: bool
    estimate: int
    needed: int
    free: int

    def describe(self, directory: str) -> str:
        verdict = "enough" if self.ok else "not enough"
        return (f"{verdict} free space in {directory}: {human(self.free)} free, the dump needs an estimated "
                f"{human(self.needed)} ({human(self.estimate)} of table data x margin)")


def space_check(estimate: int, free: int, margin: float) -> Space:
    """The dump fits when free space is at least the estimate times the margin (margin >= 1)."""
    needed = int(estimate * max(margin, 1.0))
    return Space(ok=free >= needed, estimate=estimate, needed=needed, free=free)


def human(size: int | float) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def manifest(files: Iterable[tuple[str, str, int]]) -> str:
    """sha256sum-style manifest of a directory dump: ``<sha256>  <relative path>`` per file, sorted by path."""
    return "".join(f"{digest}  {path}\n" for path, digest, _unused in sorted(files))


def manifest_sha256(files: Iterable[tuple[str, str, int]]) -> str:
    """One checksum for a directory dump: the sha256 of its manifest (so any changed byte changes it)."""
    return hashlib.sha256(manifest(files).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Toc:
    """What ``pg_restore --list`` says an archive holds."""

    format: str
    entries: int
    tables_with_data: int


def parse_toc(text: str) -> Toc:
    fmt = ""
    entries = 0
    data = 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(";"):
            match = re.search(r"Format:\s*(\S+)", stripped)
            if match:
                fmt = match.group(1).upper()
            continue
        if not stripped:
            continue
        entries += 1
        if " TABLE DATA " in f" {stripped} ":
            data += 1
    return Toc(format=fmt, entries=entries, tables_with_data=data)


def count_mismatches(source: Mapping[str, int], restored: Mapping[str, int]) -> list[str]:
    """Tables whose row count in the test restore differs from the dump's snapshot, one line each."""
    problems = []
    for table in sorted(set(source) | set(restored)):
        if table not in restored:
            problems.append(f"{table}: {source[table]} rows in the source, missing from the restore")
        elif table not in source:
            problems.append(f"{table}: in the restore ({restored[table]} rows) but not in the source")
        elif source[table] != restored[table]:
            problems.append(f"{table}: {source[table]} rows in the source, {restored[table]} restored")
    return problems


@dataclass(frozen=True)
class Writes:
    """Rows written per table between two snapshots of PostgreSQL's write counters."""

    tables: dict[str, int]
    reset: bool  # a counter went backwards (statistics reset or server crash): the count is unknown

    @property
    def total(self) -> int:
        return sum(self.tables.values())

    @property
    def any(self) -> bool:
        return self.reset or self.total > 0


def writes_between(before: Mapping[str, int], after: Mapping[str, int]) -> Writes:
    """Inserted + updated + deleted rows per table from ``before`` to ``after``.

    A table new in ``after`` counts whole.
    """
    tables: dict[str, int] = {}
    reset = False
    for table, value in after.items():
        delta = value - before.get(table, 0)
        if delta < 0:
            reset = True
        elif delta > 0:
            tables[table] = delta
    return Writes(tables=dict(sorted(tables.items())), reset=reset)


def add_writes(*parts: Writes) -> Writes:
    tables: dict[str, int] = {}
    for part in parts:
        for table, count in part.tables.items():
            tables[table] = tables.get(table, 0) + count
    return Writes(tables=dict(sorted(tables.items())), reset=any(p.reset for p in parts))


@dataclass(frozen=True)
class Stored:
    """One stored backup, for retention: its name and when it was taken (Unix time)."""

    name: str
    taken: float


def expired(backups: Sequence[Stored], keep_last: int, keep_days: float, now: float,
            protect: Iterable[str] = ()) -> list[str]:
    """Backups that no rule keeps, oldest first.

    A backup is kept when it is among the ``keep_last`` newest, or younger than ``keep_days``
    days, or protected (the backup this run depends on is always protected). With both rules
    off (0) nothing expires: retention must be asked for.
    """
    if keep_last <= 0 and keep_days <= 0:
        return []
    protected = set(protect)
    newest_first = sorted(backups, key=lambda b: (b.taken, b.name), reverse=True)
    kept = {b.name for b in newest_first[:max(keep_last, 0)]}
    if keep_days > 0:
        kept |= {b.name for b in backups if now - b.taken < keep_days * 86400}
    return [b.name for b in reversed(newest_first) if b.name not in kept and b.name not in protected]


TAKEN_RE = re.compile(r"-(?P<stamp>[0-9]{8}T[0-9]{6}Z)-[0-9A-Za-z]+$")
SUFFIXES = (".dir.sha256", ".pgc", ".dir")


def backup_name(entry: str, prefix: str = "") -> str | None:
    """The backup an entry belongs to: ``<db>-<run id>`` from a path, an S3 key or a directory dump's member.

    The first path component named like a backup (``<db>-<run id>.pgc``, ``.dir`` or ``.dir.sha256``)
    after ``prefix`` decides. None when there is none: retention never touches such an entry.
    """
    rest = entry[len(prefix):] if prefix and entry.startswith(prefix) else entry
    for part in rest.split("/"):
        for suffix in SUFFIXES:
            if part.endswith(suffix) and TAKEN_RE.search(part[: -len(suffix)]):
                return part[: -len(suffix)]
    return None


def taken_at(name: str) -> float | None:
    """When a backup was taken, read from the run id in its name (never from mtime, which a copy changes)."""
    match = TAKEN_RE.search(name)
    if match is None:
        return None
    return float(calendar.timegm(time.strptime(match.group("stamp"), "%Y%m%dT%H%M%SZ")))


def expired_entries(entries: Sequence[str], keep_last: int, keep_days: float, now: float,
                    protect: Iterable[str] = (), prefix: str = "") -> list[str]:
    """Entries (paths or keys) of the backups that retention deletes; protected backups and foreign entries stay."""
    names: dict[str, float] = {}
    for entry in entries:
        name = backup_name(entry, prefix)
        taken = taken_at(name) if name else None
        if name and taken is not None:
            names[name] = taken
    protected = {backup_name(p) or p for p in protect}
    gone = set(expired([Stored(n, t) for n, t in names.items()], keep_last, keep_days, now, protected))
    return [entry for entry in entries if backup_name(entry, prefix) in gone]

# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to the liftoff.release collection.
"""Pure logic of the migration-tool drivers (prisma, knex, flyway, any command; Alembic).

What a tool applied is read from the tool's own history table before and after it runs;
nothing here runs a process or talks to a database.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from ansible_collections.liftoff.release.plugins.module_utils._destructive import Finding, scan


@dataclass(frozen=True)
class ToolDefaults:
    """How a known tool keeps its history: the query (version, name) and its bookkeeping tables."""

    history_query: str
    tracking_tables: tuple[str, ...]


TOOLS: dict[str, ToolDefaults] = {
    "prisma": ToolDefaults(
        "SELECT migration_name, migration_name FROM _prisma_migrations"
        " WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY started_at, migration_name",
        ("_prisma_migrations",),
    ),
    "knex": ToolDefaults(
        "SELECT name, name FROM knex_migrations ORDER BY id",
        ("knex_migrations", "knex_migrations_lock"),
    ),
    "flyway": ToolDefaults(
        "SELECT coalesce(version, script), script FROM flyway_schema_history WHERE success ORDER BY installed_rank",
        ("flyway_schema_history",),
    ),
    "alembic": ToolDefaults("SELECT version_num, version_num FROM alembic_version", ("alembic_version",)),
}


class ToolError(Exception):
    """The tool driver's input cannot work."""


@dataclass(frozen=True)
class HistoryEntry:
    """One applied migration as the tool records it."""

    version: str
    name: str

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "name": self.name}


def tool_defaults(tool: str, history_query: str, tracking_tables: Sequence[str]) -> tuple[str, list[str]]:
    """The history query and tracking tables to use: the explicit ones, else the tool's."""
    known = TOOLS.get(tool)
    if tool and known is None:
        raise ToolError(f"tool {tool!r} is not one of {sorted(TOOLS)}; set history_query instead")
    query = history_query or (known.history_query if known else "")
    if not query:
        raise ToolError("history_query is required when tool is not set: a SELECT returning (version[, name]) "
                        "rows of the tool's own history table, oldest first")
    tables = list(tracking_tables) if tracking_tables else list(known.tracking_tables if known else ())
    return query, tables


def history_entries(rows: Iterable[Sequence[object]]) -> list[HistoryEntry]:
    """Rows of the history query as entries (the name defaults to the version)."""
    entries = []
    for row in rows:
        if not row or row[0] is None:
            continue
        version = str(row[0])
        name = str(row[1]) if len(row) > 1 and row[1] is not None else version
        entries.append(HistoryEntry(version, name))
    return entries


def newly_applied(before: Sequence[HistoryEntry], after: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    """Entries of ``after`` that ``before`` did not have, in ``after``'s order."""
    seen = {entry.version for entry in before}
    return [entry for entry in after if entry.version not in seen]


def database_url(scheme: str, user: str, password: str, host: str, port: int, db: str) -> str:
    """A libpq/SQLAlchemy URL; a host starting with ``/`` is a socket directory."""
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    if host.startswith("/") or not host:
        query = f"?host={quote(host, safe='/')}&port={port}" if host else f"?port={port}"
        return f"{scheme}://{auth}@/{quote(db, safe='')}{query}"
    return f"{scheme}://{auth}@{host}:{port}/{quote(db, safe='')}"


# ---------------------------------------------------------------------------- Alembic

_HISTORY_LINE = re.compile(
    r"^(?P<down>.+?) -> (?P<rev>[0-9A-Za-z_]+)(?: \((?P<tags>[^)]*)\))*(?: \(mergepoint\))?,\s?(?P<msg>.*)$")


def parse_alembic_history(text: str) -> list[HistoryEntry]:
    """``alembic history`` lines (newest first) as entries, oldest first."""
    entries = []
    for line in text.splitlines():
        match = _HISTORY_LINE.match(line.strip())
        if match:
            entries.append(HistoryEntry(match.group("rev"), match.group("msg").strip() or match.group("rev")))
    return list(reversed(entries))


_RUNNING_UPGRADE = re.compile(r"^-- Running upgrade (?P<down>.*?) -> (?P<rev>[0-9A-Za-z_]+)\s*$", re.MULTILINE)


def scan_alembic_offline_sql(sql_text: str) -> list[Finding]:
    """Destructive findings of ``alembic upgrade --sql`` output, attributed to each revision."""
    findings: list[Finding] = []
    marks = list(_RUNNING_UPGRADE.finditer(sql_text))
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(sql_text)
        body = sql_text[mark.end():end]
        line_offset = sql_text.count("\n", 0, mark.end())
        for finding in scan(body, file=f"revision {mark.group('rev')}", version=mark.group("rev")):
            findings.append(Finding(file=finding.file, line=finding.line + line_offset, kind=finding.kind,
                                    excerpt=finding.excerpt, version=finding.version))
    return findings


# ---------------------------------------------------------------------------- SQL files of a tool

def migration_keys(path: str) -> set[str]:
    """Names a history table may record for a migration file: its name, stem and directory."""
    base = os.path.basename(path)
    return {base, os.path.splitext(base)[0], os.path.basename(os.path.dirname(path))} - {""}


def scan_pending_files(files: Sequence[tuple[str, str]], history: Sequence[HistoryEntry]) -> list[Finding]:
    """Findings of the SQL files (path, text) that the history does not list as applied.

    A file counts as applied when its name, stem or directory name (prisma keeps
    ``<migration>/migration.sql``) equals a history version or name.
    """
    applied = {e.version for e in history} | {e.name for e in history}
    findings: list[Finding] = []
    for path, text in sorted(files):
        keys = migration_keys(path)
        if keys & applied:
            continue
        version = os.path.basename(os.path.dirname(path)) if os.path.basename(path) == "migration.sql" \
            else os.path.splitext(os.path.basename(path))[0]
        findings.extend(scan(text, file=path, version=version))
    return findings


def tail(text: str, lines: int = 40) -> list[str]:
    """The last ``lines`` non-empty lines of a process's output."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return kept[-lines:]


_ERRORISH = re.compile(r"error|fail|exception|fatal|denied|timeout", re.IGNORECASE)


def error_lines(text: str, limit: int = 3) -> list[str]:
    """The lines of a failed tool's output that say what went wrong (else its last lines).

    Stack frames (``at ...``, ``File "..."``) are skipped: the message is what an operator reads.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    hits = [line for line in lines
            if _ERRORISH.search(line) and not line.startswith(("at ", 'File "', "Traceback"))]
    return (hits or lines[-limit:])[:limit]


def parse_proc_net_tcp(text: str) -> dict[int, tuple[int, int]]:
    """socket inode -> (local port, remote port) from /proc/net/tcp or tcp6."""
    sockets: dict[int, tuple[int, int]] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            sockets[int(fields[9])] = (local_port, remote_port)
        except (ValueError, IndexError):
            continue
    return sockets


def client_ports(socket_inodes: set[int], tcp_tables: Sequence[str], server_port: int) -> list[int]:
    """Local ports of the given sockets that are connected to ``server_port`` (the database)."""
    ports: set[int] = set()
    for table in tcp_tables:
        for inode, (local, remote) in parse_proc_net_tcp(table).items():
            if inode in socket_inodes and remote == server_port:
                ports.add(local)
    return sorted(ports)

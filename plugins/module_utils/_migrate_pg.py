# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to the liftoff.release collection.
"""The PostgreSQL side shared by the migrate modules: connect, fingerprint, describe errors.

Every migrate driver (SQL files, a migration tool's command, Alembic) computes the schema
fingerprint here, so fingerprints of different drivers compare equal for equal schemas.
The connection object is psycopg 3's (typed ``Any``: psycopg is optional at import time).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ansible_collections.liftoff.release.plugins.module_utils._migrations import fingerprint

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")

# While a statement runs, the server checks this often whether the client is still there
# and cancels the statement (rolling back its transaction, releasing its locks) when it is
# not - so a runner killed with SIGKILL does not leave a backend holding the migration's
# locks until statement_timeout. PostgreSQL >= 14; older servers ignore it.
CLIENT_CHECK_INTERVAL = "2s"


def connect_kwargs(params: dict[str, Any], application_name: str) -> dict[str, Any]:
    """psycopg.connect() arguments from the modules' login_* options (password only when set)."""
    kwargs: dict[str, Any] = {
        "dbname": params["db"],
        "user": params["login_user"],
        "port": params["login_port"],
        "connect_timeout": 10,
        "application_name": application_name,
        "autocommit": True,
        # a dead network path is noticed within about a minute, not the kernel's two hours
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if params["login_host"]:
        kwargs["host"] = params["login_host"]
    if params["login_password"]:
        kwargs["password"] = params["login_password"]
    return kwargs


def guard_session(conn: Any) -> None:
    """Make the server end this session's work when the client dies (see CLIENT_CHECK_INTERVAL)."""
    if int(conn.info.server_version) >= 140000:
        conn.execute(f"SET client_connection_check_interval = '{CLIENT_CHECK_INTERVAL}'")


def describe_error(exc: Exception) -> str:
    """One line: the PostgreSQL message, its SQLSTATE and, when known, the detail."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    sqlstate = getattr(diag, "sqlstate", None) or getattr(exc, "sqlstate", None)
    text = str(primary)
    if sqlstate:
        text += f" (SQLSTATE {sqlstate})"
    detail = getattr(diag, "message_detail", None)
    if detail:
        text += f"; {detail}"
    return text


def qualified_names(conn: Any, tables: Sequence[str]) -> list[str]:
    """``schema.table`` for each name; an unqualified name is in the current schema."""
    current = conn.execute("SELECT current_schema()").fetchone()[0] or "public"
    return [name if "." in name else f"{current}.{name}" for name in tables]


def schema_fingerprint(conn: Any, excluded_tables: Sequence[str] = ()) -> str:
    """sha256 of columns + indexes of every non-system schema, without ``excluded_tables``.

    The excluded tables are migration bookkeeping (tracking tables), which change on every
    run and are not the application's schema.
    """
    params = (list(SYSTEM_SCHEMAS), qualified_names(conn, excluded_tables))
    columns = conn.execute(
        "SELECT 'column', table_schema, table_name, column_name, ordinal_position, data_type,"
        " is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema <> ALL(%s) AND table_schema NOT LIKE 'pg\\_toast%%'"
        " AND table_schema || '.' || table_name <> ALL(%s)"
        " ORDER BY table_schema, table_name, ordinal_position",
        params,
    ).fetchall()
    indexes = conn.execute(
        "SELECT 'index', schemaname, tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname <> ALL(%s) AND schemaname NOT LIKE 'pg\\_toast%%'"
        " AND schemaname || '.' || tablename <> ALL(%s)"
        " ORDER BY schemaname, tablename, indexname",
        params,
    ).fetchall()
    return fingerprint([*columns, *indexes])


def advisory_lock_holder(conn: Any, lock_id: int) -> str:
    """Who holds a bigint advisory lock, and how an operator ends that session if it is stale."""
    classid, objid = (lock_id >> 32) & 0xFFFFFFFF, lock_id & 0xFFFFFFFF
    row = conn.execute(
        "SELECT l.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'),"
        " coalesce(a.state, ''), to_char(a.backend_start, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'),"
        " left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 80)"
        " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s"
        " AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " LIMIT 1",
        (classid, objid),
    ).fetchone()
    if row is None:
        return "released just now by its holder; run again"
    pid, app, client, state, since, query = row
    who = f"pid {pid}" + (f" ({app})" if app else "") + f" from {client}, connected since {since}, {state}"
    if query:
        who += f": {query}"
    return (
        f"held by {who}. If that run is dead (its controller was killed), end the session with "
        f"SELECT pg_terminate_backend({pid}); its open migration transaction rolls back"
    )


def lock_holders(conn: Any, limit: int = 5) -> str:
    """Other sessions holding locks on this database's tables, for a lock-timeout message.

    A lock timeout means some session held a lock the migration needed - often a long
    query or a session left ``idle in transaction``. Lists who holds table locks now.
    """
    rows = conn.execute(
        "SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),"
        " coalesce(extract(epoch FROM now() - a.xact_start)::int, 0),"
        " string_agg(DISTINCT l.mode || ' on ' || c.relname, ', ')"
        " FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'p', 'm')"
        " GROUP BY 1, 2, 3, 4 ORDER BY 4 DESC LIMIT %s",
        (limit,),
    ).fetchall()
    if not rows:
        return "no session holds a table lock now (the blocker has gone; run again)"
    parts = [
        f"pid {pid}" + (f" ({app})" if app else "") + f" {state} for {age}s holds {locks}"
        for pid, app, state, age, locks in rows
    ]
    return "sessions holding table locks now: " + "; ".join(parts) + \
        ". End a stuck one with SELECT pg_terminate_backend(<pid>), or wait for it and run again"

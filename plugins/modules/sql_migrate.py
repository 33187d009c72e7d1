#!/usr/bin/python
# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: sql_migrate
short_description: Apply tracked SQL-file migrations to a PostgreSQL database
version_added: 1.0.0
description:
  - Applies the C(NNN_name.sql) files of a directory to a PostgreSQL database, in numeric
    version order, and records each applied file (version, name, sha256 checksum, time,
    duration, run id) in a tracking table, so every later run applies only what is new.
  - C(community.postgresql) has no tracked-migrations runner;
    M(community.postgresql.postgresql_script) runs one script and records nothing, so it
    can neither skip what was applied nor notice an edited file. This module fills that gap.
  - Runs under a session advisory lock, so two runners against one database never
    interleave; a second runner waits up to O(lock_wait) seconds and then fails.
  - Refuses to apply anything when the files drifted from the tracking table - an
    applied file was edited (checksum differs) or deleted, or a new file sorts before
    the newest applied version.
  - Each file runs in its own transaction with C(SET LOCAL lock_timeout) and
    C(SET LOCAL statement_timeout), and its tracking row is inserted in the same
    transaction. The first failing file is rolled back and the run stops there; files
    committed before it stay applied and are returned in RV(applied).
  - Migration files must not contain transaction control (C(BEGIN), C(COMMIT)) or
    statements that cannot run inside a transaction (such as
    C(CREATE INDEX CONCURRENTLY)).
  - Runs on the target host and talks to PostgreSQL with psycopg 3.
author:
  - liftoff.release maintainers
requirements:
  - psycopg >= 3.1 (psycopg 3) on the host that runs the module
attributes:
  check_mode:
    support: full
    details: Applies nothing, creates no tracking table and takes no lock; returns the plan in RV(pending).
  diff_mode:
    support: none
options:
  login_host:
    description:
      - Host name or address of the PostgreSQL server, or a Unix socket directory
        (a path starting with C(/)). Empty means libpq's default socket.
    type: str
    default: ''
  login_port:
    description: Port of the PostgreSQL server.
    type: int
    default: 5432
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user).
    type: str
    default: ''
  db:
    description: Database to migrate.
    type: str
    required: true
  path:
    description:
      - Directory on the target host holding the migration files.
      - Files named C(*.sql) must be called C(NNN_name.sql) (NNN digits, ordered
        numerically); other files are ignored. Two files with the same version are refused.
    type: path
    required: true
  table:
    description:
      - Tracking table, optionally schema-qualified (C(schema.table)). Created when missing
        (not in check mode) and left out of the schema fingerprint.
    type: str
    default: liftoff_schema_migrations
  lock_timeout:
    description: C(SET LOCAL lock_timeout) for every migration transaction (a PostgreSQL interval such as C(5s)).
    type: str
    default: 5s
  statement_timeout:
    description: C(SET LOCAL statement_timeout) for every migration transaction.
    type: str
    default: 60s
  advisory_lock_id:
    description: Key of the session advisory lock that serialises runners on this database.
    type: int
    default: 7262100401
  lock_wait:
    description: Seconds to wait for the advisory lock before failing.
    type: int
    default: 30
  run_id:
    description: Identifier of the deployment run, recorded on every tracking row.
    type: str
  target:
    description:
      - Stop after this version (inclusive); it must be the version of one of the files.
        By default every pending file is applied.
    type: str
seealso:
  - module: community.postgresql.postgresql_script
  - module: community.postgresql.postgresql_db
notes:
  - The schema fingerprint is a sha256 over the ordered rows of C(information_schema.columns)
    and C(pg_indexes) for every non-system schema, without the tracking table. Compare
    RV(fingerprint_before) and RV(fingerprint_after) to see whether the schema moved.
"""

EXAMPLES = r"""
- name: Apply pending migrations of the release
  liftoff.release.sql_migrate:
    login_host: 127.0.0.1
    login_user: app_owner
    login_password: "{{ app_db_password }}"
    db: app
    path: /srv/app/releases/{{ app_version }}/migrations
    run_id: "{{ run_id }}"
  register: migrate_result

- name: Show what a run would apply, changing nothing
  liftoff.release.sql_migrate:
    db: app
    path: /srv/app/current/migrations
  check_mode: true
  register: migrate_plan

- name: Migrate up to version 003 only, with tighter timeouts
  liftoff.release.sql_migrate:
    login_host: /var/run/postgresql
    db: app
    path: /srv/app/current/migrations
    target: "003"
    lock_timeout: 2s
    statement_timeout: 5min
    lock_wait: 120
"""

RETURN = r"""
changed:
  description: Whether at least one migration was applied (in check mode, whether one is pending).
  returned: always
  type: bool
  sample: true
applied:
  description: Migrations committed by this run, in order (also returned when a later file failed).
  returned: always
  type: list
  elements: dict
  contains:
    version:
      description: Version part of the file name.
      type: str
      sample: "002"
    name:
      description: Name part of the file name.
      type: str
      sample: add_orders
    file:
      description: File name.
      type: str
      sample: 002_add_orders.sql
    checksum:
      description: sha256 of the file.
      type: str
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    duration_ms:
      description: Time the file's SQL took.
      type: int
      sample: 41
  sample:
    - {version: "002", name: add_orders, file: 002_add_orders.sql, checksum: 9f86d0818..., duration_ms: 41}
pending:
  description:
    - Migrations not applied when the module ended, up to O(target). In check mode, the plan;
      after a successful run, empty; after a failure, the failed file and those after it.
  returned: always
  type: list
  elements: dict
  sample:
    - {version: "003", name: add_index, file: 003_add_index.sql, checksum: 60303ae22...}
ahead:
  description:
    - Applied versions newer than every file this release ships (the database is ahead of the
      release, as after an application-only rollback). Not drift; reported so the record shows it.
  returned: always
  type: list
  elements: str
  sample: ["003"]
already_applied:
  description: Number of versions that were in the tracking table before this run.
  returned: always
  type: int
  sample: 2
failed_migration:
  description:
    - File name of the migration that failed and was rolled back. (Ansible reserves C(failed)
      for the task's boolean, hence the name.)
  returned: failed
  type: str
  sample: 003_add_index.sql
fingerprint_before:
  description: sha256 of the schema (columns and indexes, tracking table excluded) before the run.
  returned: always
  type: str
  sample: 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b
fingerprint_after:
  description: sha256 of the schema after the run (equal to RV(fingerprint_before) when nothing changed).
  returned: always
  type: str
  sample: 1f2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4e5f60718293a4b5c6d7e8f9012
duration_ms:
  description: Wall time of the whole module run.
  returned: always
  type: int
  sample: 312
"""

import re
import time
import traceback
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.liftoff.release.plugins.module_utils._migrations import (
    AppliedMigration,
    Migration,
    MigrationError,
    fingerprint,
    load_migrations,
    plan,
    summary,
)

PSYCOPG_IMPORT_ERROR: str | None
try:
    import psycopg
    from psycopg import sql
except ImportError:
    psycopg = None  # type: ignore[assignment]
    sql = None  # type: ignore[assignment]
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG_IMPORT_ERROR = None

TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")

ARGUMENT_SPEC: dict[str, Any] = {
    "login_host": {"type": "str", "default": ""},
    "login_port": {"type": "int", "default": 5432},
    "login_user": {"type": "str", "default": "postgres"},
    "login_password": {"type": "str", "default": "", "no_log": True},
    "db": {"type": "str", "required": True},
    "path": {"type": "path", "required": True},
    "table": {"type": "str", "default": "liftoff_schema_migrations"},
    "lock_timeout": {"type": "str", "default": "5s"},
    "statement_timeout": {"type": "str", "default": "60s"},
    "advisory_lock_id": {"type": "int", "default": 7262100401},
    "lock_wait": {"type": "int", "default": 30},
    "run_id": {"type": "str"},
    "target": {"type": "str"},
}


class TrackingTable:
    """The tracking table's name, as identifiers and as the parts for catalog queries."""

    def __init__(self, name: str) -> None:
        parts = name.split(".")
        self.schema: str | None = parts[0] if len(parts) == 2 else None
        self.name: str = parts[-1]
        self.ident = sql.Identifier(*parts)


def connect(params: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {
        "dbname": params["db"],
        "user": params["login_user"],
        "port": params["login_port"],
        "connect_timeout": 10,
        "application_name": "liftoff.release.sql_migrate",
        "autocommit": True,
    }
    if params["login_host"]:
        kwargs["host"] = params["login_host"]
    if params["login_password"]:
        kwargs["password"] = params["login_password"]
    return psycopg.connect(**kwargs)


def describe_error(exc: Exception) -> str:
    """One line: the PostgreSQL message, its SQLSTATE and, when known, the detail."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    sqlstate = getattr(diag, "sqlstate", None) or getattr(exc, "sqlstate", None)
    text = primary
    if sqlstate:
        text += f" (SQLSTATE {sqlstate})"
    detail = getattr(diag, "message_detail", None)
    if detail:
        text += f"; {detail}"
    return text


def lock_holder(conn: Any, lock_id: int) -> str:
    """Who holds the advisory lock (pid and application), for the failure message."""
    classid, objid = (lock_id >> 32) & 0xFFFFFFFF, lock_id & 0xFFFFFFFF
    row = conn.execute(
        "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks l "
        "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
        "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "LIMIT 1",
        (classid, objid),
    ).fetchone()
    if row is None:
        return "unknown session"
    return f"pid {row[0]}" + (f" ({row[1]})" if row[1] else "")


def acquire_lock(conn: Any, lock_id: int, wait_s: int) -> bool:
    """pg_try_advisory_lock until it is granted or ``wait_s`` seconds have passed."""
    deadline = time.monotonic() + max(wait_s, 0)
    while True:
        if conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_id,)).fetchone()[0]:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(0.5, remaining))


def table_exists(conn: Any, table: TrackingTable) -> bool:
    qualified = table.ident.as_string(conn)
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0]


def ensure_table(conn: Any, table: TrackingTable) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " version text PRIMARY KEY,"
            " name text NOT NULL,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(),"
            " duration_ms integer NOT NULL,"
            " run_id text)"
        ).format(table.ident)
    )


def read_applied(conn: Any, table: TrackingTable) -> list[AppliedMigration]:
    if not table_exists(conn, table):
        return []
    rows = conn.execute(
        sql.SQL("SELECT version, name, checksum FROM {} ORDER BY version").format(table.ident)
    ).fetchall()
    return [AppliedMigration(version=r[0], name=r[1], checksum=r[2]) for r in rows]


def schema_fingerprint(conn: Any, table: TrackingTable) -> str:
    """sha256 of columns + indexes of every non-system schema, without the tracking table."""
    params = (list(SYSTEM_SCHEMAS), table.schema, table.name)
    columns = conn.execute(
        "SELECT 'column', table_schema, table_name, column_name, ordinal_position, data_type,"
        " is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema <> ALL(%s) AND table_schema NOT LIKE 'pg\\_toast%%'"
        " AND NOT (table_schema = coalesce(%s, current_schema()) AND table_name = %s)"
        " ORDER BY table_schema, table_name, ordinal_position",
        params,
    ).fetchall()
    indexes = conn.execute(
        "SELECT 'index', schemaname, tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname <> ALL(%s) AND schemaname NOT LIKE 'pg\\_toast%%'"
        " AND NOT (schemaname = coalesce(%s, current_schema()) AND tablename = %s)"
        " ORDER BY schemaname, tablename, indexname",
        params,
    ).fetchall()
    return fingerprint([*columns, *indexes])


def set_timeouts(cur: Any, lock_timeout: str, statement_timeout: str) -> None:
    cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout)))
    cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(statement_timeout)))


def apply_one(conn: Any, table: TrackingTable, migration: Migration, params: dict[str, Any]) -> int:
    """Run one file and insert its tracking row in one transaction; return its duration in ms."""
    with conn.transaction(), conn.cursor() as cur:
        set_timeouts(cur, params["lock_timeout"], params["statement_timeout"])
        started = time.monotonic()
        if migration.sql.strip():
            cur.execute(migration.sql)
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.INTRANS:
            # COMMIT/ROLLBACK inside the file: its own transaction ended, so this
            # file can no longer be applied atomically with its tracking row.
            raise psycopg.ProgrammingError(
                "the file ended the transaction itself (COMMIT/ROLLBACK/BEGIN in a migration file "
                "is not allowed); statements before that point may have been committed"
            )
        duration_ms = int((time.monotonic() - started) * 1000)
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (version, name, checksum, duration_ms, run_id)"
                " VALUES (%s, %s, %s, %s, %s)"
            ).format(table.ident),
            (migration.version, migration.name, migration.checksum, duration_ms, params["run_id"]),
        )
    return duration_ms


def run(module: AnsibleModule, conn: Any, started: float) -> None:
    params = module.params
    table = TrackingTable(params["table"])
    result: dict[str, Any] = {"changed": False, "applied": [], "pending": [], "already_applied": 0, "ahead": []}

    def finish_fail(msg: str, **extra: Any) -> NoReturn:
        result.update(extra)
        result["duration_ms"] = int((time.monotonic() - started) * 1000)
        module.fail_json(msg=msg, **result)
        raise AssertionError("unreachable")  # fail_json exits

    try:
        migrations = load_migrations(params["path"])
    except MigrationError as exc:
        finish_fail(str(exc))

    # Bad timeout values must fail here, not be blamed on the first migration file.
    try:
        with conn.transaction(), conn.cursor() as cur:
            set_timeouts(cur, params["lock_timeout"], params["statement_timeout"])
    except psycopg.Error as exc:
        finish_fail(f"invalid lock_timeout/statement_timeout: {describe_error(exc)}")

    if not module.check_mode:
        if not acquire_lock(conn, params["advisory_lock_id"], params["lock_wait"]):
            finish_fail(
                f"another migration run holds the advisory lock {params['advisory_lock_id']} on "
                f"database {params['db']} ({lock_holder(conn, params['advisory_lock_id'])}); "
                f"gave up after waiting {params['lock_wait']}s (lock_wait)"
            )
        ensure_table(conn, table)

    try:
        the_plan = plan(migrations, read_applied(conn, table), params["target"])
    except MigrationError as exc:
        finish_fail(str(exc))

    result["already_applied"] = the_plan.already_applied
    result["ahead"] = list(the_plan.ahead)
    result["fingerprint_before"] = schema_fingerprint(conn, table)
    result["pending"] = [summary(m) for m in the_plan.pending]

    if module.check_mode:
        result["changed"] = bool(the_plan.pending)
        result["fingerprint_after"] = result["fingerprint_before"]
        result["duration_ms"] = int((time.monotonic() - started) * 1000)
        module.exit_json(**result)

    for index, migration in enumerate(the_plan.pending):
        try:
            duration_ms = apply_one(conn, table, migration, params)
        except psycopg.Error as exc:
            result["changed"] = bool(result["applied"])
            result["pending"] = [summary(m) for m in the_plan.pending[index:]]
            try:
                after = schema_fingerprint(conn, table)
            except psycopg.Error:
                after = None
            finish_fail(
                f"migration {migration.filename} failed and was rolled back: {describe_error(exc)}"
                f" ({len(result['applied'])} applied before it in this run)",
                failed_migration=migration.filename,
                fingerprint_after=after,
            )
        result["applied"].append(summary(migration, duration_ms))
        result["changed"] = True

    result["pending"] = []
    result["fingerprint_after"] = schema_fingerprint(conn, table)
    result["duration_ms"] = int((time.monotonic() - started) * 1000)
    module.exit_json(**result)


def main() -> None:
    started = time.monotonic()
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if psycopg is None:
        module.fail_json(
            msg=missing_required_lib("psycopg (psycopg 3, pip install 'psycopg[binary]')"),
            exception=PSYCOPG_IMPORT_ERROR,
        )
    if not TABLE_RE.match(module.params["table"]):
        module.fail_json(msg=f"table {module.params['table']!r} must be name or schema.name (letters, digits, _, $)")
    try:
        conn = connect(module.params)
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot connect to database {module.params['db']}: {describe_error(exc)}")
    try:
        run(module, conn, started)
    finally:
        conn.close()


if __name__ == "__main__":
    main()

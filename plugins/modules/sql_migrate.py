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
  - Before applying anything, scans every pending file for destructive statements (DROP,
    TRUNCATE, DELETE without WHERE, column type changes, SET NOT NULL, ADD COLUMN NOT NULL
    without DEFAULT, RENAME) and refuses the whole run, naming each finding, unless the file's
    version is listed in O(allow_destructive). Check mode refuses the same way, so the plan
    shows what the real run would do.
  - Migration files must not contain transaction control (C(BEGIN), C(COMMIT)) or
    statements that cannot run inside a transaction (such as
    C(CREATE INDEX CONCURRENTLY)).
  - Runs on the target host and talks to PostgreSQL with psycopg 3.
author:
  - liftoff.release contributors (@liftoff-release)
requirements:
  - psycopg >= 3.1 (psycopg 3) on the host that runs the module
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Applies nothing, creates no tracking table and takes no lock; returns the plan in RV(pending).
  diff_mode:
    support: none
  platform:
    platforms: posix
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
      - Directory on the target host holding the migration files. Give O(path) or O(src).
      - Files named C(*.sql) must be called C(NNN_name.sql) (NNN digits, ordered
        numerically); other files are ignored. Two files with the same version are refused.
    type: path
  src:
    description:
      - Directory on the B(controller) holding the migration files. Give O(path) or O(src).
      - The action plugin of the same name copies its C(*.sql) files into the task's temporary
        directory on the host (removed afterwards) and runs the module on that copy - no staging
        directory, and no copy module run per file.
    type: path
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
  allow_destructive:
    description:
      - Versions of pending migrations whose destructive statements are approved (compared
        numerically, so C(4) approves C(004)). A version approves every finding of its file.
      - The scan is lexical (comments, string literals and dollar-quoted bodies are ignored);
        SQL built at run time inside C(DO) blocks or functions is not seen.
    type: list
    elements: str
    default: []
seealso:
  - module: liftoff.release.tool_migrate
  - module: community.postgresql.postgresql_script
  - module: community.postgresql.postgresql_db
notes:
  - The session sets C(client_connection_check_interval) (PostgreSQL 14 and later), so when
    the runner dies (SIGKILL, a lost controller) the server cancels the running migration
    within seconds, rolls its transaction back and frees the advisory lock, instead of
    holding locks until O(statement_timeout). On older servers the orphaned statement runs
    until it ends or times out. When the lock is still held after O(lock_wait), the failure
    names the holder's pid, client and query, and the C(pg_terminate_backend) call that ends it.
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

- name: Apply a release that drops a column, approved after review
  liftoff.release.sql_migrate:
    db: app
    path: /srv/app/current/migrations
    allow_destructive: ["007"]

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
destructive:
  description:
    - Destructive statements found in the pending migrations (approved or not), in file order.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: File name.
      type: str
      sample: 007_drop_legacy.sql
    version:
      description: Version of the file.
      type: str
      sample: "007"
    line:
      description: Line of the statement (of the offending clause in a multi-action ALTER TABLE).
      type: int
      sample: 3
    kind:
      description: What was found, such as C(DROP TABLE), C(DROP COLUMN), C(ALTER COLUMN TYPE), C(SET NOT NULL).
      type: str
      sample: DROP COLUMN
    excerpt:
      description: The statement without comments, whitespace collapsed, at most 160 characters.
      type: str
      sample: ALTER TABLE users DROP COLUMN legacy_flag
  sample:
    - {file: 007_drop_legacy.sql, version: "007", line: 3, kind: DROP COLUMN, excerpt: ALTER TABLE users DROP COLUMN legacy_flag}
destructive_unapproved:
  description: The findings of RV(destructive) whose version is not in O(allow_destructive); when not empty, nothing was applied.
  returned: always
  type: list
  elements: dict
  sample: []
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

import contextlib
import os
import re
import threading
import time
import traceback
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.liftoff.release.plugins.module_utils._destructive import refusal, scan, unapproved
from ansible_collections.liftoff.release.plugins.module_utils._migrate_pg import (
    advisory_lock_holder,
    connect_kwargs,
    describe_error,
    guard_session,
    lock_holders,
    schema_fingerprint,
)
from ansible_collections.liftoff.release.plugins.module_utils._migrate_watch import ControllerWatch
from ansible_collections.liftoff.release.plugins.module_utils._migrations import (
    SQL_MIGRATE_ARGUMENT_SPEC,
    AppliedMigration,
    Migration,
    MigrationError,
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
APPROVAL_HINT = "the allow_destructive option (migrate role: migrate_destructive_approval.versions)"

ARGUMENT_SPEC = SQL_MIGRATE_ARGUMENT_SPEC


class TrackingTable:
    """The tracking table's name, as identifiers and as the parts for catalog queries."""

    def __init__(self, name: str) -> None:
        parts = name.split(".")
        self.schema: str | None = parts[0] if len(parts) == 2 else None
        self.name: str = parts[-1]
        self.ident = sql.Identifier(*parts)


def connect(params: dict[str, Any]) -> Any:
    conn = psycopg.connect(**connect_kwargs(params, "liftoff.release.sql_migrate"))
    guard_session(conn)
    return conn


def fingerprint_now(conn: Any, table: TrackingTable) -> str:
    return schema_fingerprint(conn, [f"{table.schema}.{table.name}" if table.schema else table.name])


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
    return bool(conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0])


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


def set_timeouts(cur: Any, lock_timeout: str, statement_timeout: str) -> None:
    cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout)))
    cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(statement_timeout)))


def set_session_timeouts(conn: Any, lock_timeout: str, statement_timeout: str) -> None:
    conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(lock_timeout)))
    conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(statement_timeout)))


def explain(conn: Any, exc: Exception) -> str:
    """describe_error, plus who holds table locks when the error is a lock timeout."""
    text = describe_error(exc)
    if getattr(exc, "sqlstate", None) == "55P03":
        try:
            text += f". {lock_holders(conn)}"
        except psycopg.Error:
            pass
    return text


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
    result: dict[str, Any] = {"changed": False, "applied": [], "pending": [], "already_applied": 0, "ahead": [],
                              "destructive": [], "destructive_unapproved": []}

    def finish_fail(msg: str, **extra: Any) -> NoReturn:
        result.update(extra)
        result["duration_ms"] = int((time.monotonic() - started) * 1000)
        module.fail_json(msg=msg, **result)
        raise AssertionError("unreachable")  # fail_json exits

    try:
        migrations = load_migrations(params["path"])
    except MigrationError as exc:
        finish_fail(str(exc))

    # The timeouts bound the module's own queries too (the schema fingerprint reads index and
    # default expressions, which waits behind an ACCESS EXCLUSIVE lock), and bad values
    # fail here rather than being blamed on the first migration file.
    try:
        set_session_timeouts(conn, params["lock_timeout"], params["statement_timeout"])
    except psycopg.Error as exc:
        finish_fail(f"invalid lock_timeout/statement_timeout: {describe_error(exc)}")

    if not module.check_mode:
        if not acquire_lock(conn, params["advisory_lock_id"], params["lock_wait"]):
            finish_fail(
                f"another migration run holds the advisory lock {params['advisory_lock_id']} on "
                f"database {params['db']}; gave up after waiting {params['lock_wait']}s (lock_wait). "
                f"The lock is {advisory_lock_holder(conn, params['advisory_lock_id'])}"
            )

    try:
        the_plan = plan(migrations, read_applied(conn, table), params["target"])
    except MigrationError as exc:
        finish_fail(str(exc))

    result["already_applied"] = the_plan.already_applied
    result["ahead"] = list(the_plan.ahead)
    result["pending"] = [summary(m) for m in the_plan.pending]
    try:
        result["fingerprint_before"] = fingerprint_now(conn, table)
    except psycopg.Error as exc:
        finish_fail(f"cannot read the schema before migrating, nothing applied: {explain(conn, exc)}")

    findings = [f for m in the_plan.pending for f in scan(m.sql, file=m.filename, version=m.version)]
    refused = unapproved(findings, params["allow_destructive"])
    result["destructive"] = [f.to_dict() for f in findings]
    result["destructive_unapproved"] = [f.to_dict() for f in refused]
    if refused:
        result["fingerprint_after"] = result["fingerprint_before"]
        finish_fail(refusal(refused, APPROVAL_HINT))

    if not module.check_mode:
        try:
            ensure_table(conn, table)
        except psycopg.Error as exc:
            finish_fail(f"cannot create the tracking table {params['table']}, nothing applied: {explain(conn, exc)}")

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
                after = fingerprint_now(conn, table)
            except psycopg.Error:
                after = None
            finish_fail(
                f"migration {migration.filename} failed and was rolled back: {explain(conn, exc)}"
                f" ({len(result['applied'])} applied before it in this run)",
                failed_migration=migration.filename,
                fingerprint_after=after,
            )
        result["applied"].append(summary(migration, duration_ms))
        result["changed"] = True

    result["pending"] = []
    result["fingerprint_after"] = fingerprint_now(conn, table)
    result["duration_ms"] = int((time.monotonic() - started) * 1000)
    module.exit_json(**result)


def controller_lost(conn: Any) -> None:
    """The ansible run that started this module was killed: stop the migration, do not finish it.

    The running statement is cancelled (its transaction rolls back; files committed before
    stay committed and tracked). If the module has not exited 5 s later, it exits hard: the
    closed connection rolls back whatever is open and frees the advisory lock.
    """
    with contextlib.suppress(Exception):  # best effort; the hard exit below still ends the session
        conn.cancel_safe(timeout=5)
    timer = threading.Timer(5.0, os._exit, args=(1,))
    timer.daemon = True
    timer.start()


def main() -> None:
    started = time.monotonic()
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_one_of=[["path", "src"]], mutually_exclusive=[["path", "src"]])
    if module.params["src"] is not None:
        module.fail_json(msg="src is a directory on the controller, copied by the action plugin "
                             "liftoff.release.sql_migrate: run the module through it, or give path")
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
    watch = ControllerWatch.start(on_lost=lambda: controller_lost(conn))
    try:
        run(module, conn, started)
    finally:
        if watch is not None:
            watch.stop()
        conn.close()


if __name__ == "__main__":
    main()

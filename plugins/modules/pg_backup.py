#!/usr/bin/python
# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_backup
short_description: Take a verified PostgreSQL backup, or read the database's write counters
version_added: 1.1.0
description:
  - O(state=dump) dumps a database with C(pg_dump) in custom or directory format (parallel
    jobs for directory), then proves the dump is usable, not assumed - C(pg_dump) can exit 0
    and leave a useless file.
  - Before dumping it estimates the dump's size (the table data, without indexes) and
    refuses to start, changing nothing, when the backup directory's file system has less
    free space than the estimate times O(space_margin).
  - The dump reads an exported snapshot of a C(REPEATABLE READ) transaction that this module
    holds open, so the row counts it takes in that transaction (O(test_restore)) are exactly
    what the dump holds, whatever the application writes meanwhile.
  - Verification - the archive is read back with C(pg_restore --list) and must hold data for
    every user table; its size and sha256 are returned (a directory dump's sha256 is the
    sha256 of its sha256sum-style manifest, written beside it as C(<name>.dir.sha256)).
    With O(test_restore=true) the dump is restored into a scratch database (dropped
    afterwards) and every table's row count must equal the count in the dump's snapshot.
  - A failed or interrupted dump leaves no partial file behind.
  - It also returns the database's write counters (rows inserted, updated and deleted per
    table, from C(pg_stat_user_tables)) read just before the snapshot, so a later rollback
    can tell whether the database took writes after the backup. O(state=counters) only reads
    those counters.
  - Why not M(community.postgresql.postgresql_db) with O(community.postgresql.postgresql_db#module:state=dump)?
    It runs C(pg_dump) through a shell string, cannot share a snapshot with row counts or
    write counters, does not check free space, verify the archive or remove a partial dump,
    and restores in place (C(--clean) leaves behind the objects created after the backup).
  - O(state=restore) restores O(src) without ever touching the live database until the restore
    is complete. It restores into a new database (C(<db>_liftoff_restore)), then swaps the names;
    connections to O(db) are refused and ended, O(db) is renamed to O(replaced_db) and the
    restored database takes its name. Objects created after the backup (a table a migration
    added) are therefore gone too, which an in-place C(pg_restore --clean) would leave behind.
    The replaced database is kept (O(keep_replaced)), so writes made after the backup are not
    destroyed by the restore; the rollback role decides whether a restore may happen at all.
    The user needs C(CREATEDB) and must own O(db) (or be a superuser). Database-level settings
    (C(ALTER DATABASE ... SET)) and grants on the database are not part of a C(pg_dump) of one
    database; set them again if you use them.
  - Runs on the host that holds the backup directory and talks to PostgreSQL with psycopg 3;
    C(pg_dump) and C(pg_restore) must be on that host.
author:
  - liftoff.release contributors (@liftoff-release)
requirements:
  - psycopg >= 3.1 (psycopg 3) on the host that runs the module
  - pg_dump and pg_restore of the server's major version or newer
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Dumps nothing; reads the estimate and the free space and fails when the dump would not fit.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  state:
    description:
      - V(dump) takes and verifies a backup; V(counters) only returns the write counters; V(restore)
        replaces O(db) with a restore of O(src).
    type: str
    choices: [dump, counters, restore]
    default: dump
  login_host:
    description: Host name or address of the PostgreSQL server, or a Unix socket directory. Empty means libpq's default socket.
    type: str
    default: ''
  login_port:
    description: Port of the PostgreSQL server.
    type: int
    default: 5432
  login_user:
    description: Role to connect as; it must be able to read every table (else C(pg_dump) fails and nothing is kept).
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user); passed in C(PGPASSWORD), never on a command line or in a result.
    type: str
    default: ''
  db:
    description: Database to back up.
    type: str
    required: true
  dest:
    description: Directory for the dump on the host that runs the module; created (mode 0750) if missing. Required for O(state=dump).
    type: path
  name:
    description: File name of the dump without extension; C(.pgc) (custom) or C(.dir) (directory) is added. Required for O(state=dump).
    type: str
  format:
    description: C(pg_dump) format. V(directory) can dump with several O(jobs).
    type: str
    choices: [custom, directory]
    default: custom
  jobs:
    description: Parallel C(pg_dump)/C(pg_restore) jobs; more than 1 needs O(format=directory).
    type: int
    default: 1
  compress:
    description:
      - C(pg_dump --compress) value. A gzip level C(0)-C(9); C(1) is the default because gzip's
        default level 6 costs far more time than it saves space on typical data (see bench/).
      - C(METHOD[:LEVEL]) with METHOD one of C(none), C(gzip), C(lz4), C(zstd) needs C(pg_dump) 16 or newer.
    type: str
    default: '1'
  space_margin:
    description: The free space needed is the estimated dump size (table data) times this factor (1 or more).
    type: float
    default: 1.0
  verify:
    description: Read the archive back with C(pg_restore --list) and require data for every user table.
    type: bool
    default: true
  test_restore:
    description:
      - Restore the dump into a scratch database and compare every table's row count with the
        dump's snapshot. Costs about as long as the dump again; the scratch database is dropped afterwards.
    type: bool
    default: false
  scratch_db:
    description: Name of the scratch database for O(test_restore); default C(<db>_liftoff_verify). Dropped before and after.
    type: str
  src:
    description: The dump to restore (a C(.pgc) file or a C(.dir) directory). Required for O(state=restore).
    type: path
  replaced_db:
    description: Name the replaced database gets for O(state=restore); default C(<db>_replaced_<yyyymmddThhmmss>).
    type: str
  keep_replaced:
    description: Keep the replaced database after O(state=restore) (drop it only when you know nothing in it is needed).
    type: bool
    default: true
  pg_dump:
    description: C(pg_dump) executable; found on PATH by default.
    type: str
    default: pg_dump
  pg_restore:
    description: C(pg_restore) executable; found on PATH by default.
    type: str
    default: pg_restore
  timeout:
    description: Seconds the dump (and the test restore, each) may take before it is stopped and removed.
    type: int
    default: 21600
"""

EXAMPLES = r"""
- name: Back up the database before migrating (directory format, 4 jobs, test restore)
  liftoff.release.pg_backup:
    login_host: db.internal
    login_user: deployer
    login_password: "{{ vault_db_password }}"
    db: app
    dest: /var/backups/liftoff
    name: "app-{{ run_id }}"
    format: directory
    jobs: 4
    test_restore: true
  register: backup

- name: Read the write counters (a rollback compares them with the backup's)
  liftoff.release.pg_backup:
    state: counters
    login_host: db.internal
    login_user: deployer
    login_password: "{{ vault_db_password }}"
    db: app
  register: counters
"""

RETURN = r"""
path:
  description: The dump (a file for custom format, a directory for directory format).
  returned: O(state=dump)
  type: str
  sample: /var/backups/liftoff/app-20261201T101500Z-1a2b3c.pgc
format:
  description: The dump's format.
  returned: O(state=dump)
  type: str
  sample: custom
bytes:
  description: Size of the dump in bytes (all files of a directory dump).
  returned: O(state=dump) and not check mode
  type: int
  sample: 73400320
sha256:
  description: sha256 of the dump file, or of a directory dump's manifest.
  returned: O(state=dump) and not check mode
  type: str
  sample: 9f2c0e2b5c1d4b8e0a7d3f1e6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39
manifest:
  description: The manifest file of a directory dump (sha256sum format), else null.
  returned: O(state=dump) and not check mode
  type: str
  sample: /var/backups/liftoff/app-20261201T101500Z-1a2b3c.dir.sha256
tables:
  description: Number of user tables in the database when the dump was taken.
  returned: O(state=dump)
  type: int
  sample: 12
estimate_bytes:
  description: Estimated dump size (table data without indexes).
  returned: O(state=dump)
  type: int
  sample: 104857600
free_bytes:
  description: Free space in O(dest) before the dump.
  returned: O(state=dump)
  type: int
  sample: 53687091200
duration_ms:
  description: How long C(pg_dump) took.
  returned: O(state=dump) and not check mode
  type: int
  sample: 8123
toc:
  description: What C(pg_restore --list) read.
  returned: O(verify=true) and not check mode
  type: dict
  contains:
    format: {description: Archive format as pg_restore names it., type: str, returned: always}
    entries: {description: Table-of-contents entries., type: int, returned: always}
    tables_with_data: {description: Entries holding table data., type: int, returned: always}
  sample: {format: CUSTOM, entries: 31, tables_with_data: 12}
test_restore:
  description: The test restore into O(scratch_db), with per-table row counts from the snapshot and the restore.
  returned: O(test_restore=true) and not check mode
  type: dict
  contains:
    scratch_db: {description: The scratch database (dropped again)., type: str, returned: always}
    duration_ms: {description: How long the restore and the counts took., type: int, returned: always}
    source_rows: {description: Rows per table in the dump's snapshot., type: dict, returned: always}
    restored_rows: {description: Rows per table in the scratch database., type: dict, returned: always}
    mismatches: {description: Tables whose counts differ (empty when verified)., type: list, elements: str, returned: always}
  sample:
    scratch_db: app_liftoff_verify
    duration_ms: 9120
    source_rows: {public.orders: 120000}
    restored_rows: {public.orders: 120000}
    mismatches: []
restored:
  description: What O(state=restore) did.
  returned: O(state=restore)
  type: dict
  contains:
    src: {description: The dump restored., type: str, returned: always}
    db: {description: The database that now holds the restore., type: str, returned: always}
    replaced_db: {description: The database that was replaced (null when dropped)., type: str, returned: always}
    duration_ms: {description: Restore and swap time., type: int, returned: always}
    tables: {description: User tables in the restored database., type: int, returned: always}
  sample: {src: /var/backups/liftoff/app-20261201T101500Z-1a2b3c.pgc, db: app, replaced_db: app_replaced_20261201T102210,
           duration_ms: 8120, tables: 12}
counters:
  description: Rows inserted + updated + deleted per table (schema.table) since statistics began, read before the snapshot.
  returned: O(state=dump) or O(state=counters)
  type: dict
  sample: {public.orders: 512334, public.users: 1022}
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.liftoff.release.plugins.module_utils._backup import (
    BackupError,
    check_options,
    count_mismatches,
    dump_argv,
    human,
    manifest,
    manifest_sha256,
    parse_toc,
    restore_argv,
    space_check,
    target_path,
)
from ansible_collections.liftoff.release.plugins.module_utils._migrate_pg import connect_kwargs, describe_error

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

ARGUMENT_SPEC: dict[str, Any] = {
    "state": {"type": "str", "choices": ["dump", "counters", "restore"], "default": "dump"},
    "login_host": {"type": "str", "default": ""},
    "login_port": {"type": "int", "default": 5432},
    "login_user": {"type": "str", "default": "postgres"},
    "login_password": {"type": "str", "default": "", "no_log": True},
    "db": {"type": "str", "required": True},
    "dest": {"type": "path"},
    "name": {"type": "str"},
    "format": {"type": "str", "choices": ["custom", "directory"], "default": "custom"},
    "jobs": {"type": "int", "default": 1},
    "compress": {"type": "str", "default": "1"},
    "space_margin": {"type": "float", "default": 1.0},
    "verify": {"type": "bool", "default": True},
    "test_restore": {"type": "bool", "default": False},
    "scratch_db": {"type": "str"},
    "src": {"type": "path"},
    "replaced_db": {"type": "str"},
    "keep_replaced": {"type": "bool", "default": True},
    "pg_dump": {"type": "str", "default": "pg_dump"},
    "pg_restore": {"type": "str", "default": "pg_restore"},
    "timeout": {"type": "int", "default": 21600},
}

USER_TABLES = (
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1"
)
ESTIMATE = (
    "SELECT coalesce(sum(pg_table_size(c.oid)), 0)::bigint FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%'"
)
COUNTERS = (
    "SELECT quote_ident(schemaname) || '.' || quote_ident(relname), "
    "(n_tup_ins + n_tup_upd + n_tup_del)::bigint FROM pg_stat_user_tables ORDER BY 1"
)


def connect(params: dict[str, Any], db: str | None = None, autocommit: bool = True) -> Any:
    kwargs = connect_kwargs(params, "liftoff.release.pg_backup")
    kwargs.update(dbname=db or params["db"], autocommit=autocommit)
    return psycopg.connect(**kwargs)


def read_counters(conn: Any) -> dict[str, int]:
    return {str(name): int(value) for name, value in conn.execute(COUNTERS).fetchall()}


def free_bytes(directory: str) -> int:
    stat = os.statvfs(directory)
    return int(stat.f_bavail * stat.f_frsize)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def measure(path: str) -> tuple[int, str, list[tuple[str, str, int]]]:
    """(bytes, sha256, files) of a dump file or directory; a directory's sha256 is its manifest's."""
    if os.path.isfile(path):
        return os.path.getsize(path), file_sha256(path), []
    files = []
    for root, _unused, names in os.walk(path):
        for filename in names:
            full = os.path.join(root, filename)
            files.append((os.path.relpath(full, path), file_sha256(full), os.path.getsize(full)))
    return sum(size for _unused, _unused, size in files), manifest_sha256(files), files


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.unlink(path)


def run_tool(argv: list[str], password: str, timeout: int) -> subprocess.CompletedProcess[str]:
    # Not run_command: it has no timeout, and a dump or restore must not hang the run.
    return subprocess.run(argv, env=tool_env(password), capture_output=True, text=True, timeout=timeout,  # pylint: disable=ansible-bad-function
                          check=False)


def tool_env(password: str) -> dict[str, str]:
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    return env


def dump_beside(argv: list[str], password: str, timeout: int,
                meanwhile: Callable[[], dict[str, int]]) -> tuple[subprocess.CompletedProcess[str], dict[str, int]]:
    """Run pg_dump, call ``meanwhile()`` while it runs, and return (pg_dump's result, what meanwhile returned).

    pg_dump is stopped (and waited for) when ``meanwhile`` fails or the timeout passes, so nothing
    keeps writing the dump the caller then removes.
    """
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        # Not run_command: it waits for the command, and the row counts must be taken while it runs.
        proc = subprocess.Popen(argv, env=tool_env(password), stdout=subprocess.DEVNULL,  # pylint: disable=ansible-bad-function
                                stderr=errors)
        try:
            value = meanwhile()
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            stop(proc)
            raise subprocess.TimeoutExpired(argv, timeout) from None
        except BaseException:
            stop(proc)
            raise
        errors.seek(0)
        stderr = errors.read().decode("utf-8", errors="replace")
    return subprocess.CompletedProcess(argv, proc.returncode, "", stderr), value


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def count_rows(conn: Any, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        # the names come quoted (quote_ident) from USER_TABLES
        counts[table] = int(conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.SQL(table))).fetchone()[0])
    return counts


def test_restore(module: AnsibleModule, target: str, source_rows: dict[str, int]) -> dict[str, Any]:
    params = module.params
    scratch = params["scratch_db"] or f"{params['db']}_liftoff_verify"
    started = time.monotonic()
    admin = connect(params)
    try:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        try:
            argv = restore_argv(params["pg_restore"], target=target, jobs=params["jobs"], db=scratch,
                                host=params["login_host"], port=params["login_port"], user=params["login_user"],
                                extra=["--exit-on-error"])
            done = run_tool(argv, params["login_password"], params["timeout"])
            if done.returncode != 0:
                raise BackupError(f"test restore into {scratch} failed: {done.stderr.strip()[-1000:]}")
            restored_conn = connect(params, db=scratch)
            try:
                tables = [str(row[0]) for row in restored_conn.execute(USER_TABLES).fetchall()]
                restored_rows = count_rows(restored_conn, tables)
            finally:
                restored_conn.close()
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
    finally:
        admin.close()
    return {"scratch_db": scratch, "duration_ms": int((time.monotonic() - started) * 1000),
            "source_rows": source_rows, "restored_rows": restored_rows,
            "mismatches": count_mismatches(source_rows, restored_rows)}


def dump(module: AnsibleModule, conn: Any) -> dict[str, Any]:
    params = module.params
    for required in ("dest", "name"):
        if not params[required]:
            raise BackupError(f"{required} is required for state=dump")
    check_options(params["format"], params["jobs"], params["compress"])
    dest = params["dest"]
    target = target_path(dest, params["name"], params["format"])
    tables = [str(row[0]) for row in conn.execute(USER_TABLES).fetchall()]
    estimate = int(conn.execute(ESTIMATE).fetchone()[0])
    probe = dest
    while not os.path.isdir(probe):
        probe = os.path.dirname(probe) or "/"
    space = space_check(estimate, free_bytes(probe), params["space_margin"])
    result: dict[str, Any] = {"path": target, "format": params["format"], "tables": len(tables),
                              "estimate_bytes": space.estimate, "free_bytes": space.free,
                              "space": space.describe(dest)}
    if not space.ok:
        raise BackupError(f"backup refused before starting: {space.describe(dest)}; free space or set "
                          "backup_dir to a larger file system", result)
    if module.check_mode:
        result["counters"] = read_counters(conn)
        return result
    if os.path.exists(target):
        raise BackupError(f"{target} already exists; a backup is never overwritten")
    os.makedirs(dest, mode=0o750, exist_ok=True)
    # One REPEATABLE READ transaction: counters, the exported snapshot, and the row counts the dump must hold.
    snap = connect(params, autocommit=False)
    try:
        snap.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        result["counters"] = read_counters(snap)
        snapshot = str(snap.execute("SELECT pg_export_snapshot()").fetchone()[0])
        argv = dump_argv(params["pg_dump"], fmt=params["format"], jobs=params["jobs"], compress=params["compress"],
                         target=target, db=params["db"], host=params["login_host"], port=params["login_port"],
                         user=params["login_user"], snapshot=snapshot)
        started = time.monotonic()
        try:
            # The rows are counted in the snapshot while pg_dump reads it: PostgreSQL's synchronized
            # scans let the count and the dump read a large table's pages once, together.
            done, source_rows = dump_beside(argv, params["login_password"], params["timeout"],
                                            lambda: count_rows(snap, tables) if params["test_restore"] else {})
        except BaseException:
            remove(target)
            raise
        result["duration_ms"] = int((time.monotonic() - started) * 1000)
    finally:
        snap.rollback()
        snap.close()
    if done.returncode != 0:
        remove(target)
        left = free_bytes(probe)
        raise BackupError(f"pg_dump failed (exit {done.returncode}), partial dump removed: "
                          f"{done.stderr.strip()[-1500:]} (free space now {human(left)})", result)
    # The checksum is read in a thread while pg_restore reads the archive (hashlib and file reads let go
    # of the GIL): on a verified backup it costs nothing but the second core.
    with ThreadPoolExecutor(max_workers=1) as pool:
        measuring = pool.submit(measure, target)
        try:
            check_archive(module, target, tables, source_rows, result)
        finally:
            record_measure(result, target, *measuring.result())
    return result


def record_measure(result: dict[str, Any], target: str, size: int, sha256: str,
                   files: list[tuple[str, str, int]]) -> None:
    result.update(bytes=size, sha256=sha256, manifest=None)
    if files:
        manifest_path = target + ".sha256"
        with open(manifest_path, "w", encoding="utf-8") as handle:
            handle.write(manifest(files))
        result["manifest"] = manifest_path


def check_archive(module: AnsibleModule, target: str, tables: list[str], source_rows: dict[str, int],
                  result: dict[str, Any]) -> None:
    """pg_restore --list must read data for every table; a test restore must hold the snapshot's row counts."""
    params = module.params
    if params["verify"]:
        listed = run_tool([params["pg_restore"], "--list", target], "", params["timeout"])
        if listed.returncode != 0:
            raise BackupError(f"pg_restore --list cannot read {target}: {listed.stderr.strip()[-1000:]}", result)
        toc = parse_toc(listed.stdout)
        result["toc"] = {"format": toc.format, "entries": toc.entries, "tables_with_data": toc.tables_with_data}
        if toc.tables_with_data != len(tables):
            raise BackupError(f"{target} holds data for {toc.tables_with_data} of {len(tables)} tables", result)
    if params["test_restore"]:
        result["test_restore"] = test_restore(module, target, source_rows)
        if result["test_restore"]["mismatches"]:
            raise BackupError("test restore row counts differ from the dump's snapshot: "
                              + "; ".join(result["test_restore"]["mismatches"]), result)


def restore(module: AnsibleModule, conn: Any) -> dict[str, Any]:
    """Restore into a new database, then swap names; the live database is untouched until the swap."""
    params = module.params
    src, db = params["src"], params["db"]
    if not src:
        raise BackupError("src is required for state=restore")
    if not os.path.exists(src):
        raise BackupError(f"cannot restore {db}: the backup {src} does not exist on {os.uname().nodename}")
    staging = f"{db}_liftoff_restore"
    replaced = params["replaced_db"] or f"{db}_replaced_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    result = {"src": src, "db": db, "replaced_db": replaced if params["keep_replaced"] else None}
    if module.check_mode:
        return result
    started = time.monotonic()
    ident = sql.Identifier
    owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (db,)).fetchone()
    if owner is None:
        raise BackupError(f"cannot restore {db}: no such database")
    admin = connect(params, db="postgres")
    try:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident(staging)))
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident(staging), ident(owner[0])))
        argv = restore_argv(params["pg_restore"], target=src, jobs=params["jobs"], db=staging,
                            host=params["login_host"], port=params["login_port"], user=params["login_user"],
                            extra=["--exit-on-error"], keep_owners=True)
        done = run_tool(argv, params["login_password"], params["timeout"])
        if done.returncode != 0:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident(staging)))
            raise BackupError(f"restore of {src} failed before anything was replaced (the live database {db} is "
                              f"untouched): {done.stderr.strip()[-1500:]}")
        staged = connect(params, db=staging)
        try:
            tables = len(staged.execute(USER_TABLES).fetchall())
        finally:
            staged.close()
        conn.close()
        # The swap: refuse new connections, end the ones there are, rename twice.
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(ident(db)))
        try:
            for _unused in range(50):
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = %s AND pid <> pg_backend_pid()", (db,))
                try:
                    admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(db), ident(replaced)))
                    break
                except psycopg.errors.ObjectInUse:
                    time.sleep(0.1)
            else:
                raise BackupError(f"could not replace {db}: sessions kept reconnecting; nothing was replaced")
        except BaseException:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(ident(db)))
            raise
        try:
            admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(staging), ident(db)))
        except BaseException:
            admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(replaced), ident(db)))
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(ident(db)))
            raise
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(ident(replaced)))
        if not params["keep_replaced"]:
            admin.execute(sql.SQL("DROP DATABASE {}").format(ident(replaced)))
    finally:
        admin.close()
    result.update(duration_ms=int((time.monotonic() - started) * 1000), tables=tables)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if psycopg is None:
        module.fail_json(msg=missing_required_lib("psycopg (psycopg 3, pip install 'psycopg[binary]')"),
                         exception=PSYCOPG_IMPORT_ERROR)
    for tool in () if module.params["state"] == "counters" else ("pg_dump", "pg_restore"):
        found = module.get_bin_path(module.params[tool])
        if not found:
            module.fail_json(msg=f"{module.params[tool]} not found on {os.uname().nodename}: install the "
                                 "PostgreSQL client (Debian: postgresql-client) of the server's major version")
        module.params[tool] = found
    try:
        conn = connect(module.params)
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot connect to database {module.params['db']}: {describe_error(exc)}")
    try:
        if module.params["state"] == "counters":
            module.exit_json(changed=False, counters=read_counters(conn))
        if module.params["state"] == "restore":
            module.exit_json(changed=not module.check_mode, restored=restore(module, conn))
        result = dump(module, conn)
    except BackupError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except psycopg.Error as exc:
        module.fail_json(msg=f"backup of {module.params['db']} failed: {describe_error(exc)}")
    except subprocess.TimeoutExpired as exc:
        module.fail_json(msg=f"backup of {module.params['db']} stopped after {exc.timeout} s (timeout)")
    finally:
        conn.close()
    module.exit_json(changed=not module.check_mode, **result)


if __name__ == "__main__":
    main()

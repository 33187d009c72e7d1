"""Migration faults injected for real against a throwaway PostgreSQL, each proving nothing was lost.

Every test seeds rows, takes per-table row checksums (md5 of the ordered rows) and the
schema fingerprint, injects one fault, and asserts the data, the schema and the tracking
table afterwards:

- a file fails halfway (its first statements ran - the sequence they advanced proves it);
- another session holds an ACCESS EXCLUSIVE lock beyond lock_timeout (fails fast; rerun applies);
- ansible-playbook is killed with SIGKILL while a migration runs (the server ends the orphaned
  backend, the advisory lock is freed, the rerun applies everything exactly once);
- a stale session holds the advisory lock (the failure names its pid and how to end it).

Measured times are printed (run with -s to see them); the bounds asserted are generous.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import pg as pg_support
from tests.support.pg import PgCluster

pytestmark = pytest.mark.integration

pg_cluster = pg_support.pg_cluster
fresh_db = pg_support.fresh_db

VENV_BIN = ROOT / ".venv" / "bin"
PLAYBOOK = str(VENV_BIN / "ansible-playbook") if (VENV_BIN / "ansible-playbook").exists() else "ansible-playbook"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
MODULE_PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "migrate_module.yml"
TABLE = "liftoff_schema_migrations"

BASE = {
    "001_create_users.sql": "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);\n",
    "002_create_orders.sql": (
        "CREATE TABLE orders (id bigserial PRIMARY KEY,"
        " user_id bigint NOT NULL REFERENCES users(id), total numeric(10,2));\n"
        "CREATE INDEX orders_user_id_idx ON orders (user_id);\n"
    ),
}
SEED = (
    "INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 500) g;"
    "INSERT INTO orders (user_id, total) SELECT 1 + (g % 500), g * 1.25 FROM generate_series(1, 2000) g;"
)
SCHEMA_SQL = (
    "SELECT md5(coalesce(string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable,"
    " ',' ORDER BY table_name, column_name), '')) FROM information_schema.columns"
    f" WHERE table_schema = 'public' AND table_name <> '{TABLE}'"
)


# ---------------------------------------------------------------------------- helpers

def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (directory / name).write_text(body)
    return directory


def env() -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
    }


def playbook_cmd(cluster: PgCluster, db: str, path: Path, tmp: Path, **extra: Any) -> list[str]:
    variables = {
        "migrate_test_host": cluster.host, "migrate_test_port": cluster.port, "migrate_test_db": db,
        "migrate_test_path": str(path), "ansible_python_interpreter": PYTHON, "ansible_connection": "local",
        **{f"migrate_test_{k}": v for k, v in extra.items()},
    }
    varfile = tmp / f"vars-{time.monotonic_ns()}.json"
    varfile.write_text(json.dumps(variables))
    return [PLAYBOOK, "-i", "localhost,", str(MODULE_PLAYBOOK), "-e", f"@{varfile}"]


def parse(out: str) -> dict[str, Any]:
    try:
        doc = json.loads(out[out.index("{"):])
        return dict(doc["plays"][0]["tasks"][0]["hosts"]["localhost"])
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError(f"no JSON result ({exc}):\n{out}") from exc


def migrate(cluster: PgCluster, db: str, path: Path, tmp: Path, **extra: Any) -> tuple[int, dict[str, Any], float]:
    """Run the playbook; return (exit code, the task's result, wall seconds)."""
    started = time.monotonic()
    proc = subprocess.run(playbook_cmd(cluster, db, path, tmp, **extra), cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=180, check=False)
    return proc.returncode, parse(proc.stdout), time.monotonic() - started


def checksums(cluster: PgCluster, db: str, tables: tuple[str, ...] = ("users", "orders")) -> dict[str, str]:
    """md5 of each table's rows in id order (the data, byte for byte as text)."""
    return {t: cluster.psql(f"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {t} t", db) for t in tables}


def schema(cluster: PgCluster, db: str) -> str:
    return cluster.psql(SCHEMA_SQL, db)


def tracked(cluster: PgCluster, db: str) -> list[str]:
    out = cluster.psql(f"SELECT version FROM {TABLE} ORDER BY version", db)
    return out.split() if out else []


def seeded(cluster: PgCluster, db: str, tmp: Path) -> Path:
    """001..002 applied through the module, then rows inserted; returns the migrations dir."""
    path = write_migrations(tmp / "m", BASE)
    rc, res, _unused = migrate(cluster, db, path, tmp)
    assert rc == 0, res
    cluster.psql(SEED, db)
    return path


def advisory_holders(cluster: PgCluster, db: str) -> str:
    return cluster.psql(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        f" WHERE l.locktype = 'advisory' AND l.granted AND d.datname = '{db}'")


# ---------------------------------------------------------------------------- faults

def test_failure_halfway_through_a_file_leaves_nothing_of_it(
    pg_cluster: PgCluster, fresh_db: str, tmp_path: Path
) -> None:
    path = seeded(pg_cluster, fresh_db, tmp_path)
    data, shape = checksums(pg_cluster, fresh_db), schema(pg_cluster, fresh_db)
    seq_before = int(pg_cluster.psql("SELECT last_value FROM users_id_seq", fresh_db))
    write_migrations(path, {
        "003_backfill.sql": (
            "INSERT INTO users (email) VALUES ('late@example.com');\n"       # runs
            "UPDATE users SET email = upper(email);\n"                        # runs
            "DELETE FROM orders WHERE total > 100;\n"                         # runs
            "ALTER TABLE users ADD COLUMN nickname text;\n"                   # runs
            "CREATE TABLE invoices (id int);\n"                               # runs
            "SELECT 1 / (SELECT count(*) - count(*) FROM users);\n"           # division by zero
            "CREATE TABLE never_reached (id int);\n"
        ),
        "004_after.sql": "CREATE TABLE after_the_failure (id int);\n",
    })
    rc, res, _unused = migrate(pg_cluster, fresh_db, path, tmp_path)
    assert rc != 0
    assert res["failed_migration"] == "003_backfill.sql"
    assert "division by zero" in res["msg"] and "rolled back" in res["msg"]
    assert res["applied"] == [] and [p["version"] for p in res["pending"]] == ["003", "004"]
    # the first statements did run: the sequence (not transactional) moved past the seed
    assert int(pg_cluster.psql("SELECT last_value FROM users_id_seq", fresh_db)) == seq_before + 1
    # ... and nothing of them remains
    assert checksums(pg_cluster, fresh_db) == data
    assert schema(pg_cluster, fresh_db) == shape
    assert res["fingerprint_after"] == res["fingerprint_before"]
    assert pg_cluster.psql("SELECT to_regclass('invoices') IS NULL AND to_regclass('after_the_failure') IS NULL",
                           fresh_db) == "t"
    assert tracked(pg_cluster, fresh_db) == ["001", "002"]
    assert advisory_holders(pg_cluster, fresh_db) == "0"


@pytest.mark.parametrize(
    ("blocker_sql", "where"),
    [
        # another session holds ACCESS EXCLUSIVE (the brief's fault): even reading the schema
        # (index and default expressions) waits for it, so the run stops before any file
        ("LOCK TABLE users IN ACCESS EXCLUSIVE MODE", "fingerprint"),
        # the production classic: a transaction that read the table and stays open
        # (idle in transaction); ALTER TABLE needs ACCESS EXCLUSIVE and would queue behind it
        ("SELECT count(*) FROM users", "migration"),
    ],
    ids=["access-exclusive", "idle-in-transaction-reader"],
)
def test_lock_held_beyond_lock_timeout_fails_fast_then_rerun_applies(
    pg_cluster: PgCluster, fresh_db: str, tmp_path: Path, blocker_sql: str, where: str
) -> None:
    path = seeded(pg_cluster, fresh_db, tmp_path)
    data, shape = checksums(pg_cluster, fresh_db), schema(pg_cluster, fresh_db)
    write_migrations(path, {"003_add_nickname.sql": "ALTER TABLE users ADD COLUMN nickname text;\n"})

    blocker = psycopg.connect(pg_cluster.dsn(fresh_db), application_name="test-blocker")
    try:
        blocker.execute(blocker_sql)  # the open transaction keeps the lock
        blocker_pid = blocker.info.backend_pid
        rc, res, wall = migrate(pg_cluster, fresh_db, path, tmp_path, lock_timeout="1s")
        print(f"\nlock_timeout=1s, blocker {blocker_sql!r}: ansible-playbook returned after {wall:.2f}s; "
              f"module duration {res.get('duration_ms')} ms")
        assert rc != 0
        assert "lock timeout" in res["msg"] and "55P03" in res["msg"], res["msg"]
        assert f"pid {blocker_pid} (test-blocker) idle in transaction" in res["msg"], res["msg"]
        assert "on users" in res["msg"] and "pg_terminate_backend" in res["msg"], res["msg"]
        if where == "fingerprint":
            assert res["msg"].startswith("cannot read the schema before migrating, nothing applied")
        else:
            assert res["failed_migration"] == "003_add_nickname.sql"
            assert res["msg"].startswith("migration 003_add_nickname.sql failed and was rolled back")
        assert [p["version"] for p in res["pending"]] == ["003"] and res["applied"] == []
        assert wall < 20, f"a 1s lock_timeout took {wall:.1f}s: the migration hung behind the lock"
        assert int(res["duration_ms"]) < 5000
        assert advisory_holders(pg_cluster, fresh_db) == "0"
    finally:
        blocker.rollback()
        blocker.close()
    assert checksums(pg_cluster, fresh_db) == data
    assert schema(pg_cluster, fresh_db) == shape
    assert tracked(pg_cluster, fresh_db) == ["001", "002"]

    # the blocker is gone: the same run applies it, and the data is what it was
    rc, res, _unused = migrate(pg_cluster, fresh_db, path, tmp_path, lock_timeout="1s")
    assert rc == 0, res
    assert [a["version"] for a in res["applied"]] == ["003"]
    assert tracked(pg_cluster, fresh_db) == ["001", "002", "003"]
    assert checksums(pg_cluster, fresh_db)["orders"] == data["orders"]
    assert pg_cluster.psql("SELECT md5(string_agg((id, email)::text, ',' ORDER BY id)) FROM users", fresh_db) == \
        data["users"]
    assert pg_cluster.psql("SELECT count(*) FROM users WHERE nickname IS NULL", fresh_db) == "500"


def _procs() -> dict[int, tuple[int, str]]:
    """pid -> (process group, command line) of every live process."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[3]), cmdline)
    return found


def run_processes(marker: str) -> dict[int, int]:
    """pid -> process group of the controller and workers of one run (their argv holds ``marker``)."""
    return {pid: pgid for pid, (pgid, cmd) in _procs().items() if marker in cmd}


def group_alive(pgid: int) -> bool:
    return any(group == pgid for group, _unused in _procs().values())


SLOW_003 = (
    "CREATE TABLE invoices (id bigserial PRIMARY KEY, user_id bigint);\n"
    "INSERT INTO invoices (user_id) SELECT id FROM users;\n"
    "UPDATE orders SET total = total * 2;\n"
    "SELECT pg_sleep(30);\n"
)
FIXED_003 = SLOW_003.replace("SELECT pg_sleep(30);\n", "")


@pytest.mark.parametrize(
    "kill",
    [
        # the brief's fault: kill -9 the ansible-playbook process group. ansible-core >= 2.19
        # starts workers with setsid, so the worker and the module survive this; the module's
        # controller watch notices the dead controller and cancels the migration.
        "playbook-group",
        # what a CI runner's cgroup kill or a dying container does: every process of the run
        # dies, the module with it; the server notices the dead client
        # (client_connection_check_interval) and rolls the migration back.
        "whole-run",
    ],
)
def test_sigkill_mid_migration_then_rerun_applies_exactly_once(
    pg_cluster: PgCluster, fresh_db: str, tmp_path: Path, kill: str
) -> None:
    path = seeded(pg_cluster, fresh_db, tmp_path)
    data, shape = checksums(pg_cluster, fresh_db), schema(pg_cluster, fresh_db)
    write_migrations(path, {
        "003_slow.sql": SLOW_003,
        "004_next.sql": "ALTER TABLE invoices ADD COLUMN paid boolean NOT NULL DEFAULT false;\n",
    })
    cmd = playbook_cmd(pg_cluster, fresh_db, path, tmp_path)
    marker = cmd[-1]  # @/tmp/.../vars-N.json: only this run's processes carry it
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    groups: set[int] = {proc.pid}
    try:
        deadline = time.monotonic() + 60
        backend = ""
        while not backend:
            assert proc.poll() is None, "ansible-playbook ended before the migration reached pg_sleep"
            assert time.monotonic() < deadline, "the migration never reached pg_sleep"
            backend = pg_cluster.psql(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active'"
                " AND application_name = 'liftoff.release.sql_migrate' AND query LIKE '%pg_sleep(30)%'", fresh_db)
            time.sleep(0.1)
        assert advisory_holders(pg_cluster, fresh_db) == "1"
        groups |= set(run_processes(marker).values())
        assert len(groups) >= 2, "expected the worker in its own process group (ansible-core >= 2.19)"
        targets = [proc.pid] if kill == "playbook-group" else sorted(groups)
        for group in targets:
            os.killpg(group, signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(timeout=10)

        # the server-side backend ends: cancelled by the module, or dropped with its dead client
        deadline = killed + 25
        while pg_cluster.psql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {backend}", fresh_db) != "0":
            assert time.monotonic() < deadline, f"backend {backend} still runs 25s after the kill"
            time.sleep(0.05)
        gone_after = time.monotonic() - killed
        # ... and so does every process of the run (the orphaned worker returns to nobody)
        deadline = killed + 30
        while any(group_alive(g) for g in groups):
            assert time.monotonic() < deadline, f"processes of the killed run still alive: {run_processes(marker)}"
            time.sleep(0.1)
        all_gone_after = time.monotonic() - killed
    finally:
        for group in groups:  # only the groups this test started
            if group_alive(group):
                os.killpg(group, signal.SIGKILL)
    print(f"\nSIGKILL ({kill}): backend {backend} ended {gone_after:.2f}s after the kill "
          f"(pg_sleep was 30s); all processes of the run gone after {all_gone_after:.2f}s")
    assert gone_after < 10
    assert advisory_holders(pg_cluster, fresh_db) == "0"

    # nothing of 003 was committed, 004 never started
    assert checksums(pg_cluster, fresh_db) == data
    assert schema(pg_cluster, fresh_db) == shape
    assert pg_cluster.psql("SELECT to_regclass('invoices') IS NULL", fresh_db) == "t"
    assert tracked(pg_cluster, fresh_db) == ["001", "002"]

    # the fixed file: the rerun applies 003 and 004, each exactly once
    write_migrations(path, {"003_slow.sql": FIXED_003})
    rc, res, wall = migrate(pg_cluster, fresh_db, path, tmp_path, lock_wait=5)
    assert rc == 0, res
    print(f"rerun after the kill: {wall:.2f}s")
    assert [a["version"] for a in res["applied"]] == ["003", "004"]
    assert tracked(pg_cluster, fresh_db) == ["001", "002", "003", "004"]
    assert pg_cluster.psql("SELECT count(*) FROM invoices", fresh_db) == "500"
    assert checksums(pg_cluster, fresh_db, ("users",)) == {"users": data["users"]}
    assert pg_cluster.psql("SELECT sum(total) FROM orders", fresh_db) == \
        pg_cluster.psql("SELECT sum(g * 1.25) * 2 FROM generate_series(1, 2000) g", fresh_db)
    rc, res, _unused = migrate(pg_cluster, fresh_db, path, tmp_path)
    assert rc == 0 and res["applied"] == [] and res["changed"] is False, res
    assert pg_cluster.psql("SELECT count(*) FROM invoices", fresh_db) == "500"


def test_stale_advisory_lock_holder_is_named_with_how_to_end_it(
    pg_cluster: PgCluster, fresh_db: str, tmp_path: Path
) -> None:
    path = seeded(pg_cluster, fresh_db, tmp_path)
    data = checksums(pg_cluster, fresh_db)
    write_migrations(path, {"003_add_index.sql": "CREATE INDEX users_email_idx ON users (email);\n"})
    stale = psycopg.connect(pg_cluster.dsn(fresh_db), autocommit=True, application_name="stale-runner")
    try:
        stale_pid = stale.info.backend_pid
        stale.execute("SELECT pg_advisory_lock(7262100401)")
        rc, res, _unused = migrate(pg_cluster, fresh_db, path, tmp_path, lock_wait=1)
        assert rc != 0
        assert "another migration run holds the advisory lock 7262100401" in res["msg"]
        assert f"pid {stale_pid} (stale-runner)" in res["msg"]
        assert f"SELECT pg_terminate_backend({stale_pid})" in res["msg"]
        assert tracked(pg_cluster, fresh_db) == ["001", "002"]
        # the operator does what the message says
        assert pg_cluster.psql(f"SELECT pg_terminate_backend({stale_pid})", fresh_db) == "t"
    finally:
        stale.close()
    rc, res, _unused = migrate(pg_cluster, fresh_db, path, tmp_path, lock_wait=10)
    assert rc == 0, res
    assert [a["version"] for a in res["applied"]] == ["003"]
    assert checksums(pg_cluster, fresh_db) == data

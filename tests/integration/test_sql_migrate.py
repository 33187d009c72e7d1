"""liftoff.release.sql_migrate through real `ansible`, against a throwaway PostgreSQL.

Each test writes its own small migration files into a tmp dir, runs the module ad hoc
(`ansible localhost -m liftoff.release.sql_migrate`) from the checkout, and then asserts
on the database itself.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import pg as pg_support
from tests.support.pg import PgCluster

# The cluster fixtures live in tests/support/pg.py; bind them here so this module runs
# on its own (a root conftest may also list "tests.support.pg" in pytest_plugins).
pg_cluster = pg_support.pg_cluster
fresh_db = pg_support.fresh_db

VENV_BIN = ROOT / ".venv" / "bin"
ANSIBLE = str(VENV_BIN / "ansible") if (VENV_BIN / "ansible").exists() else "ansible"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
TABLE = "liftoff_schema_migrations"

BASE = {
    "001_create_users.sql": "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);\n",
    "002_create_orders.sql": (
        "CREATE TABLE orders (id bigserial PRIMARY KEY,"
        " user_id bigint NOT NULL REFERENCES users(id), total numeric(10,2));\n"
        "CREATE INDEX orders_user_id_idx ON orders (user_id);\n"
    ),
    "003_add_users_name.sql": "ALTER TABLE users ADD COLUMN name text;\n-- 100% safe\n",
}


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (directory / name).write_text(body)
    return directory


def run_module(
    cluster: PgCluster, db: str, path: Path, *, check: bool = False, use_src: bool = False,
    remote_tmp: Path | None = None, **extra: Any
) -> tuple[int, dict[str, Any], str]:
    """Run the module ad hoc (``use_src``: the files through the action plugin's src); return
    (exit code, the host's result, raw output)."""
    args: dict[str, Any] = {
        "login_host": cluster.host,
        "login_port": cluster.port,
        "login_user": cluster.user,
        "db": db,
        "src" if use_src else "path": str(path),
        **extra,
    }
    cmd = [ANSIBLE, "localhost", "-m", "liftoff.release.sql_migrate", "-a", json.dumps(args),
           "-e", f"ansible_python_interpreter={PYTHON}", "-e", "ansible_connection=local"]
    if remote_tmp is not None:
        cmd += ["-e", f"ansible_remote_tmp={remote_tmp}"]
    if check:
        cmd.append("--check")
    env = {
        **os.environ,
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
    }
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    out = proc.stdout
    try:
        doc = json.loads(out[out.index("{"):])
        result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError(f"no JSON result ({exc}); rc={proc.returncode}\n{out}\n{proc.stderr}") from exc
    return proc.returncode, result, out + proc.stderr


def test_src_on_the_controller_is_copied_by_the_action_and_left_nowhere(
        pg_cluster: PgCluster, fresh_db: str, tmp_path: Path) -> None:
    # The action plugin copies src's *.sql into the task's own temporary directory on the host; the
    # module applies that copy, and the directory is gone afterwards (no staging dir to clean up).
    src = write_migrations(tmp_path / "m", {**BASE, "README.md": "not a migration"})
    remote_tmp = tmp_path / "remote-tmp"
    rc, res, out = run_module(pg_cluster, fresh_db, src, use_src=True, remote_tmp=remote_tmp, run_id="run-src")
    assert rc == 0, out
    assert [a["version"] for a in res["applied"]] == ["001", "002", "003"]
    assert tracked(pg_cluster, fresh_db) == ["001:create_users", "002:create_orders", "003:add_users_name"]
    assert remote_tmp.is_dir() and list(remote_tmp.iterdir()) == []
    # Both src and path: refused before anything is read or applied.
    rc, res, out = run_module(pg_cluster, fresh_db, src, src=str(src))
    assert rc != 0 and "give src (on the controller) or path (on the host), not both" in res["msg"], out
    rc, res, out = run_module(pg_cluster, fresh_db, tmp_path / "none", use_src=True)
    assert rc != 0 and "src: not a directory on the controller" in res["msg"], out


def tables(cluster: PgCluster, db: str) -> set[str]:
    out = cluster.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", db)
    return set(out.split()) if out else set()


def tracked(cluster: PgCluster, db: str) -> list[str]:
    out = cluster.psql(f"SELECT version || ':' || name FROM {TABLE} ORDER BY version", db)
    return out.split() if out else []


def test_applies_in_order_and_records_each_file(pg_cluster: PgCluster, fresh_db: str, tmp_path: Path) -> None:
    path = write_migrations(tmp_path / "m", BASE)
    rc, res, out = run_module(pg_cluster, fresh_db, path, run_id="run-42")
    assert rc == 0, out
    assert res["changed"] is True
    assert [a["version"] for a in res["applied"]] == ["001", "002", "003"]
    assert res["already_applied"] == 0 and res["pending"] == []
    assert res["fingerprint_before"] != res["fingerprint_after"]
    assert tables(pg_cluster, fresh_db) == {"users", "orders", TABLE}
    assert tracked(pg_cluster, fresh_db) == ["001:create_users", "002:create_orders", "003:add_users_name"]
    assert pg_cluster.psql(f"SELECT DISTINCT run_id FROM {TABLE}", fresh_db) == "run-42"
    assert pg_cluster.psql(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'name'",
        fresh_db,
    ) == "1"
    # the advisory lock was released with the session
    assert pg_cluster.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", fresh_db) == "0"


def test_rerun_applies_nothing(pg_cluster: PgCluster, fresh_db: str, tmp_path: Path) -> None:
    path = write_migrations(tmp_path / "m", BASE)
    assert run_module(pg_cluster, fresh_db, path)[0] == 0
    rows_before = pg_cluster.psql(f"SELECT version, applied_at FROM {TABLE} ORDER BY 1", fresh_db)
    rc, res, out = run_module(pg_cluster, fresh_db, path)
    assert rc == 0, out
    assert res["changed"] is False
    assert res["applied"] == [] and res["pending"] == []
    assert res["already_applied"] == 3
    assert res["fingerprint_before"] == res["fingerprint_after"]
    assert pg_cluster.psql(f"SELECT version, applied_at FROM {TABLE} ORDER BY 1", fresh_db) == rows_before


def test_check_mode_lists_pending_and_changes_nothing(
    pg_cluster: PgCluster, fresh_db: str, tmp_path: Path
) -> None:
    path = write_migrations(tmp_path / "m", BASE)
    rc, res, out = run_module(pg_cluster, fresh_db, path, check=True)
    assert rc == 0, out
    assert res["changed"] is True
    assert [p["file"] for p in res["pending"]] == sorted(BASE)
    assert res["applied"] == []
    assert tables(pg_cluster, fresh_db) == set()  # not even the tracking table

    # after applying 001..002 (target), check mode plans only 003
    assert run_module(pg_cluster, fresh_db, path, target="002")[0] == 0
    assert tracked(pg_cluster, fresh_db) == ["001:create_users", "002:create_orders"]
    rc, res, out = run_module(pg_cluster, fresh_db, path, check=True)
    assert rc == 0, out
    assert [p["version"] for p in res["pending"]] == ["003"]
    assert res["already_applied"] == 2
    assert tracked(pg_cluster, fresh_db) == ["001:create_users", "002:create_orders"]


def test_failing_file_is_rolled_back_and_stops_the_run(
    pg_cluster: PgCluster, fresh_db: str, tmp_path: Path
) -> None:
    files = {
        **BASE,
        # the first statement succeeds, the second fails: both must be rolled back
        "004_broken.sql": "CREATE TABLE invoices (id int);\nALTER TABLE nosuch ADD COLUMN x int;\n",
        "005_never_reached.sql": "CREATE TABLE never (id int);\n",
    }
    path = write_migrations(tmp_path / "m", files)
    rc, res, out = run_module(pg_cluster, fresh_db, path)
    assert rc != 0, out
    assert res["failed"] is True and res["failed_migration"] == "004_broken.sql"
    assert "004_broken.sql" in res["msg"]
    assert 'relation "nosuch" does not exist' in res["msg"]
    assert [a["version"] for a in res["applied"]] == ["001", "002", "003"]
    assert [p["file"] for p in res["pending"]] == ["004_broken.sql", "005_never_reached.sql"]
    assert res["fingerprint_before"] and res["fingerprint_after"]
    assert tables(pg_cluster, fresh_db) == {"users", "orders", TABLE}  # no invoices, no never
    assert tracked(pg_cluster, fresh_db) == ["001:create_users", "002:create_orders", "003:add_users_name"]


@pytest.mark.parametrize("body", ["COMMIT;\nCREATE TABLE after_commit (id int);\n", "ROLLBACK;\n"])
def test_transaction_control_in_a_file_is_refused(
    pg_cluster: PgCluster, fresh_db: str, tmp_path: Path, body: str
) -> None:
    path = write_migrations(tmp_path / "m", {"001_ok.sql": "CREATE TABLE ok (id int);\n", "002_tx.sql": body})
    rc, res, out = run_module(pg_cluster, fresh_db, path)
    assert rc != 0, out
    assert res["failed_migration"] == "002_tx.sql" and "ended the transaction itself" in res["msg"]
    assert tracked(pg_cluster, fresh_db) == ["001:ok"]


def test_empty_and_comment_only_files_are_recorded(pg_cluster: PgCluster, fresh_db: str, tmp_path: Path) -> None:
    path = write_migrations(tmp_path / "m", {"001_empty.sql": "", "002_comment.sql": "-- nothing yet\n"})
    rc, _res, out = run_module(pg_cluster, fresh_db, path)
    assert rc == 0, out
    assert tracked(pg_cluster, fresh_db) == ["001:empty", "002:comment"]


def test_statement_timeout_fails_the_file(pg_cluster: PgCluster, fresh_db: str, tmp_path: Path) -> None:
    path = write_migrations(tmp_path / "m", {"001_slow.sql": "CREATE TABLE slow (id int);\nSELECT pg_sleep(5);\n"})
    rc, res, out = run_module(pg_cluster, fresh_db, path, statement_timeout="300ms")
    assert rc != 0, out
    assert "001_slow.sql" in res["msg"] and "statement timeout" in res["msg"]
    assert "slow" not in tables(pg_cluster, fresh_db)


def test_drifted_checksum_is_refused(pg_cluster: PgCluster, fresh_db: str, tmp_path: Path) -> None:
    path = write_migrations(tmp_path / "m", BASE)
    assert run_module(pg_cluster, fresh_db, path, target="002")[0] == 0
    (path / "001_create_users.sql").write_text("CREATE TABLE users (id int);  -- edited\n")
    rc, res, out = run_module(pg_cluster, fresh_db, path)
    assert rc != 0, out
    assert "drift" in res["msg"] and "001_create_users.sql" in res["msg"] and "checksum" in res["msg"]
    # nothing applied: 003 is still pending
    assert tracked(pg_cluster, fresh_db) == ["001:create_users", "002:create_orders"]
    # a deleted applied file is drift too
    (path / "001_create_users.sql").write_text(BASE["001_create_users.sql"])
    (path / "002_create_orders.sql").unlink()
    rc, res, out = run_module(pg_cluster, fresh_db, path)
    assert rc != 0 and "version 002" in res["msg"] and "missing" in res["msg"], out


def test_second_runner_fails_after_lock_wait(pg_cluster: PgCluster, fresh_db: str, tmp_path: Path) -> None:
    slow = write_migrations(tmp_path / "slow", {"001_slow.sql": "CREATE TABLE slow (id int);\nSELECT pg_sleep(20);\n"})
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    args = json.dumps({"login_host": pg_cluster.host, "login_port": pg_cluster.port, "db": fresh_db,
                       "path": str(slow), "advisory_lock_id": 4242})
    first = subprocess.Popen(
        [ANSIBLE, "localhost", "-m", "liftoff.release.sql_migrate", "-a", args,
         "-e", f"ansible_python_interpreter={PYTHON}", "-e", "ansible_connection=local"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while pg_cluster.psql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted", fresh_db
        ) != "1":
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "first runner never took the advisory lock"
            time.sleep(0.1)
        started = time.monotonic()
        rc, res, out = run_module(pg_cluster, fresh_db, slow, advisory_lock_id=4242, lock_wait=1)
        assert rc != 0, out
        assert time.monotonic() - started >= 1
        assert "another migration run holds the advisory lock 4242" in res["msg"]
        assert "lock_wait" in res["msg"]
    finally:
        first_out = first.communicate(timeout=60)[0]
    assert first.returncode == 0, first_out
    assert tracked(pg_cluster, fresh_db) == ["001:slow"]


def test_bad_file_name_fails_before_touching_the_db(pg_cluster: PgCluster, fresh_db: str, tmp_path: Path) -> None:
    path = write_migrations(tmp_path / "m", {**BASE, "4-oops.sql": "SELECT 1;"})
    rc, res, out = run_module(pg_cluster, fresh_db, path)
    assert rc != 0, out
    assert "bad migration file name '4-oops.sql'" in res["msg"]
    assert tables(pg_cluster, fresh_db) == set()


def test_destructive_migration_is_refused_before_anything_then_applied_when_approved(
    pg_cluster: PgCluster, fresh_db: str, tmp_path: Path
) -> None:
    files = {
        **BASE,
        "004_drop_name.sql": "-- name moved to profiles\nALTER TABLE users DROP COLUMN name;\nTRUNCATE orders;\n",
    }
    path = write_migrations(tmp_path / "m", files)
    for check in (True, False):
        rc, res, out = run_module(pg_cluster, fresh_db, path, check=check)
        assert rc != 0, out
        assert res["msg"].startswith("destructive migration(s) not approved, nothing applied: "
                                     "004_drop_name.sql:2 DROP COLUMN: ALTER TABLE users DROP COLUMN name; "
                                     "004_drop_name.sql:3 TRUNCATE: TRUNCATE orders")
        assert "approve versions ['004'] with the allow_destructive option" in res["msg"]
        assert [f["kind"] for f in res["destructive_unapproved"]] == ["DROP COLUMN", "TRUNCATE"]
        assert [p["version"] for p in res["pending"]] == ["001", "002", "003", "004"]
        assert tables(pg_cluster, fresh_db) == set()  # not even 001, nor the tracking table
    rc, res, out = run_module(pg_cluster, fresh_db, path, allow_destructive=["4"])
    assert rc == 0, out
    assert [a["version"] for a in res["applied"]] == ["001", "002", "003", "004"]
    assert [f["kind"] for f in res["destructive"]] == ["DROP COLUMN", "TRUNCATE"]
    assert res["destructive_unapproved"] == []
    assert tracked(pg_cluster, fresh_db)[-1] == "004:drop_name"

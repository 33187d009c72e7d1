"""Backups and restores against real PostgreSQL, moto's S3 and real ansible-playbook runs, faults injected for real.

The tests share one environment and run in file order. Every fault test checks that nothing
was lost: the md5 of every table's rows (and the schema) is the same before and after.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import assert_no_secret, evidence, latest_record, served_version
from localenv import LocalEnv

from tests.support.moto import MotoServer

pytestmark = pytest.mark.integration

SCHEMA_SQL = ("SELECT md5(coalesce(string_agg(table_name || '.' || column_name || ':' || data_type, ',' "
              "ORDER BY table_name, column_name), '')) FROM information_schema.columns WHERE table_schema = 'public'")


def snapshot(env: LocalEnv) -> dict[str, str]:
    """Every public table's row checksum (md5 of its rows in a stable order), and the schema's."""
    tables = env.pg.psql("SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables "
                         "WHERE schemaname = 'public'", db="demo").split()
    sums = {t: env.pg.psql(f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM public.{t} t",
                           db="demo") for t in tables}
    sums["(schema)"] = env.pg.psql(SCHEMA_SQL, db="demo")
    return sums


def out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def dumps(env: LocalEnv) -> list[str]:
    return sorted(p.name for p in (env.root / "backups").glob("demo-*"))


def tracking(env: LocalEnv) -> str:
    return env.pg.psql("SELECT coalesce(string_agg(version, ',' ORDER BY version), '') FROM liftoff_schema_migrations "
                       "WHERE to_regclass('liftoff_schema_migrations') IS NOT NULL", db="demo") \
        if env.pg.psql("SELECT to_regclass('liftoff_schema_migrations') IS NOT NULL", db="demo") == "t" else ""


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    try:
        server.s3().create_bucket(Bucket="liftoff-backups")
        yield server
    finally:
        server.stop()


def playbook(env: LocalEnv, name: str, *args: str, version: str = "v1",
             extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return env.playbook(name, *args, version=version, extra_env=extra_env)


def test_setup_data_the_faults_must_not_lose(local_env: LocalEnv) -> None:
    local_env.pg.psql("CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL);"
                      "INSERT INTO accounts SELECT g, md5(g::text), g * 1.5 FROM generate_series(1, 5000) g;"
                      "CREATE TABLE ledger (id bigserial PRIMARY KEY, account int REFERENCES accounts, amount numeric);"
                      "INSERT INTO ledger (account, amount) SELECT (g % 5000) + 1, g FROM generate_series(1, 20000) g;",
                      db="demo")
    assert local_env.pg.psql("SELECT count(*) FROM ledger", db="demo") == "20000"


def test_pg_dump_permission_denied_stops_the_run_before_migrating(local_env: LocalEnv) -> None:
    # A role that may read every table but one: pg_dump fails on that table (and exits non-zero).
    local_env.pg.psql("CREATE ROLE deployer LOGIN; GRANT ALL ON DATABASE demo TO deployer;"
                      "GRANT ALL ON SCHEMA public TO deployer; GRANT SELECT ON accounts, ledger TO deployer;"
                      "GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO deployer;"
                      "CREATE TABLE payroll (id int, salary numeric); INSERT INTO payroll VALUES (1, 100);", db="demo")
    before = snapshot(local_env), tracking(local_env), dumps(local_env)
    result = playbook(local_env, "deploy.yml", "-e", "liftoff_db_user=deployer")
    assert result.returncode != 0
    assert (snapshot(local_env), tracking(local_env), dumps(local_env)) == before  # no partial dump either
    record = latest_record(local_env)
    assert record["outcome"] == "failed" and record["failed_phase"] == "backup", record["reason"]
    dump = evidence(record, "backup.dump")
    assert dump["status"] == "fail" and "permission denied" in dump["actual"] and "payroll" in dump["actual"]
    assert evidence(record, "migrate.phase")["status"] == "skip"
    assert served_version(local_env) is None  # nothing was deployed
    local_env.pg.psql("DROP TABLE payroll; DROP OWNED BY deployer; DROP ROLE deployer;", db="demo")
    assert_no_secret(local_env, out(result))


def test_disk_too_small_refuses_before_dumping(local_env: LocalEnv, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a 256 KiB tmpfs as the too-small backup disk")
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], capture_output=True,
                             text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"this sandbox refuses a tmpfs mount ({mounted.stderr.strip()}); the refusal needs a small disk")
    try:
        before = snapshot(local_env), tracking(local_env)
        result = playbook(local_env, "deploy.yml", "-e", f"backup_dir={small}")
        assert result.returncode != 0
        assert (snapshot(local_env), tracking(local_env)) == before
        assert list(small.iterdir()) == []
        record = latest_record(local_env)
        assert record["failed_phase"] == "backup"
        space = evidence(record, "backup.space")
        assert space["status"] == "fail" and "not enough free space" in space["actual"]
        assert int(space["details"]["estimate_bytes"]) > int(space["details"]["free_bytes"])
        assert "backup refused before starting" in record["reason"] and "backup_dir" in record["reason"]
        assert evidence(record, "migrate.phase")["status"] == "skip"
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_upload_failure_stops_before_migrating_and_keeps_the_local_dump(local_env: LocalEnv, tmp_path: Path) -> None:
    dead = MotoServer(tmp_path / "moto-dead").start()
    dead.s3().create_bucket(Bucket="liftoff-backups")
    url = dead.url
    dead.stop()  # the endpoint is gone when the upload starts
    before = snapshot(local_env), tracking(local_env), dumps(local_env)
    result = playbook(local_env, "deploy.yml", "-e", "backup_s3_bucket=liftoff-backups", "-e",
                      f"backup_s3_endpoint_url={url}", extra_env=dead.aws_environ())
    assert result.returncode != 0
    assert (snapshot(local_env), tracking(local_env)) == before[:2]
    record = latest_record(local_env)
    assert record["failed_phase"] == "backup" and evidence(record, "migrate.phase")["status"] == "skip"
    upload = evidence(record, "backup.upload")
    assert upload["status"] == "fail" and upload["details"]["uploaded"] is False
    kept = Path(evidence(record, "backup.dump")["details"]["path"])
    assert kept.exists() and kept.name not in before[2]  # the verified local dump is kept


def test_directory_backup_with_jobs_test_restore_upload_and_retention(local_env: LocalEnv, moto: MotoServer) -> None:
    s3 = moto.s3()
    old = ["liftoff-backups/demo-20250101T000000Z-aaaaaa.pgc", "liftoff-backups/notes.txt"]
    for key in old:
        s3.put_object(Bucket="liftoff-backups", Key=key, Body=b"old")
    (local_env.root / "backups" / "demo-20250101T000000Z-bbbbbb.pgc").write_bytes(b"old")
    (local_env.root / "backups" / "README").write_text("not a backup")
    result = playbook(local_env, "backup.yml", "-e", "backup_format=directory", "-e", "backup_jobs=2",
                      "-e", "backup_test_restore=true", "-e", "backup_keep_last=1",
                      "-e", "backup_s3_bucket=liftoff-backups", "-e", f"backup_s3_endpoint_url={moto.url}",
                      extra_env=moto.aws_environ())
    assert result.returncode == 0, out(result)[-3000:]
    record = latest_record(local_env)
    backup = evidence(record, "backup.dump")["details"]
    path = Path(backup["path"])
    assert path.is_dir() and path.name.endswith(".dir")
    manifest = Path(backup["manifest"]).read_text()
    files = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in manifest.splitlines()}
    for name, digest in files.items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == digest
    assert hashlib.sha256(manifest.encode()).hexdigest() == backup["sha256"]
    restore = evidence(record, "backup.test_restore")
    assert restore["status"] == "pass"
    assert restore["details"]["source_rows"]['public.ledger'] == 20000
    assert restore["details"]["restored_rows"] == restore["details"]["source_rows"]
    assert local_env.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%liftoff_verify%'") == "0"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="liftoff-backups")["Contents"]}
    prefix = f"liftoff-backups/{path.name}/"
    assert {k[len(prefix):] for k in keys if k.startswith(prefix)} == set(files)
    assert f"liftoff-backups/{path.name}.sha256" in keys
    assert evidence(record, "backup.upload")["status"] == "pass"
    # Retention kept this run's backup and never touched what is not a backup.
    assert "liftoff-backups/demo-20250101T000000Z-aaaaaa.pgc" not in keys and "liftoff-backups/notes.txt" in keys
    local = dumps(local_env)
    assert "demo-20250101T000000Z-bbbbbb.pgc" not in local and path.name in local
    assert (local_env.root / "backups" / "README").exists()
    retention = evidence(record, "backup.retention")
    assert retention["details"]["kept"] == str(path)


def test_a_verified_backup_counts_its_snapshot_while_the_application_writes(local_env: LocalEnv) -> None:
    """The row counts are taken while pg_dump runs: they must be the dump's snapshot, not the moving table."""
    local_env.pg.psql("CREATE TABLE busy (id bigserial PRIMARY KEY, note text);"
                      "INSERT INTO busy (note) SELECT md5(g::text) FROM generate_series(1, 300000) g;", db="demo")
    stop = threading.Event()
    batches: list[int] = []

    def write() -> None:
        while not stop.is_set():
            local_env.pg.psql("INSERT INTO busy (note) SELECT 'during' FROM generate_series(1, 200)", db="demo")
            batches.append(200)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        result = playbook(local_env, "backup.yml", "-e", "backup_test_restore=true")
    finally:
        stop.set()
        writer.join(timeout=30)
    try:
        assert result.returncode == 0, out(result)[-3000:]
        restore = evidence(latest_record(local_env), "backup.test_restore")
        assert restore["status"] == "pass", restore
        counted = restore["details"]["source_rows"]["public.busy"]
        assert restore["details"]["restored_rows"] == restore["details"]["source_rows"]
        now = int(local_env.pg.psql("SELECT count(*) FROM busy", db="demo"))
        # Rows were written before the snapshot and after it, and the dump holds exactly the snapshot's.
        assert 300000 < counted < now == 300000 + sum(batches), (counted, now)
    finally:
        local_env.pg.psql("DROP TABLE busy", db="demo")


def _write_when_serving(env: LocalEnv, version: str, rows: int, done: threading.Event) -> None:
    """Play the new release taking writes: as soon as `version` serves, insert rows."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if served_version(env) == version:
            env.pg.psql(f"INSERT INTO ledger (account, amount) SELECT 1, g FROM generate_series(1, {rows}) g",
                        db="demo")
            done.set()
            return
        time.sleep(0.2)


FAILING_SMOKE = ('{"smoke_checks": [{"name": "new-endpoint", "url": "http://127.0.0.1:1/nothing-listens-here"}],'
                 ' "smoke_retries": 3, "smoke_delay": 1}')


def test_restore_refused_when_the_new_release_wrote_since_the_backup(local_env: LocalEnv) -> None:
    first = playbook(local_env, "deploy.yml", version="v1")
    assert first.returncode == 0, out(first)[-3000:]
    assert served_version(local_env) == "v1"
    wrote = threading.Event()
    writer = threading.Thread(target=_write_when_serving, args=(local_env, "v2", 7, wrote), daemon=True)
    writer.start()
    result = playbook(local_env, "deploy.yml", "-e", "rollback_db_policy=always", "-e", FAILING_SMOKE, version="v2")
    writer.join(timeout=5)
    assert wrote.is_set(), "the writer never saw v2 serving"
    assert result.returncode != 0
    record = latest_record(local_env)
    assert record["outcome"] == "rollback_failed", (record["failed_phase"], record["reason"])
    refused = evidence(record, "rollback.undo_database")
    assert refused["status"] == "fail" and "refused" in refused["actual"]
    assert refused["details"]["lost_writes"]["tables"] == {"public.ledger": 7}
    # The counters read as the migrations started leave the migrations' own writes (the tracking table's) out.
    assert refused["details"]["lost_writes"]["basis"] == "since the backup, the migrations' own writes left out"
    assert "counters_before_migrate" in refused["details"]["backup"]
    # Nothing was lost: the rows written after the backup are there, the schema keeps 002.
    assert local_env.pg.psql("SELECT count(*) FROM ledger", db="demo") == "20007"
    assert tracking(local_env) == "001,002"
    assert served_version(local_env) == "v1"  # the application went back all the same
    assert "rollback_db_force=true" in out(result)
    assert_no_secret(local_env, out(result))


def test_forced_restore_keeps_the_replaced_database_and_says_what_it_held(local_env: LocalEnv) -> None:
    assert served_version(local_env) == "v1" and tracking(local_env) == "001,002"
    before = snapshot(local_env)
    wrote = threading.Event()
    writer = threading.Thread(target=_write_when_serving, args=(local_env, "v3", 3, wrote), daemon=True)
    writer.start()
    result = playbook(local_env, "deploy.yml", "-e", "rollback_db_policy=always", "-e", "rollback_db_force=true",
                      "-e", FAILING_SMOKE, version="v3")
    writer.join(timeout=5)
    assert wrote.is_set()
    assert result.returncode != 0
    record = latest_record(local_env)
    assert record["outcome"] == "rolled_back", (record["failed_phase"], record["reason"])
    restored = evidence(record, "rollback.undo_database")
    assert restored["status"] == "pass" and restored["details"]["forced"] is True
    assert restored["details"]["lost_writes"]["tables"] == {"public.ledger": 3}
    assert "FORCED" in restored["actual"]
    assert snapshot(local_env) == before and tracking(local_env) == "001,002"
    replaced = restored["details"]["restored"]["replaced_db"]
    assert local_env.pg.psql("SELECT count(*) FROM ledger", db=replaced) == "20010"  # the writes are kept there
    assert local_env.pg.psql("SELECT count(*) FROM pg_indexes WHERE indexname = 'items_name_idx'", db="demo") == "0"
    assert json.loads(json.dumps(record))["version"] == "v3"


def test_maintenance_switch_through_the_pipeline_off_during_the_backup_and_back_after_smoke(
        local_env: LocalEnv) -> None:
    local_env.pg.psql("CREATE TABLE IF NOT EXISTS feature_flags (flag_name text PRIMARY KEY, enabled boolean);"
                      "INSERT INTO feature_flags VALUES ('auto_sync', true) ON CONFLICT DO NOTHING;"
                      "CREATE TABLE IF NOT EXISTS write_queue (id int, status text);", db="demo")
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(local_env.pg.psql("SELECT enabled FROM feature_flags WHERE flag_name = 'auto_sync'",
                                          db="demo"))
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    switches = json.dumps({
        "maintenance_flags": [{"name": "auto_sync", "set_to": False, "sql": {
            "table": "feature_flags", "key_column": "flag_name", "key": "auto_sync", "value_column": "enabled"}}],
        "maintenance_drain": [{"name": "active_syncs", "sql": "SELECT count(*) FROM write_queue "
                               "WHERE status = 'processing'", "timeout": 30}]})
    try:
        result = playbook(local_env, "deploy.yml", "-e", switches, version="v2")
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert result.returncode == 0, out(result)[-3000:]
    assert "f" in seen, "the flag was never seen off during the run"
    assert local_env.pg.psql("SELECT enabled FROM feature_flags WHERE flag_name = 'auto_sync'", db="demo") == "t"
    record = latest_record(local_env)
    assert record["outcome"] == "success"
    change = evidence(record, "maintenance.change")
    assert change["phase"] == "backup" and change["details"]["undo"]["restore_to"] in (True, "true", "t")
    assert evidence(record, "maintenance.drain")["status"] == "pass"
    restore = evidence(record, "maintenance.restore")
    assert restore["phase"] == "smoke" and restore["status"] == "pass"
    assert served_version(local_env) == "v2"

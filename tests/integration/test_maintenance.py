"""Maintenance switches (seed 003, "Stop Sync Operations"), end to end through the run machinery.

Real ansible-playbook runs of tests/integration/playbooks/maintenance_pipeline.yml against a
throwaway PostgreSQL (a feature_flags table and a sync_jobs queue) and a local HTTP flag service
that requires a bearer token: flags off before the work and back on after success, restored by
the real rollback role after a later failure or a drain that times out, a flag that was already
off left off, and bad input rejected before anything changes. The planted token and database
password never appear in -vvv output or in the records.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import pg as pg_support
from tests.support.pg import PgCluster

pytestmark = pytest.mark.integration
pg_cluster = pg_support.pg_cluster
fresh_db = pg_support.fresh_db

PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "maintenance_pipeline.yml"
TOKEN = "tok-" + uuid.uuid4().hex
PASSWORD = "pw-" + uuid.uuid4().hex  # the test cluster trusts loopback: planted only to prove it is never shown


class FlagService:
    """A flag API on 127.0.0.1: GET/PUT /flags/sync ({"flag": {"enabled": ...}}), GET /queue; bearer token."""

    def __init__(self, enabled: bool = True, queue: int = 0) -> None:
        self.enabled: Any = enabled
        self.queue = queue
        self.requests: list[tuple[str, str, Any]] = []
        self.unauthorised = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                    return True
                service.unauthorised += 1
                self._reply(401, {"error": "unauthorised"})
                return False

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                service.requests.append(("GET", self.path, None))
                if self.path == "/flags/sync":
                    self._reply(200, {"flag": {"name": "sync", "enabled": service.enabled}})
                elif self.path == "/queue":
                    self._reply(200, {"queue": {"size": service.queue}})
                else:
                    self._reply(404, {"error": "no such path"})

            def do_PUT(self) -> None:
                if not self._authorised():
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                service.requests.append(("PUT", self.path, body))
                if self.path != "/flags/sync":
                    self._reply(404, {"error": "no such path"})
                    return
                service.enabled = body["flag"]["enabled"]
                self._reply(200, {"flag": {"name": "sync", "enabled": service.enabled}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def puts(self) -> list[Any]:
        return [body["flag"]["enabled"] for method, _path, body in self.requests if method == "PUT"]


@pytest.fixture
def flag_service() -> Iterator[FlagService]:
    service = FlagService()
    service.thread.start()
    try:
        yield service
    finally:
        service.server.shutdown()
        service.server.server_close()
        service.thread.join(timeout=5)


@pytest.fixture
def db(pg_cluster: PgCluster, fresh_db: str) -> str:
    pg_cluster.psql(
        "CREATE TABLE feature_flags (flag_name text PRIMARY KEY, enabled boolean NOT NULL);"
        "INSERT INTO feature_flags VALUES ('auto_sync', true), ('webhooks', false);"
        "CREATE TABLE sync_jobs (id serial PRIMARY KEY, active boolean NOT NULL DEFAULT true);",
        db=fresh_db)
    return fresh_db


def flags(pg: PgCluster, db: str) -> dict[str, str]:
    out = pg.psql("SELECT flag_name || '=' || enabled FROM feature_flags ORDER BY flag_name", db=db)
    return dict(line.split("=") for line in out.splitlines())


def add_jobs(pg: PgCluster, db: str, count: int) -> None:
    pg.psql(f"INSERT INTO sync_jobs (active) SELECT true FROM generate_series(1, {count})", db=db)


def inputs(pg: PgCluster, db: str, service: FlagService, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "liftoff_record_dir": str(tmp_path / "records"), "liftoff_environment": "test", "liftoff_strategy": "pm2",
        "liftoff_db_host": pg.host, "liftoff_db_port": pg.port, "liftoff_db_name": db, "liftoff_db_user": pg.user,
        "liftoff_db_password": PASSWORD,
        "maintenance_flags": [
            # Seed 003: UPDATE feature_flags SET enabled = false WHERE flag_name = 'auto_sync'
            {"name": "auto_sync", "sql": {"table": "feature_flags", "key_column": "flag_name", "key": "auto_sync",
                                          "value_column": "enabled"}},
            {"name": "webhooks", "sql": {
                "query": "SELECT enabled FROM feature_flags WHERE flag_name = 'webhooks'",
                "statement": "UPDATE feature_flags SET enabled = %(value)s WHERE flag_name = 'webhooks'"}},
            {"name": "sync_api", "http": {"url": f"{service.url}/flags/sync", "path": "flag.enabled",
                                          "headers": {"Authorization": f"Bearer {TOKEN}"}}},
        ],
        "maintenance_drain": [],
    }
    data.update(extra)
    return data


def run(tmp_path: Path, data: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "inventory.yml").write_text(json.dumps({"liftoff_app": {"hosts": {"app1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}), encoding="utf-8")
    (tmp_path / "vars.json").write_text(json.dumps(data), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(PLAYBOOK), "-i", str(tmp_path / "inventory.yml"),
           "-e", f"@{tmp_path / 'vars.json'}", *args]
    result = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, timeout=600, check=False)
    (tmp_path / "output.txt").write_text(result.stdout + result.stderr, encoding="utf-8")  # beside, not in, records
    return result


def record(tmp_path: Path) -> dict[str, Any]:
    (run_dir,) = [p for p in (tmp_path / "records" / "test").iterdir() if p.is_dir()]
    return json.loads((run_dir / "record.json").read_text(encoding="utf-8"))


def items(rec: dict[str, Any], ident: str) -> list[dict[str, Any]]:
    return [i for i in rec["evidence"] if i["id"] == ident]


def one(rec: dict[str, Any], ident: str) -> dict[str, Any]:
    found = items(rec, ident)
    assert len(found) == 1, f"expected one {ident!r}; ids: {[i['id'] for i in rec['evidence']]}"
    return found[0]


def assert_no_secret(tmp_path: Path, result: subprocess.CompletedProcess[str]) -> None:
    for secret in (TOKEN, PASSWORD):
        assert secret not in result.stdout + result.stderr
        for path in (tmp_path / "records").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"secret leaked into {path}"


def output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-4000:]


def test_flags_off_while_the_queue_drains_then_restored_on_success(
        pg_cluster: PgCluster, db: str, flag_service: FlagService, tmp_path: Path) -> None:
    add_jobs(pg_cluster, db, 4)
    seen: dict[str, Any] = {}

    # The drain reads the queue through a function that notes each read, so the worker below can
    # wait for the drain's first read: on a loaded machine the run may reach the drain seconds
    # after the flags went off, and a queue already empty then would prove no waiting.
    pg_cluster.psql(
        "CREATE TABLE drain_reads (at timestamptz NOT NULL DEFAULT now());"
        "CREATE FUNCTION active_syncs() RETURNS bigint LANGUAGE sql VOLATILE AS "
        "$$ INSERT INTO drain_reads DEFAULT VALUES; SELECT count(*) FROM sync_jobs WHERE active $$;", db=db)

    def drain_when_sync_stops() -> None:
        # The workers stop taking jobs once sync is off everywhere and the drain is watching,
        # then finish one job every 2 s.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (flag_service.enabled is not False
                                               or flags(pg_cluster, db)["auto_sync"] != "false"):
            time.sleep(0.2)
        seen["flags_off_at"] = time.monotonic()
        while time.monotonic() < deadline and pg_cluster.psql("SELECT count(*) FROM drain_reads", db=db).strip() == "0":
            time.sleep(0.2)
        for _unused in range(4):
            time.sleep(2.0)
            pg_cluster.psql("UPDATE sync_jobs SET active = false WHERE id = "
                            "(SELECT min(id) FROM sync_jobs WHERE active)", db=db)
        seen["drained_at"] = time.monotonic()

    worker = threading.Thread(target=drain_when_sync_stops, daemon=True)
    worker.start()
    flag_service.queue = 0
    data = inputs(pg_cluster, db, flag_service, tmp_path, maintenance_drain=[
        {"name": "active_syncs", "sql": "SELECT active_syncs()", "timeout": 60, "interval": 1},
        {"name": "sync_api_queue", "http": {"url": f"{flag_service.url}/queue", "path": "queue.size",
                                            "headers": {"Authorization": f"Bearer {TOKEN}"}}, "timeout": 10},
    ])
    started = time.monotonic()
    result = run(tmp_path, data, "-vvv")
    took = time.monotonic() - started
    worker.join(timeout=5)
    assert result.returncode == 0, output(result)

    # Back as they were: switched flags restored, the flag that was already off left off.
    assert flags(pg_cluster, db) == {"auto_sync": "true", "webhooks": "false"}
    assert flag_service.enabled is True and flag_service.puts() == [False, True]
    assert flag_service.unauthorised == 0
    assert "flags_off_at" in seen and "drained_at" in seen

    rec = record(tmp_path)
    assert rec["outcome"] == "success", (rec["failed_phase"], rec["reason"])
    changes = items(rec, "maintenance.change")
    assert [c["details"]["undo"]["flag"] for c in changes] == ["auto_sync", "sync_api"]
    assert changes[0]["details"]["undo"] == {
        "kind": "maintenance", "flag": "auto_sync", "restore_to": True, "set_to": False, "http": None,
        "sql": {"table": "feature_flags", "key_column": "flag_name", "key": "auto_sync", "value_column": "enabled"}}
    assert "headers" not in changes[1]["details"]["undo"]["http"]
    assert all(c["phase"] == "backup" for c in changes)
    webhooks = [i for i in items(rec, "maintenance.flag") if i["details"]["flag"] == "webhooks"]
    assert webhooks[0]["details"]["switched"] is False and "already false" in webhooks[0]["actual"]

    # The queue drain waited while the worker emptied it, and says what it saw and how long it took.
    drains = {i["details"]["drain"]: i for i in items(rec, "maintenance.drain")}
    # every flag was switched before the first drain was read
    assert max(i["ended"] for i in items(rec, "maintenance.flag")) <= min(d["started"] for d in drains.values())
    active = drains["active_syncs"]
    values = [v["value"] for v in active["details"]["values"]]
    assert active["status"] == "pass" and values[-1] == 0 and max(values) >= 1 and len(values) >= 2
    assert values == sorted(values, reverse=True)
    assert active["details"]["elapsed_s"] >= 1.5
    assert drains["sync_api_queue"]["status"] == "pass" and drains["sync_api_queue"]["details"]["values"][0]["value"] == 0

    # Restored in the verify phase, newest switch first, each naming the change it undid.
    restores = items(rec, "maintenance.restore")
    assert [(r["phase"], r["details"]["flag"], r["status"]) for r in restores] == [
        ("verify", "sync_api", "pass"), ("verify", "auto_sync", "pass")]
    keys = {f"{c['id']}#{c['seq']}" for c in changes}
    assert {r["details"]["undoes"] for r in restores} == keys
    assert not items(rec, "rollback.undo_maintenance")
    assert one(rec, "rollback.phase")["status"] == "skip"
    assert_no_secret(tmp_path, result)
    print(f"success run: {took:.1f} s; active_syncs drained in {active['details']['elapsed_s']} s, values {values}")


def test_a_later_failure_is_rolled_back_and_the_flags_restored(
        pg_cluster: PgCluster, db: str, flag_service: FlagService, tmp_path: Path) -> None:
    data = inputs(pg_cluster, db, flag_service, tmp_path, maintenance_test_fail_in="rollout")
    started = time.monotonic()
    result = run(tmp_path, data, "-vvv")
    took = time.monotonic() - started
    assert result.returncode != 0
    assert flags(pg_cluster, db) == {"auto_sync": "true", "webhooks": "false"}
    assert flag_service.enabled is True and flag_service.puts() == [False, True]

    rec = record(tmp_path)
    assert rec["outcome"] == "rolled_back" and rec["failed_phase"] == "rollout"
    assert "simulated failure" in rec["reason"]
    changes = items(rec, "maintenance.change")
    undos = items(rec, "rollback.undo_maintenance")
    assert [u["details"]["flag"] for u in undos] == ["sync_api", "auto_sync"]  # newest first
    assert [u["details"]["change"] for u in undos] == [f"{c['id']}#{c['seq']}" for c in reversed(changes)]
    assert all(u["status"] == "pass" and u["details"]["restored"] is True for u in undos)
    assert one(rec, "rollback.phase")["status"] == "pass"
    assert not items(rec, "maintenance.restore")  # verify was skipped: the rollback did it
    assert_no_secret(tmp_path, result)
    print(f"rolled-back run: {took:.1f} s")


def test_a_failure_after_the_restore_does_not_restore_again(
        pg_cluster: PgCluster, db: str, flag_service: FlagService, tmp_path: Path) -> None:
    data = inputs(pg_cluster, db, flag_service, tmp_path, maintenance_test_fail_in="smoke")
    result = run(tmp_path, data)
    assert result.returncode != 0
    assert flags(pg_cluster, db) == {"auto_sync": "true", "webhooks": "false"}
    assert flag_service.puts() == [False, True]  # switched once, restored once: the rollback left it alone
    rec = record(tmp_path)
    assert rec["failed_phase"] == "smoke"
    assert len(items(rec, "maintenance.restore")) == 2
    assert not items(rec, "rollback.undo_maintenance")
    assert one(rec, "rollback.phase")["status"] == "pass"


def test_a_drain_that_times_out_fails_the_run_and_rollback_restores_the_flags(
        pg_cluster: PgCluster, db: str, flag_service: FlagService, tmp_path: Path) -> None:
    add_jobs(pg_cluster, db, 2)  # nobody works them off
    data = inputs(pg_cluster, db, flag_service, tmp_path, maintenance_drain=[
        # 8 s at 1 s intervals: several reads even when a loaded machine takes 3 s to the first one
        {"name": "active_syncs", "sql": "SELECT count(*) FROM sync_jobs WHERE active", "timeout": 8, "interval": 1}])
    started = time.monotonic()
    result = run(tmp_path, data)
    took = time.monotonic() - started
    assert result.returncode != 0
    assert flags(pg_cluster, db) == {"auto_sync": "true", "webhooks": "false"}
    assert flag_service.enabled is True and flag_service.puts() == [False, True]

    rec = record(tmp_path)
    assert rec["outcome"] == "rolled_back" and rec["failed_phase"] == "backup"
    reason = rec["reason"]
    assert "maintenance_drain[0] (active_syncs) did not drain: still 2 after" in reason
    assert "bound: <= 0 within 8 s" in reason
    drain = one(rec, "maintenance.drain")
    assert drain["status"] == "fail" and drain["details"]["elapsed_s"] >= 8
    assert [v["value"] for v in drain["details"]["values"]][-1] == 2 and len(drain["details"]["values"]) >= 2
    assert [u["details"]["flag"] for u in items(rec, "rollback.undo_maintenance")] == ["sync_api", "auto_sync"]
    assert one(rec, "rollout.phase")["status"] == "skip"
    assert "did not drain" in result.stdout
    print(f"timed-out run: {took:.1f} s; drain gave up after {drain['details']['elapsed_s']} s (bound 8 s)")


def test_bad_input_is_rejected_before_anything_changes(
        pg_cluster: PgCluster, db: str, flag_service: FlagService, tmp_path: Path) -> None:
    data = inputs(pg_cluster, db, flag_service, tmp_path)
    data["maintenance_flags"].append(  # no name, and both sql and http
        {"sql": {"table": "feature_flags", "key_column": "flag_name", "key": "x", "value_column": "enabled"},
         "http": {"url": f"{flag_service.url}/flags/sync", "path": "flag.enabled"}})
    data["maintenance_flags"].append({"name": "evil", "sql": {"table": "feature_flags; DROP TABLE x",
                                                              "key_column": "flag_name", "key": "x",
                                                              "value_column": "enabled"}})
    data["maintenance_drain"] = [{"name": "active_syncs", "sql": "SELECT count(*) FROM sync_jobs"}]  # no bound
    result = run(tmp_path, data)
    assert result.returncode != 0
    assert flags(pg_cluster, db) == {"auto_sync": "true", "webhooks": "false"}
    assert flag_service.requests == [] and flag_service.enabled is True

    rec = record(tmp_path)
    assert rec["outcome"] == "failed" and rec["failed_phase"] == "backup"
    for expected in ("maintenance_flags[3].name is required",
                     "maintenance_flags[3].sql and maintenance_flags[3].http are both set",
                     "maintenance_flags[4].sql.table must be a table name",
                     "maintenance_drain[0].timeout is required"):
        assert expected in rec["reason"], rec["reason"]
    assert not items(rec, "maintenance.change") and not items(rec, "rollback.undo_maintenance")


def test_check_mode_reads_and_plans_but_switches_nothing(
        pg_cluster: PgCluster, db: str, flag_service: FlagService, tmp_path: Path) -> None:
    add_jobs(pg_cluster, db, 1)
    data = inputs(pg_cluster, db, flag_service, tmp_path, maintenance_drain=[
        {"name": "active_syncs", "sql": "SELECT count(*) FROM sync_jobs WHERE active", "timeout": 30}])
    result = run(tmp_path, data, "--check")
    assert result.returncode == 0, output(result)
    assert flags(pg_cluster, db) == {"auto_sync": "true", "webhooks": "false"}
    assert flag_service.puts() == [] and flag_service.enabled is True
    rec = record(tmp_path)
    assert rec["outcome"] == "success" and rec["check_mode"] is True
    assert not items(rec, "maintenance.change")
    planned = next(i for i in items(rec, "maintenance.flag") if i["details"]["flag"] == "auto_sync")
    assert planned["status"] == "skip" and planned["actual"] == "plan: would switch from true to false"
    drain = one(rec, "maintenance.drain")
    assert drain["status"] == "skip" and drain["actual"] == "plan: would wait; now 1"


def validate(tmp_path: Path, data: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "vars.json").write_text(json.dumps(data), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"),
           str(ROOT / "tests" / "integration" / "playbooks" / "maintenance_validate.yml"),
           "-i", "localhost,", "-c", "local", "-e", f"@{tmp_path / 'vars.json'}"]
    return subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, timeout=300, check=False)


def test_every_structural_mistake_is_named_with_its_index(tmp_path: Path) -> None:
    table = {"table": "feature_flags", "key_column": "flag_name", "key": "a", "value_column": "enabled"}
    url = "http://127.0.0.1:9/flags/a"
    data = {
        "maintenance_flags": [
            {"name": "ok", "sql": table},
            {"name": "ok", "sql": table},
            {"name": "mixed", "sql": dict(table, query="SELECT 1", statement="UPDATE t SET v = %(value)s")},
            {"name": "no_value", "sql": {"query": "SELECT enabled FROM f", "statement": "UPDATE f SET enabled = false"}},
            {"name": "bad_column", "sql": dict(table, value_column="enabled = true --")},
            {"name": "no_key", "sql": {k: v for k, v in table.items() if k != "key"}},
            {"name": "neither"},
            {"name": "ftp", "http": {"url": "ftp://example.com/flag", "path": "enabled"}},
            {"name": "no_path", "http": {"url": url}},
            {"name": "list", "sql": table, "set_to": [False]},
        ],
        "maintenance_drain": [
            {"name": "both", "sql": "SELECT 1", "http": {"url": url, "path": "n"}, "timeout": 5},
            {"name": "nothing", "timeout": 5},
            {"name": "zero", "sql": "SELECT 1", "timeout": 0},
            {"name": "negative_interval", "sql": "SELECT 1", "timeout": 5, "interval": 0},
            {"sql": "SELECT 1", "timeout": 5},
        ],
    }
    result = validate(tmp_path, data)
    assert result.returncode != 0
    text = " ".join(result.stdout.split())
    for expected in (
        "maintenance_flags[1].name 'ok' is used by an earlier flag",
        "maintenance_flags[2].sql mixes a table row",
        "maintenance_flags[3].sql.statement is required with query: a statement that sets the value, with %(value)s",
        'maintenance_flags[4].sql.value_column must be a column name such as enabled, got "enabled = true --"',
        "maintenance_flags[5].sql.key is required",
        "maintenance_flags[6] needs sql (table, key_column, key, value_column) or http (url, path)",
        "maintenance_flags[7].http.url is required: an http:// or https:// URL",
        "maintenance_flags[8].http.path is required",
        "maintenance_flags[9].set_to must be a single value",
        "maintenance_drain[0].sql and maintenance_drain[0].http are both set",
        "maintenance_drain[1] needs sql (a SELECT returning one number) or http (url, path)",
        "maintenance_drain[2].timeout must be a number of seconds above 0, got \"0\"",
        "maintenance_drain[3].interval must be a whole number of seconds, at least 1",
        "maintenance_drain[4].name is required",
    ):
        assert expected in text, f"{expected!r} not in the output:\n{result.stdout[-3000:]}"
    assert "maintenance_flags[0]" not in text


@pytest.mark.parametrize(("data", "expected"), [
    ({"maintenance_drain": [{"name": "q", "sql": "SELECT 1", "timeout": "soon"}]}, ["maintenance_drain", "timeout"]),
    ({"maintenance_flags": [{"name": "f", "http": {"url": "http://127.0.0.1:9/f", "path": "on", "method": "DELETE"}}]},
     ["must be one of: PUT, POST, PATCH, got: DELETE", "maintenance_flags -> http"]),
    ({"maintenance_flags": [{"name": "f", "sql": {"tabel": "flags"}}]}, ["maintenance_flags.sql.tabel. Supported parameters include"]),
])
def test_a_wrong_type_or_unknown_key_is_named_by_the_argument_spec(
        tmp_path: Path, data: dict[str, Any], expected: list[str]) -> None:
    result = validate(tmp_path, data)
    assert result.returncode != 0
    text = " ".join(result.stdout.split())
    for needle in expected:
        assert needle in text, result.stdout[-3000:]

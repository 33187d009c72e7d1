"""Seed 001 (VX11 SSE ephemeral tokens v7.0.1, Docker Compose operations) end to end:
examples/seeds/001-vx11-compose run with real ansible-playbook (playbooks/deploy.yml and the example's
inventory) in a stand-in world.

The world, every part real and on loopback: a throwaway dockerd with the VX11 stand-in images (FROM
scratch: this machine's node and its libraries, a static busybox) - vx11-operator (the liftoff demo
app: ephemeral tokens, SSE), vx11-tentaculo-link (services/gateway/gateway.js) and vx11-operator-frontend
(busybox httpd) - for v7.0.0 (commit 769fcaf), v7.0.1 (e1fa49c, the seed's release) and v7.0.2 (a bad
release whose backend logs tokens raw); tokens.env with the principal token; the operator's SQLite
database; Prometheus scraping the backend and the gateway with the seed's alert rules and the recorded
vx11_* series; a staging environment (v7.0.1's backend and gateway as node processes); the team's
Slack-style webhook; and three EventsPanel-like users that keep an SSE stream open through the
gateway with a fresh ephemeral token every few seconds.

The tests share the world and run in file order: v7.0.0 (production before), v7.0.1 (the deploy the
checklist is about: every item it can prove passes; the 60 s token TTL is waited out for real), v7.0.2
(raw tokens in the operator's log: the smoke phase fails and the run rolls back to v7.0.1).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, checked_record, checklist_shortfalls, evidence, failures

from tests.support.docker import DockerDaemon, DockerDaemonError, free_port
from tests.support.prometheus import PrometheusServerError, find_prometheus
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "examples" / "seeds" / "001-vx11-compose"
INVENTORY = EXAMPLE / "inventory" / "hosts.yml"
PROJECT = "vx11"
COMMITS = {"v7.0.0": "769fcaf", "v7.0.1": "e1fa49c", "v7.0.2": "3b9d0e7"}
SERVICES = {"vx11-operator": "vx11-operator", "vx11-tentaculo-link": "vx11-tentaculo-link",
            "vx11-operator-frontend": "vx11-operator-frontend"}
PRINCIPAL = secrets.token_hex(24)
ISSUED = re.compile(r"(?<![0-9a-f])[0-9a-f]{60}(?![0-9a-f])")  # the stand-in backend's ephemeral token shape
SLACK_PATH = "/services/T0VX11/B0DEPLOY/" + secrets.token_hex(12)
APPROVED = {
    "approval_given": {name: {"by": "ana.ruiz", "note": "CAB-7001"} for name in
                       ("tech_lead", "devops_lead", "product_lead", "security_lead")},
    "approval_attested": {
        "ci_checks_green": {"by": "ana.ruiz", "note": "pipeline 4711 on e1fa49c: tsc and ruff clean"},
        "dependencies_reviewed": "ana.ruiz",
        "product_phase": {"by": "lee.moss", "note": "beta"},
        "monitoring_ready": {"by": "kai.oduya", "note": "Grafana VX11 tokens dashboard"},
        "rollback_tested": {"by": "kai.oduya", "note": "staging rehearsal, 1 min 40 s"},
    },
}
# Without a rollback, a successful run writes none of the rollback procedure's evidence: these items are
# "missing" in its record (the rolled-back v7.0.2 run proves them).
ROLLBACK_ITEMS = {"s001-058", "s001-060", "s001-061", "s001-064", "s001-096", "s001-098", "s001-099",
                  "s001-103", "s001-135"}
# v7.0.0 is production before the seed's release: its run skips what only makes sense for v7.0.1 - the
# readiness checks of the new release (staging, its images, the database baseline), the smoke checks and
# the gate (nobody uses the SSE stream yet); the test checks what runs.
BEFORE = {"preflight_checks": [], "liftoff_skip_phases": ["backup", "migrate", "smoke", "verify"]}
# v7.0.2 leaks raw tokens into the operator's log. Its run is shorter than v7.0.1's: no readiness checks
# (v7.0.1's run showed them; staging runs v7.0.1) and no 70 s expiry wait - the leak needs neither.
BAD = {"preflight_checks": [], "vx11_check_expiry": False}


class Users:
    """EventsPanel-like clients: each gets an ephemeral token from the gateway with the principal, keeps
    the stream open with it for a few seconds, and starts over; on any error it retries half a second later.
    The users' streams end hold_s / count apart, as people's do: in step, they would all be between two
    streams at the same moment every hold_s, and a scrape landing there reads none of them connected - a
    drop the gate's "more than 50% below the baseline" rightly holds on, but one no real audience makes.
    Each user ends its streams on its own schedule (offset + k * hold_s), not hold_s after it connected:
    a gateway restart drops every stream at once, and the reconnected users would stay in step after it
    (that held the gate after a rollback in CI)."""

    def __init__(self, gateway_port: int, count: int = 3, hold_s: float = 6.0) -> None:
        self.port = gateway_port
        self.hold_s = hold_s
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(user * hold_s / count,), daemon=True)
                         for user in range(count)]
        self._epoch = time.monotonic()
        self.events = 0

    def start(self) -> Users:
        for thread in self._threads:
            thread.start()
        return self

    def _stream_end(self, offset_s: float) -> float:
        """The end of this user's current stream: its next slot offset + k * hold_s, at least 1 s away."""
        now = time.monotonic()
        base = self._epoch + offset_s
        ends = base + (int((now - base) // self.hold_s) + 1) * self.hold_s
        return ends if ends - now >= 1.0 else ends + self.hold_s

    def _session(self, offset_s: float) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("POST", "/operator/api/events/sse-token", headers={"X-VX11-Token": PRINCIPAL})
            reply = conn.getresponse()
            token = json.loads(reply.read())["sse_token"]
            conn.request("GET", "/operator/api/events/stream?" + urllib.parse.urlencode({"token": token}),
                         headers={"Accept": "text/event-stream"})
            stream = conn.getresponse()
            if stream.status != 200:
                raise OSError(f"stream HTTP {stream.status}")
            ends = self._stream_end(offset_s)
            while time.monotonic() < ends and not self._stop.is_set():
                line = stream.readline()
                if not line:
                    return
                self.events += line.startswith(b"event:")
        finally:
            conn.close()

    def _run(self, offset_s: float) -> None:
        self._stop.wait(offset_s)
        while not self._stop.is_set():
            try:
                self._session(offset_s)
            except (OSError, ValueError, KeyError, http.client.HTTPException):
                self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


class Seed001:
    """The stand-in world; everything it starts is stopped by stop(), by its own pid."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.docker: DockerDaemon | None = None
        self.hooks: Receiver | None = None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.users: Users | None = None
        self.ports = {"gateway": free_port(), "backend": free_port(), "frontend": free_port()}
        self.staging = {"gateway": free_port(), "backend": free_port()}
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        try:
            self.docker = DockerDaemon().start()
        except DockerDaemonError as exc:
            pytest.fail(str(exc))
        releases = self.root / "releases"
        for version, commit in COMMITS.items():
            bad = ["--log-tokens-raw"] if version == "v7.0.2" else []
            subprocess.run([sys.executable, str(EXAMPLE / "build.py"), str(releases), version, "--revision", commit,
                            "--docker", self.docker.client, "--host", self.docker.host, *bad],
                           check=True, capture_output=True, text=True)
        tokens_env = self.root / "secrets" / "tokens.env"
        tokens_env.parent.mkdir(mode=0o700)
        tokens_env.write_text(f"VX11_PRINCIPAL_TOKEN={PRINCIPAL}\nPRINCIPAL_TOKEN={PRINCIPAL}\n", encoding="utf-8")
        tokens_env.chmod(0o600)
        database = self.root / "data" / "vx11.db"
        database.parent.mkdir()
        with sqlite3.connect(database) as db:
            db.executescript("CREATE TABLE operator_events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT);"
                             "CREATE TABLE sessions (id TEXT PRIMARY KEY, created_at REAL NOT NULL);"
                             "INSERT INTO operator_events (kind, payload) VALUES ('boot', '{}');")
        db.close()
        self.hooks = Receiver().start()
        self.prometheus_url = self._start_prometheus()
        self._start_staging(releases / "v7.0.1")
        (self.root / "env.json").write_text(json.dumps({
            "python": sys.executable, "docker_host": self.docker.host, "docker": self.docker.client,
            "docker_root": str(self.docker.root), "ports": self.ports, "staging": self.staging,
            "prometheus_url": self.prometheus_url, "tokens_env": str(tokens_env), "database": str(database),
            "releases": str(releases), "commits": COMMITS, "notify_url": self.hooks.url(SLACK_PATH)}), encoding="utf-8")

    def _start_prometheus(self) -> str:
        try:
            binary = find_prometheus()
        except PrometheusServerError as exc:
            pytest.fail(str(exc))
        base = self.root / "prometheus"
        for sub in ("data", "consoles", "console_libraries"):
            (base / sub).mkdir(parents=True)
        rules = [str(EXAMPLE / "monitoring" / name) for name in ("vx11-recording.yml", "vx11-alerts.yml")]
        (base / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": rules,
            "scrape_configs": [
                {"job_name": "vx11-operator", "static_configs": [{"targets": [f"127.0.0.1:{self.ports['backend']}"]}]},
                {"job_name": "vx11-tentaculo-link",
                 "static_configs": [{"targets": [f"127.0.0.1:{self.ports['gateway']}"]}]}]}), encoding="utf-8")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        log = (base / "prometheus.log").open("ab")
        self.procs.append(subprocess.Popen(
            [binary, f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", f"--web.external-url={url}/",
             f"--web.console.templates={base / 'consoles'}", f"--web.console.libraries={base / 'console_libraries'}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=base, env=env, start_new_session=True))
        log.close()
        _wait_http(url + "/-/ready", "prometheus", self.procs[-1])
        return url

    def _start_staging(self, release: Path) -> None:
        """Staging: the release's backend and gateway, run from its source tree with node."""
        node = shutil.which("node") or "/usr/bin/node"
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        log = (self.root / "staging.log").open("ab")
        self.procs.append(subprocess.Popen(
            [node, str(release / "operator" / "server.js")], stdout=log, stderr=subprocess.STDOUT,
            env={**env, "PORT": str(self.staging["backend"]), "PRINCIPAL_TOKEN": PRINCIPAL, "TOKEN_TTL_S": "60"}))
        self.procs.append(subprocess.Popen(
            [node, str(release / "gateway" / "gateway.js")], stdout=log, stderr=subprocess.STDOUT,
            env={**env, "PORT": str(self.staging["gateway"]), "VX11_OPERATOR_PROXY_ENABLED": "1",
                 "BACKEND_URL": f"http://127.0.0.1:{self.staging['backend']}"}))
        log.close()
        for name, proc in (("staging backend", self.procs[-2]), ("staging gateway", self.procs[-1])):
            port = self.staging["backend" if "backend" in name else "gateway"]
            _wait_http(f"http://127.0.0.1:{port}/health", name, proc)

    def deploy(self, version: str, extra: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / "deploy.yml"),
               "-i", str(INVENTORY), "-e", f"liftoff_version={version}", "-e", json.dumps({**APPROVED, **(extra or {})})]
        env = dict(os.environ, LIFTOFF_SEED001_ROOT=str(self.root), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_NOCOLOR="1", PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
        env.pop("DOCKER_HOST", None)
        started = time.monotonic()
        result = subprocess.run(cmd, cwd=REPO, env=env, text=True, capture_output=True, timeout=900, check=False)
        print(f"deploy {version}: rc={result.returncode} in {time.monotonic() - started:.1f} s")
        (self.root / f"deploy-{version}.log").write_text(output(result), encoding="utf-8")
        return result

    def latest_record(self) -> dict[str, Any]:
        runs = sorted(p for p in (self.root / "records" / "production").glob("*") if p.is_dir())
        return dict(checked_record(runs[-1] / "record.json"))

    def containers(self) -> dict[str, dict[str, Any]]:
        """docker inspect of the project's containers, by compose service."""
        assert self.docker is not None
        found: list[dict[str, Any]] = [c for c in self.docker.containers(PROJECT) if isinstance(c, dict)]
        return {str(c["Config"]["Labels"]["com.docker.compose.service"]): c for c in found}

    def assert_runs(self, version: str) -> None:
        """Each service runs, healthy, the image of ``version`` (the exact image id), and answers it."""
        assert self.docker is not None
        containers = self.containers()
        assert set(containers) == set(SERVICES), sorted(containers)
        for service, image in SERVICES.items():
            container = containers[service]
            assert container["Name"] == f"/{service}"
            assert container["Config"]["Image"] == f"{image}:{version}"
            assert container["Image"] == self.docker.image_id(f"{image}:{version}")
            assert container["State"]["Running"] and container["State"]["Health"]["Status"] == "healthy"
        assert _get(f"http://127.0.0.1:{self.ports['gateway']}/health")["version"] == version
        assert _get(f"http://127.0.0.1:{self.ports['backend']}/version")["version"] == version

    def promql(self, query: str) -> float | None:
        data = _get(self.prometheus_url + "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
        result = data["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.users is not None:
            self.users.stop()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        if self.hooks is not None:
            self.hooks.stop()
        if self.docker is not None:
            self.docker.stop()


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


def _get(url: str) -> Any:
    with OPENER.open(url, timeout=5) as reply:
        return json.load(reply)


def _wait_http(url: str, name: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{name} exited with {proc.returncode}"
        try:
            with OPENER.open(url, timeout=2) as reply:
                reply.read()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{name} did not answer {url} within {timeout} s")


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def assert_no_secret(seed: Seed001, result: subprocess.CompletedProcess[str]) -> None:
    """Neither the principal token, an issued token nor the webhook's path in the output or the records."""
    texts = {"ansible-playbook output": output(result)}
    texts.update({str(p): p.read_text(encoding="utf-8", errors="replace")
                  for p in (seed.root / "records").rglob("*") if p.is_file()})
    for where, text in texts.items():
        assert PRINCIPAL not in text, f"the principal token leaked into {where}"
        assert SLACK_PATH not in text, f"the webhook's path leaked into {where}"
        assert not ISSUED.findall(text), f"an issued token leaked into {where}: {ISSUED.findall(text)[:1]}"


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed001]:
    world = Seed001(tmp_path_factory.mktemp("seed001").resolve())
    try:
        yield world
    finally:
        world.stop()


def test_v7_0_0_is_production_before_the_release(seed: Seed001) -> None:
    result = seed.deploy("v7.0.0", BEFORE)
    assert result.returncode == 0, output(result)[-4000:]
    seed.assert_runs("v7.0.0")
    record = seed.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    # The users of production: EventsPanels with an SSE stream open through the gateway. Prometheus
    # sees them (the connections, the tokens issued) before the seed's deploy measures its baselines.
    seed.users = Users(seed.ports["gateway"]).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        streams = seed.promql("sum(vx11_sse_active_connections)")
        issued = seed.promql("sum(rate(vx11_sse_token_issued_total[1m]))")
        if streams and streams >= 2 and issued:
            break
        time.sleep(1)
    else:
        pytest.fail(f"Prometheus never saw the users: streams {streams}, issued per second {issued}")


def test_v7_0_1_runs_the_seed_checklist_and_fills_it_in(seed: Seed001) -> None:
    assert seed.hooks is not None and seed.users is not None
    seed.hooks.clear()
    result = seed.deploy("v7.0.1")
    text = output(result)
    assert result.returncode == 0, text[-4000:]
    record = seed.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    seed.assert_runs("v7.0.1")
    # The compose file the run wrote: the release's images, the proxy flag on, the backend's tokens.env.
    compose = (seed.root / "srv" / "vx11" / "compose.yml").read_text(encoding="utf-8")
    assert "VX11_OPERATOR_PROXY_ENABLED: '1'" in compose and "image: vx11-operator:v7.0.1" in compose
    assert "tokens.env" in compose and PRINCIPAL not in compose
    # Preflight: the release CI built (commit e1fa49c), staging's five tests, the database, the baselines.
    assert "built from commit e1fa49c" in evidence(record, "preflight.release_images")["actual"]
    assert evidence(record, "preflight.staging_suite")["status"] == "pass"
    assert "integrity_check: ok" in evidence(record, "preflight.db_integrity")["actual"]
    baseline = evidence(record, "preflight.baseline")
    assert baseline["status"] == "pass", baseline
    # Post-deployment validation: the token the gateway issued worked on the stream, was refused after
    # the 60 s TTL (waited 70 s, the seed's "sleep 70"), and the principal still works.
    flow = evidence(record, "smoke.ephemeral_flow")
    assert flow["status"] == "pass", flow
    assert flow["details"]["ttl_s"] == 60 and flow["details"]["waited_s"] >= 69, flow["details"]
    for name in ("gateway_log_sanitised", "operator_log_sanitised", "operator_startup_log", "legacy_sse",
                 "legacy_poll", "sse_suite", "db_schema_unchanged", "gateway_health"):
        assert evidence(record, f"smoke.{name}")["status"] == "pass", evidence(record, f"smoke.{name}")
    # The gate: the seed-001 profile over Prometheus and the Docker API, PROCEED.
    verdict = evidence(record, "verify.verdict")
    assert verdict["actual"] == "PROCEED", verdict["details"]["reasons"]
    assert verdict["details"]["profile"] == "seed-001"
    metrics = {m["name"]: m for m in verdict["details"]["metrics"]}
    assert metrics["issuance_rate.critical"]["result"] == "pass"
    assert metrics["healthy_instances.high"]["result"] == "pass"
    assert metrics["sse_connections.medium"]["result"] == "pass"  # the users reconnected to the new gateway
    assert metrics["memory.critical"]["result"] == "pass"
    assert metrics["memory_change.medium"]["dry_run"] is True
    # The team heard the start and the end.
    assert [b["text"].split(" ", 1)[0] for b in seed.hooks.bodies("/services/")] == [":rocket:", ":white_check_mark:"]
    # Every mapped item has its evidence and passed, but the rollback procedure's: nothing rolled back.
    shortfalls = checklist_shortfalls(record)
    assert set(shortfalls) - {"s001-037"} == ROLLBACK_ITEMS, shortfalls
    # +-5% of the memory baseline (s001-037) is measured and reported, not deciding (gate.yml says why):
    # whether the restarted backend lands within it varies from run to run.
    assert metrics["memory_change.medium"]["result"] in ("pass", "fail")
    assert "dry run" in metrics["memory_change.medium"]["reason"]
    summary = {row["metric"]: row for row in record["summary"]}
    assert summary["Phase rollout time"]["status"] == "pass"  # the seed's 5 minutes for the restarts
    assert seed.users.events > 0
    assert_no_secret(seed, result)


def test_v7_0_2_leaks_tokens_into_the_log_and_is_rolled_back(seed: Seed001) -> None:
    assert seed.hooks is not None
    seed.hooks.clear()
    result = seed.deploy("v7.0.2", BAD)
    assert result.returncode != 0
    record = seed.latest_record()
    assert record["outcome"] == "rolled_back" and record["failed_phase"] == "smoke", failures(record)
    leak = evidence(record, "smoke.operator_log_sanitised")
    assert leak["status"] == "fail", leak
    assert evidence(record, "smoke.gateway_log_sanitised")["status"] == "pass"
    # v7.0.1 runs again, every service on its recorded image, and answers on :8000/health.
    seed.assert_runs("v7.0.1")
    assert evidence(record, "rollback.undo_app")["status"] == "pass"
    assert evidence(record, "rollback.smoke")["status"] == "pass"
    assert evidence(record, "rollback.gate.verdict")["actual"] == "PROCEED"
    state = json.loads((seed.root / "srv" / "vx11" / "releases.json").read_text(encoding="utf-8"))
    assert state["current"] == "v7.0.1" and state["rolled_back"] == ["v7.0.2"]
    # The rollback procedure's items pass in this run's record; the leak is the shortfall.
    rows = {row["id"]: row for row in record["checklist"]["items"]}
    for ident in sorted(ROLLBACK_ITEMS):
        assert rows[ident]["status"] == "pass", rows[ident]
    assert rows["s001-036"]["status"] == "fail"
    assert {row["metric"]: row for row in record["summary"]}["Rollback required"]["status"] == "fail"
    assert ":rewind:" in " ".join(b["text"] for b in seed.hooks.bodies("/services/"))
    # The leaked token was in the container's log, never in what the run wrote.
    assert_no_secret(seed, result)

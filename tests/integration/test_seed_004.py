"""Seed 004 (the Halcytone content generator, Docker Compose) end to end: examples/seeds/004-halcytone-compose
run with real ansible-playbook (playbooks/deploy.yml and the example's inventory) in a stand-in world.

The world, every part real and on loopback: a throwaway dockerd with the stand-in app's images (busybox,
FROM scratch: v1, v2, and v3 whose content generation is slow), PostgreSQL with TLS, Redis with a password
and AOF, moto for S3 (the backup bucket, encrypted, with a lifecycle and a policy) and Secrets Manager (the
secrets of .env.production, with rotation), the external APIs (CRM, Platform, OpenAI, Google Docs, Notion,
CI, the issue tracker) as one local HTTP server that checks their keys, a TLS load balancer in front of the
app, and a Slack-style receiver. .env.production is made from the example's template.

The tests share the world and run in file order: v1 (the release before), v2 (the deploy the checklist
is about: every item it can prove passes), v3 (the seed's rollback trigger "performance degradation
> 50%": the gate rolls it back to v2).
"""
from __future__ import annotations

import http.server
import io
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, checked_record, checklist_shortfalls, evidence

from tests.support.docker import DockerDaemon, DockerDaemonError, find_static_busybox
from tests.support.moto import MotoServer
from tests.support.pg import PgCluster, find_tool, free_port
from tests.support.receiver import Receiver
from tests.support.redis import RedisServer

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "examples" / "seeds" / "004-halcytone-compose"
INVENTORY = EXAMPLE / "inventory" / "hosts.yml"
BUCKET = "halcytone-backups"
APP_ROLE = "arn:aws:iam::123456789012:role/halcytone-app"
# Without a rollback, the run writes none of the rollback plan's evidence: these items are "missing"
# in a successful run's record (the rolled-back v3 run proves them).
ROLLBACK_ITEMS = {"s004-233", "s004-234", "s004-235", "s004-236", "s004-241"}
# Who signs off and attests (given up front, as an AWX survey or CI variables would).
APPROVALS = {
    "stakeholder_approval": {"by": "mara.stein", "note": "go-live approved in the release review"},
    "deployment_manager": "dana.okafor",
    "technical_lead": "tomas.lind",
    "product_owner": "priya.raman",
}
ATTESTATIONS = {
    "rollback_plan_reviewed": "tomas.lind",
    "oncall_identified": {"by": "dana.okafor", "note": "on-call: erin.walsh (halcytone-primary)"},
    "deploy_window_communicated": {"by": "dana.okafor", "note": "#halcytone-releases, 10:00-12:00 UTC"},
    "api_rate_limits_reviewed": {"by": "tomas.lind", "note": "OpenAI tier 3, CRM 100 req/s: within limits"},
    "rollback_scripts_tested": {"by": "tomas.lind", "note": "staging rehearsal of the compose rollback"},
    "deployment_notes": {"by": "dana.okafor", "note": "no deviations from the checklist"},
    "config_changes_documented": {"by": "tomas.lind", "note": "cache TTL setting added, see CHANGELOG"},
    "known_issues_documented": {"by": "tomas.lind", "note": "none open"},
    "runbook_operations": "tomas.lind",
    "runbook_troubleshooting": "tomas.lind",
    "runbook_escalation": "dana.okafor",
    "content_accuracy": {"by": "priya.raman", "note": "10 sample drafts reviewed"},
    "no_critical_bug": "tomas.lind",
    "no_data_integrity_issue": "tomas.lind",
    "no_security_vulnerability": "tomas.lind",
}


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class Externals:
    """The external APIs' stand-ins on one port, each checking its own key like the real one."""

    keys: dict[str, str]
    calls: list[tuple[str, str, bool]] = field(default_factory=list)  # (method, path, authenticated)
    emails: list[Any] = field(default_factory=list)
    port: int = 0
    _server: http.server.ThreadingHTTPServer | None = None

    def _authenticated(self, service: str, headers: Any) -> bool:
        if service == "platform":
            return bool(headers.get("X-API-Key") == self.keys["platform"])
        if service in ("crm", "openai", "google", "notion"):
            return bool(headers.get("Authorization") == f"Bearer {self.keys[service]}")
        return True  # ci, tracker: read-only status APIs

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(path)
        service, _slash, rest = url.path.lstrip("/").partition("/")
        authenticated = self._authenticated(service, headers)
        self.calls.append((method, url.path, authenticated))
        if not authenticated:
            return 401, {"error": "unauthorized"}
        route = (method, service, "/" + rest)
        if route == ("GET", "crm", "/v1/health") or route == ("GET", "platform", "/v1/status"):
            return 200, {"status": "ok"}
        if route == ("GET", "crm", "/v1/contacts"):
            return 200, {"contacts": [{"id": 1, "email": "reader@halcytone.invalid"}]}
        if route == ("POST", "crm", "/v1/email/send"):
            self.emails.append(json.loads(body or b"null"))
            return 200, {"queued": True, "id": f"msg-{len(self.emails)}"}
        if route == ("GET", "platform", "/v1/channels"):
            return 200, {"channels": [{"id": "web"}, {"id": "newsletter"}]}
        if route == ("GET", "openai", "/v1/models"):
            return 200, {"data": [{"id": "gpt-4o-mini"}]}
        if route == ("POST", "openai", "/v1/chat/completions"):
            return 200, {"choices": [{"message": {"role": "assistant", "content": "Breathe in for four counts."}}]}
        if method == "GET" and service == "google" and rest == f"v1/documents/{self.keys['google_doc']}":
            return 200, {"documentId": self.keys["google_doc"], "title": "Content calendar"}
        if method == "GET" and service == "notion" and rest == f"v1/databases/{self.keys['notion_db']}":
            return 200, {"object": "database", "id": self.keys["notion_db"]}
        if route == ("GET", "ci", "/pipelines/latest"):
            ref = urllib.parse.parse_qs(url.query).get("ref", [""])[0]
            suites = {name: {"passed": count, "failed": 0} for name, count in
                      (("integration", 212), ("contract", 40), ("e2e", 31), ("performance", 6))}
            return 200, {"ref": ref, "status": "success", "suites": suites}
        if route == ("GET", "tracker", "/search"):
            return 200, {"total": 0, "issues": []}
        return 404, {"error": f"no route {method} {url.path}"}

    def start(self) -> Externals:
        externals = self

        class Handler(_Quiet):
            def _handle(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = externals.answer(method, self.path, self.headers, body)
                self.reply(status, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.port = free_port()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def start_load_balancer(cert: Path, key: Path, backend: str) -> tuple[http.server.ThreadingHTTPServer, int]:
    """The TLS load balancer (api.halcytone.com in the seed): its own /lb-status, every other GET proxied."""

    class Handler(_Quiet):
        def do_GET(self) -> None:
            if self.path == "/lb-status":
                self.reply(200, {"status": "up", "backends": [backend]})
                return
            try:
                with _opener().open(backend + self.path, timeout=10) as reply:
                    self.reply(reply.status, reply.read(), reply.headers.get("Content-Type", "text/plain"))
            except urllib.error.HTTPError as exc:
                self.reply(exc.code, exc.read(), "text/plain")
            except OSError as exc:
                self.reply(502, {"error": f"backend down: {exc}"})

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (the load balancer's and the database's; its own CA)."""
    key, cert = directory / "tls.key", directory / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "90", "-subj", "/CN=localhost/O=Halcytone stand-in CA",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    return cert, key


def enable_database_tls(pg: PgCluster, cert: Path, key: Path) -> None:
    for source, name in ((cert, "server.crt"), (key, "server.key")):
        target = pg.data_dir / name
        shutil.copy2(source, target)
        os.chmod(target, 0o600)
        if os.geteuid() == 0:
            shutil.chown(target, "postgres", "postgres")
    pg.psql("ALTER SYSTEM SET ssl = on")
    pg.psql("SELECT pg_reload_conf()")


def render_env_file(template: Path, values: dict[str, str]) -> str:
    """.env.production from the template: each key's placeholder replaced (a key the test does not know fails)."""
    lines = []
    for line in template.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match and match.group(2).startswith("<"):
            line = f"{match.group(1)}={values[match.group(1)]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass
class World:
    root: Path
    docker: DockerDaemon
    pg: PgCluster
    redis: RedisServer
    moto: MotoServer
    externals: Externals
    hooks: Receiver
    app_port: int
    lb_port: int
    ca_file: Path
    secret_values: list[str]

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "DOCKER_HOST"}
        env.update(self.moto.aws_environ())
        env.update(LIFTOFF_SEED004_ROOT=str(self.root), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
                   # The load balancer's certificate is the stand-in CA's: trusted like a public CA's.
                   SSL_CERT_FILE=str(self.ca_file))
        return env

    def deploy(self, version: str, **extra: Any) -> subprocess.CompletedProcess[str]:
        cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / "deploy.yml"),
               "-i", str(INVENTORY), "-e", f"liftoff_version={version}", "-e", "liftoff_operator=dana.okafor",
               "-e", json.dumps({"approval_given": APPROVALS, "approval_attested": ATTESTATIONS, **extra})]
        started = time.monotonic()
        result = subprocess.run(cmd, cwd=REPO, env=self.environ(), text=True, capture_output=True, timeout=1200,
                                check=False)
        print(f"deploy {version}: rc={result.returncode} in {time.monotonic() - started:.1f} s")
        return result

    def get(self, url: str) -> tuple[int, str]:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=context)).open(url, timeout=10) as reply:
                return int(reply.status), reply.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode()

    def served_version(self) -> str:
        status, body = self.get(f"https://localhost:{self.lb_port}/version")
        assert status == 200, body
        return str(json.loads(body)["version"])

    def records(self) -> list[Path]:
        return sorted(p for p in (self.root / "records" / "production").glob("*") if p.is_dir())

    def latest_record(self) -> dict[str, Any]:
        return dict(checked_record(self.records()[-1] / "record.json"))

    def running(self) -> dict[str, Any]:
        containers: list[dict[str, Any]] = [c for c in self.docker.containers("halcytone") if isinstance(c, dict)]
        running = [c for c in containers if c["State"]["Running"]]
        assert len(running) == 1, [(c["Name"], c["Config"]["Image"]) for c in containers]
        return running[0]

    def assert_no_secret(self, result: subprocess.CompletedProcess[str]) -> None:
        """No planted secret in the output, the journal, the record or the application's log."""
        logs = list((self.docker.root / "data" / "containers").glob("*/*-json.log"))
        for value in self.secret_values:
            assert value not in result.stdout + result.stderr
            for path in [*(self.root / "records").rglob("*"), *logs]:
                if path.is_file():
                    assert value.encode() not in path.read_bytes(), f"a secret leaked into {path}"


def build_images(docker: DockerDaemon) -> None:
    with tempfile.TemporaryDirectory(prefix="ctx-", dir=docker.root) as ctx:
        context = Path(ctx) / "app"
        shutil.copytree(EXAMPLE / "app", context)
        shutil.copy2(find_static_busybox(), context / "busybox")
        # v3 is the release whose content generation got slow: +250% latency, the seed's rollback trigger.
        for version, latency in (("v1", "0.2"), ("v2", "0.2"), ("v3", "0.7")):
            docker.docker("build", "-q", "--build-arg", f"VERSION={version}", "--build-arg", f"LATENCY={latency}",
                          "-t", f"halcytone:{version}", str(context), timeout=300)


def setup_aws(moto: MotoServer, env_file: Path) -> None:
    """The backup bucket (encrypted, lifecycle, the app role's policy) and the secrets, as set up weeks before."""
    import boto3

    kwargs: dict[str, Any] = {"endpoint_url": moto.url, "region_name": "us-east-1", "aws_access_key_id": "testing",
                              "aws_secret_access_key": "testing"}
    s3 = moto.s3()
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [
        {"ID": "expire-old-backups", "Status": "Enabled", "Filter": {"Prefix": "halcytone/"}, "Expiration": {"Days": 30}}]})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": APP_ROLE}, "Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    iam = boto3.client("iam", **kwargs)
    role = iam.create_role(RoleName="halcytone-secrets-rotation", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    function = boto3.client("lambda", **kwargs).create_function(
        FunctionName="halcytone-secrets-rotation", Runtime="python3.12", Role=role, Handler="index.handler",
        Code={"ZipFile": code.getvalue()})["FunctionArn"]
    # The seed's scripts/setup_aws_secrets.sh "(or equivalent)", run by the team before the deploy day.
    subprocess.run([sys.executable, str(EXAMPLE / "scripts" / "setup_aws_secrets.py"), "store", "--env", str(env_file),
                    "--endpoint", moto.url, "--rotation-lambda", function], check=True, capture_output=True, text=True,
                   env=dict(os.environ, **moto.aws_environ()))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("seed004").resolve()
    stack: list[Any] = []
    try:
        try:
            docker = DockerDaemon().start()
        except DockerDaemonError as exc:
            pytest.fail(str(exc))
        stack.append(docker.stop)
        build_images(docker)
        cert, key = certificate(root)
        pg = PgCluster.start(root / "pg")
        stack.append(pg.stop)
        enable_database_tls(pg, cert, key)
        db_password = "db-" + secrets.token_hex(16)
        pg.psql(f"CREATE ROLE halcytone_app LOGIN CREATEDB PASSWORD '{db_password}'")
        pg.psql("CREATE DATABASE halcytone OWNER halcytone_app")
        redis_password = "redis-" + secrets.token_hex(16)
        redis = RedisServer.start(root / "redis", password=redis_password)
        stack.append(redis.stop)
        redis.client().config_set("appendonly", "yes")
        moto = MotoServer(root / "moto").start()
        stack.append(moto.stop)
        keys = {"crm": "crm-" + secrets.token_hex(16), "platform": "plat-" + secrets.token_hex(16),
                "openai": "sk-" + secrets.token_hex(20), "notion": "secret_" + secrets.token_hex(16),
                "google": secrets.token_hex(20), "google_doc": "1HalcytoneCalendar", "notion_db": secrets.token_hex(8)}
        externals = Externals(keys).start()
        stack.append(externals.stop)
        hooks = Receiver().start()
        stack.append(hooks.stop)
        app_port = free_port()
        lb, lb_port = start_load_balancer(cert, key, f"http://127.0.0.1:{app_port}")
        stack += [lb.server_close, lb.shutdown]  # stopped in reverse: shutdown, then close

        google = root / "config" / "google-service-account.json"
        google.parent.mkdir()
        google.write_text(json.dumps({
            "type": "service_account", "project_id": "halcytone-prod", "private_key_id": keys["google"],
            "private_key": "-----BEGIN PRIVATE KEY-----\n" + secrets.token_hex(64) + "\n-----END PRIVATE KEY-----\n",
            "client_email": "content-generator@halcytone-prod.iam.gserviceaccount.com"}), encoding="utf-8")
        ext = externals.url
        values = {
            "DATABASE_URL": f"postgresql://halcytone_app:{db_password}@127.0.0.1:{pg.port}/halcytone",
            "DB_HOST": "127.0.0.1", "DB_PORT": str(pg.port), "DB_PASSWORD": db_password,
            "REDIS_URL": f"redis://:{redis_password}@127.0.0.1:{redis.port}/0", "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(redis.port), "REDIS_PASSWORD": redis_password,
            "JWT_SECRET_KEY": secrets.token_urlsafe(40), "API_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(40),
            "CONTENT_GENERATOR_API_KEY": "cg-" + secrets.token_hex(20),
            "WEBHOOK_SECRET_CRM": "whsec_" + secrets.token_hex(20), "WEBHOOK_SECRET_PLATFORM": "whsec_" + secrets.token_hex(20),
            "CRM_BASE_URL": ext("/crm"), "CRM_API_KEY": keys["crm"], "PLATFORM_BASE_URL": ext("/platform"),
            "PLATFORM_API_KEY": keys["platform"], "OPENAI_BASE_URL": ext("/openai"), "OPENAI_API_KEY": keys["openai"],
            "GOOGLE_DOCS_BASE_URL": ext("/google"), "GOOGLE_APPLICATION_CREDENTIALS": str(google),
            "GOOGLE_DOCS_DOCUMENT_ID": keys["google_doc"], "NOTION_BASE_URL": ext("/notion"),
            "NOTION_API_KEY": keys["notion"], "NOTION_DATABASE_ID": keys["notion_db"],
            "SMOKE_EMAIL_TO": "smoke-test@halcytone.invalid",
        }
        env_file = root / "config" / ".env.production"
        env_file.write_text(render_env_file(EXAMPLE / "env.production.template", values), encoding="utf-8")
        os.chmod(env_file, 0o600)
        setup_aws(moto, env_file)
        # The release as CI checked it out: v1 has the first migration, v2 and v3 both.
        for version, migrations in (("v1", ["001"]), ("v2", ["001", "002"]), ("v3", ["001", "002"])):
            target = root / "releases" / version / "migrations"
            target.mkdir(parents=True)
            for sql in sorted((EXAMPLE / "release" / "migrations").glob("*.sql")):
                if sql.name[:3] in migrations:
                    shutil.copy2(sql, target / sql.name)
        (root / "env.json").write_text(json.dumps({
            "python": sys.executable, "psql": find_tool("psql"), "redis_cli": shutil.which("redis-cli") or "redis-cli",
            "docker": docker.client, "docker_host": docker.host, "docker_root": str(docker.root),
            "app_port": app_port, "lb_port": lb_port, "ca_file": str(cert), "env_file": str(env_file),
            "google_credentials": str(google), "db": {"port": pg.port}, "redis_port": redis.port,
            "moto_url": moto.url, "backup_bucket": BUCKET, "app_role_arn": APP_ROLE,
            "ci_url": ext("/ci"), "tracker_url": ext("/tracker"), "notify": {"slack": hooks.url("/slack/T0/B0/halcytone")},
        }), encoding="utf-8")
        secret_values = [db_password, redis_password, *(v for k, v in values.items() if re.search(
            r"KEY|SECRET|PASSWORD", k) and k != "GOOGLE_APPLICATION_CREDENTIALS"), keys["google"]]
        yield World(root=root, docker=docker, pg=pg, redis=redis, moto=moto, externals=externals, hooks=hooks,
                    app_port=app_port, lb_port=lb_port, ca_file=cert, secret_values=secret_values)
    finally:
        for stop in reversed(stack):
            stop()


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_v1_the_release_before(world: World) -> None:
    # Only the release the next deploy replaces: its readiness checks and gate are v2's test's subject
    # (they would add about two minutes here), so this run has neither.
    result = world.deploy("v1", preflight_checks=[], liftoff_skip_phases=["verify"])
    assert result.returncode == 0, output(result)[-5000:]
    assert world.served_version() == "v1"
    record = world.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    assert evidence(record, "migrate.apply")["status"] == "pass"
    # The content generator at work since v1: jobs in its database, which every later backup must hold.
    world.pg.psql("INSERT INTO content_jobs (kind, status) SELECT 'newsletter', 'done' FROM generate_series(1, 500)",
                  db="halcytone")


def test_v2_every_item_the_run_can_prove_passes(world: World) -> None:
    world.hooks.clear()
    emails_before = len(world.externals.emails)
    result = world.deploy("v2")
    assert result.returncode == 0, output(result)[-5000:]
    record = world.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])

    # The world afterwards: v2 serves through the load balancer, from a healthy container of its image,
    # with the production settings of .env.production.
    assert world.served_version() == "v2"
    container = world.running()
    assert container["Config"]["Image"] == "halcytone:v2"
    assert container["State"]["Health"]["Status"] == "healthy"
    assert "DEBUG=false" in container["Config"]["Env"] and "ENVIRONMENT=production" in container["Config"]["Env"]
    assert container["HostConfig"]["Memory"] == 128 * 1024 * 1024
    status, ready = world.get(f"https://localhost:{world.lb_port}/ready")
    assert status == 200 and json.loads(ready)["checks"] == {"redis": "ok", "database": "ok"}
    status, docs = world.get(f"http://127.0.0.1:{world.app_port}/docs")
    assert status == 200 and "Swagger UI" in docs
    # v2's migration ran; the smoke phase's email went out through the CRM with the app's key.
    assert world.pg.psql("SELECT to_regclass('delivery_log') IS NOT NULL", db="halcytone") == "t"
    assert world.externals.emails[emails_before:] == [{"to": "smoke-test@halcytone.invalid", "template": "smoke-test"}]
    assert not [c for c in world.externals.calls if not c[2]]  # every call to the APIs was authenticated

    # The backup: dumped, verified, restored into a scratch database with every table's rows, off the host.
    dump = evidence(record, "backup.dump")
    path = Path(dump["details"]["path"])
    assert path.is_file() and path.parent == world.root / "backups"
    restore = evidence(record, "backup.test_restore")
    assert restore["status"] == "pass"
    assert restore["details"]["source_rows"]["public.content_jobs"] == 500
    assert restore["details"]["restored_rows"] == restore["details"]["source_rows"]
    assert world.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%liftoff_verify%'") == "0"
    keys = {o["Key"] for o in world.moto.s3().list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert f"halcytone/production/{path.name}" in keys
    assert evidence(record, "backup.upload")["status"] == "pass"

    # The evidence the checklist rests on.
    assert evidence(record, "run.start")["details"]["operator"] == "dana.okafor"
    assert evidence(record, "preflight.db_tls")["actual"] == "exit 0: t"
    assert evidence(record, "preflight.redis")["actual"] == "PONG, AOF on, RDB off"
    assert evidence(record, "preflight.jwt_secret")["status"] == "pass"
    assert evidence(record, "preflight.external_services")["actual"] == "exit 0: passed: 5/5"
    assert "13 of 13 stored match .env.production, rotation on" in evidence(record, "preflight.secrets_rotation")["actual"]
    assert evidence(record, "preflight.env_debug_off")["details"]["values"] == {"DEBUG": "false"}
    verdict = evidence(record, "verify.verdict")
    assert verdict["details"]["verdict"] == "PROCEED", verdict["actual"]
    traced = {entry["metric"] for entry in verdict["details"]["catalogue"]}
    assert traced == {"latency_p95.medium", "performance_vs_baseline.critical", "error_ratio.medium",
                      "cpu_ratio.medium", "memory_ratio.medium"}
    signed = evidence(record, "verify.approval.deployment_manager")
    assert signed["status"] == "pass" and signed["details"]["by"] == "dana.okafor"
    assert evidence(record, "smoke.external_services")["status"] == "pass"
    assert [b["text"].split(" ", 1)[0] for b in world.hooks.bodies("/slack/")] == [":rocket:", ":white_check_mark:"]
    world.assert_no_secret(result)

    # The checklist: every item in scope passed, but the rollback plan's, which only a rollback writes.
    shortfalls = checklist_shortfalls(record)
    assert set(shortfalls) == ROLLBACK_ITEMS, shortfalls
    assert all(s.startswith("missing: ") for s in shortfalls.values()), shortfalls
    rows = {r["id"]: r for r in record["checklist"]["items"]}
    assert len(rows) == 247
    assert {i for i, r in rows.items() if r["how"] == "threshold in a profile"} == {
        "s004-159", "s004-160", "s004-161", "s004-162", "s004-230"}


def test_v3_slower_by_more_than_half_is_rolled_back(world: World) -> None:
    world.hooks.clear()
    # The readiness checks passed for v2 and nothing changed since; this run is about the trigger.
    result = world.deploy("v3", preflight_checks=[])
    assert result.returncode != 0
    record = world.latest_record()
    assert record["outcome"] == "rolled_back" and record["failed_phase"] == "verify", record["reason"]
    # The seed's only numeric trigger: the median response time more than 50% above v2's, measured in preflight.
    verdict = evidence(record, "verify.verdict")
    assert verdict["details"]["verdict"] == "ROLLBACK", verdict["actual"]
    assert evidence(record, "verify.metric.performance_vs_baseline.critical")["status"] == "fail"
    # v2 is back, healthy, behind the load balancer.
    assert world.served_version() == "v2"
    assert world.running()["Config"]["Image"] == "halcytone:v2"
    assert evidence(record, "rollback.gate.verdict")["actual"] == "PROCEED"  # the restored v2 is healthy
    # The trigger fails its item; the rollback plan's items, missing from v2's record, pass here.
    shortfalls = checklist_shortfalls(record)
    assert shortfalls["s004-230"].startswith("fail: performance_vs_baseline.critical"), shortfalls["s004-230"]
    assert not ROLLBACK_ITEMS & set(shortfalls), {i: shortfalls[i] for i in ROLLBACK_ITEMS & set(shortfalls)}
    assert ":rewind:" in [b["text"].split(" ", 1)[0] for b in world.hooks.bodies("/slack/")]
    world.assert_no_secret(result)

"""Preflight readiness checks against real things: a TLS server with short-lived self-signed
certificates, a throwaway Redis with a password, a moto S3 server, a plain HTTP server, this machine's resolver
and disk, env and JSON config files, commands. Real ansible-playbook runs of the preflight
role's `readiness` entry point (tests/integration/playbooks/readiness.yml); the assertions read
the evidence journal. Planted secrets (a JWT secret, the Redis password) never appear in the
journal or the output.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import secrets
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from tests.support.moto import MotoServer
from tests.support.pg import free_port
from tests.support.redis import RedisServer

pytestmark = pytest.mark.integration
PLAYBOOK = REPO / "tests" / "integration" / "playbooks" / "readiness.yml"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve(root: Path, context: ssl.SSLContext | None = None) -> tuple[http.server.ThreadingHTTPServer, int]:
    port = free_port()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def _certificate(directory: Path, days: int) -> tuple[Path, Path]:
    key, cert = directory / f"key-{days}.pem", directory / f"cert-{days}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", str(days), "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    return key, cert


@dataclass
class World:
    root: Path
    redis: RedisServer
    redis_password: str
    jwt_secret: str
    tls_ok: int
    tls_soon: int
    http: int
    cert_ok: Path
    closed_port: int
    moto: MotoServer

    def run(self, checks: list[dict[str, Any]], *extra: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        run_dir = self.root / f"run-{secrets.token_hex(3)}"
        run_dir.mkdir()
        (run_dir / "vars.json").write_text(json.dumps({
            "preflight_checks": checks, "run_dir": str(run_dir),
            "app_jwt_secret": self.jwt_secret, "app_jwt_placeholder": "changeme",
            "redis_password": self.redis_password, "redis_wrong_password": "not-the-password",
        }), encoding="utf-8")
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}", **self.moto.aws_environ())
        result = subprocess.run(
            [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(PLAYBOOK), "-i", "localhost,", "-c", "local",
             "-e", f"ansible_python_interpreter={REPO / '.venv' / 'bin' / 'python'}", "-e", f"@{run_dir / 'vars.json'}",
             *extra], cwd=REPO, env=env, text=True, capture_output=True, timeout=600, check=False)
        journal = run_dir / "evidence.jsonl"
        items = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()] if journal.exists() else []
        # The planted secrets never leave the variables that hold them.
        for secret in (self.jwt_secret, self.redis_password):
            assert secret not in result.stdout + result.stderr
            assert not journal.exists() or secret not in journal.read_text(encoding="utf-8")
        return result, items


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("readiness").resolve()
    password = "redis-" + secrets.token_hex(10)
    redis = RedisServer.start(root / "redis", password=password)
    moto = MotoServer(root / "moto").start()
    servers: list[http.server.ThreadingHTTPServer] = []
    try:
        s3 = moto.s3()
        for bucket in ("backups", "plain"):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket="backups", VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(Bucket="backups", ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        www = root / "www"
        www.mkdir()
        (www / "health").write_text('{"status": "ok"}', encoding="utf-8")
        contexts = {}
        for days in (30, 3):
            key, cert = _certificate(root, days)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            contexts[days] = (context, cert)
        ok_server, ok_port = _serve(www, contexts[30][0])
        soon_server, soon_port = _serve(www, contexts[3][0])
        plain_server, plain_port = _serve(www)
        servers += [ok_server, soon_server, plain_server]
        (root / "env.production").write_text(
            "DEBUG=true\nDRY_RUN=false\nUSE_MOCK_SERVICES=false\nJWT_SECRET=<your-jwt-secret>\n", encoding="utf-8")
        (root / "env.good").write_text(
            f"DEBUG=false\nDRY_RUN=false\nUSE_MOCK_SERVICES=false\nJWT_SECRET={'a1' * 20}\n", encoding="utf-8")
        yield World(root=root, redis=redis, redis_password=password, jwt_secret="jwt-" + secrets.token_hex(20),
                    tls_ok=ok_port, tls_soon=soon_port, http=plain_port, cert_ok=contexts[30][1],
                    closed_port=free_port(), moto=moto)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        moto.stop()
        redis.stop()


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["id"].removeprefix("preflight."): i for i in items if i["id"].startswith("preflight.")}


def test_every_check_records_its_verdict(world: World) -> None:
    soft = {"required": False}
    checks = [
        {"name": "api_health", "kind": "http", "url": f"http://127.0.0.1:{world.http}/health", "json": {"status": "ok"}},
        {"name": "tls_ok", "kind": "tls", "host": "127.0.0.1", "port": world.tls_ok, "server_name": "localhost",
         "ca_file": str(world.cert_ok), "min_days": 14},
        {"name": "tls_soon", "kind": "tls", "host": "127.0.0.1", "port": world.tls_soon, "verify": False,
         "min_days": 14, **soft},
        {"name": "tls_untrusted", "kind": "tls", "host": "127.0.0.1", "port": world.tls_ok, "server_name": "localhost",
         **soft},
        {"name": "redis", "kind": "redis", "host": "127.0.0.1", "port": world.redis.port, "password_var": "redis_password"},
        {"name": "redis_aof", "kind": "redis", "host": "127.0.0.1", "port": world.redis.port,
         "password_var": "redis_password", "redis_persistence": ["aof"], **soft},
        {"name": "redis_bad_auth", "kind": "redis", "host": "127.0.0.1", "port": world.redis.port,
         "password_var": "redis_wrong_password", **soft},
        {"name": "db_port", "kind": "tcp", "host": "127.0.0.1", "port": world.closed_port, **soft},
        {"name": "dns_localhost", "kind": "dns", "host": "localhost", "expect_addresses": ["127.0.0.1"]},
        {"name": "dns_missing", "kind": "dns", "host": "no-such-host.invalid", **soft},
        {"name": "disk", "kind": "disk", "path": str(world.root), "min_free": "1M"},
        {"name": "disk_full", "kind": "disk", "path": str(world.root), "min_free_percent": 100, **soft},
        {"name": "jwt", "kind": "secret", "var": "app_jwt_secret", "min_length": 32},
        {"name": "jwt_placeholder", "kind": "secret", "var": "app_jwt_placeholder", "min_length": 32, **soft},
        {"name": "jwt_unset", "kind": "secret", "var": "app_no_such_secret", **soft},
        {"name": "jwt_file", "kind": "secret", "path": str(world.root / "env.production"), "key": "JWT_SECRET", **soft},
        {"name": "config_prod", "kind": "config", "path": str(world.root / "env.production"),
         "expect": {"DEBUG": False, "DRY_RUN": False, "USE_MOCK_SERVICES": False}, **soft},
        {"name": "config_good", "kind": "config", "path": str(world.root / "env.good"),
         "expect": {"DEBUG": False, "DRY_RUN": False}, "secret_keys": ["JWT_SECRET"], "min_length": 32},
        {"name": "s3_backups", "kind": "s3", "bucket": "backups", "endpoint_url": world.moto.url,
         "s3_require": ["versioning", "encryption"]},
        {"name": "s3_plain", "kind": "s3", "bucket": "plain", "endpoint_url": world.moto.url,
         "s3_require": ["encryption"], **soft},
        {"name": "s3_missing", "kind": "s3", "bucket": "no-such-bucket", "endpoint_url": world.moto.url, **soft},
        {"name": "tests_pass", "kind": "command", "on": "controller", "argv": ["sh", "-c", "echo 5/5 passed"],
         "stdout_regex": r"\b5/5\b"},
        {"name": "tests_short", "kind": "command", "on": "controller", "argv": ["sh", "-c", "echo 4/5 passed; exit 1"],
         "stdout_regex": r"\b5/5\b", **soft},
    ]
    result, items = world.run(checks)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    found = _by_name(items)
    assert sorted(found) == sorted(c["name"] for c in checks)
    status = {name: item["status"] for name, item in found.items()}
    assert {n for n, s in status.items() if s == "pass"} == {
        "api_health", "tls_ok", "redis", "dns_localhost", "disk", "jwt", "config_good", "tests_pass", "s3_backups"}, status
    assert found["s3_backups"]["actual"] == "reachable; encryption on, lifecycle off, versioning on"
    assert found["s3_plain"]["actual"] == "encryption off"
    assert found["s3_missing"]["actual"].startswith("not reachable: ") and "404" in found["s3_missing"]["actual"]
    assert "days left" in found["tls_ok"]["actual"] and found["tls_ok"]["details"]["days_left"] > 29
    assert found["tls_soon"]["details"]["days_left"] < 3.1 and "days left" in found["tls_soon"]["actual"]
    assert "certificate verify failed" in found["tls_untrusted"]["actual"]
    assert found["redis_aof"]["actual"] == "AOF off"
    assert found["redis_bad_auth"]["actual"].startswith("AUTH refused")
    assert found["db_port"]["actual"].startswith("refused or unreachable")
    assert found["dns_localhost"]["details"]["addresses"][:1] and "127.0.0.1" in found["dns_localhost"]["actual"]
    assert found["dns_missing"]["actual"] == "does not resolve"
    assert "free of" in found["disk_full"]["actual"]
    assert found["jwt"]["actual"] == f"set, {len(world.jwt_secret)} characters"
    assert found["jwt_placeholder"]["actual"] == "a placeholder value; 8 characters, fewer than 32"
    assert found["jwt_unset"]["actual"] == "not set"
    assert found["jwt_file"]["actual"] == "a placeholder value"
    assert found["config_prod"]["actual"] == "DEBUG=true (expected False)"
    assert found["tests_short"]["actual"] == "exit 1 (expected 0); output does not match '\\\\b5/5\\\\b'"
    assert found["tests_pass"]["details"]["checked_from"] == "controller"
    assert all(i["phase"] == "preflight" for i in found.values())


def test_a_required_check_that_fails_stops_naming_each(world: World) -> None:
    result, items = world.run([
        {"name": "tls_soon", "kind": "tls", "host": "127.0.0.1", "port": world.tls_soon, "verify": False, "min_days": 14},
        {"name": "jwt", "kind": "secret", "var": "app_jwt_placeholder", "min_length": 32},
        {"name": "disk", "kind": "disk", "path": str(world.root), "min_free": "1M"},
    ])
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "not ready: tls_soon: valid until" in out and "jwt: a placeholder value" in out
    # Every check ran and was recorded before the stop.
    assert {n: i["status"] for n, i in _by_name(items).items()} == {"tls_soon": "fail", "jwt": "fail", "disk": "pass"}


@pytest.mark.parametrize(("checks", "message"), [
    ([{"name": "redis", "kind": "redis", "host": "r", "port": 6379, "password": "in-the-clear"}], "password"),
    ([{"name": "db", "kind": "tcp", "host": "db"}], "preflight_checks[0] (tcp) needs port"),
    ([{"name": "x", "kind": "ftp"}], "kind"),
], ids=["secret-in-a-check", "missing-option", "unknown-kind"])
def test_bad_checks_are_refused_before_any_runs(world: World, checks: list[dict[str, Any]], message: str) -> None:
    result, items = world.run(checks)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "in-the-clear" not in result.stdout + result.stderr
    assert not items

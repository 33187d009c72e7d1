#!/usr/bin/env python3
"""Seed 001's checks that need more than one request: run by preflight (kind command), the smoke
phase (smoke_test_commands, TAP) and the gate (provider command, a number on stdout).

    vx11_check.py memory    --docker-host H CONTAINER          bytes in use (docker stats' MEM USAGE)
    vx11_check.py services  --docker-host H --project P --expect N
    vx11_check.py images    --docker-host H --revision SHA IMAGE...
    vx11_check.py sqlite    DB (integrity | writable | schema --save F | schema --compare F)
    vx11_check.py promql    URL QUERY --max X                  the value; fails above X
    vx11_check.py rules     URL --group G --expect N           the alert rules Prometheus loaded
    vx11_check.py latency   URL --tokens-env F [--requests N] --max-ms X
    vx11_check.py secrets   DIR --tokens-env F                 no credential in the release's files

Only the Python standard library. The principal token is read from the tokens.env file it is
given (VX11_PRINCIPAL_TOKEN=...), never from the command line, and never printed.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import re
import socket
import sqlite3
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Fail(Exception):
    """The check failed: the message is its one-line result."""


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("docker", timeout=10)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self._path)


def docker_api(host: str, path: str) -> Any:
    """GET a Docker Engine API path over the daemon's unix socket (DOCKER_HOST unix:///...)."""
    if not host.startswith("unix://"):
        raise Fail(f"only a unix:// docker host is supported, got {host}")
    conn = _UnixHTTP(host[len("unix://"):])
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        body = reply.read()
    finally:
        conn.close()
    if reply.status != 200:
        raise Fail(f"docker API {path}: HTTP {reply.status} {body[:200]!r}")
    return json.loads(body)


def principal(tokens_env: str) -> str:
    for line in Path(tokens_env).read_text(encoding="utf-8").splitlines():
        key, _eq, value = line.partition("=")
        if key.strip() == "VX11_PRINCIPAL_TOKEN" and value.strip():
            return value.strip()
    raise Fail(f"{tokens_env} has no VX11_PRINCIPAL_TOKEN")


def memory(args: argparse.Namespace) -> str:
    """What `docker stats` shows as MEM USAGE: the cgroup's usage less its inactive file cache."""
    path = f"/containers/{urllib.parse.quote(args.container)}/stats?stream=false&one-shot=true"
    stats = docker_api(args.docker_host, path)
    mem = stats.get("memory_stats") or {}
    if "usage" not in mem:
        raise Fail(f"no memory statistics for {args.container} (is it running?)")
    detail = mem.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return str(int(mem["usage"]) - int(inactive))


def services(args: argparse.Namespace) -> str:
    label = urllib.parse.quote(json.dumps({"label": [f"com.docker.compose.project={args.project}"]}))
    found = docker_api(args.docker_host, f"/containers/json?all=1&filters={label}")
    healthy, problems = [], []
    for summary in found:
        info = docker_api(args.docker_host, f"/containers/{summary['Id']}/json")
        name = info["Name"].lstrip("/")
        state = info["State"]
        health = (state.get("Health") or {}).get("Status", "no healthcheck")
        if state.get("Running") and health == "healthy":
            healthy.append(name)
        else:
            problems.append(f"{name} {state.get('Status')} ({health})")
    result = f"{len(healthy)}/{args.expect} services healthy"
    if len(healthy) != args.expect or problems:
        raise Fail(result + (": " + ", ".join(problems) if problems else ""))
    return result + ": " + ", ".join(sorted(healthy))


def images(args: argparse.Namespace) -> str:
    seen = []
    for image in args.images:
        info = docker_api(args.docker_host, f"/images/{urllib.parse.quote(image, safe=':')}/json")
        revision = ((info.get("Config") or {}).get("Labels") or {}).get("org.opencontainers.image.revision", "")
        if revision != args.revision:
            raise Fail(f"{image} is built from {revision or 'an unlabelled commit'}, not {args.revision}")
        seen.append(f"{image} {info['Id'][:19]}")
    return f"{len(seen)} images built from commit {args.revision}: " + ", ".join(seen)


def schema_hash(db: sqlite3.Connection) -> str:
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def sqlite(args: argparse.Namespace) -> str:
    path = Path(args.db)
    if not path.is_file():
        raise Fail(f"{path}: no such database")
    if args.action == "integrity":
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        result = [r[0] for r in db.execute("PRAGMA integrity_check")]
        fk = db.execute("PRAGMA foreign_key_check").fetchall()
        db.close()
        if result != ["ok"] or fk:
            raise Fail(f"integrity_check: {'; '.join(result)[:300]}; foreign key violations: {len(fk)}")
        return "PRAGMA integrity_check: ok; foreign_key_check: 0 violations"
    if args.action == "writable":
        # A real write, in a transaction that is rolled back: fails on a read-only file or file system,
        # or a database locked by another writer (BEGIN IMMEDIATE takes the write lock).
        db = sqlite3.connect(str(path), timeout=5, isolation_level=None)
        try:
            if db.execute("PRAGMA query_only").fetchone()[0]:
                raise Fail("PRAGMA query_only is on")
            db.execute("BEGIN IMMEDIATE")
            db.execute("CREATE TABLE liftoff_write_probe (x INTEGER)")
            db.execute("INSERT INTO liftoff_write_probe VALUES (1)")
            db.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise Fail(f"not writable: {exc}") from None
        finally:
            db.close()
        return "writable: a write in a transaction (rolled back) succeeded"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    digest = schema_hash(db)
    db.close()
    if args.save:
        Path(args.save).write_text(digest + "\n", encoding="utf-8")
        return f"schema sha256 {digest[:16]} (saved for the comparison after the deploy)"
    before = Path(args.compare).read_text(encoding="utf-8").strip()
    ok = digest == before
    return "\n".join(["TAP version 13", "1..1",
                      f"{'ok' if ok else 'not ok'} 1 - schema sha256 {digest[:16]} (before the deploy {before[:16]})"])


def promql(args: argparse.Namespace) -> str:
    url = args.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": args.query})
    with OPENER.open(url, timeout=10) as reply:
        body = json.load(reply)
    result = body.get("data", {}).get("result") or []
    if body.get("status") != "success" or not result:
        raise Fail(f"no value for {args.query}: {body.get('error', 'empty result')}")
    value = max(float(r["value"][1]) for r in result)
    if value > args.max:
        raise Fail(f"{value:g} above {args.max:g}")
    return f"{value:g} (at most {args.max:g})"


def rules(args: argparse.Namespace) -> str:
    with OPENER.open(args.url.rstrip("/") + "/api/v1/rules?type=alert", timeout=10) as reply:
        body = json.load(reply)
    groups = [g for g in body.get("data", {}).get("groups") or [] if g.get("name") == args.group]
    loaded = [r for g in groups for r in g.get("rules") or []]
    firing = [r["name"] for r in loaded if r.get("state") == "firing"]
    text = (f"{len(loaded)} alert rules of group {args.group} loaded: " + ", ".join(r["name"] for r in loaded)
            + (f"; firing: {', '.join(firing)}" if firing else "; none firing"))
    if len(loaded) != args.expect:
        raise Fail(f"{text} (expected {args.expect})")
    return text


def latency(args: argparse.Namespace) -> str:
    if not args.url.startswith(("http://", "https://")):
        raise Fail(f"not an http(s) URL: {args.url}")
    token = principal(args.tokens_env)
    times = []
    for index in range(args.warmup + args.requests):
        request = urllib.request.Request(args.url, method="POST",  # noqa: S310 - http(s), checked above
                                         headers={"X-VX11-Token": token})
        started = time.perf_counter()
        with OPENER.open(request, timeout=10) as reply:
            reply.read()
            if reply.status != 200:
                raise Fail(f"HTTP {reply.status}")
        if index >= args.warmup:
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    text = f"p95 {p95:.1f} ms, median {statistics.median(times):.1f} ms over {len(times)} requests"
    if p95 > args.max_ms:
        raise Fail(f"{text}: above {args.max_ms:g} ms")
    return f"{text} (at most {args.max_ms:g} ms)"


# A credential committed with the code: an assignment of a long literal to a secret-looking name, a
# bearer token, a private key; and the principal token's own value anywhere.
CREDENTIAL = re.compile(r"""(?i)(token|secret|password|api_?key)["']?\s*[:=]\s*["'][A-Za-z0-9+/_-]{16,}["']"""
                        r"|Bearer [A-Za-z0-9._-]{16,}|-----BEGIN [A-Z ]*PRIVATE KEY-----")


def secrets(args: argparse.Namespace) -> str:
    value = principal(args.tokens_env).encode()
    files = [p for p in Path(args.dir).rglob("*") if p.is_file()]
    findings = []
    for path in files:
        data = path.read_bytes()
        if value in data:
            findings.append(f"{path.relative_to(args.dir)}: the principal token")
        for match in CREDENTIAL.finditer(data.decode("utf-8", "replace")):
            findings.append(f"{path.relative_to(args.dir)}: {match.group(0)[:12]}...")
    if findings:
        raise Fail(f"{len(findings)} credential(s) in the release: " + "; ".join(findings[:5]))
    return f"no credential in the {len(files)} files of the release"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("memory")
    p.add_argument("--docker-host", required=True)
    p.add_argument("container")
    p = sub.add_parser("services")
    p.add_argument("--docker-host", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--expect", type=int, required=True)
    p = sub.add_parser("images")
    p.add_argument("--docker-host", required=True)
    p.add_argument("--revision", required=True)
    p.add_argument("images", nargs="+")
    p = sub.add_parser("sqlite")
    p.add_argument("db")
    p.add_argument("action", choices=["integrity", "writable", "schema"])
    group = p.add_mutually_exclusive_group()
    group.add_argument("--save")
    group.add_argument("--compare")
    p = sub.add_parser("promql")
    p.add_argument("url")
    p.add_argument("query")
    p.add_argument("--max", type=float, required=True)
    p = sub.add_parser("rules")
    p.add_argument("url")
    p.add_argument("--group", required=True)
    p.add_argument("--expect", type=int, required=True)
    p = sub.add_parser("latency")
    p.add_argument("url")
    p.add_argument("--tokens-env", required=True)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--max-ms", type=float, required=True)
    p = sub.add_parser("secrets")
    p.add_argument("dir")
    p.add_argument("--tokens-env", required=True)
    args = parser.parse_args()
    if args.command == "sqlite" and args.action == "schema" and not (args.save or args.compare):
        parser.error("sqlite DB schema needs --save FILE or --compare FILE")
    handler = {"memory": memory, "services": services, "images": images, "sqlite": sqlite, "promql": promql,
               "rules": rules, "latency": latency, "secrets": secrets}[args.command]
    try:
        print(handler(args))
    except Fail as exc:
        print(exc)
        return 1
    except (OSError, ValueError, sqlite3.Error) as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
